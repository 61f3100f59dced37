"""Shared fixtures: Mazur's worked example in both its own names and the book's notation."""

from __future__ import annotations

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model.functions import Sigmoid

# Mazur's names -> the book's names in mlp([2, 2, 2], bias="shared").
MAZUR_TO_MLP = {
    "w1": "w1_1_1", "w2": "w1_1_2", "w3": "w1_2_1", "w4": "w1_2_2", "b1": "b1",
    "w5": "w2_1_1", "w6": "w2_1_2", "w7": "w2_2_1", "w8": "w2_2_2", "b2": "b2",
}  # fmt: skip
MAZUR_PARAMS = {
    "w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "b1": 0.35,
    "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55, "b2": 0.60,
}  # fmt: skip
MAZUR_X = [0.05, 0.10]
MAZUR_Y = [0.01, 0.99]
MAZUR_ETA = 0.5

# A small layered spec the CLI and spec tests both write to disk.
XOR_SPEC = """\
[network]
sizes = [2, 2, 1]
activation = "sigmoid"

[init]
seed = 0

[data]
X = [[0, 0], [0, 1], [1, 0], [1, 1]]
Y = [[0], [1], [1], [0]]
"""


def mazur_program() -> sb.Network:
    """Mazur's network written as his own straight-line program (net_h1, out_h1, ...)."""
    i1, i2, t1, t2 = sp.symbols("i1 i2 t1 t2")
    w1, w2, w3, w4, w5, w6, w7, w8, b1, b2 = sp.symbols("w1 w2 w3 w4 w5 w6 w7 w8 b1 b2")
    net_h1, net_h2, out_h1, out_h2 = sp.symbols("net_h1 net_h2 out_h1 out_h2")
    net_o1, net_o2, out_o1, out_o2 = sp.symbols("net_o1 net_o2 out_o1 out_o2")
    assignments = [
        (net_h1, w1 * i1 + w2 * i2 + b1),
        (net_h2, w3 * i1 + w4 * i2 + b1),
        (out_h1, Sigmoid(net_h1)),
        (out_h2, Sigmoid(net_h2)),
        (net_o1, w5 * out_h1 + w6 * out_h2 + b2),
        (net_o2, w7 * out_h1 + w8 * out_h2 + b2),
        (out_o1, Sigmoid(net_o1)),
        (out_o2, Sigmoid(net_o2)),
    ]
    loss = sp.Rational(1, 2) * (t1 - out_o1) ** 2 + sp.Rational(1, 2) * (t2 - out_o2) ** 2
    return sb.Network.from_expressions(
        assignments,
        loss=loss,
        params=[w1, w2, w3, w4, b1, w5, w6, w7, w8, b2],
        inputs=[i1, i2],
        targets=[t1, t2],
    )


@pytest.fixture(scope="session")
def mazur_net() -> sb.Network:
    return mazur_program()


@pytest.fixture(scope="session")
def mazur_mlp() -> sb.Network:
    return sb.mlp([2, 2, 2], activation="sigmoid", loss="half_sse", bias="shared")


@pytest.fixture(scope="session")
def mazur_mlp_params() -> dict[str, float]:
    return {MAZUR_TO_MLP[k]: v for k, v in MAZUR_PARAMS.items()}
