"""One answer as a student wrote it, read into a number or an option, with what was assumed.

Worksheets stage, used by grading and by anything else that marks a single blank (a practice
page). A number blank takes a decimal (a decimal comma too, where it cannot be a thousands
separator), scientific notation (``1.2e-3``, ``1.2 x 10^-3``), a fraction, or arithmetic on
numbers such as ``tanh(0.36)`` or ``1/(1+exp(-0.3))``, evaluated through the project's safe
parser (never ``eval``); ``^`` is read as a power. A choice blank takes its letter, or the
option's text when it names exactly one option. Every such reading is recorded in
:attr:`Reading.assumed`, in words the student's feedback can show.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.worksheets.variants import LETTERS

MAX_NUMBER_CHARS = 60
MAX_ARITHMETIC_CHARS = 200
SHOWN_DIGITS = 6  # significant digits of an evaluated value in the feedback
MIN_TEXT_MATCH = 4  # characters of an option's text that must be given to name it

_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
_TIMES_TEN = re.compile(r"^(.+?)\s*(?:[x×*]|\\times)\s*10\s*(?:\^|\*\*)\s*\{?([+-]?\d{1,3})\}?$")
_FRACTION = re.compile(r"^([+-]?\d{1,12})\s*/\s*(\d{1,12})$")
_DECIMAL_COMMA = re.compile(r"^([+-]?)(\d+),(\d+)([eE][+-]?\d{1,3})?$")
_LETTER_FIRST = re.compile(r"^\(?([A-Da-d])\s*[).:\]]\s*(.*)$", re.S)
# symbols an option's text uses, as a keyboard writes them
_SPELLED = {"σ": "sigma", "δ": "delta", "∂": "d", "μ": "mu", "λ": "lambda", "η": "eta",
            "′": "'", "−": "-", "·": "*", "⊙": "*", "×": "*", "ᵀ": "T"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reading:
    """A number read from an answer: its value, what was assumed, the decimals written.

    ``decimals`` counts the places after the point as written (``0.76`` has 2, ``7.6e-3`` has
    4); it is None for fractions and arithmetic, whose precision is not the student's rounding.
    """

    value: float
    assumed: tuple[str, ...] = ()
    decimals: int | None = None


def parse_number(text: str) -> float:
    """Read a number in any accepted form (see :func:`read_number`) and return its value."""
    return read_number(text).value


def read_number(text: str) -> Reading:
    """Read a number blank's answer; raise ValueError saying why when it is not a number."""
    raw = text.strip().replace("−", "-").replace("\u2009", "").replace("\u00a0", "")
    compact = raw.replace(" ", "")
    if len(compact) > MAX_ARITHMETIC_CHARS:
        raise ValueError(f"{shorten(text)!r} is too long for a number")
    try:
        reading = _plain(compact, text) if len(compact) <= MAX_NUMBER_CHARS else None
        if reading is None:
            reading = _arithmetic(raw, text)
    except (OverflowError, ZeroDivisionError):
        reading = Reading(math.inf)
    if not math.isfinite(reading.value):
        raise ValueError(f"{shorten(text)!r} is out of range; give a finite number")
    return reading


def _plain(raw: str, text: str) -> Reading | None:
    """A number written as a decimal, in scientific notation or as a fraction, or None."""
    if _DECIMAL.match(raw):
        return Reading(float(raw), decimals=_places(raw))
    comma = _DECIMAL_COMMA.match(raw)
    if comma:
        return _decimal_comma(comma, text)
    times = _TIMES_TEN.match(raw)
    if times and _DECIMAL.match(times[1]):
        places = _places(times[1])
        shifted = None if places is None else max(0, places - int(times[2]))
        return Reading(float(times[1]) * 10.0 ** int(times[2]), decimals=shifted)
    fraction = _FRACTION.match(raw)
    if fraction:
        if int(fraction[2]) == 0:
            raise ValueError(f"{shorten(text)!r} divides by zero")
        return Reading(float(Fraction(int(fraction[1]), int(fraction[2]))))
    return None


def _places(decimal: str) -> int | None:
    """Decimals written in a decimal or scientific literal: 0.760 has 3, 7.6e-3 has 4."""
    mantissa, _, exponent = decimal.lower().partition("e")
    written = len(mantissa.partition(".")[2])
    return max(0, written - int(exponent or 0))


