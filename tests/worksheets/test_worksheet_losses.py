"""Worksheets for every loss: drawn targets the loss accepts, keys against independent oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbackprop.worksheets.generate import worksheet
from tests.oracles import central_differences, numpy_forward_loss, unflatten_named

STUDENTS = [f"s{i}" for i in range(6)]
# The key is printed at full precision; central differences with h = 1e-6 on a loss of order 1
# are good to ~1e-9, so 1e-6 relative (or 1e-8 absolute near 0) leaves room.
RTOL_FD = 1e-6
ATOL_FD = 1e-8
FAMILIES = {  # loss: output activation
    "half_sse": "sigmoid",
    "mse": "tanh",
    "bce": "sigmoid",
    "cross_entropy": "softmax",
}


def _spec(loss: str) -> dict[str, object]:
    return {
        "worksheet": {"id": f"losses-{loss}", "decimals": 4},
        "network": {"sizes": [[2, 2, 2]], "activations": ["tanh"],
                    "output_activations": [FAMILIES[loss]], "losses": [loss]},
        "values": {"weights": [-1.0, 1.0, 0.1], "biases": [-0.5, 0.5, 0.1],
                   "inputs": [-1.0, 1.0, 0.1], "targets": [0.1, 0.9, 0.1]},
        "questions": [{"kind": "loss"}, {"kind": "delta", "of": "delta2_1"},
                      {"kind": "delta", "of": "delta1_1"},
                      {"kind": "gradient", "of": "w1_1_1"}, {"kind": "gradient", "of": "w2_2_1"},
                      {"kind": "rule", "of": "delta2_1"}],
    }  # fmt: skip


# cross-entropy (one-hot targets) and half_sse in the fast suite, the others with the slow tests
LOSS_CASES = [
    loss if loss in ("cross_entropy", "half_sse") else pytest.param(loss, marks=pytest.mark.slow)
    for loss in sorted(FAMILIES)
]


@pytest.mark.parametrize("loss", LOSS_CASES)
def test_every_loss_generates_with_keys_matching_central_differences(loss):
    sheet = worksheet(_spec(loss), STUDENTS, "salt")
    for manifest in sheet.manifests:
        shown = manifest["shown"]
        net = manifest["network"]
        x = np.array([[shown["x1"], shown["x2"]]])
        y = np.array([[shown["y1"], shown["y2"]]])
        params = {n: v for n, v in shown.items() if n[0] in "wb"}

        def oracle(theta, net=net, x=x, y=y):
            W, b = unflatten_named(theta, net["sizes"], net["bias"])
            return numpy_forward_loss(W, b, net["activations"], loss, x, y, net["bias"])

        numeric = central_differences(oracle, params)
        blanks = {b["id"]: b for b in manifest["blanks"]}
        assert blanks["L"]["answer"] == pytest.approx(oracle(params), rel=RTOL_FD)
        for name in ("w1_1_1", "w2_2_1"):
            key = blanks[f"dL_d{name}"]["answer"]
            assert key == pytest.approx(numeric[name], rel=RTOL_FD, abs=ATOL_FD), (
                f"{manifest['student_id']}: dL/d{name} key {key}, central differences "
                f"{numeric[name]}"
            )


def test_cross_entropy_targets_are_one_hot_classes_drawn_per_student():
    sheet = worksheet(_spec("cross_entropy"), [f"s{i}" for i in range(12)], "salt")
    labels = set()
    for manifest in sheet.manifests:
        row = (manifest["shown"]["y1"], manifest["shown"]["y2"])
        assert sorted(row) == [0.0, 1.0], row
        labels.add(row.index(1.0))
    assert labels == {0, 1}


def test_the_softmax_example_generates_with_one_hot_targets():
    example = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "softmax.toml"
    sheet = worksheet(example, ["alice", "bob"], "salt")
    for manifest in sheet.manifests:
        assert sorted((manifest["shown"]["y1"], manifest["shown"]["y2"])) == [0.0, 1.0]
        assert manifest["key_check"]["method"] == "central differences"
