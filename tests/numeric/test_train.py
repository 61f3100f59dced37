"""train(): new parameters and losses, seeded mini-batches, frozen parameters, XOR."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import symbackprop as sb

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


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


def test_held_out_data_is_recorded_but_never_trained_on():
    net = sb.sequential(2, [sb.Dense(3), "tanh", sb.Dense(2), "softmax"])
    rng = np.random.default_rng(0)
    X, X_test = rng.normal(size=(12, 2)), rng.normal(size=(5, 2))
    Y = np.eye(2)[(X[:, 0] > 0).astype(int)]
    Y_test = np.eye(2)[(X_test[:, 0] > 0).astype(int)]
    params = net.init_params(0)
    alone = sb.train(net, params, X, Y, 0.5, 6, batch_size=4, seed=1)
    watched = sb.train(net, params, X, Y, 0.5, 6, batch_size=4, seed=1, test=(X_test, Y_test))
    assert watched.losses == alone.losses
    for name in params:
        np.testing.assert_array_equal(watched.params[name], alone.params[name], err_msg=name)
    assert len(watched.test_losses) == len(watched.test_accuracies) == 7 and not alone.test_losses
    final = sb.compile(net).forward(watched.params, X_test)
    expected = np.mean(final.argmax(axis=1) == Y_test.argmax(axis=1))
    assert watched.test_accuracies[-1] == expected
    test_loss = sb.compile(net).loss(watched.params, X_test, Y_test)
    assert watched.test_losses[-1] == pytest.approx(test_loss, rel=RTOL_EXACT)


def test_accuracy_is_recorded_only_for_one_hot_targets():
    net = sb.mlp([2, 2, 1])
    result = sb.train(net, net.init_params(0), [[0, 1], [1, 0]], [[1], [0]], 0.5, epochs=3)
    assert result.accuracies == () and result.test_accuracies == ()
