"""The float program (small networks, a few samples): the array code's numbers and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
import symbackprop.numeric.float_program as float_program
from symbackprop.model.architecture import layer_arrays_to_names
from symbackprop.model.errors import NumericError
from symbackprop.model.validate import layer_arrays
from symbackprop.numeric.compiled import CompiledNetwork
from tests.oracles import (
    BIAS_MODES,
    HIDDEN_ACTIVATION_NAMES,
    LOSS_NAMES,
    numpy_backprop,
    torch_backprop,
)
from tests.problems import mlp_problem

# Output activations the library accepts with each loss.
OUTPUTS = {"half_sse": HIDDEN_ACTIVATION_NAMES + ("softmax",), "mse": HIDDEN_ACTIVATION_NAMES,
           "bce": ("sigmoid",), "cross_entropy": ("softmax",)}  # fmt: skip
RTOL = 1e-12  # the same formulas in float64, in another order
ATOL = 1e-15  # gradients that are zero in one order and 1e-17 in the other


@pytest.fixture
def arrays_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compile with no call small enough for floats: every number comes from the array code."""
    monkeypatch.setattr(float_program, "FLOAT_SAMPLES", 0)


@st.composite
def small_problems(draw: st.DrawFn) -> tuple:
    depth = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(LOSS_NAMES))
    output = draw(st.sampled_from(OUTPUTS[loss]))
    if output == "softmax" and sizes[-1] == 1:
        sizes[-1] = 2
    hidden = [draw(st.sampled_from(HIDDEN_ACTIVATION_NAMES)) for _ in range(depth - 1)]
    bias = draw(st.sampled_from(BIAS_MODES))
    batch = draw(st.integers(1, float_program.FLOAT_SAMPLES))
    seed = draw(st.integers(0, 2**16))
    net, arrays, X, Y = mlp_problem(sizes, [*hidden, output], loss, bias, batch, seed)
    return net, [*hidden, output], loss, bias, arrays, X, Y


def _arrays_of(grads: dict, net) -> tuple[list, list | None]:
    depth = len(net.architecture.sizes) - 1
    W = [grads[f"W{i}"] for i in range(1, depth + 1)]
    b = None if net.architecture.bias == "none" else [grads[f"b{i}"] for i in range(1, depth + 1)]
    return W, b


