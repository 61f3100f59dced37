"""The derivation engine, numeric backend, gradcheck and training: behaviour by example."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop import notation
from symbackprop.functions import Relu, Sigmoid, Step

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


# --- notation ----------------------------------------------------------------------------------
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


# --- the derivation ----------------------------------------------------------------------------
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


# --- compiled network ---------------------------------------------------------------------------
def test_layer_arrays_in_give_layer_arrays_out():
    net = sb.mlp([3, 4, 2], bias="shared")
    named = net.init_params(0, scheme="normal")
    X, Y = np.ones((5, 3)), np.zeros((5, 2))
    compiled = sb.compile(net)
    by_name = compiled.gradient(named, X, Y)
    from symbackprop.architecture import names_to_layer_arrays

    arrays = names_to_layer_arrays(net.architecture, named)
    by_layer = compiled.gradient(arrays, X, Y)
    assert set(by_layer) == {"W1", "b1", "W2", "b2"} and by_layer["b1"].shape == ()
    assert by_layer["W2"][1, 3] == pytest.approx(by_name["w2_2_4"], rel=RTOL_EXACT)
    assert float(by_layer["b1"]) == pytest.approx(by_name["b1"], rel=RTOL_EXACT)


def test_forward_returns_the_outputs_for_a_batch():
    net = sb.mlp([2, 3, 2], ["tanh", "softmax"], "cross_entropy")
    out = sb.compile(net).forward(net.init_params(0), np.zeros((4, 2)))
    assert out.shape == (4, 2)
    assert np.allclose(out.sum(axis=1), 1.0)


def test_compiled_is_cached_per_architecture_and_fast_for_784_128_10():
    import time

    start = time.perf_counter()
    sb.compile(sb.mlp([784, 128, 10]))
    # A correctness bound, not a benchmark: the layer view never writes 100,000 scalar lines.
    assert time.perf_counter() - start < 20


# --- gradcheck ----------------------------------------------------------------------------------
def test_gradcheck_rows_and_verdicts():
    net = sb.mlp([2, 2, 1], "tanh")
    result = sb.gradcheck(net, net.init_params(1), [[0.3, 0.4]], [[0.5]])
    assert result.ok and len(result.rows) == len(net.parameter_names())
    row = result.row("w1_1_1")
    assert row.verdict in (sb.Verdict.EXCELLENT, sb.Verdict.GOOD)
    assert row.analytic == pytest.approx(row.numeric, rel=1e-5)


@pytest.mark.parametrize(
    ("error", "verdict"),
    [(1e-9, "EXCELLENT"), (1e-5, "GOOD"), (1e-3, "SUSPICIOUS"), (0.5, "WRONG")],
)
def test_cs231n_bands(error, verdict):
    from symbackprop.gradcheck import verdict_for

    assert verdict_for(error).name == verdict


def test_a_point_on_relus_kink_is_reported_as_a_kink_not_a_failure():
    net = sb.mlp([1, 1, 1], ["relu", "identity"])
    # z1_1 = w x + b = 0 exactly: central differences straddle the kink.
    params = {"w1_1_1": 1.0, "b1_1": -1.0, "w2_1_1": 1.0, "b2_1": 0.0}
    result = sb.gradcheck(net, params, [[1.0]], [[1.0]])
    assert result.row("w1_1_1").verdict is sb.Verdict.KINK
    assert result.ok


def test_gradcheck_samples_a_large_network():
    net = sb.mlp([50, 50, 3])
    result = sb.gradcheck(net, net.init_params(0), np.ones((2, 50)), np.zeros((2, 3)))
    assert result.sampled and len(result.rows) == 200 and result.ok


# --- train --------------------------------------------------------------------------------------
def test_train_never_mutates_its_input_and_returns_the_same_form():
    net = sb.mlp([2, 2, 1])
    params = net.init_params(0)
    before = copy.deepcopy(params)
    result = sb.train(net, params, [[0, 1], [1, 0]], [[1], [1]], 0.5, epochs=20)
    assert params == before
    assert set(result.params) == set(params)
    assert len(result.losses) == 21 and result.losses[-1] < result.losses[0]


def test_minibatch_training_is_seeded_and_freezes():
    net = sb.mlp([2, 4, 1], "tanh")
    X = np.random.default_rng(0).normal(size=(16, 2))
    Y = X[:, :1] * 0.5
    params = net.init_params(0)
    first = sb.train(net, params, X, Y, 0.1, 5, batch_size=4, seed=7, freeze=["b1_1"])
    again = sb.train(net, params, X, Y, 0.1, 5, batch_size=4, seed=7, freeze=["b1_1"])
    assert first.losses == again.losses
    assert first.params["b1_1"] == params["b1_1"]
    assert first.params["b1_2"] != params["b1_2"]


def test_xor_trains():
    net = sb.mlp([2, 3, 1], ["tanh", "sigmoid"], "half_sse")
    X = [[0, 0], [0, 1], [1, 0], [1, 1]]
    Y = [[0], [1], [1], [0]]
    result = sb.train(net, net.init_params(1, scheme="normal"), X, Y, 2.0, 2000)
    assert result.final_loss < 0.01


def test_jupyter_displays_a_derivation_and_a_network():
    net = sb.mlp([2, 2, 2])
    html = sb.derive(net)._repr_html_()
    assert "<math" in html and "\\frac" not in html
    assert "\\delta" in sb.derive(net)._repr_latex_()
    assert "<" in net._repr_html_()
