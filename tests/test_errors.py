"""Bad input to the public functions: the one error hierarchy, one-line messages with the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model.errors import (
    NumericError,
    ShapeError,
    SpecError,
    SymbackpropError,
    SymbackpropWarning,
    UnknownNameError,
)


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message and not message.endswith(".")
    # Lower-case start, except where the message starts with an array's own name (X, W2).
    assert message[0].islower() or message.split()[0] in {"X", "Y", "W1", "W2", "W3"}
    return message


def test_unknown_activation_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'sigmoid'") as error:
        sb.mlp([2, 2, 2], activation=["sigmod", "sigmoid"])
    message = _one_line(error)
    assert "unknown activation 'sigmod' for layer 1" in message
    assert "known: identity, leaky_relu, relu, sigmoid, softmax, softplus, tanh" in message


def test_unknown_loss_and_bias_mode():
    with pytest.raises(UnknownNameError, match="did you mean 'half_sse'"):
        sb.mlp([2, 2], loss="half_see")
    with pytest.raises(UnknownNameError, match="unknown bias mode 'shard'.*did you mean 'shared'"):
        sb.mlp([2, 2], bias="shard")


def test_unknown_error_is_a_value_error_not_a_key_error():
    with pytest.raises(ValueError) as error:
        sb.get_activation("nope")
    assert not isinstance(error.value, KeyError)
    assert isinstance(error.value, SymbackpropError)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ([2], "give the input size and at least one layer"),
        ([2, 0, 1], "layer size 0 .* is not a positive integer"),
        ("2-2-2", "is not a list"),
        ([2, 2.5], "layer size 2.5"),
    ],
)
def test_bad_sizes(sizes, match):
    with pytest.raises(SpecError, match=match) as error:
        sb.mlp(sizes)
    _one_line(error)


def test_activation_count_and_softmax_placement():
    with pytest.raises(SpecError, match="3 activations given for 2 layers"):
        sb.mlp([2, 2, 2], activation=["tanh", "tanh", "tanh"])
    with pytest.raises(SpecError, match="only supported in the output layer"):
        sb.mlp([2, 3, 2], activation=["softmax", "sigmoid"])


def test_wrong_x_shape_names_the_shape_and_the_fix():
    net = sb.mlp([2, 2, 2])
    params = net.init_params(0)
    with pytest.raises(ShapeError) as error:
        sb.compile(net).loss(params, np.zeros((4, 3)), np.zeros((4, 2)))
    assert _one_line(error) == (
        "X has shape (4, 3) but the network has 2 inputs; pass an array of shape (batch, 2)"
    )


def test_wrong_y_shape_and_row_mismatch():
    net = sb.mlp([2, 2, 2])
    params = net.init_params(0)
    with pytest.raises(ShapeError, match=r"Y has shape \(4, 3\) but the network has 2 outputs"):
        sb.gradcheck(net, params, np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ShapeError, match="X has 4 rows but Y has 3"):
        sb.train(net, params, np.zeros((4, 2)), np.zeros((3, 2)), 0.1, 1)


def test_params_missing_or_extra_name():
    net = sb.mlp([2, 2, 2])
    params = net.init_params(0)
    missing = {k: v for k, v in params.items() if k != "w2_1_1"}
    with pytest.raises(ShapeError, match="params has no value for 'w2_1_1'; give every parameter"):
        sb.compile(net).gradient(missing, [0, 0], [0, 0])
    with pytest.raises(ShapeError, match="params has unknown name 'w9'.*remove it"):
        sb.compile(net).gradient({**params, "w9": 1.0}, [0, 0], [0, 0])


def test_layer_arrays_of_the_wrong_shape():
    net = sb.mlp([2, 3, 1])
    arrays = {"W1": np.zeros((3, 2)), "b1": np.zeros(3), "W2": np.zeros((3, 1)), "b2": np.zeros(1)}
    with pytest.raises(ShapeError, match=r"W2 has shape \(3, 1\) but layer 2 needs \(1, 3\)"):
        sb.compile(net).gradient(arrays, [0, 0], [0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_is_named_by_row_and_column(bad):
    net = sb.mlp([2, 2, 1])
    X = np.zeros((3, 2))
    X[1, 0] = bad
    with pytest.raises(NumericError, match="X holds .* at row 2, column 1; remove or replace"):
        sb.compile(net).loss(net.init_params(0), X, np.zeros((3, 1)))


def test_nan_parameter_and_non_numeric_parameter():
    net = sb.mlp([1, 1])
    with pytest.raises(NumericError, match="parameter 'w1_1_1' is nan; pass a finite value"):
        sb.compile(net).loss({"w1_1_1": float("nan"), "b1_1": 0.0}, [1.0], [0.0])
    with pytest.raises(NumericError, match="parameter 'w1_1_1' is 'abc', not a number"):
        sb.compile(net).loss({"w1_1_1": "abc", "b1_1": 0.0}, [1.0], [0.0])


def test_cross_entropy_targets_must_sum_to_one():
    net = sb.mlp([2, 3], activation="softmax", loss="cross_entropy")
    with pytest.raises(NumericError, match="targets of cross_entropy must be non-negative and sum"):
        sb.compile(net).loss(net.init_params(0), [0.1, 0.2], [1.0, 1.0, 0.0])


def test_unknown_parameter_to_freeze_and_bad_training_settings():
    net = sb.mlp([1, 1])
    params = net.init_params(0)
    with pytest.raises(UnknownNameError, match="unknown parameter to freeze 'b1'.*'b1_1'"):
        sb.train(net, params, [1.0], [0.0], 0.1, 1, freeze=["b1"])
    with pytest.raises(SymbackpropError, match="learning_rate -1 must be positive"):
        sb.train(net, params, [1.0], [0.0], -1, 1)
    with pytest.raises(SymbackpropError, match="epochs 1.5 must be a whole number"):
        sb.train(net, params, [1.0], [0.0], 0.1, 1.5)  # type: ignore[arg-type]


def test_training_that_diverges_says_to_lower_the_learning_rate():
    net = sb.mlp([1, 1], activation="identity")
    with pytest.raises(NumericError, match="training diverged at epoch .* lower the learning rate"):
        sb.train(net, {"w1_1_1": 1.0, "b1_1": 0.0}, [[1e3]], [[0.0]], 10.0, 200)


def test_program_errors():
    x, w, h, y = sp.symbols("x w h y")
    with pytest.raises(SpecError, match="'v' in h := .* is not defined before use"):
        sb.Network.from_expressions([(h, w * sp.Symbol("v"))], (h - y) ** 2, [w], [x], [y])
    with pytest.raises(SpecError, match="'w' is defined twice"):
        sb.Network.from_expressions([(w, x)], (w - y) ** 2, [w], [x], [y])
    with pytest.raises(SpecError, match="reserved for the derivation's own symbols"):
        sb.Network.from_expressions([(sp.Symbol("dL_dh"), w * x)], w, [w], [x], [y])
    with pytest.raises(SpecError, match="the loss is a constant"):
        sb.Network.from_expressions([(h, w * x)], sp.Integer(3), [w], [x], [y])


def test_a_parameter_the_loss_ignores_is_a_warning_not_an_error():
    x, w, v, h, y = sp.symbols("x w v h y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = sb.Network.from_expressions([(h, w * x)], (h - y) ** 2, [w, v], [x], [y])
    assert any(
        issubclass(c.category, SymbackpropWarning)
        and "'v' does not affect the loss" in str(c.message)
        for c in caught
    )
    grads = sb.compile(net).gradient({"w": 1.0, "v": 2.0}, [1.0], [0.0])
    assert grads["v"] == 0.0
