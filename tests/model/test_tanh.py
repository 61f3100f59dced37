"""Tanh: the package's own tanh (real for a real argument, derivative 1 - tanh^2)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model.functions import Tanh
from symbackprop.model.printing import to_latex, to_text
from tests.oracles import sympy_program_gradients

RTOL_SYMPY = 1e-12  # float64 compiled code vs SymPy at 30 digits
DIGITS = 30


def test_tanh_agrees_with_sympys_tanh_and_its_derivative():
    z = sp.Symbol("z")
    for value in (-3.5, -0.2, 0.0, 0.7, 20.0):
        point = {z: sp.Float(value, DIGITS)}
        assert abs(Tanh(z).evalf(DIGITS, subs=point) - sp.tanh(z).evalf(DIGITS, subs=point)) < 1e-25
        ours = sp.diff(Tanh(z), z).evalf(DIGITS, subs=point)
        theirs = sp.diff(sp.tanh(z), z).evalf(DIGITS, subs=point)
        assert abs(ours - theirs) < 1e-25
    assert sp.diff(Tanh(z), z) == 1 - Tanh(z) ** 2
    assert Tanh(-z) == -Tanh(z) and Tanh(0) == 0


def test_tanh_of_a_real_argument_is_real_without_expanding_it():
    xs = sp.symbols("x1:41", real=True)
    assert Tanh(sp.Add(*[x * x for x in xs])).is_real is True
    assert Tanh(sp.Symbol("u")).is_real is None


def test_tanh_prints_as_the_book_writes_it():
    z = sp.Symbol("z2_1")
    assert to_latex(Tanh(z)) == r"\tanh\left(z^{(2)}_{1}\right)"
    assert to_text(Tanh(z)) == "tanh(z⁽²⁾₁)"


def test_a_program_written_with_sympys_tanh_uses_the_packages():
    x, w, y, h = sp.symbols("x w y h")
    net = sb.Network.from_expressions([(h, sp.tanh(w * x))], (h - y) ** 2 / 2, [w], [x], [y])
    assert net.program.assignments[0].rhs == Tanh(w * x)


@pytest.mark.slow
def test_tanh_of_a_long_sum_derives_and_matches_sympy():
    n = 30
    xs, ws = sp.symbols(f"x1:{n + 1}"), sp.symbols(f"w1:{n + 1}")
    y, h = sp.symbols("y h")
    weighted = sp.Add(*[w * x for w, x in zip(ws, xs, strict=True)])
    net = sb.Network.from_expressions(
        [(h, Tanh(weighted))], (h - y) ** 2 / 2, list(ws), list(xs), [y]
    )
    assert sb.derive(net).gradient("w1") == sp.Symbol("dL_dh") * xs[0] * (1 - h**2)
    rng = np.random.default_rng(0)
    params = {w.name: float(v) for w, v in zip(ws, rng.normal(0, 0.2, n), strict=True)}
    X, Y = rng.normal(0, 1, n), 0.3
    got = sb.compile(net).gradient(params, X, [Y])
    point = {**params, **{x.name: float(v) for x, v in zip(xs, X, strict=True)}, "y": Y}
    _, expected = sympy_program_gradients(
        [(h, sp.tanh(weighted))], (h - y) ** 2 / 2, point, ["w1", "w30"]
    )
    for name in ("w1", "w30"):
        assert got[name] == pytest.approx(expected[name], rel=RTOL_SYMPY), name
