"""Time report generation (context + HTML render) for small, medium and large layered networks.

Targets (issue #5): under 2 s for the small networks, under 30 s for 784-128-10.
Run: python bench/bench_report.py
"""

from __future__ import annotations

import time

import numpy as np

import symbackprop as sb
from symbackprop.render.report import render

CASES = [
    ("2-2-2 (Mazur)", [2, 2, 2], "sigmoid", "half_sse", 2.0),
    ("4-8-8-3 tanh/softmax", [4, 8, 8, 3], ["tanh", "tanh", "softmax"], "cross_entropy", 2.0),
    ("784-128-10", [784, 128, 10], "sigmoid", "half_sse", 30.0),
]


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'network':<24} {'html s':>8} {'md s':>8} {'target s':>9}")
    for label, sizes, activation, loss, target in CASES:
        net = sb.mlp(sizes, activation=activation, loss=loss)
        X = rng.random((4, sizes[0]))
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 4)]
        params = net.init_params(seed=0)
        timings = []
        for fmt in ("html", "md"):
            start = time.perf_counter()
            render(net, params, (X, Y), fmt)
            timings.append(time.perf_counter() - start)
        verdict = "ok" if max(timings) < target else "SLOW"
        print(f"{label:<24} {timings[0]:>8.2f} {timings[1]:>8.2f} {target:>9.0f}  {verdict}")


if __name__ == "__main__":
    main()
