"""Check the test oracles against each other, against Mazur's published numbers and for stability.

The oracles in tests/oracles.py judge the package's gradients, so they are checked first: the
hand-written NumPy backprop must agree with central differences of the NumPy forward loss, with
SymPy's diff of the fully expanded loss and with PyTorch autograd (when installed) for every
activation, loss and bias mode, and it must reproduce the worked example published by Mazur.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import (
    ACTIVATION_NAMES,
    BIAS_MODES,
    HIDDEN_ACTIVATION_NAMES,
    LOSS_COMPATIBLE_OUTPUTS,
    LOSS_NAMES,
    MAZUR,
    MAZUR_DERIVED,
    MAZUR_PUBLISHED,
    MAZUR_PUBLISHED_AFTER_TRAINING,
    MAZUR_WEIGHT_NAMES,
    central_differences,
    flatten_named,
    gradients_named,
    numpy_backprop,
    numpy_forward,
    numpy_forward_loss,
    parameter_names,
    sympy_expanded_gradients,
    torch_backprop,
    unflatten_named,
)

# --- Tolerances -------------------------------------------------------------------------------
FD_STEP = 1e-6  # relative step of central differences: h * max(1, |theta|)
# Central differences in float64 with h = 1e-6: truncation error O(h^2) ~ 1e-12, rounding error
# ~ eps * |L| / h ~ 2e-10 * |L|. The absolute floor is scaled by max(1, |L|).
RTOL_FD = 1e-6
ATOL_FD = 1e-7
# Two exact methods (NumPy backprop vs PyTorch autograd, or vs SymPy evaluated with 30 digits)
# differ only by float64 rounding, which cancellation can amplify near 0: floor scaled by
# max(1, |L|).
RTOL_EXACT = 1e-9
ATOL_EXACT = 1e-12
# reference-values.md: every one-step number Mazur prints is within 5e-9 of float64.
MAZUR_PUBLISHED_ATOL = 5e-9
# Derived float64 values (reference-values.md) differ from ours only in summation order.
MAZUR_DERIVED_RTOL = 1e-12
# The 9,999-step loss is printed there with 10 significant digits, after 10k rounding-prone steps.
MAZUR_LONG_RUN_RTOL = 1e-8
# The post's one-update loss follows a "sequential" rule; the parallel rule differs by 1.5e-7.
MAZUR_ONE_UPDATE_PUBLISHED_ATOL = 2e-7
# The post's outputs after 10,000 updates follow the sequential rule; parallel is within 1e-4.
MAZUR_OUTPUTS_AFTER_TRAINING_RTOL = 1e-3
# relu/leaky_relu pre-activations are kept this far from 0, so that no finite-difference step
# (at most ~1e-5 in z for these nets) crosses the kink.
KINK_MARGIN = 1e-3
# Largest |z| the stability requirement covers.
Z_EXTREME = 1e3


# --- Random small networks --------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    sizes: tuple[int, ...]
    W: list[np.ndarray]
    b: list[Any]
    activations: tuple[str, ...]
    loss: str
    X: np.ndarray
    Y: np.ndarray
    bias: str

    def args(self) -> tuple[Any, ...]:
        """Return the positional arguments of numpy_backprop, torch_backprop and friends."""
        return (self.W, self.b, self.activations, self.loss, self.X, self.Y, self.bias)

    def label(self) -> str:
        return f"sizes={list(self.sizes)} {list(self.activations)} {self.loss} bias={self.bias}"


def _targets(rng: np.random.Generator, loss: str, shape: tuple[int, int]) -> np.ndarray:
    if loss == "bce":
        return rng.uniform(0.05, 0.95, size=shape)
    if loss == "cross_entropy":
        # Probability vectors: the convention for cross_entropy is that targets sum to 1.
        return rng.dirichlet(np.ones(shape[1]), size=shape[0])
    return rng.normal(size=shape)


def _is_away_from_kinks(
    W: list[np.ndarray], b: list[Any], activations: Sequence[str], X: np.ndarray, bias: str
) -> bool:
    zs, _ = numpy_forward(W, b, activations, X, bias)
    return all(
        np.min(np.abs(z)) > KINK_MARGIN
        for z, name in zip(zs, activations, strict=True)
        if name in ("relu", "leaky_relu")
    )


def make_case(
    sizes: Sequence[int],
    activations: Sequence[str],
    loss: str,
    bias: str,
    seed: int,
    batch_size: int = 3,
) -> Case:
    """Return a reproducible random network and batch, redrawn until no relu sits on its kink."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        W = [
            rng.normal(scale=1.0 / math.sqrt(n_in), size=(n_out, n_in)) + 0.1
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        if bias == "per_neuron":
            b: list[Any] = [rng.normal(scale=0.5, size=n_out) for n_out in sizes[1:]]
        elif bias == "shared":
            b = [float(rng.normal(scale=0.5)) for _ in sizes[1:]]
        else:
            b = [None for _ in sizes[1:]]
        X = rng.normal(size=(batch_size, sizes[0]))
        if _is_away_from_kinks(W, b, activations, X, bias):
            Y = _targets(rng, loss, (batch_size, sizes[-1]))
            return Case(tuple(sizes), W, b, tuple(activations), loss, X, Y, bias)
    raise AssertionError(f"no draw away from relu kinks for {list(sizes)} {list(activations)}")


