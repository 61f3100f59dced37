"""The quick paths of compile() and train(): same numbers as the checked ones, same refusals."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.model.errors import NumericError, ShapeError
from symbackprop.model.functions import _sigmoid_numpy
from symbackprop.model.validate import data_arrays
from tests.oracles import central_differences, numpy_backprop
from tests.problems import mlp_problem

RTOL_EXACT = 1e-12  # the same formula in float64, summed in another order
RTOL_FD = 1e-5  # central differences, h = 1e-6, float64
ATOL_FD = 1e-8  # gradients near zero, where a relative tolerance says nothing
HISTORY_TOL = 1e-12  # a recorded loss against the loss computed afresh at that state


CASES = [
    ([2, 2, 2], ["sigmoid", "sigmoid"], "half_sse", "shared", 1),
    ([3, 4, 2], ["tanh", "identity"], "mse", "per_neuron", 5),
    ([4, 5, 3], ["relu", "softmax"], "cross_entropy", "per_neuron", 7),
    ([3, 4, 4, 2], ["sigmoid", "softplus", "sigmoid"], "bce", "none", 6),
]


@pytest.mark.parametrize(("sizes", "activations", "loss", "bias", "batch"), CASES)
def test_public_gradient_matches_textbook_backprop_and_the_checked_path(
    sizes, activations, loss, bias, batch
):
    net, arrays, X, Y = mlp_problem(sizes, activations, loss, bias, batch)
    compiled = sb.compile(net)
    value, grads = compiled.loss_and_gradient(arrays, X, Y)
    # The same call with input the quick checks hand over to model.validate (lists, float32).
    slow_loss, slow = compiled.loss_and_gradient(
        {k: np.asarray(v).tolist() for k, v in arrays.items()}, X.tolist(), Y.tolist()
    )
    W = [arrays[f"W{i}"] for i in range(1, len(sizes))]
    b = None if bias == "none" else [arrays[f"b{i}"] for i in range(1, len(sizes))]
    expected_loss, dW, db = numpy_backprop(W, b, activations, loss, X, Y, bias)
    assert value == pytest.approx(expected_loss, rel=RTOL_EXACT)
    assert slow_loss == pytest.approx(value, rel=RTOL_EXACT)
    for layer in range(1, len(sizes)):
        name = f"W{layer}"
        assert np.allclose(grads[name], dW[layer - 1], rtol=RTOL_EXACT, atol=1e-15), name
        assert np.allclose(slow[name], grads[name], rtol=RTOL_EXACT, atol=1e-15), name
        if bias != "none":
            name = f"b{layer}"
            assert np.allclose(grads[name], db[layer - 1], rtol=RTOL_EXACT, atol=1e-15), name


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 4),
    bias=st.sampled_from(["shared", "per_neuron", "none"]),
)
def test_gradient_by_name_matches_finite_differences(seed, batch, bias):
    net, arrays, X, Y = mlp_problem([2, 3, 2], ["tanh", "sigmoid"], "half_sse", bias, batch, seed)
    compiled = sb.compile(net)
    named = net.init_params(seed, scheme="normal")
    grads = compiled.gradient(named, X, Y)
    numeric = central_differences(lambda p: compiled.loss(p, X, Y), named)
    assert set(grads) == set(named)
    for name, value in numeric.items():
        assert grads[name] == pytest.approx(value, rel=RTOL_FD, abs=ATOL_FD), name


def test_gradient_keeps_the_form_given_and_does_not_touch_the_input():
    net, arrays, X, Y = mlp_problem([3, 4, 2], ["sigmoid", "sigmoid"], "half_sse", "per_neuron", 4)
    kept = {k: v.copy() for k, v in arrays.items()}
    X_kept = X.copy()
    compiled = sb.compile(net)
    by_arrays = compiled.gradient(arrays, X, Y)
    by_name = compiled.gradient(net.init_params(0, scheme="normal"), X, Y)
    assert set(by_arrays) == set(arrays)
    assert by_name["w2_2_4"] == pytest.approx(by_arrays["W2"][1, 3], rel=RTOL_EXACT)
    assert by_name["b1_3"] == pytest.approx(by_arrays["b1"][2], rel=RTOL_EXACT)
    for name, value in kept.items():
        assert np.array_equal(arrays[name], value), name
    assert np.array_equal(X, X_kept)


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda p, X, Y: ({**p, "W1": p["W1"] * np.nan}, X, Y), NumericError, "W1 holds NaN"),
        (lambda p, X, Y: ({**p, "W2": p["W2"].T}, X, Y), ShapeError, "W2 has shape"),
        (lambda p, X, Y: ({k: v for k, v in p.items() if k != "b2"}, X, Y), ShapeError, "'b2'"),
        (lambda p, X, Y: (p, np.where(X > 0, np.inf, X), Y), NumericError, "X holds inf"),
        (lambda p, X, Y: (p, X, Y[:2]), ShapeError, "X has 4 rows but Y has 2"),
        (lambda p, X, Y: (p, X[:, :2], Y), ShapeError, "X has shape"),
        (lambda p, X, Y: (p, X, Y * np.nan), NumericError, "Y holds nan"),
        (lambda p, X, Y: ({"w1_1_1": "a", **p}, X, Y), ShapeError, "params has no value"),
    ],
)
def test_bad_input_is_refused_with_one_line(change, error, words):
    net, arrays, X, Y = mlp_problem([3, 4, 2], ["sigmoid", "sigmoid"], "half_sse", "per_neuron", 4)
    params, X2, Y2 = change(arrays, X, Y)
    with pytest.raises(error, match=words) as caught:
        sb.compile(net).gradient(params, X2, Y2)
    assert "\n" not in str(caught.value)


def test_bad_parameter_by_name_is_refused_with_one_line():
    net = sb.mlp([2, 2, 1])
    compiled = sb.compile(net)
    named = net.init_params(0)
    X, Y = np.zeros((3, 2)), np.zeros((3, 1))
    with pytest.raises(NumericError, match="parameter 'w1_2_1' is nan") as caught:
        compiled.gradient({**named, "w1_2_1": float("nan")}, X, Y)
    assert "\n" not in str(caught.value)
    with pytest.raises(NumericError, match="parameter 'b2_1' is 'x', not a number"):
        compiled.gradient({**named, "b2_1": "x"}, X, Y)


def test_quick_data_check_agrees_with_data_arrays_on_targets():
    net, arrays, X, Y = mlp_problem([4, 5, 3], ["relu", "softmax"], "cross_entropy", "none", 5)
    bad = Y * 2.0
    with pytest.raises(NumericError) as quick:
        sb.compile(net).gradient(arrays, X, bad)
    with pytest.raises(NumericError) as checked:
        data_arrays(net, X, bad)
    assert str(quick.value) == str(checked.value)


def _expression_network() -> sb.Network:
    w, b, x, y, h = sp.symbols("w b x y h")
    return sb.Network.from_expressions(
        [(h, sp.tanh(w * x + b))], (h - y) ** 2 / 2, [w, b], [x], [y]
    )


@pytest.mark.parametrize(
    ("network", "freeze"),
    [
        (sb.mlp([2, 2, 2], bias="shared"), ("b1", "b2")),
        (sb.mlp([3, 4, 2], ["tanh", "sigmoid"], "half_sse"), ("w1_1_1", "b2_2")),
        (_expression_network(), ("b",)),
        (sb.sequential(3, [sb.Dense(4), "tanh", sb.Dense(2), "sigmoid"], "half_sse"), ()),
    ],
)
def test_full_batch_history_is_the_loss_of_each_state(network, freeze):
    params = network.init_params(1)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5, network.n_inputs))
    Y = rng.uniform(0.1, 0.9, size=(5, network.n_outputs))
    compiled = sb.compile(network)
    longest = sb.train(network, params, X, Y, learning_rate=0.3, epochs=4, freeze=freeze)
    for epochs in range(5):
        shorter = sb.train(network, params, X, Y, learning_rate=0.3, epochs=epochs, freeze=freeze)
        assert shorter.losses == pytest.approx(longest.losses[: epochs + 1], rel=HISTORY_TOL)
        fresh = compiled.loss(shorter.params, X, Y)
        assert shorter.final_loss == pytest.approx(fresh, rel=HISTORY_TOL)
    for name in freeze:
        assert longest.params[name] == params[name], name


def test_mini_batches_of_the_whole_data_give_the_full_batch_history():
    net = sb.mlp([3, 4, 2])
    params = net.init_params(0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 3)), rng.uniform(size=(6, 2))
    whole = sb.train(net, params, X, Y, learning_rate=0.5, epochs=5)
    one_batch = sb.train(net, params, X, Y, learning_rate=0.5, epochs=5, batch_size=6)
    halves = sb.train(net, params, X, Y, learning_rate=0.5, epochs=5, batch_size=3)
    assert one_batch.losses == pytest.approx(whole.losses, rel=HISTORY_TOL)
    assert halves.losses[0] == pytest.approx(whole.losses[0], rel=HISTORY_TOL)
    assert halves.losses != pytest.approx(whole.losses, rel=1e-6)


def test_stable_sigmoid_matches_its_formula_and_never_overflows():
    z = np.linspace(-700, 700, 2001)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = _sigmoid_numpy(np.concatenate([z, [-1e3, -750.0, 750.0, 1e3]]))
    assert np.allclose(values[:-4], 1 / (1 + np.exp(-z)), rtol=1e-15, atol=0)
    assert np.all(values[-4:-2] < 1e-300) and np.all(values[-2:] == 1.0)
    assert float(_sigmoid_numpy(0.0)) == 0.5
