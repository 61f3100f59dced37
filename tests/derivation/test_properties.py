"""Property tests: derived gradients against oracles that share no code with the library.

Architectures, activations, losses and bias modes are drawn from the registries, so a new
registry entry is covered here with no test edits (against central differences always, and
against the hand-written oracles for every name they implement).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from tests import oracles

# Two float64 computations of the same backprop differ only by rounding.
RTOL_EXACT = 1e-9
ATOL_EXACT = 1e-12
# Central differences with h = 1e-6 * max(1, |theta|) in float64: truncation ~h^2, rounding
# ~1e-16/h; agreement to 1e-5 relative (absolute below 1e-7) is far inside both.
RTOL_FD = 1e-5
# Per unit of loss: the difference quotient's rounding error grows with |L| (eps |L| / h), and a
# saturated bce or cross-entropy loss of 10 or more loses digits in log(1 - a).
ATOL_FD = 1e-7
# Central differences straddle relu's kink when a pre-activation is this close to 0.
KINK_MARGIN = 1e-4

ELEMENTWISE = sorted(n for n, a in sb.ACTIVATIONS.items() if not a.is_layerwise)
ALL_ACTIVATIONS = sorted(sb.ACTIVATIONS)
LOSSES = sorted(sb.LOSSES)
ORACLE_ACTIVATIONS = set(getattr(oracles, "ACTIVATION_NAMES", ALL_ACTIVATIONS))
ORACLE_LOSSES = set(getattr(oracles, "LOSS_NAMES", LOSSES))


@st.composite
def problems(draw, max_layers: int = 3, max_width: int = 4, max_batch: int = 4):
    """Draw (network, params, X, Y, sizes, activations, loss, bias)."""
    depth = draw(st.integers(1, max_layers))
    sizes = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(LOSSES))
    hidden = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(depth - 1)]
    output_choices = ALL_ACTIVATIONS if sizes[-1] >= 2 else ELEMENTWISE
    output = draw(st.sampled_from(output_choices))
    if loss == "bce":
        # Logs of a, 1 - a need outputs in (0, 1).
        output = draw(st.sampled_from(["sigmoid", "softmax"] if sizes[-1] >= 2 else ["sigmoid"]))
    if loss == "cross_entropy":
        # Its logs need probabilities that sum to 1: a softmax over at least 2 outputs.
        sizes[-1] = max(sizes[-1], 2)
        output = "softmax"
    activations = [*hidden, output]
    bias = draw(st.sampled_from(["per_neuron", "shared", "none"]))
    seed = draw(st.integers(0, 2**31 - 1))
    batch = draw(st.integers(1, max_batch))
    rng = np.random.default_rng(seed)
    net = sb.mlp(sizes, activations, loss, bias)
    draws = rng.normal(0, 0.8, len(net.parameter_names()))
    params = {k: float(v) for k, v in zip(net.parameter_names(), draws, strict=True)}
    X = rng.normal(0, 1.0, (batch, sizes[0]))
    Y = _targets(rng, loss, batch, sizes[-1])
    return net, params, X, Y, sizes, activations, loss, bias


def _targets(rng: np.random.Generator, loss: str, batch: int, n: int) -> np.ndarray:
    if loss == "cross_entropy":
        return np.eye(n)[rng.integers(0, n, batch)]
    if loss == "bce":
        return rng.uniform(0, 1, (batch, n))
    return rng.normal(0, 1, (batch, n))


def _near_kink(net: sb.Network, params: dict, X: np.ndarray) -> bool:
    values = sb.compile(net).kink_arguments(params, X)
    return any(np.any(np.abs(v) < KINK_MARGIN) for v in values.values())


def _assert_close(got: dict, expected: dict, rtol: float, atol: float, what: str) -> None:
    assert set(got) == set(expected)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=rtol, abs=atol), (
            f"{what}: dL/d{name} expected {expected[name]!r}, got {got[name]!r}"
        )


PROPERTY = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(problems())
def test_compiled_gradient_matches_hand_written_numpy_backprop(problem):
    net, params, X, Y, sizes, activations, loss, bias = problem
    assume(set(activations) <= ORACLE_ACTIVATIONS and loss in ORACLE_LOSSES)
    W, b = oracles.unflatten_named(params, sizes, bias)
    expected_loss, dW, db = oracles.numpy_backprop(W, b, activations, loss, X, Y, bias)
    got_loss, grads = sb.compile(net).loss_and_gradient(params, X, Y)
    assert got_loss == pytest.approx(expected_loss, rel=RTOL_EXACT, abs=ATOL_EXACT)
    _assert_close(grads, oracles.gradients_named(dW, db, bias), RTOL_EXACT, ATOL_EXACT, "numpy")


@PROPERTY
@given(problems())
def test_scalar_and_layer_views_agree(problem):
    net, params, X, Y, *_ = problem
    layers = sb.compile(net, view="layers").loss_and_gradient(params, X, Y)
    scalar = sb.compile(net, view="scalar").loss_and_gradient(params, X, Y)
    assert scalar[0] == pytest.approx(layers[0], rel=RTOL_EXACT, abs=ATOL_EXACT)
    _assert_close(scalar[1], layers[1], RTOL_EXACT, ATOL_EXACT, "scalar vs layers")


@PROPERTY
@given(problems(max_batch=1))
def test_derivation_numbers_match_the_compiled_gradient(problem):
    net, params, X, Y, *_ = problem
    ev = sb.derive(net).evaluate(params, X[0], Y[0])
    expected = sb.compile(net).gradient(params, X, Y)
    _assert_close(ev.gradients(), expected, RTOL_EXACT, ATOL_EXACT, "d.evaluate")
    assert ev["L"] == pytest.approx(sb.compile(net).loss(params, X, Y), rel=RTOL_EXACT)


@PROPERTY
@given(problems())
def test_gradient_matches_central_differences(problem):
    net, params, X, Y, *_ = problem
    assume(not _near_kink(net, params, X))
    compiled = sb.compile(net)
    numeric = oracles.central_differences(lambda p: compiled.loss(p, X, Y), params)
    atol = ATOL_FD * max(1.0, abs(compiled.loss(params, X, Y)))
    _assert_close(compiled.gradient(params, X, Y), numeric, RTOL_FD, atol, "central diff")


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_layers=2, max_width=2, max_batch=1))
def test_gradient_matches_sympy_diff_of_the_expanded_loss(problem):
    net, params, X, Y, sizes, activations, loss, bias = problem
    assume(set(activations) <= ORACLE_ACTIVATIONS and loss in ORACLE_LOSSES)
    assume(not _near_kink(net, params, X))
    W, b = oracles.unflatten_named(params, sizes, bias)
    expected_loss, expected = oracles.sympy_expanded_gradients(
        W, b, activations, loss, X[0], Y[0], bias
    )
    ev = sb.derive(net).evaluate(params, X[0], Y[0])
    assert ev["L"] == pytest.approx(expected_loss, rel=RTOL_EXACT, abs=ATOL_EXACT)
    _assert_close(ev.gradients(), expected, RTOL_EXACT, ATOL_EXACT, "sympy diff")


@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_gradient_matches_pytorch_autograd(problem):
    pytest.importorskip("torch", reason="PyTorch (extra 'torch') is not installed")
    net, params, X, Y, sizes, activations, loss, bias = problem
    assume(set(activations) <= ORACLE_ACTIVATIONS and loss in ORACLE_LOSSES)
    W, b = oracles.unflatten_named(params, sizes, bias)
    expected_loss, dW, db = oracles.torch_backprop(W, b, activations, loss, X, Y, bias)
    got_loss, grads = sb.compile(net).loss_and_gradient(params, X, Y)
    assert got_loss == pytest.approx(expected_loss, rel=RTOL_EXACT, abs=ATOL_EXACT)
    _assert_close(grads, oracles.gradients_named(dW, db, bias), RTOL_EXACT, ATOL_EXACT, "torch")


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_numpy_form_is_finite_for_large_z(name):
    z = np.array([[-1e3, -50.0, 0.0, 50.0, 1e3]])
    a = sb.get_activation(name).numpy_form(z)
    assert np.all(np.isfinite(a)), f"{name} gave {a}"


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_loss_and_gradient_are_finite_for_saturated_outputs(loss, output):
    if sb.get_loss(loss).refusal(output) is not None:
        pytest.skip(f"{loss} after {output} is refused where the network is built")
    net = sb.mlp([2, 3], activation=output, loss=loss)
    params = {name: 1.0 for name in net.parameter_names()}
    X = np.array([[500.0, 500.0], [-500.0, -500.0]])  # |z| = 1e3
    Y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    value, grads = sb.compile(net).loss_and_gradient(params, X, Y)
    assert np.isfinite(value)
    assert all(np.isfinite(g) for g in grads.values())