def stable_seed(*parts: object) -> int:
    """Return a seed fixed by the test parameters (unlike hash(), stable across runs)."""
    return zlib.crc32(repr(parts).encode())


# One case per (output activation, compatible loss, bias mode): one tanh hidden layer.
OUTPUT_COMBINATIONS = [
    (output, loss, bias)
    for loss in LOSS_NAMES
    for output in LOSS_COMPATIBLE_OUTPUTS[loss]
    for bias in BIAS_MODES
]
# One case per (hidden activation, bias mode): two hidden layers, identity output, half_sse.
HIDDEN_COMBINATIONS = [(hidden, bias) for hidden in HIDDEN_ACTIVATION_NAMES for bias in BIAS_MODES]


def output_case(output: str, loss: str, bias: str, batch_size: int = 3) -> Case:
    activations = ("tanh", output)
    seed = stable_seed("output", output, loss, bias)
    return make_case((3, 3, 3), activations, loss, bias, seed, batch_size)


def hidden_case(hidden: str, bias: str, batch_size: int = 3) -> Case:
    activations = (hidden, hidden, "identity")
    seed = stable_seed("hidden", hidden, bias)
    return make_case((2, 3, 2, 2), activations, "half_sse", bias, seed, batch_size)


def all_cases(batch_size: int = 3) -> list[Any]:
    cases = [
        pytest.param(output_case(o, loss, bias, batch_size), id=f"out-{o}-{loss}-{bias}")
        for o, loss, bias in OUTPUT_COMBINATIONS
    ]
    cases += [
        pytest.param(hidden_case(h, bias, batch_size), id=f"hidden-{h}-{bias}")
        for h, bias in HIDDEN_COMBINATIONS
    ]
    return cases


@st.composite
def small_networks(draw: st.DrawFn, max_layers: int = 3, max_width: int = 4) -> Case:
    """Draw an architecture, activations per layer, a compatible loss, a bias mode and a seed."""
    n_layers = draw(st.integers(1, max_layers))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1))
    hidden = [draw(st.sampled_from(HIDDEN_ACTIVATION_NAMES)) for _ in range(n_layers - 1)]
    output = draw(st.sampled_from(ACTIVATION_NAMES))
    losses = [name for name in LOSS_NAMES if output in LOSS_COMPATIBLE_OUTPUTS[name]]
    if output == "softmax" and sizes[-1] == 1:
        # A softmax over one output is the constant 1, and bce's log(1 - a) is then log 0.
        losses.remove("bce")
    loss = draw(st.sampled_from(losses))
    bias = draw(st.sampled_from(BIAS_MODES))
    seed = draw(st.integers(0, 2**32 - 1))
    batch_size = draw(st.integers(1, 3))
    return make_case(sizes, [*hidden, output], loss, bias, seed, batch_size)


# --- Comparison helpers -----------------------------------------------------------------------


def assert_named_close(
    expected: Mapping[str, float],
    got: Mapping[str, float],
    rtol: float,
    atol: float,
    label: str,
) -> None:
    """Fail naming every parameter whose value differs, with the expected and the got value."""
    assert sorted(got) == sorted(expected), (
        f"{label}: names differ: {sorted(got)} vs {sorted(expected)}"
    )
    failures = [
        f"{name}: expected {expected[name]!r}, got {got[name]!r}"
        for name in expected
        if not math.isclose(got[name], expected[name], rel_tol=rtol, abs_tol=atol)
    ]
    assert not failures, f"{label}: " + "; ".join(failures)


