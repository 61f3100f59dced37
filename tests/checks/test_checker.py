"""check_gradient: verdicts, counterexamples and the catalogue of classic mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.checks.checker import check_gradient
from symbackprop.checks.mistakes import MISTAKES, MistakeContext, get_mistake
from symbackprop.model.functions import Sigmoid

MAZUR = sb.mlp([2, 2, 2], bias="shared")
DECAYED = sb.mlp([2, 2, 2], bias="shared", weight_decay=0.1)  # dOmega/dw = w/10
BCE = sb.mlp([2, 2, 2], bias="shared", loss="bce")  # delta = a - y: sigma' cancels
SOFTMAX_CE = sb.mlp([2, 2, 2], ["sigmoid", "softmax"], "cross_entropy", bias="shared")
MSE = sb.mlp([2, 2, 2], bias="shared", loss="mse")
TANH = sb.mlp([2, 3, 3, 2], activation="tanh")
# Mazur's w1..w8, b1, b2 (0.15 .. 0.60) in the book's names.
MAZUR_PARAMS = dict(
    zip(
        [
            "w1_1_1",
            "w1_1_2",
            "w1_2_1",
            "w1_2_2",
            "b1",
            "w2_1_1",
            "w2_1_2",
            "w2_2_1",
            "w2_2_2",
            "b2",
        ],
        [0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60],
        strict=True,
    )
)
RTOL_ORACLE = 1e-9  # 30-digit evaluations of different formulas differ far beyond this


def S(names: str) -> list[sp.Symbol]:  # noqa: N802 - reads like sp.symbols
    return list(sp.symbols(names))


a1_1, a1_2, a1_3, a2_1, a2_2, a2_3, a3_1, a3_2 = S("a1_1 a1_2 a1_3 a2_1 a2_2 a2_3 a3_1 a3_2")
z1_1, z2_1, z2_2 = S("z1_1 z2_1 z2_2")
x1, x2, y1, y2 = S("x1 x2 y1 y2")
d1_1, d1_2, d1_3, d2_1, d2_2, d2_3, d3_1, d3_2 = S(
    "delta1_1 delta1_2 delta1_3 delta2_1 delta2_2 delta2_3 delta3_1 delta3_2"
)
w = {name: sp.Symbol(name) for name in TANH.parameter_names() + MAZUR.parameter_names()}


# --- Mazur's net, written by hand (no code shared with the derivation) ---------------------------
def m_out_delta(j: int, prime: bool = True) -> sp.Expr:
    a, y = (a2_1, y1) if j == 1 else (a2_2, y2)
    return (a - y) * (a * (1 - a) if prime else 1)


def m_hidden_sum(k: int, out=m_out_delta, weight=lambda j, k: w[f"w2_{j}_{k}"]) -> sp.Expr:
    return out(1) * weight(1, k) + out(2) * weight(2, k)


def m_hidden_delta(k: int, **kwargs) -> sp.Expr:
    a = a1_1 if k == 1 else a1_2
    return m_hidden_sum(k, **kwargs) * a * (1 - a)


# --- the tanh net ---------------------------------------------------------------------------------
def t_delta3(j: int) -> sp.Expr:
    a, y = (a3_1, y1) if j == 1 else (a3_2, y2)
    return (a - y) * (1 - a**2)


def t_delta2(k: int) -> sp.Expr:
    a = [a2_1, a2_2, a2_3][k - 1]
    return (t_delta3(1) * w[f"w3_1_{k}"] + t_delta3(2) * w[f"w3_2_{k}"]) * (1 - a**2)


# (network, wrt, the mistaken formula, the diagnosis expected)
CATALOGUE = [
    # a formula that is 0 everywhere
    (MAZUR, "w2_1_1", sp.Integer(0), "zero_formula"),
    (TANH, "w1_1_1", x1 * d1_1 - x1 * d1_1 * (1 + 0 * a1_1), "zero_formula"),
    # a missing sigma'(z) (output layer, hidden layer, output layer seen from a hidden weight)
    (MAZUR, "w2_1_1", a1_1 * (a2_1 - y1), "missing_activation_derivative"),
    (MAZUR, "w2_2_2", a1_2 * (a2_2 - y2), "missing_activation_derivative"),
    (MAZUR, "w1_1_1", x1 * m_hidden_sum(1), "missing_activation_derivative"),
    (
        MAZUR,
        "w1_2_1",
        x1 * m_hidden_delta(2, out=lambda j: m_out_delta(j, prime=False)),
        "missing_activation_derivative",
    ),
    (TANH, "w3_1_2", a2_2 * (a3_1 - y1), "missing_activation_derivative"),
    (
        TANH,
        "w2_2_3",
        a1_3 * (t_delta3(1) * w["w3_1_2"] + t_delta3(2) * w["w3_2_2"]),
        "missing_activation_derivative",
    ),  # noqa: E501
    # an extra factor
    (MAZUR, "w2_1_1", a1_1 * m_out_delta(1) * a2_1 * (1 - a2_1), "extra_factor"),
    (MAZUR, "w2_1_2", a1_2 * m_out_delta(1) * a2_1, "extra_factor"),
    (TANH, "w3_2_1", a2_1 * t_delta3(2) * (1 - a3_2**2), "extra_factor"),
    # sign errors
    (MAZUR, "w2_1_1", -a1_1 * d2_1, "sign_error"),
    (MAZUR, "w1_1_2", x2 * m_hidden_delta(1) * -1, "sign_error"),
    (
        TANH,
        "w2_1_1",
        a1_1
        * (1 - a2_1**2)
        * ((y1 - a3_1) * (1 - a3_1**2) * w["w3_1_1"] + t_delta3(2) * w["w3_2_1"]),
        "sign_error",
    ),  # noqa: E501
    # constant factors
    (MAZUR, "w2_1_1", 2 * a1_1 * d2_1, "constant_factor"),
    (MAZUR, "b2", (d2_1 + d2_2) / 2, "constant_factor"),
    (TANH, "w1_2_1", 3 * x1 * d1_2, "constant_factor"),
    # transposed weight index (in BP2, and the gradient of w_kj given for w_jk)
    (
        MAZUR,
        "w1_1_1",
        x1 * m_hidden_delta(1, weight=lambda j, k: w[f"w2_{k}_{j}"]),
        "transposed_weight",
    ),  # noqa: E501
    (MAZUR, "w2_1_2", a1_1 * d2_2, "transposed_weight"),
    (TANH, "w2_1_2", a1_1 * d2_2, "transposed_weight"),
    # wrong activation derivative
    (MAZUR, "w2_1_1", a1_1 * (a2_1 - y1) * a2_1, "wrong_activation_derivative"),
    (TANH, "w3_1_1", a2_1 * (a3_1 - y1) * (1 - a3_1), "wrong_activation_derivative"),
    (
        TANH,
        "w2_3_2",
        a1_2 * (t_delta3(1) * w["w3_1_3"] + t_delta3(2) * w["w3_2_3"]) * (1 - a2_3),
        "wrong_activation_derivative",
    ),  # noqa: E501
    # another activation's derivative in place of the layer's own
    (TANH, "w3_1_1", a2_1 * (a3_1 - y1) * a3_1 * (1 - a3_1), "wrong_activation_derivative"),
    (MAZUR, "w2_1_1", a1_1 * (a2_1 - y1) * (1 - a2_1**2), "wrong_activation_derivative"),
    # a missing path
    (MAZUR, "w1_1_1", x1 * m_out_delta(1) * w["w2_1_1"] * a1_1 * (1 - a1_1), "missing_path"),
    (MAZUR, "b2", d2_1, "missing_path"),
    (
        TANH,
        "w1_3_2",
        x2 * (1 - a1_3**2) * (t_delta2(1) * w["w2_1_3"] + t_delta2(3) * w["w2_3_3"]),
        "missing_path",
    ),  # noqa: E501
    # updated weights in a hidden delta (eta = 0.5; dL/dw written out as delta * a)
    (
        MAZUR,
        "w1_1_1",
        x1
        * m_hidden_delta(
            1,
            weight=lambda j, k: (
                w[f"w2_{j}_{k}"] - sp.Rational(1, 2) * m_out_delta(j) * [a1_1, a1_2][k - 1]
            ),
        ),  # noqa: E501
        "updated_weights",
    ),
    (
        TANH,
        "w2_1_1",
        a1_1
        * (1 - a2_1**2)
        * sum(
            t_delta3(j) * (w[f"w3_{j}_1"] - sp.Rational(1, 2) * t_delta3(j) * a2_1) for j in (1, 2)
        ),  # noqa: E501
        "updated_weights",
    ),
    # the output activation's derivative applied where the loss cancels it
    (BCE, "w2_1_1", a1_1 * m_out_delta(1), "cancelled_derivative_applied"),
    (BCE, "w1_2_1", x1 * m_hidden_delta(2), "cancelled_derivative_applied"),
    (SOFTMAX_CE, "w2_2_1", a1_1 * m_out_delta(2), "cancelled_derivative_applied"),
    # the weight penalty's gradient forgotten, halved or doubled
    (DECAYED, "w2_1_1", a1_1 * m_out_delta(1), "penalty_gradient"),
    (DECAYED, "w1_2_1", x1 * m_hidden_delta(2) + w["w1_2_1"] / 20, "penalty_gradient"),
    (DECAYED, "w2_2_2", a1_2 * m_out_delta(2) + w["w2_2_2"] / 5, "penalty_gradient"),
    # a term from the wrong layer
    (MAZUR, "w2_1_1", a2_1 * d2_1, "wrong_layer_term"),
    (MAZUR, "w1_1_1", a1_1 * d1_1, "wrong_layer_term"),
    (MAZUR, "w2_2_1", a1_1 * d1_2, "wrong_layer_term"),
    (TANH, "w3_1_3", a1_3 * d3_1, "wrong_layer_term"),
    (TANH, "w2_1_2", a1_2 * d3_1, "wrong_layer_term"),
]


@pytest.mark.parametrize(
    ("network", "wrt", "formula", "mistake"),
    CATALOGUE,
    ids=[f"{m}-{wrt}-{i}" for i, (_, wrt, _, m) in enumerate(CATALOGUE)],
)
def test_classic_mistake_is_diagnosed_by_name(network, wrt, formula, mistake):
    verdict = check_gradient(network, wrt, formula)
    assert not verdict.correct
    assert verdict.diagnosis is not None, f"{wrt}: {formula} got no diagnosis"
    assert verdict.diagnosis.name == mistake, (
        f"{wrt}: {formula} diagnosed {verdict.diagnosis.name}: {verdict.diagnosis.explanation}"
    )
    _assert_counterexample_differs(network, wrt, formula, verdict)


def test_catalogue_covers_every_registered_mistake_but_the_fallback():
    covered = {mistake for _, _, _, mistake in CATALOGUE}
    assert set(MISTAKES) - covered == {"wrong_factor"}


def _sigmoid_written_out(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


z2_1_def = w["w2_1_1"] * a1_1 + w["w2_1_2"] * a1_2 + w["b2"]
EQUIVALENT = [
    (MAZUR, "w2_1_1", a1_1 * d2_1),
    (MAZUR, "w2_1_1", sp.expand(a1_1 * m_out_delta(1))),
    (MAZUR, "w2_1_1", sp.factor(a1_1 * m_out_delta(1))),
    (MAZUR, "w2_1_1", a1_1 * (a2_1 - y1) * Sigmoid(z2_1) * (1 - Sigmoid(z2_1))),
    (
        MAZUR,
        "w2_1_1",
        a1_1 * (a2_1 - y1) * _sigmoid_written_out(z2_1) * (1 - _sigmoid_written_out(z2_1)),
    ),  # noqa: E501
    (MAZUR, "w2_1_1", a1_1 * (a2_1 - y1) * sp.exp(-z2_1) / (1 + sp.exp(-z2_1)) ** 2),
    (
        MAZUR,
        "w2_1_1",
        a1_1 * (Sigmoid(z2_1_def) - y1) * Sigmoid(z2_1_def) * (1 - Sigmoid(z2_1_def)),
    ),  # noqa: E501
    (MAZUR, "w2_2_2", a1_2 * a2_2 * (a2_2 - y2) - a1_2 * a2_2**2 * (a2_2 - y2)),
    (MAZUR, "w1_1_1", x1 * d1_1),
    (MAZUR, "w1_1_1", x1 * m_hidden_delta(1)),
    (MAZUR, "w1_1_1", sp.expand(x1 * m_hidden_delta(1))),
    (MAZUR, "w1_2_2", x2 * a1_2 * (1 - a1_2) * (d2_1 * w["w2_1_2"] + d2_2 * w["w2_2_2"])),
    (MAZUR, "b1", d1_1 + d1_2),
    (MAZUR, "b1", sp.expand(m_hidden_delta(1) + m_hidden_delta(2))),
    (MAZUR, "b2", sp.factor(m_out_delta(1) + m_out_delta(2))),
    (TANH, "w3_1_2", a2_2 * d3_1),
    (TANH, "w3_1_2", sp.expand(a2_2 * t_delta3(1))),
    (TANH, "w3_2_1", a2_1 * (a3_2 - y2) * (1 - sp.tanh(sp.Symbol("z3_2")) ** 2)),
    (TANH, "w2_1_3", a1_3 * t_delta2(1)),
    (TANH, "w2_1_3", sp.expand(a1_3 * t_delta2(1))),
    (TANH, "b2_2", t_delta2(2)),
    (TANH, "w1_1_1", x1 * (1 - a1_1**2) * sum(t_delta2(k) * w[f"w2_{k}_1"] for k in (1, 2, 3))),
]


@pytest.mark.parametrize(("network", "wrt", "formula"), EQUIVALENT)
def test_equivalent_rewriting_is_accepted(network, wrt, formula):
    verdict = check_gradient(network, wrt, formula)
    assert verdict.correct, f"{wrt}: {formula} rejected: {verdict.to_text()}"
    assert verdict.diagnosis is None and verdict.counterexample is None


def test_the_correct_answer_is_proved_symbolically_where_small():
    assert check_gradient(MAZUR, "w2_1_1", a1_1 * d2_1).method == "symbolic"


# --- random wrong formulas ------------------------------------------------------------------------
LEAVES = [a1_1, a1_2, a2_1, a2_2, x1, y1, d2_1, d1_1, w["w2_1_1"], w["w2_2_1"], z2_1]


def _trees() -> st.SearchStrategy[sp.Expr]:
    leaf = st.one_of(st.sampled_from(LEAVES), st.integers(-3, 3).map(sp.Integer))

    def grow(children: st.SearchStrategy[sp.Expr]) -> st.SearchStrategy[sp.Expr]:
        return st.one_of(
            st.tuples(children, children).map(lambda t: t[0] + t[1]),
            st.tuples(children, children).map(lambda t: t[0] - t[1]),
            st.tuples(children, children).map(lambda t: t[0] * t[1]),
            children.map(lambda c: 1 - c),
            children.map(Sigmoid),
        )

    return st.recursive(leaf, grow, max_leaves=6)


def _oracle_value(network: sb.Network, expr: sp.Expr, point: dict[str, float]) -> sp.Expr:
    """Evaluate with every named symbol expanded into parameters and data (30 digits)."""
    d = sb.derive(network)
    names = {s.name for s in expr.free_symbols} - set(point)
    expanded = expr.xreplace({sp.Symbol(n): d.expanded(n) for n in names})
    values = {sp.Symbol(n): sp.Rational(str(v)) for n, v in point.items()}
    return sp.N(expanded.xreplace(values), 30)


def _differ(first: sp.Expr, second: sp.Expr) -> bool:
    if not (first.is_finite and second.is_finite):
        return True
    return bool(abs(first - second) > RTOL_ORACLE * (abs(first) + abs(second)) + 1e-20)


def _assert_counterexample_differs(network, wrt, formula, verdict) -> None:
    example = verdict.counterexample
    assert example is not None
    point = example.values()
    expected = _oracle_value(network, sb.derive(network).gradient(wrt), point)
    given_value = _oracle_value(network, formula, point)
    assert _differ(expected, given_value), f"{wrt}: no difference at {point}"
    assert float(expected) == pytest.approx(example.expected_value, rel=1e-9, abs=1e-15)


@pytest.mark.slow
@settings(deadline=None, max_examples=60)
@given(formula=_trees(), wrt=st.sampled_from(["w2_1_1", "w1_1_1", "b2"]))
def test_random_wrong_formula_is_never_accepted(formula, wrt):
    verdict = check_gradient(MAZUR, wrt, formula)
    expected = sb.derive(MAZUR).gradient(wrt)
    points = [MAZUR_PARAMS | {"x1": 0.05, "x2": 0.10, "y1": 0.01, "y2": 0.99}]
    rng = np.random.default_rng(7)
    for _ in range(3):
        values = {n: round(float(rng.uniform(-1, 1)), 3) for n in MAZUR.parameter_names()}
        points.append(values | {"x1": 0.3, "x2": -0.7, "y1": 0.2, "y2": 0.6})
    differs = any(
        _differ(_oracle_value(MAZUR, expected, p), _oracle_value(MAZUR, formula, p)) for p in points
    )
    if differs:
        assert not verdict.correct, f"{wrt}: {formula} accepted"
        _assert_counterexample_differs(MAZUR, wrt, formula, verdict)
        assert verdict.diagnosis is not None
    else:
        assert verdict.correct, f"{wrt}: {formula} equals the gradient but was rejected"


# --- input errors and the report ------------------------------------------------------------------
def test_unknown_parameter_suggests_the_closest():
    with pytest.raises(sb.UnknownNameError, match="did you mean 'w2_1_1'"):
        check_gradient(MAZUR, "w2_1_11", a1_1 * d2_1)


def test_unknown_symbol_in_a_sympy_formula_is_named():
    with pytest.raises(sb.UnknownNameError, match="'delta3_1'"):
        check_gradient(MAZUR, "w2_1_1", sp.Symbol("delta3_1") * a1_1)


def test_report_names_the_verdict_diagnosis_and_counterexample():
    text = check_gradient(MAZUR, "w2_1_1", a1_1 * (a2_1 - y1)).to_text()
    assert text.splitlines()[0].endswith("wrong")
    assert "missing activation-derivative factor" in text
    assert "counterexample: w1_1_1=" in text and "expected " in text


def test_custom_program_gradient_is_checked():
    x, t, w5, b = sp.symbols("x t w5 b")
    h, o = sp.symbols("h o")
    net = sb.Network.from_expressions(
        [(h, w5 * x + b), (o, Sigmoid(h))], loss=(o - t) ** 2 / 2, params=[w5, b], inputs=[x],
        targets=[t],
    )  # fmt: skip
    assert check_gradient(net, "w5", sp.Symbol("dL_dh") * x).correct
    assert check_gradient(net, "w5", (o - t) * o * (1 - o) * x).correct
    wrong = check_gradient(net, "w5", (o - t) * x)
    assert not wrong.correct and wrong.diagnosis is not None


def test_text_formula_is_parsed_and_checked():
    assert check_gradient(MAZUR, "w2_1_1", "a1_1*(a2_1 - y1)*a2_1*(1 - a2_1)").correct
    verdict = check_gradient(MAZUR, "w2_1_1", "a1_1*(a2_1-y1)", source="--expr")
    assert verdict.diagnosis is not None
    assert verdict.diagnosis.name == "missing_activation_derivative"
    with pytest.raises(sb.ParseError, match="^--expr:1:"):
        check_gradient(MAZUR, "w2_1_1", "a1_1*(", source="--expr")


# --- what a formula may not use or be ---------------------------------------------------------
SIGMOID_NET = sb.mlp([2, 2, 2])
TANH_NET = sb.mlp([2, 3, 2], activation="tanh")
RELU_NET = sb.mlp([2, 2, 2], activation="relu")


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        (
            "dL_dw2_1_1",
            r"^--expr:1:1: the formula uses 'dL_dw2_1_1', the gradient it should derive",
        ),
        ("1*dL_dw2_1_1", r"^--expr:1:3: the formula uses 'dL_dw2_1_1', the gradient it should"),
        ("a1_1*dL_dw2_1_2/a1_2", r"^--expr:1:6: the formula uses 'dL_dw2_1_2', another param"),
        ("w2_1_1_new*a1_1", r"^--expr:1:1: the formula uses 'w2_1_1_new', an updated parameter"),
    ],
)
def test_a_formula_may_not_use_gradients_or_updates(formula, message):
    with pytest.raises(sb.ParseError, match=message):
        check_gradient(MAZUR, "w2_1_1", formula, source="--expr")


def test_a_sympy_formula_may_not_use_its_own_gradient():
    with pytest.raises(sb.ParseError, match="'dL_dw1_1_1', the gradient it should derive; write"):
        check_gradient(MAZUR, "w1_1_1", sp.Symbol("dL_dw1_1_1") * 1)


def test_the_caller_may_forbid_further_names():
    bias = "b1_2"
    assert check_gradient(TANH_NET, bias, "delta1_2").correct
    for formula in ("delta1_2", "delta1_2*1", "(1 - a1_2**2)*delta1_2/(1 - a1_2**2)"):
        with pytest.raises(sb.ParseError, match="uses 'delta1_2', the quantity asked for"):
            check_gradient(TANH_NET, bias, formula, forbidden=["delta1_2"])
    formula = "(delta2_1*w2_1_2 + delta2_2*w2_2_2)*(1 - a1_2**2)"
    assert check_gradient(TANH_NET, bias, formula, forbidden=["delta1_2"]).correct


@pytest.mark.parametrize(
    ("network", "formula", "named"),
    [
        (TANH_NET, "(a2_1-y1)*a2_1*(1-a2_1)*a1_1", "the sigmoid derivative"),
        (SIGMOID_NET, "(a2_1-y1)*(1-a2_1**2)*a1_1", "the tanh derivative"),
        (SIGMOID_NET, "(a2_1-y1)*step(z2_1)*a1_1", "the relu derivative"),
        (RELU_NET, "(a2_1-y1)*a2_1*(1-a2_1)*a1_1", "the sigmoid derivative"),
    ],
)
def test_another_activations_derivative_is_diagnosed_by_name(network, formula, named):
    verdict = check_gradient(network, "w2_1_1", formula)
    assert verdict.diagnosis is not None
    assert verdict.diagnosis.name == "wrong_activation_derivative", verdict.to_text()
    assert named in verdict.diagnosis.explanation


@pytest.mark.parametrize("formula", ["sqrt(-1)*a1_1", "sqrt(z2_1 - 5)*a1_1", "log(a1_1 - 2)"])
def test_a_formula_that_is_not_real_is_refused(formula):
    with pytest.raises(sb.ParseError, match=r"^--expr:1:1: the formula is not real-valued"):
        check_gradient(MAZUR, "w2_1_1", formula, source="--expr")


def test_a_formula_that_is_zero_is_diagnosed_as_zero():
    verdict = check_gradient(MAZUR, "w2_1_1", "a1_1 * 0")
    assert verdict.diagnosis is not None and verdict.diagnosis.name == "zero_formula"
    assert verdict.diagnosis.explanation.startswith("your formula is 0 everywhere")
    assert "missing" not in verdict.to_text()


def test_zero_gradient_wording_only_for_a_gradient_that_is_zero():
    x, t, w5 = sp.symbols("x t w5")
    h = sp.Symbol("h")
    with pytest.warns(sb.SymbackpropWarning, match="'w5' does not affect the loss"):
        net = sb.Network.from_expressions(
            [(h, 0 * w5 * x + t)], loss=(h - t) ** 2 / 2, params=[w5], inputs=[x], targets=[t],
        )  # fmt: skip
    zero = check_gradient(net, "w5", x)
    assert zero.diagnosis is not None
    assert "a gradient that is 0 at every probe point" in zero.diagnosis.explanation
    # a formula undefined at every point, for a gradient that is not 0
    points = np.ones(48)
    context = MistakeContext(
        sb.derive(MAZUR), sp.Symbol("w2_1_1"), points * np.inf, points, lambda e: points, 0.5
    )
    explanation = get_mistake("wrong_factor").detect(context)
    assert explanation is not None and "undefined" in explanation
    assert "0 at every probe point" not in explanation


def test_mse_without_its_mean_is_named_as_such_not_as_a_lost_half():
    verdict = check_gradient(MSE, "w2_1_1", a1_1 * m_out_delta(1) * 2)
    assert verdict.diagnosis.name == "constant_factor"
    assert "the 1/2 of the mean over 2 outputs was dropped" in verdict.diagnosis.explanation
    assert "half squared error" not in verdict.diagnosis.explanation


def test_a_custom_programs_own_names_are_printed_as_its_own_not_as_layer_names():
    from symbackprop.model.functions import Sigmoid

    x, w, b1, y, r = sp.symbols("x w b1 y r")
    net = sb.Network.from_expressions(
        [(r, Sigmoid(w * x + b1))], loss=(r - y) ** 2 / 2, params=[w, b1], inputs=[x], targets=[y]
    )
    verdict = sb.check_gradient(net, "b1", "r - y")
    text = verdict.to_text()
    assert text.startswith("∂L/∂b₁: wrong")
    assert "∂r/∂b₁" in text and "b⁽¹⁾" not in text
    assert "b⁽¹⁾" in sb.check_gradient(sb.mlp([2, 2, 1]), "b1_1", "2*delta1_1").to_text()
