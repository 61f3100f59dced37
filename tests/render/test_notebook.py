"""Jupyter: a derivation, its evaluation, its equations and a blame split show maths, styled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import symbackprop as sb

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RAW_SYMPY = ("Lambda(", "Derivative(", "HadamardProduct(", "BlameShare(", "Equation(")


@pytest.fixture(scope="module")
def gated() -> tuple[sb.Derivation, object]:
    spec = sb.load_spec(EXAMPLES / "custom.toml")
    X, Y = spec.data
    d = sb.derive(spec.network)
    return d, d.evaluate(spec.params, X[0], Y[0], learning_rate=0.5)


def test_an_evaluation_shows_the_derivation_with_its_numbers(gated) -> None:
    d, ev = gated
    page = ev._repr_html_()
    assert "<math" in page and "0.392463452" in page  # gate's value
    assert "0.392463452" in ev._repr_latex_()
    assert "0.392463452" not in d._repr_html_()  # the derivation alone is symbolic


def test_the_notebook_derivation_is_styled(gated) -> None:
    d, ev = gated
    for page in (d._repr_html_(), ev._repr_html_()):
        assert "<style>" in page
        assert re.search(r"\.symbackprop-derivation math \{[^}]*font-size: 1\.15em", page)
        assert re.search(r"td\.rhs \{ text-align: left", page)  # notebooks right-align cells


def test_the_notebook_latex_is_display_maths_mathjax_draws(gated) -> None:
    d, ev = gated
    for latex in (d._repr_latex_(), ev._repr_latex_()):
        assert latex.lstrip().startswith("$$\\begin{aligned}")
        assert "\\subsection" not in latex and "align*" not in latex and "·" not in latex


def test_blame_and_equations_show_maths_not_sympy(gated) -> None:
    d, ev = gated
    shown = [d.blame("dL_dh", ev)._repr_html_(), d.blame("dL_dh", ev)._repr_latex_(),
             d.blame("dL_dh")._repr_html_()]  # fmt: skip
    equations = sb.derive(sb.mlp([2, 2, 2])).equations()
    shown += [equations._repr_html_(), equations._repr_latex_()]
    for text in shown:
        assert not [raw for raw in RAW_SYMPY if raw in text], text[:300]
    assert "<math" in shown[0] and "-79 %" in shown[0]  # share of the pull, not 136 %
    assert "BP2" in shown[3] and "<math" in shown[3]


def test_markdown_keeps_latex_inside_dollars(gated) -> None:
    d, ev = gated
    text = d.to_markdown(ev)
    prose = re.sub(r"\$[^$]*\$", "", text)
    assert "\\" not in prose, [line for line in prose.splitlines() if "\\" in line]
    maths = "".join(re.findall(r"\$[^$]*\$", text))
    assert "·" not in maths