def numpy_gradient(case: Case) -> tuple[float, dict[str, float]]:
    loss_value, W_grad, b_grad = numpy_backprop(*case.args())
    return loss_value, gradients_named(W_grad, b_grad, case.bias)


def finite_difference_gradient(case: Case) -> dict[str, float]:
    def loss_of(named: dict[str, float]) -> float:
        W, b = unflatten_named(named, case.sizes, case.bias)
        return numpy_forward_loss(W, b, case.activations, case.loss, case.X, case.Y, case.bias)

    return central_differences(loss_of, flatten_named(case.W, case.b, case.bias), h=FD_STEP)


def check_numpy_against_finite_differences(case: Case) -> None:
    loss_value, gradient = numpy_gradient(case)
    scale = max(1.0, abs(loss_value))
    expected = finite_difference_gradient(case)
    assert_named_close(expected, gradient, RTOL_FD, ATOL_FD * scale, f"FD vs numpy, {case.label()}")


def check_numpy_against_sympy(case: Case) -> None:
    loss_value, gradient = numpy_gradient(case)
    x, y = case.X[0], case.Y[0]
    sympy_loss, sympy_gradient = sympy_expanded_gradients(
        case.W, case.b, case.activations, case.loss, x, y, case.bias
    )
    scale = max(1.0, abs(sympy_loss))
    assert math.isclose(loss_value, sympy_loss, rel_tol=RTOL_EXACT, abs_tol=ATOL_EXACT * scale)
    label = f"sympy vs numpy, {case.label()}"
    assert_named_close(sympy_gradient, gradient, RTOL_EXACT, ATOL_EXACT * scale, label)


def check_numpy_against_torch(case: Case) -> None:
    loss_value, gradient = numpy_gradient(case)
    torch_loss, W_grad, b_grad = torch_backprop(*case.args())
    scale = max(1.0, abs(torch_loss))
    assert math.isclose(loss_value, torch_loss, rel_tol=RTOL_EXACT, abs_tol=ATOL_EXACT * scale)
    torch_gradient = gradients_named(W_grad, b_grad, case.bias)
    label = f"torch vs numpy, {case.label()}"
    assert_named_close(torch_gradient, gradient, RTOL_EXACT, ATOL_EXACT * scale, label)


def _single_sample(case: Case) -> Case:
    return Case(
        case.sizes, case.W, case.b, case.activations, case.loss, case.X[:1], case.Y[:1], case.bias
    )


# --- The oracles agree with each other --------------------------------------------------------


@pytest.mark.parametrize("case", all_cases())
def test_numpy_backprop_matches_central_differences(case: Case) -> None:
    check_numpy_against_finite_differences(case)


@pytest.mark.parametrize("case", all_cases(batch_size=1))
def test_numpy_backprop_matches_sympy_diff_of_expanded_loss(case: Case) -> None:
    check_numpy_against_sympy(case)


@pytest.mark.parametrize("case", all_cases())
def test_numpy_backprop_matches_torch_autograd(case: Case) -> None:
    pytest.importorskip("torch", reason="torch (pip install torch==2.13.0) is the autograd oracle")
    check_numpy_against_torch(case)


@pytest.mark.parametrize("case", all_cases())
def test_numpy_backprop_loss_equals_numpy_forward_loss(case: Case) -> None:
    loss_value, _, _ = numpy_backprop(*case.args())
    assert loss_value == pytest.approx(numpy_forward_loss(*case.args()), rel=RTOL_EXACT)


@settings(deadline=None, max_examples=60)
@given(case=small_networks())
def test_numpy_backprop_matches_central_differences_on_random_architectures(case: Case) -> None:
    check_numpy_against_finite_differences(case)


@settings(deadline=None, max_examples=15)
@given(case=small_networks(max_layers=2, max_width=3))
def test_numpy_backprop_matches_sympy_on_random_architectures(case: Case) -> None:
    check_numpy_against_sympy(_single_sample(case))


