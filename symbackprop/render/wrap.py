"""Long formulas broken at their operators into rows that fit a line (render stage).

A book breaks a long sum before a + or a −, a long list after a comma, a long product before
a · only when nothing better fits. :func:`wrap_latex` does that for the printer's LaTeX (the
rows of the HTML, PDF and Markdown reports), :func:`wrap_text` for terminal text. Both fill
each row greedily with as many pieces as fit ``width`` visible characters; a piece longer
than that alone is left whole (the PDF then scales that one row down to the line).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

WRAP_AT = 62  # visible characters of one LaTeX row (the PDF's formula column, the HTML's)
WRAP_WITH_NOTE_AT = 38  # the same for a row that shares its line with a rule note
CONTINUATION = r"\quad "  # a continued sum is indented under its first row

# Where a LaTeX formula may break, best first: before a relation or a sign, after a comma,
# before a product's dot.
_LATEX_BREAKS = ((" = ", " + ", " - "), (", ",), (r" \cdot ", r" \times "))
_TEXT_BREAKS = ((" = ", " + ", " - ", " − "), (", ",), (" · ", "·"))


@dataclass(frozen=True)
class _Point:
    at: int  # the row that starts here (a comma stays on the row before)
    rank: int  # 0 is the best place to break
    open_left: tuple[str, ...]  # the \left delimiters still open at this point


def _latex_points(tex: str) -> list[_Point]:
    """Return where ``tex`` may break: outside braces, possibly inside \\left( \\right)."""
    stack: list[str] = []  # "{" a group, "(" a plain parenthesis, "\\left(" a sized pair
    points = []
    i = 0
    while i < len(tex):
        command = _COMMAND.match(tex, i)
        if command and command[1] in ("left", "right"):
            if command[1] == "left":
                stack.append(command[0])
            elif stack:
                stack.pop()
            i = command.end()
            continue
        if command:
            if command[0] in (r"\cdot", r"\times") and "{" not in stack and tex[i - 1 : i] == " ":
                points.append(_Point(i - 1, 2 + _depth(stack), _open_left(stack)))
            i = command.end()
            continue
        char = tex[i]
        if char in "{(":
            stack.append(char)
        elif char in "})" and stack:
            stack.pop()
        elif "{" not in stack and i > 0:
            rank = _rank(tex, i)
            if rank is not None:
                at = i + 2 if char == "," else i
                points.append(_Point(at, rank + _depth(stack), _open_left(stack)))
        i += 1
    return points


# A command; \left and \right with the delimiter they size (\left( \left. \left\{ \right|).
_COMMAND = re.compile(r"\\(left|right)(?![A-Za-z])\s*(\\[A-Za-z]+|\\.|.)|\\([A-Za-z]+|.)")


def _rank(tex: str, i: int) -> int | None:
    if tex[i - 1 : i + 2] in (" = ", " + ", " - "):
        return 0
    if tex[i : i + 2] == ", ":
        return 1
    return None


def _depth(stack: list[str]) -> int:
    """Penalise a break inside parentheses: (a + b) · c breaks before the dot, if it can."""
    return 3 * sum(1 for entry in stack if entry == "(" or entry.startswith("\\left"))


def _open_left(stack: list[str]) -> tuple[str, ...]:
    return tuple(entry for entry in stack if entry.startswith("\\left"))


def visible_length(tex: str) -> float:
    """Estimate the width of a formula in characters (a digit is one).

    A command counts 1, braces nothing, an index or a power 0.7 a character; an index and a
    power on one letter stand one above the other, so only the longer counts."""
    bare = re.sub(r"\\(left|right)(\.|\b)", "", tex)
    bare = re.sub(r"\\[A-Za-z]+", "c", bare)
    bare = _STACKED.sub(lambda m: "^{" + max(m[1], m[2], key=len) + "}", bare)
    small = sum(len(m[1]) for m in _SCRIPT.finditer(bare))
    plain = len(re.sub(r"[{}^_ ]", "", bare))
    return plain - 0.3 * small


_SCRIPT = re.compile(r"[_^]\{([^{}]*)\}")
_STACKED = re.compile(r"[_^]\{([^{}]*)\}[_^]\{([^{}]*)\}")


def wrap_latex(tex: str, width: float = WRAP_AT) -> list[str]:
    """Split a LaTeX formula into rows of at most ``width`` visible characters, if it can.

    Each row is balanced: a \\left( left open at a break is closed by \\right. on its row and
    reopened by \\left. on the next. Rows after the first start with :data:`CONTINUATION`
    unless they start with "=" (a new step of the equation, aligned under the first)."""
    cuts = _cuts(tex, _latex_points(tex), width, visible_length)
    rows = []
    for (start, opened), (end, closing) in zip(cuts, cuts[1:], strict=False):
        row = tex[start:end].strip()
        row = r"\left. " * len(opened) + row + r" \right." * len(closing)
        rows.append(row)
    return [rows[0]] + [r if r.startswith("=") else CONTINUATION + r for r in rows[1:]]


def _cuts(
    text: str, points: list[_Point], width: float, measure: Callable[[str], float]
) -> list[tuple[int, tuple[str, ...]]]:
    """Choose the breaks greedily: the furthest best-ranked point that keeps the row short."""
    cuts: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    start = 0
    while measure(text[start:]) > width:
        fitting = [p for p in points if p.at > start and measure(text[start : p.at]) <= width]
        if fitting:
            best = min(p.rank for p in fitting)
            point = max((p for p in fitting if p.rank == best), key=lambda p: p.at)
        else:
            later = [p for p in points if p.at > start]
            if not later:
                break
            point = later[0]
        cuts.append((point.at, point.open_left))
        start = point.at
    cuts.append((len(text), ()))
    return cuts


def _text_points(text: str) -> list[_Point]:
    points = []
    for rank, signs in enumerate(_TEXT_BREAKS):
        for sign in signs:
            for match in re.finditer(re.escape(sign), text):
                at = match.end() if sign == ", " else match.start()
                if 0 < at < len(text):
                    points.append(_Point(at, rank, ()))
    return sorted(points, key=lambda p: p.at)


def wrap_text(text: str, width: int, indent: int) -> list[str]:
    """Split a line of terminal text into rows of at most ``width`` characters, if it can.

    Rows after the first are indented by ``indent`` spaces (and so are ``indent`` narrower);
    a row that starts a new step of an equation ("= ...") by two fewer, under the first "="."""
    points = _text_points(text)
    rows = []
    start, limit = 0, width
    while len(text) - start > limit:
        fitting = [p for p in points if start < p.at <= start + limit]
        later = [p for p in points if p.at > start]
        if not (fitting or later):
            break
        if fitting:
            best = min(p.rank for p in fitting)
            end = max(p.at for p in fitting if p.rank == best)
        else:
            end = later[0].at
        rows.append(text[start:end].rstrip())
        start = end + len(text[end:]) - len(text[end:].lstrip(" "))
        limit = width - indent
    rows.append(text[start:].rstrip())
    return [rows[0]] + [" " * (indent - 2 * row.startswith("= ")) + row for row in rows[1:]]
