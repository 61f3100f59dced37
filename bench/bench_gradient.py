"""Benchmark: the compiled gradient against a hand-written NumPy backprop, and derivation time.

Run: python bench/bench_gradient.py   (prints a table; all figures come from one run, so the
ratios are meaningful on a shared, noisy machine even where absolute times are not).

Targets: compiled gradient <= 1.3x the hand-written NumPy time at 784-128-10, batch 256;
derivation time grows linearly with depth.
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared 2-core machine a second thread mostly measures contention.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import symbackprop as sb  # noqa: E402


def hand_backprop(Ws: list, bs: list, X: np.ndarray, Y: np.ndarray) -> tuple[float, list, list]:
    """Textbook sigmoid MLP backprop with half_sse, batch mean (Nielsen's BP1-BP4)."""
    activations, zs = [X], []
    for W, b in zip(Ws, bs, strict=True):
        z = activations[-1] @ W.T + b
        zs.append(z)
        activations.append(1.0 / (1.0 + np.exp(-z)))
    n = X.shape[0]
    a = activations[-1]
    loss = 0.5 * np.sum((a - Y) ** 2) / n
    delta = (a - Y) * a * (1 - a)
    dWs, dbs = [None] * len(Ws), [None] * len(Ws)
    for layer in range(len(Ws) - 1, -1, -1):
        dWs[layer] = delta.T @ activations[layer] / n
        dbs[layer] = delta.mean(axis=0)
        if layer:
            a_prev = activations[layer]
            delta = (delta @ Ws[layer]) * a_prev * (1 - a_prev)
    return loss, dWs, dbs


def best_of(functions: list[Callable[[], object]], repeats: int = 15) -> list[float]:
    """Return each function's best mean time per call, in seconds, measured interleaved.

    The functions take turns within every repeat, so a burst of load on a shared machine
    slows them alike and the ratios stay meaningful.
    """
    numbers = []
    for function in functions:
        function()  # warm-up: what is made on first use (a small network's float program)
        start = time.perf_counter()
        function()
        numbers.append(max(1, int(0.02 / max(time.perf_counter() - start, 1e-7))))
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, (function, number) in enumerate(zip(functions, numbers, strict=True)):
            start = time.perf_counter()
            for _ in range(number):
                function()
            best[i] = min(best[i], (time.perf_counter() - start) / number)
    return best


def gradient_rows() -> list[tuple[str, float, float, float]]:
    rows = []
    for sizes, batch in [([2, 2, 2], 1), ([64, 32, 10], 256), ([784, 128, 10], 256)]:
        rng = np.random.default_rng(0)
        net = sb.mlp(sizes)
        arrays = {}
        for layer in range(1, len(sizes)):
            arrays[f"W{layer}"] = rng.normal(0, 0.1, (sizes[layer], sizes[layer - 1]))
            arrays[f"b{layer}"] = np.zeros(sizes[layer])
        X = rng.normal(size=(batch, sizes[0]))
        Y = rng.uniform(size=(batch, sizes[-1]))
        compiled = sb.compile(net)
        Ws = [arrays[f"W{i}"] for i in range(1, len(sizes))]
        bs = [arrays[f"b{i}"] for i in range(1, len(sizes))]
        native = compiled.native(arrays)
        hand, public, raw = best_of(
            [
                lambda: hand_backprop(Ws, bs, X, Y),  # noqa: B023
                lambda: compiled.gradient(arrays, X, Y),  # noqa: B023
                lambda: compiled.raw_loss_and_gradient(native, X, Y),  # noqa: B023
            ]
        )
        rows.append(("-".join(map(str, sizes)) + f" batch {batch}", hand, public, raw))
    return rows


def derivation_rows() -> list[tuple[int, float]]:
    rows = []
    for depth in (2, 4, 8, 16):
        net = sb.mlp([4] * (depth + 1))
        start = time.perf_counter()
        sb.derive(net)
        rows.append((depth, time.perf_counter() - start))
    return rows


def compile_time(sizes: list[int]) -> float:
    from symbackprop.numeric import compiled as numeric

    numeric._layer_backend.cache_clear()
    start = time.perf_counter()
    sb.compile(sb.mlp(sizes))
    return time.perf_counter() - start


def main() -> None:
    print("compiled gradient vs hand-written NumPy backprop (best mean per call)")
    print(
        f"{'network':<24}{'hand NumPy':>12}{'compiled':>12}{'ratio':>8}{'raw path':>12}{'ratio':>8}"
    )
    for name, hand, public, raw in gradient_rows():
        print(
            f"{name:<24}{hand * 1e6:>10.1f}us{public * 1e6:>10.1f}us{public / hand:>8.2f}"
            f"{raw * 1e6:>10.1f}us{raw / hand:>8.2f}"
        )
    print("\nderivation time of width-4 MLPs (sb.derive, scalar program)")
    rows = derivation_rows()
    for depth, seconds in rows:
        print(f"  depth {depth:>2}: {seconds:7.3f} s   per layer {seconds / depth * 1e3:6.1f} ms")
    print(f"\ncompile 784-128-10: {compile_time([784, 128, 10]):.3f} s")


if __name__ == "__main__":
    main()
