"""check_gradient for networks of layers: matrix formulas, verdicts, counterexamples, diagnoses."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.checks.matrix_checker import MatrixGradientVerdict
from symbackprop.checks.matrix_mistakes import MATRIX_MISTAKES
from symbackprop.checks.matrix_probing import BATCH_SIZES
from symbackprop.checks.matrix_text import formula_text
from symbackprop.model.errors import ParseError, ShapeError, SymbackpropError, UnknownNameError

NETS = {
    "dense": sb.sequential(3, [sb.Dense(4), "sigmoid", sb.Dense(2), "softmax"]),
    "mse": sb.sequential(2, [sb.Dense(3), "tanh", sb.Dense(2)], loss="half_sse"),
    "batchnorm": sb.sequential(3, [sb.Dense(4), sb.BatchNorm(), "relu", sb.Dense(2)], "half_sse"),
    "layernorm": sb.sequential(3, [sb.Dense(4), sb.LayerNorm(), "tanh", sb.Dense(2)], "half_sse"),
    "residual": sb.sequential(
        3, [sb.Dense(4), sb.Residual([sb.Dense(4), "tanh"]), sb.Dense(2)], "half_sse"
    ),
    "attention": sb.sequential(3, [sb.SelfAttention(d_k=2), sb.Dense(2)], "half_sse"),
    "dropout": sb.sequential(
        3, [sb.Dense(4), "relu", sb.Dropout(0.5, seed=1), sb.Dense(2)], "half_sse"
    ),  # fmt: skip
    "conv": sb.sequential(
        (1, 4, 4),
        [sb.Conv2d(2, 2), "tanh", sb.Conv2d(2, 2), sb.Flatten(), sb.Dense(1)],
        "half_sse",
    ),  # fmt: skip
}

BN_DX = "r2 * (dXhat2 - mean(dXhat2, axis=1) - Xhat2 * mean(dXhat2 * Xhat2, axis=1))"
LN_DX = "r2 * (dXhat2 - mean(dXhat2, axis=0) - Xhat2 * mean(dXhat2 * Xhat2, axis=0))"

CORRECT = [
    ("dense", "2.weight", "Delta2 @ A1.T / B"),
    ("dense", "W2", "(A2 - Y) @ A1.T / B"),
    ("dense", "2.bias", "sum(Delta2, axis=1) / B"),
    ("dense", "2.bias", "mean(Delta2, axis=1)"),
    ("dense", "2.bias", "mean(Delta2, axis=1).T"),  # a row is fine for an (out,) parameter
    ("dense", "2.bias", "Delta2 @ ones(B, 1) / B"),
    ("dense", "Delta1", "(W2.T @ Delta2) * A1 * (1 - A1)"),
    ("dense", "Delta1", "dA1 * sigmoid_prime(Z1)"),
    ("dense", "0.weight", "((W2.T @ Delta2) * dsigmoid(Z1)) @ X.T / B"),
    ("dense", "0.bias", "sum((W2.T @ Delta2) * A1 * (1 - A1), axis=1) / B"),
    ("mse", "Delta2", "Z2 - Y"),
    ("mse", "0.weight", "((W2.T @ Delta2) * (1 - A1 ** 2)) @ X.T / B"),
    ("batchnorm", "Delta1", BN_DX),
    (
        "batchnorm",
        "Delta1",
        "gamma2 * r2 * (B * dN2 - sum(dN2, axis=1) - Xhat2 * sum(dN2 * Xhat2, axis=1)) / B",
    ),  # fmt: skip
    ("batchnorm", "1.weight", "sum(dN2 * Xhat2, axis=1) / B"),
    ("batchnorm", "1.bias", "mean(dN2, axis=1)"),
    ("batchnorm", "dXhat2", "dN2 * gamma2"),
    ("batchnorm", "dvar2", "sum(dXhat2 * C2, axis=1) * (-1/2) * (var2 + epsilon2) ** (-3/2)"),
    ("batchnorm", "dmu2", "-sum(dXhat2 * r2, axis=1)"),
    ("batchnorm", "0.weight", f"({BN_DX}) @ X.T / B"),
    ("layernorm", "Delta1", LN_DX),
    ("layernorm", "dN2", "(W3.T @ Delta3) * (1 - A2 ** 2)"),
    ("layernorm", "1.weight", "sum(dN2 * Xhat2, axis=1) / B"),
    ("residual", "Delta1", "dR2 + W2.T @ Delta2"),
    ("residual", "0.weight", "(dR2 + W2.T @ Delta2) @ X.T / B"),
    ("residual", "1.body.0.weight", "Delta2 @ Z1.T / B"),
    ("residual", "Delta2", "(W3.T @ Delta3) * (1 - A2 ** 2)"),
    ("attention", "dQ1", "K1 @ dS1 / sqrt(2)"),
    ("attention", "dK1", "Q1 @ dS1.T / sqrt(2)"),
    ("attention", "dV1", "dH1 @ P1.T"),
    ("attention", "dP1", "V1.T @ dH1"),
    ("attention", "dS1", "P1 * (dP1 - sum(P1 * dP1, axis=0))"),
    ("attention", "0.q.weight", "dQ1 @ X.T / B"),
    ("attention", "0.o.weight", "dO1 @ H1.T / B"),
    ("attention", "0.v.bias", "sum(dH1 @ P1.T, axis=1) / B"),
    ("dropout", "Delta1", "(W2.T @ Delta2) * M1 * 2 * relu_prime(Z1)"),
    ("dropout", "Delta1", "(W2.T @ Delta2) * M1 / 0.5 * relu_prime(Z1)"),
]

# (network, wrt, formula, the diagnosis that names the actual mistake, or None if none does)
WRONG = [
    ("dense", "2.weight", "Delta2 @ A1 / B", "shape_mismatch"),
    ("dense", "2.weight", "A1.T @ Delta2 / B", "shape_mismatch"),
    ("dense", "2.weight", "A1 @ Delta2.T / B", "transposed_result"),
    ("dense", "2.weight", "Delta2 @ A1.T", "missing_batch_mean"),
    ("dense", "2.weight", "Delta2 * A1.T / B", "shape_mismatch"),
    ("dense", "2.weight", "Delta2 @ A1.T / B ** 2", "missing_batch_mean"),
    ("dense", "2.weight", "Delta2 @ A1.T / (B - 1)", "undefined"),
    ("dense", "2.weight", "Delta2 @ A1.T * 0", "zero_formula"),
    ("dense", "2.bias", "sum(Delta2, axis=1)", "missing_batch_mean"),
    ("dense", "2.bias", "Delta2 / B", "missing_batch_sum"),
    ("dense", "2.bias", "Delta2", "missing_batch_sum"),
    ("dense", "2.bias", "sum(Delta2, axis=0) / B", "missing_batch_sum"),
    ("dense", "Delta1", "W2.T @ Delta2", "missing_activation_derivative"),
    ("dense", "2.weight", "Delta2 @ Z1.T / B", "wrong_node"),
    ("batchnorm", "3.weight", "Delta3 @ N2.T / B", "wrong_node"),
    ("batchnorm", "1.weight", "sum(dN2 * Z1, axis=1) / B", "wrong_node"),
    ("dense", "Delta1", "(W2.T @ Delta2) * A1", "wrong_activation_derivative"),
    ("dense", "Delta1", "(W2.T @ Delta2) * sigmoid_prime(A1)", "wrong_activation_derivative"),
    ("dense", "Delta1", "(W2.T @ Delta2) * tanh_prime(Z1)", "wrong_activation_derivative"),
    ("dense", "0.weight", "(W2.T @ Delta2) @ X.T / B", "missing_activation_derivative"),
    ("dense", "0.weight", "((W2.T @ (Y - A2)) * dsigmoid(Z1)) @ X.T / B", "sign_error"),
    ("dense", "0.weight", "-Delta1 @ X.T / B", "sign_error"),
    ("mse", "0.weight", "((W2.T @ Delta2) * (1 - A1)) @ X.T / B", "wrong_activation_derivative"),
    ("mse", "Delta1", "W2.T @ Delta2 * (1 - A1 ** 2) * 2", "constant_factor"),
    ("batchnorm", "Delta1", "r2 * (dXhat2 - Xhat2 * mean(dXhat2 * Xhat2, axis=1))", "missing_path"),
    ("batchnorm", "Delta1", "r2 * (dXhat2 - mean(dXhat2, axis=1))", "missing_path"),
    ("batchnorm", "Delta1", "r2 * dXhat2", "missing_path"),
    ("batchnorm", "Delta1", "gamma2 * r2 * dN2", "missing_path"),
    ("batchnorm", "1.weight", "sum(dN2 * Xhat2, axis=1)", "missing_batch_mean"),
    ("batchnorm", "1.weight", "sum(dN2, axis=1) / B", "missing_factor"),
    ("batchnorm", "dXhat2", "dN2", "missing_factor"),
    (
        "batchnorm",
        "dvar2",
        "sum(dXhat2 * C2, axis=1) * (var2 + epsilon2) ** (-3/2)",
        "missing_constant",
    ),  # fmt: skip
    ("batchnorm", "dmu2", "sum(dXhat2 * r2, axis=1)", "sign_error"),
    ("layernorm", "Delta1", "r2 * (dXhat2 - Xhat2 * mean(dXhat2 * Xhat2, axis=0))", "missing_path"),
    ("layernorm", "Delta1", "r2 * (dXhat2 - mean(dXhat2, axis=0))", "missing_path"),
    ("layernorm", "Delta1", BN_DX, "statistics_axis"),
    ("batchnorm", "Delta1", LN_DX, "statistics_axis"),
    ("layernorm", "dN2", "(W3.T @ Delta3) * (1 - A2)", "wrong_activation_derivative"),
    ("layernorm", "dN2", "W3.T @ Delta3", "missing_activation_derivative"),
    ("residual", "Delta1", "W2.T @ Delta2", "missing_path"),
    ("residual", "Delta1", "dR2", "missing_path"),
    ("residual", "Delta1", "dR2 + W2 @ Delta2", "transpose"),
    ("residual", "0.weight", "(W2.T @ Delta2) @ X.T / B", "missing_path"),
    ("residual", "1.body.0.weight", "Z1 @ Delta2.T / B", "transposed_result"),
    ("residual", "1.body.0.weight", "dR2 @ Z1.T / B", "missing_activation_derivative"),
    ("residual", "1.body.0.weight", "Delta2 @ Z1 / B", "shape_mismatch"),
    ("attention", "dQ1", "K1 @ dS1", "missing_constant"),
    ("attention", "0.q.weight", "(K1 @ dS1) @ X.T / B", "missing_constant"),
    ("attention", "dK1", "Q1 @ dS1 / sqrt(2)", "transpose"),
    ("attention", "dV1", "dH1 @ P1", "transpose"),
    ("attention", "dP1", "dH1.T @ V1", "transposed_result"),
    ("attention", "dS1", "P1 * dP1", "missing_term"),
    ("attention", "dS1", "(P1 - P1 * P1) * dP1", "missing_sum"),
    ("attention", "dS1", "P1 * (dP1 - sum(dP1, axis=0))", "missing_factor"),
    ("attention", "dS1", "P1 @ (dP1 - sum(P1 * dP1, axis=0))", "product_kind"),
    ("attention", "0.q.bias", "sum(dQ1, axis=1)", "missing_batch_mean"),
    ("attention", "0.o.weight", "dO1 @ H1 / B", "shape_mismatch"),
    ("attention", "0.o.weight", "dO1 @ P1.T / B", "wrong_shape"),
    ("dropout", "Delta1", "(W2.T @ Delta2) * 2 * relu_prime(Z1)", "missing_factor"),
    ("dropout", "Delta1", "(W2.T @ Delta2) * M1 * relu_prime(Z1)", "missing_constant"),
    ("conv", "dA1", "full_correlate(Delta2, K2)", "kernel_not_flipped"),
    ("conv", "dA1", "correlate(Delta2, flip(K2))", "input_gradient_padding"),
    ("conv", "2.weight", "correlate_kernel(Delta2, A1) / B", "kernel_operands_swapped"),
    ("conv", "2.bias", "sum(Delta2, axis=1) / B", "bias_without_position_sum"),
]

DIAGNOSIS_SHARE_REQUIRED = 0.8


@pytest.mark.parametrize("net, wrt, formula", CORRECT)
def test_correct_matrix_formulas_are_accepted(net, wrt, formula):
    verdict = sb.check_gradient(NETS[net], wrt, formula)
    assert isinstance(verdict, MatrixGradientVerdict)
    assert verdict.correct, verdict.to_text()
    assert verdict.diagnosis is None and verdict.counterexample is None


@pytest.mark.parametrize("net, wrt, formula, mistake", WRONG)
def test_wrong_matrix_formulas_are_refused_and_the_mistake_named(net, wrt, formula, mistake):
    verdict = sb.check_gradient(NETS[net], wrt, formula)
    assert not verdict.correct, formula
    got = verdict.diagnosis.name if verdict.diagnosis is not None else None
    if mistake is not None:
        assert got == mistake, verdict.to_text()


def test_most_wrong_formulas_get_the_diagnosis_that_names_their_mistake():
    named = 0
    for net, wrt, formula, mistake in WRONG:
        diagnosis = sb.check_gradient(NETS[net], wrt, formula).diagnosis
        named += diagnosis is not None and diagnosis.name == mistake
    share = named / len(WRONG)
    assert share >= DIAGNOSIS_SHARE_REQUIRED, f"{named} of {len(WRONG)} named"


def test_every_catalogue_entry_is_exercised_by_the_wrong_formulas():
    exercised = {mistake for *_, mistake in WRONG}
    unexercised = set(MATRIX_MISTAKES) - exercised
    assert not unexercised, sorted(unexercised)


# --- the verdict's parts -------------------------------------------------------------------------


def test_the_counterexample_is_the_smallest_batch_that_disagrees():
    # A missing 1/B agrees at a batch of 1: the counterexample is the next smallest batch.
    verdict = sb.check_gradient(NETS["dense"], "2.weight", "Delta2 @ A1.T")
    point = verdict.counterexample
    assert point is not None
    assert point.batch == min(b for b in BATCH_SIZES if b > 1)
    assert point.X.shape == (point.batch, 3) and point.Y.shape == (point.batch, 2)
    assert np.allclose(point.given_value, point.batch * point.expected_value)
    net = NETS["dense"]
    gradient = sb.compile(net).gradient(point.params, point.X, point.Y)["2.weight"]
    assert np.allclose(point.expected_value, gradient)
    text = verdict.to_text()
    assert "counterexample (a batch of 2" in text and "2.weight = [[" in text


def test_a_verdict_prints_the_expected_formula_in_the_users_syntax():
    text = sb.check_gradient(NETS["dense"], "0.weight", "(W2.T @ Delta2) @ X.T / B").to_text()
    assert text.splitlines()[:3] == [
        "dL_dW1 (0.weight): wrong",
        "  expected: Delta1 @ X.T / B",
        "  given:    (W2.T @ Delta2) @ X.T / B",
    ]
    correct = sb.check_gradient(NETS["dense"], "2.bias", "sum(Delta2, axis=1) / B").to_text()
    assert "equal at 6 random points (batches of 1, 2, 3, 5, 2, 4 samples)" in correct


def test_a_shape_mismatch_is_a_wrong_verdict_naming_the_operands():
    verdict = sb.check_gradient(NETS["dense"], "2.weight", "Delta2 @ A1 / B")
    assert not verdict.correct and verdict.given is None
    assert verdict.diagnosis is not None
    assert verdict.diagnosis.explanation == (
        "Delta2 @ A1 multiplies (2×B) by (4×B): the inner sizes B and 4 differ; "
        "did you mean Delta2 @ A1.T?"
    )
    assert "Traceback" not in verdict.to_text()
    assert "  given:    Delta2 @ A1 / B" in verdict.to_text().splitlines()


def test_batch_norm_is_probed_with_batches_of_two_or_more():
    verdict = sb.check_gradient(NETS["batchnorm"], "Delta1", BN_DX)
    assert verdict.correct and 1 not in verdict.batches


def test_a_sympy_matrix_expression_is_accepted_over_the_derivations_names():
    net = NETS["dense"]
    Delta2 = sp.MatrixSymbol("Delta2", 2, sp.Symbol("B", integer=True, positive=True))
    A1 = sp.MatrixSymbol("A1", 4, Delta2.shape[1])
    assert sb.check_gradient(net, "2.weight", Delta2 * A1.T / Delta2.shape[1]).correct
    with pytest.raises(UnknownNameError, match="unknown matrix 'A9'"):
        sb.check_gradient(net, "2.weight", Delta2 * sp.MatrixSymbol("A9", 4, Delta2.shape[1]).T)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrt, formula, fragment",
    [
        ("2.weight", "dL_dW2", "uses 'dL_dW2', the quantity asked for"),
        ("0.weight", "dL_dW2 @ ones(4, 3)", "uses 'dL_dW2', a parameter's gradient"),
        ("2.weight", "W2_new - W2", "an updated parameter"),
        ("Delta1", "Delta1 * 1", "uses 'Delta1', the quantity asked for"),
        ("2.weight", "Delta3 @ A1.T", "unknown name 'Delta3'"),
        ("2.weight", "Delta2.shape", "attribute access is not allowed"),
        ("2.weight", "__import__('os')", "unknown function '__import__'"),
        ("2.weight", "sqrt(-1) * Delta2 @ A1.T", "'sqrt(-1)' is not a real number"),
    ],
)
def test_formulas_using_what_they_derive_or_unknown_names_are_refused(wrt, formula, fragment):
    with pytest.raises(SymbackpropError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        sb.check_gradient(NETS["dense"], wrt, formula)


def test_an_unknown_parameter_or_adjoint_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean '2.weight'"):
        sb.check_gradient(NETS["dense"], "2.weigth", "Delta2 @ A1.T / B")


def test_a_forbidden_name_is_refused():
    with pytest.raises(ParseError, match="'dA1', the quantity asked for"):
        sb.check_gradient(NETS["dense"], "Delta1", "dA1 * A1 * (1 - A1)", forbidden=["dA1"])


def test_the_scalar_checker_is_unchanged_for_mlps():
    net = sb.mlp([2, 2, 2])
    verdict = sb.check_gradient(net, "w2_1_1", "delta2_1*a1_1")
    assert isinstance(verdict, sb.GradientVerdict) and verdict.correct


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([f for _, _, f in CORRECT[:12]] + [f for _, _, f, _ in WRONG[:12]]),
    st.integers(0, 40),
    st.sampled_from(list("()@.T*+-/,_0123 ") + ["axis=", ".T", "sum(", "__", "lambda "]),
)
def test_mangled_formulas_give_a_verdict_or_a_project_error(formula, index, piece):
    text = formula[:index] + piece + formula[index:]
    try:
        verdict = sb.check_gradient(NETS["dense"], "2.weight", text)
    except (ParseError, ShapeError, UnknownNameError):
        return
    assert isinstance(verdict.correct, bool)


# --- every network: the derivation's own formulas, typed back -----------------------------------
ELEMENTWISE = [name for name, entry in sb.ACTIVATIONS.items() if not entry.is_layerwise]


@st.composite
def layer_networks(draw: st.DrawFn) -> sb.LayerNetwork:
    """Draw a small network of layers: dense, norms, residual blocks, dropout, attention."""
    width = draw(st.integers(2, 3))
    n_inputs = width
    layers: list = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["dense", "norm", "residual", "dropout", "attention"]))
        if kind == "dense":
            width = draw(st.integers(2, 4))
            layers += [sb.Dense(width), draw(st.sampled_from(ELEMENTWISE))]
        elif kind == "norm":
            layers.append(draw(st.sampled_from([sb.LayerNorm(), sb.BatchNorm()])))
        elif kind == "residual":
            layers.append(sb.Residual([sb.Dense(width), draw(st.sampled_from(ELEMENTWISE))]))
        elif kind == "dropout":
            layers.append(sb.Dropout(0.5, seed=draw(st.integers(0, 9))))
        else:
            layers.append(sb.SelfAttention(d_k=draw(st.integers(1, 3))))
    loss = draw(st.sampled_from(["cross_entropy", "half_sse"]))
    layers += [sb.Dense(2), "softmax"] if loss == "cross_entropy" else [sb.Dense(2)]
    return sb.sequential(n_inputs, layers, loss)


@pytest.mark.parametrize("net", sorted(NETS))
def test_every_adjoint_and_gradient_printed_in_the_users_syntax_is_accepted(net):
    derivation = sb.derive(NETS[net])
    for step in derivation.stage(sb.Stage.ADJOINT) + derivation.stage(sb.Stage.GRADIENT):
        text = formula_text(step.rhs)
        verdict = sb.check_gradient(NETS[net], step.state_name or step.name, text)
        assert verdict.correct, verdict.to_text()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=layer_networks())
def test_random_networks_accept_their_own_formulas_and_name_a_missing_one_over_b(net):
    derivation = sb.derive(net)
    for step in derivation.stage(sb.Stage.ADJOINT) + derivation.stage(sb.Stage.GRADIENT):
        verdict = sb.check_gradient(net, step.state_name or step.name, formula_text(step.rhs))
        assert verdict.correct, verdict.to_text()
    last = derivation.stage(sb.Stage.GRADIENT)[-2]  # the output layer's weight
    verdict = sb.check_gradient(net, last.state_name or "", formula_text(last.rhs) + " * B")
    assert verdict.diagnosis is not None
    # Where dropout zeroes most probe points the batch ratio cannot be read off, and the more
    # general "constant factor left out" names the same 1/B.
    assert verdict.diagnosis.name == "missing_batch_mean" or (
        verdict.diagnosis.name == "missing_constant" and "1/B" in verdict.diagnosis.explanation
    ), verdict.to_text()
