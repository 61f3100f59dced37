"""Regenerate the sample reports in this folder: python examples/reports/make_reports.py"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import symbackprop as sb

HERE = Path(__file__).parent

MAZUR_PARAMS = {
    "w1_1_1": 0.15, "w1_1_2": 0.20, "w1_2_1": 0.25, "w1_2_2": 0.30, "b1": 0.35,
    "w2_1_1": 0.40, "w2_1_2": 0.45, "w2_2_1": 0.50, "w2_2_2": 0.55, "b2": 0.60,
}  # fmt: skip


def main() -> None:
    from symbackprop.render.report import report

    mazur = sb.mlp([2, 2, 2], activation="sigmoid", loss="half_sse", bias="shared")
    # The interactive explorer of the same example (the spec carries its frozen biases).
    sb.explore(sb.load_spec(HERE.parent / "mazur.toml"), path=HERE / "mazur-explorer.html",
               title="Mazur's worked example: step through backpropagation")  # fmt: skip
    for suffix in ("html", "pdf"):
        report(mazur, MAZUR_PARAMS, ([0.05, 0.10], [0.01, 0.99]), HERE / f"mazur.{suffix}",
               learning_rate=0.5, freeze=["b1", "b2"],
               title="Mazur's worked example: one step of backpropagation")  # fmt: skip
    # XOR with a tanh hidden layer and a softmax output trained by cross-entropy.
    xor = sb.mlp([2, 3, 2], activation=["tanh", "softmax"], loss="cross_entropy")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    for suffix in ("html", "pdf"):
        params = xor.init_params(seed=3, scheme="normal")
        report(xor, params, (X, Y), HERE / f"xor-softmax.{suffix}", learning_rate=0.5,
               epochs=500, seed=0,
               title="XOR with tanh and softmax: backpropagation and training")  # fmt: skip


if __name__ == "__main__":
    main()