@settings(deadline=None, max_examples=60)
@given(case=small_networks())
def test_numpy_backprop_matches_torch_on_random_architectures(case: Case) -> None:
    pytest.importorskip("torch", reason="torch (pip install torch==2.13.0) is the autograd oracle")
    check_numpy_against_torch(case)


@pytest.mark.parametrize("bias", BIAS_MODES)
def test_softmax_cross_entropy_with_unnormalized_targets_uses_the_full_jacobian(bias: str) -> None:
    # a - y is the gradient only when targets sum to 1; these do not, so the oracle must fall back
    # to the full softmax Jacobian and still agree with finite differences and SymPy.
    case = output_case("softmax", "cross_entropy", bias)
    rng = np.random.default_rng(stable_seed("unnormalized", bias))
    unnormalized = Case(
        case.sizes, case.W, case.b, case.activations, case.loss, case.X,
        rng.uniform(0.1, 0.9, size=case.Y.shape), case.bias,
    )  # fmt: skip
    check_numpy_against_finite_differences(unnormalized)
    check_numpy_against_sympy(_single_sample(unnormalized))


def test_batch_gradient_is_the_mean_of_per_sample_gradients() -> None:
    case = hidden_case("tanh", "per_neuron", batch_size=4)
    _, batch_gradient = numpy_gradient(case)
    per_sample = [
        numpy_gradient(Case(case.sizes, case.W, case.b, case.activations, case.loss,
                            case.X[i : i + 1], case.Y[i : i + 1], case.bias))[1]
        for i in range(4)
    ]  # fmt: skip
    mean_gradient = {name: float(np.mean([g[name] for g in per_sample])) for name in batch_gradient}
    assert_named_close(mean_gradient, batch_gradient, RTOL_EXACT, ATOL_EXACT, "batch mean")


def test_shared_bias_gradient_is_the_sum_of_per_neuron_bias_gradients() -> None:
    shared = output_case("sigmoid", "bce", "shared")
    per_neuron_b = [np.full(n, value) for n, value in zip(shared.sizes[1:], shared.b, strict=True)]
    _, _, shared_grad = numpy_backprop(*shared.args())
    per_neuron = Case(shared.sizes, shared.W, per_neuron_b, shared.activations, shared.loss,
                      shared.X, shared.Y, "per_neuron")  # fmt: skip
    _, _, per_neuron_grad = numpy_backprop(*per_neuron.args())
    for layer, (total, vector) in enumerate(zip(shared_grad, per_neuron_grad, strict=True), 1):
        assert total == pytest.approx(float(np.sum(vector)), rel=RTOL_EXACT), f"b{layer}"


def test_one_dimensional_sample_equals_batch_of_one() -> None:
    case = _single_sample(output_case("softmax", "cross_entropy", "per_neuron"))
    loss_batch, W_batch, b_batch = numpy_backprop(*case.args())
    loss_1d, W_1d, b_1d = numpy_backprop(
        case.W, case.b, case.activations, case.loss, case.X[0], case.Y[0], case.bias
    )
    assert loss_1d == loss_batch
    assert gradients_named(W_1d, b_1d, case.bias) == gradients_named(W_batch, b_batch, case.bias)


def test_weights_out_of_an_inactive_neuron_get_zero_gradient() -> None:
    # Nielsen's consequence of BP4: dL/dw_jk = a_k delta_j, so a_k = 0 (a relu that is off)
    # means no gradient for any weight leaving neuron k.
    W = [np.array([[1.0, 0.5], [-1.0, -0.5]]), np.array([[0.3, -0.7], [0.2, 0.9]])]
    b = [np.array([0.1, -0.1]), np.array([0.0, 0.0])]
    X, Y = np.array([[1.0, 2.0]]), np.array([[0.5, -0.5]])
    _, W_grad, _ = numpy_backprop(W, b, ("relu", "identity"), "half_sse", X, Y, "per_neuron")
    assert np.all(W_grad[1][:, 1] == 0.0), W_grad[1]
    assert np.all(W_grad[1][:, 0] != 0.0), W_grad[1]