def _decimal_comma(match: re.Match[str], text: str) -> Reading:
    """0,7631 is 0.7631; 1,234 could be 1.234 or 1234 and is refused."""
    sign, whole, fraction, exponent = match[1], match[2], match[3], match[4] or ""
    if len(fraction) == 3 and whole.lstrip("0") and not exponent:
        raise ValueError(
            f"{shorten(text)!r} could be {sign}{whole}.{fraction} (a decimal comma) or "
            f"{sign}{whole}{fraction} (a thousands separator); write it with a point"
        )
    point = f"{sign}{whole}.{fraction}{exponent}"
    return Reading(float(point), (f"read the decimal comma of {shorten(text)!r} as a point: "
                                  f"{point}",), _places(point))  # fmt: skip


def _arithmetic(raw: str, text: str) -> Reading:
    """Evaluate arithmetic on numbers (tanh(0.36), 1/(1+exp(-0.3))) with the safe parser."""
    from symbackprop.model.parsing.parser import parse

    assumed = []
    body = raw
    if "^" in body:
        body = body.replace("^", "**")
        assumed.append("read ^ as a power (**)")
    try:
        expr = parse(body, symbols={}, strict=True, source="answer")
    except SymbackpropError as error:
        reason = str(error).removeprefix("answer:").split(": ", 1)[-1]
        if "unknown name" in reason or "," in raw:
            reason = ("write a decimal (0.1234), scientific notation (1.2e-3), a fraction (3/8) "
                      "or arithmetic on numbers such as tanh(0.36), without names")  # fmt: skip
        raise ValueError(f"{shorten(text)!r} is not a number: {reason}") from None
    value = expr.evalf(30)
    if not value.is_real:
        raise ValueError(f"{shorten(text)!r} is not a real number; check the signs and logs")
    number = float(value)
    assumed.append(f"evaluated {shorten(text)} = {number:.{SHOWN_DIGITS}g}")
    return Reading(number, tuple(assumed))


# --- choices --------------------------------------------------------------------------------
def read_choice(text: str, options: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """Return the letter an answer chooses and what was assumed; ValueError when unclear.

    ``C``, ``c``, ``(C)`` and ``C) σ′ = σ(1 − σ)`` choose C; so does the text of option C alone
    when it is no other option's text (a part of it of at least MIN_TEXT_MATCH characters).
    """
    letters = LETTERS[: len(options)] or LETTERS
    stripped = text.strip()
    if stripped.strip("()[]. ").upper() in letters and len(stripped.strip("()[]. ")) == 1:
        return stripped.strip("()[]. ").upper(), ()
    first = _LETTER_FIRST.match(stripped)
    if first and first[1].upper() in letters:
        letter, rest = first[1].upper(), first[2]
        named = _option_named(rest, options) if rest.strip() else None
        if named is not None and named != letter:
            raise ValueError(
                f"{shorten(text)!r} gives letter {letter} but the text of option {named}; "
                "answer with one letter"
            )
        return letter, ()
    named = _option_named(stripped, options)
    if named is None:
        raise ValueError(f"answer with one letter {', '.join(letters)}")
    return named, (f"read {shorten(text)!r} as option {named} "
                   f"({shorten(options[LETTERS.index(named)])})",)  # fmt: skip


def _option_named(text: str, options: Sequence[str]) -> str | None:
    """The letter of the one option whose text the answer gives (whole or a long part)."""
    given = _normal(text)
    if not given:
        return None
    normals = [_normal(option) for option in options]
    exact = [i for i, option in enumerate(normals) if option == given]
    if len(exact) == 1:
        return LETTERS[exact[0]]
    if len(given) < MIN_TEXT_MATCH:
        return None
    partial = [i for i, option in enumerate(normals) if given in option]
    return LETTERS[partial[0]] if len(partial) == 1 else None


def _normal(text: str) -> str:
    """Text reduced to lower-case letters and digits, symbols spelled as typed (σ -> sigma)."""
    spelled = "".join(_SPELLED.get(c, c) for c in unicodedata.normalize("NFKC", text))
    return "".join(c for c in spelled.casefold() if c.isalnum())
