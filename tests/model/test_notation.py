"""Names in the book's notation: ASCII names, their LaTeX and Unicode forms."""

from __future__ import annotations

import pytest

from symbackprop.model import notation

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


@pytest.mark.parametrize(
    ("name", "latex", "text"),
    [
        ("w2_1_1", r"w^{(2)}_{11}", "w⁽²⁾₁₁"),
        ("w2_1_12", r"w^{(2)}_{1,12}", "w⁽²⁾₁,₁₂"),
        ("delta2_1", r"\delta^{(2)}_{1}", "δ⁽²⁾₁"),
        ("b1", r"b^{(1)}", "b⁽¹⁾"),
        ("z10_3", r"z^{(10)}_{3}", "z⁽¹⁰⁾₃"),
        ("x1", "x_{1}", "x₁"),
        ("L", r"\mathcal{L}", "L"),
        ("dL_dw2_1_1", r"\frac{\partial \mathcal{L}}{\partial w^{(2)}_{11}}", "∂L/∂w⁽²⁾₁₁"),
        ("out_h1", r"\mathrm{out}_{h1}", "out_h1"),
    ],
)
def test_names_in_latex_and_unicode(name, latex, text):
    assert notation.latex_name(name) == latex
    assert notation.unicode_name(name) == text