@pytest.mark.parametrize(("hidden", "expected_slope"), [("relu", 0.0), ("leaky_relu", 0.01)])
def test_kink_derivative_convention_at_exactly_zero(hidden: str, expected_slope: float) -> None:
    # x = (1, -1) with W1 = [[1, 1]] puts z^(1) exactly at 0: relu'(0) = 0, leaky_relu'(0) = 0.01.
    W = [np.array([[1.0, 1.0]]), np.array([[2.0]])]
    b = [np.array([0.0]), np.array([0.0])]
    X, Y = np.array([[1.0, -1.0]]), np.array([[1.0]])
    args = (W, b, (hidden, "identity"), "half_sse", X, Y, "per_neuron")
    _, _, b_grad = numpy_backprop(*args)
    # delta^(2) = a - y = -1, so delta^(1) = W2 * delta^(2) * f'(0) = -2 f'(0).
    assert b_grad[0][0] == pytest.approx(-2.0 * expected_slope, abs=ATOL_EXACT)
    with pytest.raises(ValueError, match="exactly 0"):
        sympy_expanded_gradients(W, b, (hidden, "identity"), "half_sse", X[0], Y[0], "per_neuron")


def test_torch_kink_derivative_convention_at_exactly_zero() -> None:
    pytest.importorskip("torch", reason="torch (pip install torch==2.13.0) is the autograd oracle")
    W = [np.array([[1.0, 1.0]]), np.array([[2.0]])]
    b = [np.array([0.0]), np.array([0.0])]
    X, Y = np.array([[1.0, -1.0]]), np.array([[1.0]])
    for hidden, slope in (("relu", 0.0), ("leaky_relu", 0.01)):
        args = (W, b, (hidden, "identity"), "half_sse", X, Y, "per_neuron")
        _, _, b_grad = torch_backprop(*args)
        assert b_grad[0][0] == pytest.approx(-2.0 * slope, abs=ATOL_EXACT), hidden


# --- central_differences and the names ---------------------------------------------------------


def test_central_differences_matches_analytic_derivative_and_leaves_params_alone() -> None:
    params = {"u": 0.7, "v": -1.3, "big": 1e12}

    def f(p: dict[str, float]) -> float:
        return p["u"] ** 2 * math.sin(p["v"]) + 1e-24 * p["big"] ** 2

    gradient = central_differences(f, params)
    assert params == {"u": 0.7, "v": -1.3, "big": 1e12}
    expected = {
        "u": 2 * 0.7 * math.sin(-1.3),
        "v": 0.7**2 * math.cos(-1.3),
        # An absolute step of 1e-6 would vanish below the spacing of 1e12 (1.2e-4) and give 0;
        # the relative step h * |theta| does not.
        "big": 2e-24 * 1e12,
    }
    assert_named_close(expected, gradient, RTOL_FD, 0.0, "analytic vs central differences")


def test_flatten_and_unflatten_named_round_trip() -> None:
    for bias in BIAS_MODES:
        case = make_case((3, 2, 2), ("tanh", "sigmoid"), "half_sse", bias, seed=7)
        named = flatten_named(case.W, case.b, bias)
        assert list(named) == parameter_names(case.sizes, bias)
        W, b = unflatten_named(named, case.sizes, bias)
        assert flatten_named(W, b, bias) == named


def test_names_follow_the_package_convention() -> None:
    assert parameter_names([2, 2, 1], "per_neuron") == [
        "w1_1_1", "w1_1_2", "w1_2_1", "w1_2_2", "b1_1", "b1_2", "w2_1_1", "w2_1_2", "b2_1",
    ]  # fmt: skip
    assert parameter_names([2, 1], "shared") == ["w1_1_1", "w1_1_2", "b1"]
    assert parameter_names([2, 1], "none") == ["w1_1_1", "w1_1_2"]


def test_unflatten_named_rejects_missing_and_unexpected_names() -> None:
    named = {"w1_1_1": 1.0, "w1_1_3": 2.0}
    with pytest.raises(ValueError, match=r"missing \['w1_1_2'\], unexpected \['w1_1_3'\]"):
        unflatten_named(named, [2, 1], "none")


# --- Mazur's worked example --------------------------------------------------------------------


def _mazur_gradients(bias: str = "shared") -> tuple[float, list[np.ndarray], list[Any]]:
    X, Y = MAZUR.batch()
    b: list[Any] = MAZUR.biases()
    if bias == "per_neuron":
        b = [np.full(2, value) for value in b]
    return numpy_backprop(MAZUR.weights(), b, MAZUR.activations, MAZUR.loss, X, Y, bias)


