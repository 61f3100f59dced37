"""The one error hierarchy every public function raises for bad input (model layer)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SymbackpropError(ValueError):
    """Base of every error caused by bad input; the CLI prints it as one line and exits 2."""


class SpecError(SymbackpropError):
    """A network spec (TOML or arguments) is malformed."""


class ParseError(SymbackpropError):
    """User text could not be parsed into an expression."""


class UnknownNameError(SymbackpropError):
    """A name (activation, loss, parameter, ...) is not known."""


class ShapeError(SymbackpropError):
    """An array or a parameter set has the wrong shape or the wrong names."""


class NumericError(SymbackpropError):
    """Data or parameters hold NaN/inf, or a computation left the finite range."""


class SymbackpropWarning(UserWarning):
    """Input that is suspicious but valid (e.g. a parameter the loss does not depend on)."""


def unknown_name(kind: str, name: str, known: Iterable[str], where: str = "") -> UnknownNameError:
    """Build an UnknownNameError that lists the known names and suggests the closest one."""
    known_sorted = sorted(known)
    if not isinstance(name, str):
        return UnknownNameError(
            f"{kind} {shorten(repr(name))}{' ' + where if where else ''} is not a name (a str); "
            f"known: {', '.join(known_sorted[:_LISTED])}"
        )
    # A slip of case (MSE, ReLU) first, then the closest spelling.
    same_letters = [k for k in known_sorted if k.lower() == name.lower()]
    suggestion = same_letters or difflib.get_close_matches(name, known_sorted, n=1, cutoff=0.6)
    hint = f" (did you mean {suggestion[0]!r})" if suggestion else ""
    place = f" {where}" if where else ""
    listed = ", ".join(shorten(k, _LISTED_LENGTH) for k in known_sorted[:_LISTED])
    if len(known_sorted) > _LISTED:
        listed += f", ... ({len(known_sorted) - _LISTED} more)"
    return UnknownNameError(f"unknown {kind} {shorten(name)!r}{place}; known: {listed}{hint}")


# A message lists at most this many known names, each cut to this length, so that it stays one
# readable line (the names may come from a file, e.g. a CSV header).
_LISTED = 12
_LISTED_LENGTH = 24


def counted(n: int, noun: str) -> str:
    """Return "1 row", "2 rows": a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def shorten(text: str, limit: int = 40) -> str:
    """Shorten a quoted user value so that a message stays on one line; unprintables become ?."""
    flat = "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
