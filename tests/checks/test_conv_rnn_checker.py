"""check_gradient for convolution and recurrent networks: the vocabulary, the classic slips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.checks.matrix_checker import check_layer_gradient
from symbackprop.checks.matrix_probing import derivation_of
from symbackprop.checks.matrix_text import formula_text
from symbackprop.derivation.steps import Stage
from symbackprop.model.errors import ParseError, SymbackpropError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "layers"

NETS = {
    # conv 1->2 (padding 1), relu, max pool, conv 2->2 (square channels: K2 unflipped fits)
    "conv_pool": sb.sequential(
        (1, 6, 6),
        [
            sb.Conv2d(2, 3, padding=1),
            "relu",
            sb.MaxPool2d(2),
            sb.Conv2d(2, 2),
            "tanh",
            sb.Flatten(),
            sb.Dense(2),
        ],
        "half_sse",
    ),  # fmt: skip
    # conv 1->2, conv 2->3 with stride 2 and padding 1: the kernel is not square in channels
    "strided": sb.sequential(
        (1, 5, 5),
        [sb.Conv2d(2, 3), "tanh", sb.Conv2d(3, 2, stride=2, padding=1), sb.Flatten(), sb.Dense(1)],
        "half_sse",
    ),  # fmt: skip
    "conv1d_avg": sb.sequential(
        (2, 8),
        [
            sb.Conv1d(2, 3, stride=2, padding=1),
            "relu",
            sb.AvgPool1d(2),
            sb.Conv1d(2, 2),
            sb.Flatten(),
            sb.Dense(2),
        ],
        "half_sse",
    ),  # fmt: skip
    "rnn_last": sb.load_spec(EXAMPLES / "rnn_3step.toml").network,
    "rnn_per_step": sb.load_spec(EXAMPLES / "rnn_per_step.toml").network,
    "lstm": sb.load_spec(EXAMPLES / "lstm.toml").network,
}


def check(net: str, wrt: str, formula: str) -> sb.MatrixGradientVerdict:
    return check_layer_gradient(NETS[net], wrt, formula)


def _steps(net: str) -> list[tuple[str, str]]:
    out = []
    for step in derivation_of(NETS[net]).steps:
        if step.stage in (Stage.ADJOINT, Stage.GRADIENT):
            out.append((step.state_name or step.name, formula_text(step.rhs)))
    return out


COPIED = [
    (net, wrt, text)
    for net in ("conv_pool", "strided", "conv1d_avg", "rnn_last", "rnn_per_step")
    for wrt, text in _steps(net)
]


@pytest.mark.parametrize(("net", "wrt", "text"), COPIED)
def test_the_printed_expected_formula_copied_back_is_correct(net, wrt, text):
    verdict = check(net, wrt, text)
    assert verdict.correct, verdict.to_text()
    assert formula_text(verdict.expected) == text


@pytest.mark.parametrize(
    ("net", "wrt", "formula"),
    [
        ("conv_pool", "dP1", "full_convolve(Delta2, K2)"),  # the same, as a full convolution
        ("strided", "dA1", "full_convolve(Delta2, K2)"),
        ("conv_pool", "0.bias", "sum(channel_sum(Delta1), axis=1) / B"),
        ("conv_pool", "0.weight", "correlate_kernel(X, dA1 * relu_prime(Z1)) / B"),
        ("lstm", "Delta1t2", "vstack([Deltai1t2, Deltaf1t2, Deltag1t2, Deltao1t2])"),
        (
            "rnn_last",
            "0.weight_ih_l0",
            "(Delta1t1 @ X[0:1].T + Delta1t2 @ X[1:2].T + Delta1t3 @ X[2:].T) / B",
        ),  # fmt: skip
    ],
)
def test_other_right_ways_of_writing_it_are_correct(net, wrt, formula):
    verdict = check(net, wrt, formula)
    assert verdict.correct, verdict.to_text()


SLIPS = [
    # (net, wrt, a student's wrong formula, diagnosis, words the message must hold)
    ("conv_pool", "dP1", "full_correlate(Delta2, K2)", "kernel_not_flipped", "not flipped"),
    ("conv_pool", "dP1", "correlate(Delta2, flip(K2))", "input_gradient_padding", "FULL"),
    ("strided", "dA1", "correlate(Delta2, flip(K2))", "input_gradient_padding", "stride"),
    ("conv_pool", "3.weight", "correlate_kernel(Delta2, P1) / B", "kernel_operands_swapped",
     "swapped"),
    ("strided", "0.weight", "correlate_kernel(Delta1, X) / B", "kernel_operands_swapped",
     "rotated 180"),
    ("conv_pool", "3.weight", "correlate_kernel(P1, Delta2)", "missing_batch_mean", "1/B"),
    ("conv_pool", "0.bias", "sum(Delta1, axis=1) / B", "bias_without_position_sum",
     "sum over positions"),
    ("conv_pool", "0.bias", "channel_sum(Delta1) / B", "missing_batch_sum", "sum over the batch"),
    ("conv_pool", "dA1", "route_to_max(dP1, Z1)", "wrong_node", "Z1 stands where A1"),
    ("conv_pool", "Delta1", "dA1", "missing_activation_derivative", "relu'"),
    # recurrent layers
    ("rnn_last", "0.weight_hh_l0", "Delta1t3 @ H1t2.T / B", "missing_path", "time step 2"),
    ("rnn_last", "0.weight_ih_l0", "(Delta1t1 @ X[0:1].T + Delta1t3 @ X[2:3].T) / B",
     "missing_path", "time step 2 is missing"),
    ("rnn_last", "0.weight_ih_l0", "Delta1t3 @ X[2:3].T / B", "missing_path",
     "the gradient stops at step 3"),
    ("rnn_last", "0.bias_hh_l0", "sum(Delta1t3, axis=1) / B", "missing_path", "stops at step 3"),
    ("rnn_per_step", "dH1t2", "W2.T @ Delta2t2", "missing_path", "recurrent path from step 3"),
    ("rnn_last", "Delta1t2", "Whh1.T @ Delta1t3", "missing_activation_derivative", "tanh'(Z1t2)"),
    ("lstm", "Deltaf1t2", "dF1t2", "missing_activation_derivative", "forget gate's derivative"),
    ("lstm", "Deltao1t3", "dO1t3", "missing_activation_derivative", "output gate"),
    ("lstm", "dC1t2", "dC1t3 * F1t3 + dH1t2 * O1t2", "missing_activation_derivative",
     "tanh'(C1t2)"),
]  # fmt: skip


@pytest.mark.parametrize(("net", "wrt", "formula", "name", "words"), SLIPS)
def test_each_classic_slip_is_named(net, wrt, formula, name, words):
    verdict = check(net, wrt, formula)
    assert not verdict.correct
    assert verdict.diagnosis is not None, verdict.to_text()
    assert verdict.diagnosis.name == name, verdict.to_text()
    assert words in verdict.diagnosis.explanation
    assert "\n" not in verdict.diagnosis.explanation


def test_an_unflipped_kernel_that_cannot_fit_gets_a_one_line_shape_verdict():
    verdict = check("strided", "dA1", "full_correlate(Delta2, K2)")
    assert not verdict.correct and verdict.diagnosis is not None
    assert verdict.diagnosis.name == "shape_mismatch"
    assert "flip(K2)" in verdict.diagnosis.explanation
    assert "\n" not in verdict.diagnosis.explanation


def test_a_valid_correlation_says_which_padding_fits():
    explanation = check("conv_pool", "dP1", "correlate(Delta2, flip(K2))").diagnosis.explanation
    assert "pad Delta2 with 1 zeros all round" in explanation
    assert "2×B but dP1 is 18×B" in explanation


@pytest.mark.parametrize(
    ("net", "formula", "words"),
    [
        ("conv_pool", "correlate(X, Delta1)", "correlate_kernel(X, Delta1)"),
        ("conv_pool", "full_correlate(Delta2, flip(K2), 1)", "takes 2 matrices"),
        ("conv_pool", "full_correlate(Delta2, flip(K2), stride=1)", "no keywords"),
        ("conv_pool", "flip(Delta1)", "no layer's kernel"),
        ("conv_pool", "channel_sum(W3)", "channel_sum takes"),
        ("conv_pool", "route_to_max(dP1, X)", "route_to_max takes"),
        ("conv_pool", "correlate(2, K1)", "is a number"),
        ("conv_pool", "spread_evenly(dP1)", "spread_evenly takes"),
        ("conv_pool", "Delta1[0:99]", "0 <= a < b"),
        ("conv_pool", "Delta1[0]", "slice of rows"),
        ("conv_pool", "vstack(Delta1, Delta1)", "one list"),
        ("rnn_last", "correlate(X, Whh1)", "no convolution or pooling layer"),
    ],
)
def test_bad_calls_give_one_line_errors(net, formula, words):
    wrt = "Delta1" if net != "rnn_last" else "Delta1t2"
    with pytest.raises(ParseError) as problem:
        check(net, wrt, formula)
    assert words in str(problem.value)
    assert "\n" not in str(problem.value)


def test_an_ambiguous_call_is_refused():
    # conv 1x1 -> 2x4x4 (32 rows) and conv 3x3 -> 8x2x2 (32 rows): a matrix of ones fits both
    net = sb.sequential((1, 4, 4), [sb.Conv2d(2, 1), sb.Conv2d(8, 3), sb.Flatten(), sb.Dense(1)],
                        "half_sse")  # fmt: skip
    with pytest.raises(ParseError, match="fits 2 layers alike"):
        check_layer_gradient(net, "Delta1", "channel_sum(ones(32, B))")
    assert check_layer_gradient(net, "0.bias", "sum(channel_sum(Delta1), axis=1) / B").correct
    assert check_layer_gradient(net, "1.bias", "sum(channel_sum(Delta2), axis=1) / B").correct


RIGHT = "full_correlate(Delta2, flip(K2))"
NAMES = ["Delta2", "K2", "K1", "P1", "A1", "X", "Z1", "dP1", "B", "W3", "flip", "correlate"]
PIECES = ["(", ")", ",", " ", ".T", "@", "*", "2", "flip(", "full_", "_kernel", "[0:1]"]


@st.composite
def mangled(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([RIGHT, "correlate_kernel(P1, Delta2) / B",
                                 "channel_sum(sum(Delta2, axis=1)) / B"]))  # fmt: skip
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "name"]))
        if edit == "delete" and text:
            text = text[: max(at - 1, 0)] + text[at:]
        elif edit == "insert":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        else:
            text = text[:at] + draw(st.sampled_from(NAMES)) + text[at:]
    return text


@settings(max_examples=25, deadline=None)
@given(mangled())
def test_mangled_conv_formulas_give_a_verdict_or_a_project_error(text):
    for wrt in ("dP1", "K2"):
        try:
            verdict = check("conv_pool", wrt, text)
        except SymbackpropError as problem:
            assert "\n" not in str(problem)
            continue
        assert isinstance(verdict.correct, bool)
        verdict.to_text()