def _mazur_parallel_step(W: list[np.ndarray], b: list[Any], bias: str, update_biases: bool):
    X, Y = MAZUR.batch()
    _, W_grad, b_grad = numpy_backprop(W, b, MAZUR.activations, MAZUR.loss, X, Y, bias)
    W_new = [w - MAZUR.eta * g for w, g in zip(W, W_grad, strict=True)]
    b_new = [v - MAZUR.eta * g for v, g in zip(b, b_grad, strict=True)] if update_biases else b
    return W_new, b_new


def _mazur_loss(W: list[np.ndarray], b: list[Any], bias: str) -> float:
    X, Y = MAZUR.batch()
    return numpy_forward_loss(W, b, MAZUR.activations, MAZUR.loss, X, Y, bias)


def test_numpy_backprop_reproduces_every_published_mazur_number() -> None:
    X, Y = MAZUR.batch()
    zs, a_values = numpy_forward(MAZUR.weights(), MAZUR.biases(), MAZUR.activations, X, "shared")
    loss_value, W_grad, _ = _mazur_gradients()
    # Per-neuron biases with equal values give the same forward pass, and db = delta (BP3).
    _, _, deltas = _mazur_gradients("per_neuron")
    (i1, _), (y1, y2) = MAZUR.x, MAZUR.y
    out_h1, out_h2 = a_values[1][0]
    out_o1, out_o2 = a_values[2][0]
    W2 = np.array(MAZUR.W2)
    blame_h = W2.T @ deltas[1]  # BP2 before the f' factor: dE_total/dout_h
    W_new = [w - MAZUR.eta * g for w, g in zip(MAZUR.weights(), W_grad, strict=True)]
    computed = {
        "net_h1": zs[0][0, 0],
        "out_h1": out_h1,
        "out_h2": out_h2,
        "net_o1": zs[1][0, 0],
        "out_o1": out_o1,
        "out_o2": out_o2,
        "E_o1": 0.5 * (y1 - out_o1) ** 2,
        "E_o2": 0.5 * (y2 - out_o2) ** 2,
        "E_total": loss_value,
        "dE_total/dout_o1": out_o1 - y1,
        "dout_o1/dnet_o1": out_o1 * (1 - out_o1),
        "dnet_o1/dw5": out_h1,
        "dE_total/dw5": W_grad[1][0, 0],
        "w5_updated": W_new[1][0, 0],
        "w6_updated": W_new[1][0, 1],
        "w7_updated": W_new[1][1, 0],
        "w8_updated": W_new[1][1, 1],
        "delta_o1": deltas[1][0],
        "dnet_o1/dout_h1": W2[0, 0],
        "dE_o1/dout_h1": deltas[1][0] * W2[0, 0],
        "dE_o2/dout_h1": deltas[1][1] * W2[1, 0],
        "dE_total/dout_h1": blame_h[0],
        "dout_h1/dnet_h1": out_h1 * (1 - out_h1),
        "dnet_h1/dw1": i1,
        "dE_total/dw1": W_grad[0][0, 0],
        "w1_updated": W_new[0][0, 0],
        "w2_updated": W_new[0][0, 1],
        "w3_updated": W_new[0][1, 0],
        "w4_updated": W_new[0][1, 1],
    }
    computed = {name: float(value) for name, value in computed.items()}
    assert_named_close(MAZUR_PUBLISHED, computed, 0.0, MAZUR_PUBLISHED_ATOL, "Mazur published")
    # The hidden delta of BP2 is the product of the two published factors.
    assert deltas[0][0] == pytest.approx(blame_h[0] * out_h1 * (1 - out_h1), rel=RTOL_EXACT)


def test_numpy_backprop_reproduces_mazur_derived_float64_values() -> None:
    X, Y = MAZUR.batch()
    zs, _ = numpy_forward(MAZUR.weights(), MAZUR.biases(), MAZUR.activations, X, "shared")
    _, W_grad, b_grad = _mazur_gradients()
    _, _, deltas = _mazur_gradients("per_neuron")
    named = gradients_named(W_grad, b_grad, "shared")
    computed = {f"dE/d{label}": named[name] for label, name in MAZUR_WEIGHT_NAMES.items()}
    computed |= {
        "net_h2": float(zs[0][0, 1]),
        "net_o2": float(zs[1][0, 1]),
        "delta_h1": float(deltas[0][0]),
        "delta_h2": float(deltas[0][1]),
        "delta_o1": float(deltas[1][0]),
        "delta_o2": float(deltas[1][1]),
        "dE/db1_shared": named["b1"],
        "dE/db2_shared": named["b2"],
    }
    expected = {name: MAZUR_DERIVED[name] for name in computed}
    assert_named_close(expected, computed, MAZUR_DERIVED_RTOL, 0.0, "Mazur derived")


