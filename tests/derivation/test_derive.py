"""The reverse sweep and the Derivation it builds: named deltas, rules, BP1-BP4, blame."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model.functions import Relu, Sigmoid, Step

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


def test_deltas_are_named_and_written_in_the_next_layers_deltas():
    d = sb.derive(sb.mlp([2, 3, 2]))
    step = d.step("delta1_2")
    assert step.stage is sb.Stage.ADJOINT and step.layer == 1
    deltas = {s for s in step.rhs.free_symbols if s.name.startswith("delta")}
    assert deltas == {sp.Symbol("delta2_1"), sp.Symbol("delta2_2")}
    assert sb.Rule.SIGMOID_IDENTITY in step.rules and sb.Rule.SUM_OVER_PATHS in step.rules
    assert [str(p.via) for p in step.paths] == ["z2_1", "z2_2"]
    assert sp.simplify(step.factors[1] - sp.Symbol("a1_2") * (1 - sp.Symbol("a1_2"))) == 0
    assert d.gradient("w2_1_3") == sp.Symbol("delta2_1") * sp.Symbol("a1_3")
    assert d.step("dL_dw2_1_3").rules == (sb.Rule.WEIGHT_PICKS_INPUT,)
    assert d.step("dL_db2_1").rules == (sb.Rule.BIAS_IS_ONE,)


def test_steps_depend_only_on_earlier_steps():
    d = sb.derive(sb.mlp([2, 2, 2, 1], ["tanh", "relu", "sigmoid"], "bce"))
    seen = set()
    for step in d.steps:
        assert set(step.depends_on) <= seen
        seen.add(step.lhs)


def test_expanded_gradient_equals_sympy_diff_of_the_expanded_loss():
    net = sb.mlp([2, 2, 1], ["tanh", "sigmoid"], "half_sse")
    d = sb.derive(net)
    loss = d.expanded("L")
    for name in ("w1_2_1", "b2_1", "w2_1_2"):
        difference = d.expanded(name) - sp.diff(loss, sp.Symbol(name))
        point = {s: sp.Rational(i + 3, 7) for i, s in enumerate(sorted(loss.free_symbols, key=str))}
        assert abs(float(difference.rewrite(sp.exp).subs(point).evalf(30))) < 1e-20, name


def test_softmax_with_cross_entropy_gives_a_minus_y():
    d = sb.derive(sb.mlp([2, 3], "softmax", "cross_entropy"))
    step = d.step("delta1_2")
    assert step.rhs == sp.Symbol("a1_2") - sp.Symbol("y2")
    assert sb.Rule.SOFTMAX_CROSS_ENTROPY in step.rules


def test_relu_derivative_is_the_step_with_zero_at_zero():
    d = sb.derive(sb.mlp([1, 1, 1], ["relu", "identity"]))
    prime = d.step("delta1_1").factors[1]
    assert prime == Step(sp.Symbol("z1_1"))
    assert d.step("delta1_1").rules[-1] is sb.Rule.RELU_STEP
    ev = d.evaluate({"w1_1_1": 1.0, "b1_1": 0.0, "w2_1_1": 1.0, "b2_1": 0.0}, [0.0], [1.0])
    assert ev["delta1_1"] == 0.0


def test_arbitrary_program_keeps_the_users_names():
    x, w, b, y, h, out = sp.symbols("x w b y h out")
    net = sb.Network.from_expressions(
        [(h, Relu(w * x + b)), (out, Sigmoid(h) * h)], (out - y) ** 2, [w, b], [x], [y]
    )
    d = sb.derive(net)
    assert [s.lhs.name for s in d.stage(sb.Stage.ADJOINT)] == ["dL_dout", "dL_dh"]
    dh = d.step("dL_dh")
    assert sb.Rule.PRODUCT in dh.rules and sb.Rule.SIGMOID_IDENTITY in dh.rules
    params, X, Y = {"w": 0.7, "b": 0.1}, np.array([[0.5], [2.0]]), np.array([[0.2], [0.9]])
    result = sb.gradcheck(net, params, X, Y)
    assert result.ok and result.max_rel_error < 1e-6


def test_equations_are_bp1_to_bp4():
    labels = [e.label for e in sb.derive(sb.mlp([2, 3, 3, 2])).equations()]
    assert labels.count("BP1") == 1 and labels.count("BP2") == 2
    assert labels.count("BP3") == 3 and labels.count("BP4") == 3
    with pytest.raises(sb.SymbackpropError, match="need a layered network"):
        x, w, y = sp.symbols("x w y")
        sb.derive(sb.Network.from_expressions([], (w * x - y) ** 2, [w], [x], [y])).equations()


def test_blame_shares_sum_to_one():
    net = sb.mlp([2, 2, 3])
    params = net.init_params(3)
    d = sb.derive(net)
    shares = d.blame("delta1_1", d.evaluate(params, [0.3, -0.2], [0.1, 0.5, 0.9]))
    assert len(shares) == 3
    assert sum(s.share for s in shares) == pytest.approx(1.0)


def test_derivation_is_immutable():
    d = sb.derive(sb.mlp([1, 1]))
    with pytest.raises(AttributeError):
        d.steps = ()  # type: ignore[misc]
