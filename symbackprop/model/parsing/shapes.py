"""Shapes of matrix formulas: broadcasting, and one-line explanations of a mismatch (model layer).

The matrix parser (:mod:`symbackprop.model.parsing.matrix`) asks these helpers whether two
operands fit, and, when they do not, for a message that names the operands, their shapes and
the nearest formula that would fit (a transpose added or dropped, the product in the other
order, ``@`` for ``*``): ``Delta2 @ A1 multiplies (2×B) by (4×B): the inner sizes B and 4
differ; did you mean Delta2 @ A1.T?``
"""

from __future__ import annotations

import re

import sympy as sp

Shape = tuple[sp.Expr, sp.Expr]
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.T)*|[A-Za-z_][A-Za-z0-9_]*\([^()]*\)")


def shape_text(shape: Shape) -> str:
    """Return a shape as the book writes it: ``2×B``."""
    return f"{shape[0]}×{shape[1]}"


def transposed(shape: Shape) -> Shape:
    return (shape[1], shape[0])


def broadcast_shape(left: Shape, right: Shape) -> Shape | None:
    """Return NumPy's broadcast of two 2-D shapes (a size 1 stretches), or None if none."""
    out = []
    for a, b in zip(left, right, strict=True):
        if a == b or b == 1:
            out.append(a)
        elif a == 1:
            out.append(b)
        else:
            return None
    return (out[0], out[1])


def toggle_transpose(text: str) -> str:
    """Return the source text with its outer transpose dropped, or with one added."""
    stripped = text.strip()
    if stripped.endswith(".T"):
        inner = stripped[:-2]
        if inner.startswith("(") and inner.endswith(")") and _balanced(inner[1:-1]):
            return inner[1:-1]
        return inner
    bracketed = stripped.startswith("(") and stripped.endswith(")") and _balanced(stripped[1:-1])
    return f"{stripped}.T" if _SIMPLE.fullmatch(stripped) or bracketed else f"({stripped}).T"


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def product_mismatch(left_text: str, right_text: str, left: Shape, right: Shape) -> str:
    """Explain why ``left @ right`` is undefined and suggest the nearest product that is."""
    message = (
        f"{left_text} @ {right_text} multiplies ({shape_text(left)}) by ({shape_text(right)}): "
        f"the inner sizes {left[1]} and {right[0]} differ"
    )
    tries = [
        (left, transposed(right), f"{left_text} @ {toggle_transpose(right_text)}"),
        (transposed(left), right, f"{toggle_transpose(left_text)} @ {right_text}"),
        (right, left, f"{right_text} @ {left_text} (the other order)"),
        (
            transposed(left),
            transposed(right),
            f"{toggle_transpose(left_text)} @ {toggle_transpose(right_text)}",
        ),
    ]
    fits = [text for a, b, text in tries if a[1] == b[0]][:2]
    if broadcast_shape(left, right) is not None:
        fits.append(f"{left_text} * {right_text} (the elementwise product)")
    elif broadcast_shape(left, transposed(right)) is not None and 1 in right:
        # a row or column times a matrix: a scale per row or column, written with *
        fits.insert(0, f"{left_text} * {toggle_transpose(right_text)} (the elementwise product)")
    return message + (f"; did you mean {' or '.join(fits)}?" if fits else "")


def elementwise_mismatch(
    sign: str, left_text: str, right_text: str, left: Shape, right: Shape
) -> str:
    """Explain why ``left <sign> right`` (elementwise) is undefined and suggest a fix."""
    verb = {"+": "adds", "-": "subtracts", "*": "multiplies", "/": "divides"}[sign]
    joint = "from" if sign == "-" else ("by" if sign in "*/" else "and")
    if sign == "-":
        message = f"{left_text} - {right_text} {verb} ({shape_text(right)}) {joint} "
        message += f"({shape_text(left)}) elementwise"
    else:
        message = f"{left_text} {sign} {right_text} {verb} ({shape_text(left)}) {joint} "
        message += f"({shape_text(right)}) elementwise"
    message += (
        f": {sign} needs equal shapes (or a row or column that broadcasts), and "
        f"{shape_text(left)} and {shape_text(right)} do not fit"
    )
    fits = []
    if broadcast_shape(left, transposed(right)) is not None:
        fits.append(f"{left_text} {sign} {toggle_transpose(right_text)}")
    elif broadcast_shape(transposed(left), right) is not None:
        fits.append(f"{toggle_transpose(left_text)} {sign} {right_text}")
    if sign == "*" and left[1] == right[0]:
        fits.append(f"{left_text} @ {right_text} (the matrix product)")
    return message + (f"; did you mean {' or '.join(fits)}?" if fits else "")