def test_mazur_losses_after_updates_match_reference_values() -> None:
    W, b = MAZUR.weights(), MAZUR.biases()
    W1_step, b1_step = _mazur_parallel_step(W, b, "shared", update_biases=False)
    after_one = _mazur_loss(W1_step, b1_step, "shared")
    assert after_one == pytest.approx(
        MAZUR_DERIVED["E_after_1_parallel_update_weights_only"], rel=MAZUR_DERIVED_RTOL
    )
    assert after_one == pytest.approx(
        MAZUR_PUBLISHED_AFTER_TRAINING["E_total_after_1_update"],
        abs=MAZUR_ONE_UPDATE_PUBLISHED_ATOL,
    )
    W_s, b_s = _mazur_parallel_step(W, b, "shared", update_biases=True)
    assert _mazur_loss(W_s, b_s, "shared") == pytest.approx(
        MAZUR_DERIVED["E_after_1_update_shared_biases_updated"], rel=MAZUR_DERIVED_RTOL
    )
    per_neuron_b = [np.full(2, value) for value in b]
    W_p, b_p = _mazur_parallel_step(W, per_neuron_b, "per_neuron", update_biases=True)
    assert _mazur_loss(W_p, b_p, "per_neuron") == pytest.approx(
        MAZUR_DERIVED["E_after_1_update_per_neuron_biases_updated"], rel=MAZUR_DERIVED_RTOL
    )


def test_mazur_long_run_matches_the_parallel_rule() -> None:
    W, b = MAZUR.weights(), MAZUR.biases()
    for _ in range(9_999):
        W, b = _mazur_parallel_step(W, b, "shared", update_biases=False)
    assert _mazur_loss(W, b, "shared") == pytest.approx(
        MAZUR_DERIVED["E_after_9999_parallel_updates_weights_only"], rel=MAZUR_LONG_RUN_RTOL
    )
    assert _mazur_loss(W, b, "shared") == pytest.approx(
        MAZUR_PUBLISHED_AFTER_TRAINING["E_total_after_10000"], rel=MAZUR_OUTPUTS_AFTER_TRAINING_RTOL
    )
    W, b = _mazur_parallel_step(W, b, "shared", update_biases=False)
    X, _ = MAZUR.batch()
    _, a_values = numpy_forward(W, b, MAZUR.activations, X, "shared")
    outputs = a_values[-1][0]
    assert outputs[0] == pytest.approx(
        MAZUR_PUBLISHED_AFTER_TRAINING["out_o1_after_10000"], rel=MAZUR_OUTPUTS_AFTER_TRAINING_RTOL
    )
    assert outputs[1] == pytest.approx(
        MAZUR_PUBLISHED_AFTER_TRAINING["out_o2_after_10000"], rel=MAZUR_OUTPUTS_AFTER_TRAINING_RTOL
    )


def _mazur_case() -> Case:
    X, Y = MAZUR.batch()
    W, b = MAZUR.weights(), MAZUR.biases()
    return Case(MAZUR.sizes, W, b, MAZUR.activations, MAZUR.loss, X, Y, MAZUR.bias)


def test_mazur_gradients_agree_across_numpy_sympy_and_central_differences() -> None:
    check_numpy_against_sympy(_mazur_case())
    check_numpy_against_finite_differences(_mazur_case())


def test_mazur_gradients_agree_between_numpy_and_torch() -> None:
    pytest.importorskip("torch", reason="torch (pip install torch==2.13.0) is the autograd oracle")
    check_numpy_against_torch(_mazur_case())


# --- Numerical stability -----------------------------------------------------------------------