def _close(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=RTOL, atol=ATOL, err_msg=name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_floats_give_the_textbook_backprop_of_every_small_network(problem) -> None:
    net, activations, loss, bias, arrays, X, Y = problem
    compiled = sb.compile(net)
    assert compiled._inputs is not None and compiled._inputs.small
    value, grads = compiled.loss_and_gradient(arrays, X, Y)
    W, b = _arrays_of(arrays, net)
    expected_loss, dW, db = numpy_backprop(W, b, activations, loss, X, Y, bias)
    assert value == pytest.approx(expected_loss, rel=RTOL)
    got_weights, got_biases = _arrays_of(grads, net)
    for got, want in zip(got_weights, dW, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    if got_biases is not None:
        for got, want in zip(got_biases, db, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    # The trusted path (train's) and parameters by name take the float program too.
    raw_loss, raw = compiled.raw_loss_and_gradient(arrays, X, Y)
    assert raw_loss == pytest.approx(value, rel=RTOL)
    _close(raw, grads)
    by_name = net.parameter_names()
    named_loss, named = compiled.loss_and_gradient(
        layer_arrays_to_names(net.architecture, arrays), X, Y
    )
    assert named_loss == pytest.approx(value, rel=RTOL)
    assert list(named) == by_name


def test_floats_equal_the_array_code_and_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch", reason="torch==2.13.0 is the second autodiff oracle")
    net = sb.mlp([2, 3, 2], ["tanh", "sigmoid"], "bce", "per_neuron", weight_decay=0.1, l1=0.01)
    rng = np.random.default_rng(3)
    arrays = layer_arrays(net, net.init_params(3, scheme="normal"))
    X, Y = rng.normal(size=(3, 2)), rng.uniform(0.1, 0.9, size=(3, 2))
    on_floats = sb.compile(net).loss_and_gradient(arrays, X, Y)
    monkeypatch.setattr(float_program, "FLOAT_SAMPLES", 0)
    on_arrays = sb.compile(net).loss_and_gradient(arrays, X, Y)
    assert on_floats[0] == pytest.approx(on_arrays[0], rel=RTOL)
    _close(on_floats[1], on_arrays[1])
    W, b = _arrays_of(arrays, net)
    loss, dW, db = torch_backprop(W, b, ["tanh", "sigmoid"], "bce", X, Y, "per_neuron")
    # torch_backprop has no penalty: add Omega's gradient, lambda W + lambda_1 sign(W).
    for i, (got, want) in enumerate(zip(_arrays_of(on_floats[1], net)[0], dW, strict=True)):
        penalty = 0.1 * W[i] + 0.01 * np.sign(W[i])
        np.testing.assert_allclose(got, want + penalty, rtol=1e-10, atol=1e-13)


def test_a_small_call_that_overflows_takes_the_array_code() -> None:
    # (a - y)^2 of a = 1e200 overflows a float (OverflowError); NumPy's arrays give inf.
    net = sb.mlp([1, 1], ["identity"], "half_sse", "none")
    compiled = sb.compile(net)
    X, Y = np.array([[1.0]]), np.array([[0.0]])
    program = compiled._backend._float_program
    assert program is not None and program.loss_and_gradient([1e200], [[1.0]], [[0.0]]) is None
    with np.errstate(all="ignore"):
        value, grads = compiled.loss_and_gradient({"W1": np.array([[1e200]])}, X, Y)
    assert value == np.inf
    assert grads["W1"] == pytest.approx(1e200)


@pytest.mark.parametrize(
    "bad",
    [
        {"W1": np.array([[np.nan, 0.2], [0.3, 0.4]])},
        {"W1": np.array([[np.inf, 0.2], [0.3, 0.4]])},
    ],
)
def test_bad_parameters_are_refused_as_before(bad: dict) -> None:
    net = sb.mlp([2, 2, 2])
    compiled = sb.compile(net)
    arrays = layer_arrays(net, net.init_params(0))
    with pytest.raises(NumericError) as error:
        compiled.gradient({**arrays, **bad}, np.array([[0.05, 0.1]]), np.array([[0.01, 0.99]]))
    assert "\n" not in str(error.value) and "W1" in str(error.value)


def test_bad_targets_are_refused_as_before() -> None:
    net = sb.mlp([2, 2, 2], ["sigmoid", "softmax"], "cross_entropy")
    compiled = sb.compile(net)
    arrays = layer_arrays(net, net.init_params(0))
    with pytest.raises(sb.SymbackpropError) as error:
        compiled.gradient(arrays, np.array([[0.05, 0.1]]), np.array([[-1.0, 2.0]]))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_training_on_one_vector_equals_training_array_by_array(
    optimizer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = sb.load_spec("examples/mazur.toml")
    X, Y = spec.data

    def run():
        return sb.train(spec.network, spec.params, X, Y, 0.5, 200, freeze=["b1", "w2_2_1"],
                        optimizer=optimizer)  # fmt: skip

    fast = run()
    monkeypatch.setattr(CompiledNetwork, "flat_view", lambda self: None)
    monkeypatch.setattr(float_program, "FLOAT_SAMPLES", 0)
    slow = run()
    np.testing.assert_allclose(fast.losses, slow.losses, rtol=1e-12)
    assert fast.params.keys() == slow.params.keys()
    for name, value in slow.params.items():
        assert fast.params[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert fast.params["b1"] == spec.params["b1"] and fast.params["w2_2_1"] == 0.5


def test_mazur_after_ten_thousand_epochs_on_floats() -> None:
    spec = sb.load_spec("examples/mazur.toml")
    X, Y = spec.data
    result = sb.train(spec.network, spec.params, X, Y, 0.5, 10_000, freeze=["b1", "b2"])
    # Mazur's post: "the error on the network is 0.0000351085" after 10,000 rounds (his own
    # program's rounding; the same check as tests/cli/test_examples.py).
    assert result.final_loss == pytest.approx(0.0000351085, rel=0.01)


def test_mini_batches_of_layer_arrays_train_on_one_vector(arrays_only: None) -> None:
    net = sb.mlp([2, 3, 1], ["tanh", "sigmoid"], "bce")
    arrays = layer_arrays(net, net.init_params(1))
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])
    result = sb.train(net, arrays, X, Y, 0.5, 20, batch_size=2)
    assert set(result.params) == set(arrays)
    for name, value in result.params.items():
        assert value.shape == arrays[name].shape
    assert result.final_loss == pytest.approx(sb.compile(net).loss(result.params, X, Y), rel=1e-12)
