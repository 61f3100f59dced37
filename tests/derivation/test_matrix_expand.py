"""A tiny network of layers expanded per element: the scalar view agrees with the matrix view."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symbackprop as sb

TINY = {
    "dense": sb.sequential(2, [sb.Dense(2), "sigmoid", sb.Dense(2), "softmax"]),
    "layer norm": sb.sequential(2, [sb.Dense(2), "tanh", sb.LayerNorm(), sb.Dense(2), "softmax"]),
    "batch norm": sb.sequential(2, [sb.Dense(2), sb.BatchNorm(), "relu", sb.Dense(1)], "half_sse"),
    "residual + dropout": sb.sequential(
        2,
        [
            sb.Dense(2),
            sb.Residual([sb.Dense(2), "tanh"]),
            sb.Dropout(0.5, seed=1),
            sb.Dense(2),
            "sigmoid",
        ],
        "bce",
    ),  # fmt: skip
    "attention": sb.sequential(2, [sb.SelfAttention(), sb.Dense(2), "softmax"]),
}


def batch_data(net: sb.LayerNetwork, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(batch)
    X = rng.normal(size=(batch, net.n_inputs))
    if net.loss_name == "cross_entropy":
        return X, np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, batch)]
    return X, rng.uniform(0.1, 0.9, size=(batch, net.n_outputs))


@pytest.mark.parametrize("kind", list(TINY))
@pytest.mark.parametrize("batch", [1, 3])
def test_per_element_gradients_equal_the_matrix_gradients(kind: str, batch: int) -> None:
    net = TINY[kind]
    with warnings.catch_warnings():
        # A bias before batch norm does not affect the loss; the scalar program says so.
        warnings.simplefilter("ignore", sb.SymbackpropWarning)
        view = sb.per_element(net, batch)
    params = {k: v + 0.1 for k, v in net.init_params(2).items()}
    X, Y = batch_data(net, batch)
    x, y = view.data(X, Y)
    scalar = view.derivation.evaluate(view.params(params), x[0], y[0])
    matrix = sb.compile(net).gradient(params, X, Y)
    per_element = view.gradient_arrays(scalar.gradients())
    for name, expected in matrix.items():
        assert np.allclose(per_element[name], expected, rtol=1e-10, atol=1e-14), name


def test_one_sample_of_a_dense_stack_is_the_textbook_per_neuron_program() -> None:
    view = sb.per_element(TINY["dense"], batch=1)
    mlp = sb.mlp([2, 2, 2], activation=["sigmoid", "softmax"], loss="cross_entropy")
    assert [str(a.lhs) for a in view.network.assignments] == [str(a.lhs) for a in mlp.assignments]
    assert [str(a.rhs) for a in view.network.assignments] == [str(a.rhs) for a in mlp.assignments]
    assert sorted(view.network.parameter_names()) == sorted(mlp.parameter_names())


def test_a_view_too_large_to_read_is_refused() -> None:
    net = sb.sequential(4, [sb.Dense(120), "relu", sb.Dense(2), "softmax"])
    with pytest.raises(sb.SymbackpropError, match="limit 400"):
        sb.per_element(net, batch=2)
