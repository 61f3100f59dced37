"""Seeded problems the numeric tests share: a network, its layer arrays and a batch."""

from __future__ import annotations

import numpy as np

import symbackprop as sb
from symbackprop.model.validate import layer_arrays


def mlp_problem(sizes, activations, loss, bias, batch, seed=0):
    """Return (net, layer arrays, X, Y): normal weights, one-hot targets for cross_entropy."""
    net = sb.mlp(sizes, activations, loss, bias)
    rng = np.random.default_rng(seed)
    arrays = layer_arrays(net, net.init_params(seed, scheme="normal"))
    X = rng.normal(size=(batch, sizes[0]))
    if loss == "cross_entropy":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    else:
        Y = rng.uniform(0.05, 0.95, size=(batch, sizes[-1]))
    return net, arrays, X, Y