def _extreme_case(hidden: str | None, output: str, loss: str, bias: str) -> Case:
    """Return a batch whose pre-activations reach +-Z_EXTREME in the layer under test."""
    X = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.25]])
    # z = W x spans +-1e3 (and +-3e2, 1.5e2 for the third sample): no z is exactly 0.
    big = np.array([[Z_EXTREME, 0.0], [0.0, Z_EXTREME], [0.3 * Z_EXTREME, -0.6 * Z_EXTREME]])
    if hidden is None:
        W, activations = [big], (output,)
    else:
        # Hidden z reaches +-1e3; small outgoing weights keep the output z moderate.
        W, activations = [big, np.full((3, 3), 1e-3)], (hidden, output)
    b: list[Any] = {
        "per_neuron": [np.full(w.shape[0], 0.1) for w in W],
        "shared": [0.1 for _ in W],
        "none": [None for _ in W],
    }[bias]
    Y = _targets(np.random.default_rng(0), loss, (3, 3))
    return Case((2, *[w.shape[0] for w in W]), W, b, activations, loss, X, Y, bias)


EXTREME_OUTPUT_COMBINATIONS = [
    (output, loss) for loss in LOSS_NAMES for output in LOSS_COMPATIBLE_OUTPUTS[loss]
]
# Gradients are required to be finite where the loss is smooth in z for every z: squared errors
# with any output, and the matched pairs whose delta is a - y. Probability losses with a
# mismatched output (e.g. softmax + bce) have 1/a factors that legitimately reach ~1e308.
FINITE_GRADIENT_COMBINATIONS = [
    (output, loss)
    for output, loss in EXTREME_OUTPUT_COMBINATIONS
    if loss in ("half_sse", "mse")
    or (output, loss) in (("sigmoid", "bce"), ("softmax", "cross_entropy"))
]


@pytest.mark.parametrize("bias", BIAS_MODES)
@pytest.mark.parametrize(("output", "loss"), EXTREME_OUTPUT_COMBINATIONS)
def test_forward_loss_is_finite_for_output_z_up_to_1e3(output: str, loss: str, bias: str) -> None:
    case = _extreme_case(None, output, loss, bias)
    zs, _ = numpy_forward(case.W, case.b, case.activations, case.X, bias)
    assert np.max(np.abs(zs[-1])) >= Z_EXTREME
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss_value = numpy_forward_loss(*case.args())
        if (output, loss) in FINITE_GRADIENT_COMBINATIONS:
            _, W_grad, b_grad = numpy_backprop(*case.args())
            gradient = gradients_named(W_grad, b_grad, bias)
            assert all(math.isfinite(v) for v in gradient.values()), gradient
    assert math.isfinite(loss_value), loss_value


@pytest.mark.parametrize("bias", BIAS_MODES)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATION_NAMES)
def test_backprop_is_finite_for_hidden_z_up_to_1e3(hidden: str, bias: str) -> None:
    case = _extreme_case(hidden, "sigmoid", "bce", bias)
    zs, _ = numpy_forward(case.W, case.b, case.activations, case.X, bias)
    assert np.max(np.abs(zs[0])) >= Z_EXTREME
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss_value, W_grad, b_grad = numpy_backprop(*case.args())
    gradient = gradients_named(W_grad, b_grad, bias)
    assert math.isfinite(loss_value)
    assert all(math.isfinite(v) for v in gradient.values()), gradient


@pytest.mark.parametrize(("output", "loss"), FINITE_GRADIENT_COMBINATIONS)
def test_torch_backprop_is_finite_for_z_up_to_1e3(output: str, loss: str) -> None:
    pytest.importorskip("torch", reason="torch (pip install torch==2.13.0) is the autograd oracle")
    case = _extreme_case(None, output, loss, "per_neuron")
    loss_value, W_grad, b_grad = torch_backprop(*case.args())
    gradient = gradients_named(W_grad, b_grad, case.bias)
    assert math.isfinite(loss_value)
    assert all(math.isfinite(v) for v in gradient.values()), gradient


def test_saturated_probabilities_give_large_finite_losses() -> None:
    # sigmoid(-1e3) underflows to 0; bce then takes log(tiny) ~ -708 instead of log(0).
    W, b = [np.array([[Z_EXTREME]])], [None]
    X, Y = np.array([[-1.0]]), np.array([[1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss_value = numpy_forward_loss(W, b, ("sigmoid",), "bce", X, Y, "none")
    assert loss_value == pytest.approx(-math.log(np.finfo(float).tiny), rel=RTOL_EXACT)
