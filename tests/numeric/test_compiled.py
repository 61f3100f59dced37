"""compile(): layer arrays in and out, batches, the compiled-function cache."""

from __future__ import annotations

import numpy as np
import pytest

import symbackprop as sb

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


def test_layer_arrays_in_give_layer_arrays_out():
    net = sb.mlp([3, 4, 2], bias="shared")
    named = net.init_params(0, scheme="normal")
    X, Y = np.ones((5, 3)), np.zeros((5, 2))
    compiled = sb.compile(net)
    by_name = compiled.gradient(named, X, Y)
    from symbackprop.model.architecture import names_to_layer_arrays

    arrays = names_to_layer_arrays(net.architecture, named)
    by_layer = compiled.gradient(arrays, X, Y)
    assert set(by_layer) == {"W1", "b1", "W2", "b2"} and by_layer["b1"].shape == ()
    assert by_layer["W2"][1, 3] == pytest.approx(by_name["w2_2_4"], rel=RTOL_EXACT)
    assert float(by_layer["b1"]) == pytest.approx(by_name["b1"], rel=RTOL_EXACT)


def test_forward_returns_the_outputs_for_a_batch():
    net = sb.mlp([2, 3, 2], ["tanh", "softmax"], "cross_entropy")
    out = sb.compile(net).forward(net.init_params(0), np.zeros((4, 2)))
    assert out.shape == (4, 2)
    assert np.allclose(out.sum(axis=1), 1.0)


def test_compiled_is_cached_per_architecture_and_fast_for_784_128_10():
    import time

    start = time.perf_counter()
    sb.compile(sb.mlp([784, 128, 10]))
    # A correctness bound, not a benchmark: the layer view never writes 100,000 scalar lines.
    assert time.perf_counter() - start < 20
