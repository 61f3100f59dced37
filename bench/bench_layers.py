"""Benchmark: networks of layers -- the generated matrix code against hand NumPy and PyTorch.

Run: python bench/bench_layers.py   (one run, interleaved timings, so the ratios hold on a
shared, noisy machine even where absolute times do not).

Rows: a dense 784-128-10 classifier (sigmoid, softmax, cross-entropy) against a hand-written
batch-first NumPy backprop; a transformer-style block (residual attention, layer norm,
residual MLP, layer norm, softmax) over 32 positions of width 64 against PyTorch eager
autograd; derive + compile time of each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_gradient import best_of  # noqa: E402

import symbackprop as sb  # noqa: E402


def hand_dense(params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[float, list]:
    """Sigmoid hidden layer, softmax + cross-entropy output, batch mean (BP1-BP4, rows)."""
    W1, b1, W2, b2 = params["0.weight"], params["0.bias"], params["2.weight"], params["2.bias"]
    A1 = 1.0 / (1.0 + np.exp(-(X @ W1.T + b1)))
    Z2 = A1 @ W2.T + b2
    E = np.exp(Z2 - Z2.max(axis=1, keepdims=True))  # noqa: N806
    A2 = E / E.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = -np.sum(Y * np.log(A2)) / n
    D2 = (A2 - Y) / n
    D1 = (D2 @ W2) * A1 * (1 - A1)
    return loss, [D1.T @ X, D1.sum(axis=0), D2.T @ A1, D2.sum(axis=0)]


def dense_row() -> tuple[str, list[float], list[str]]:
    net = sb.sequential(784, [sb.Dense(128), "sigmoid", sb.Dense(10), "softmax"])
    start = time.perf_counter()
    compiled = sb.compile(net)
    build = time.perf_counter() - start
    rng = np.random.default_rng(0)
    params = net.init_params(0)
    X = rng.normal(size=(256, 784))
    Y = np.eye(10)[rng.integers(0, 10, 256)]
    native = compiled.native(params)
    times = best_of(
        [
            lambda: hand_dense(params, X, Y),
            lambda: compiled.gradient(params, X, Y),
            lambda: compiled.raw_loss_and_gradient(native, X, Y),
        ]
    )
    return f"dense 784-128-10, batch 256 (compile {build:.2f} s)", times, ["hand NumPy"]


def transformer_row() -> tuple[str, list[float], list[str]]:
    width = 64
    net = sb.sequential(
        width,
        [sb.Residual([sb.SelfAttention()]), sb.LayerNorm(),
         sb.Residual([sb.Dense(128), "relu", sb.Dense(width)]), sb.LayerNorm(), sb.Dense(10),
         "softmax"],
    )  # fmt: skip
    start = time.perf_counter()
    compiled = sb.compile(net)
    build = time.perf_counter() - start
    rng = np.random.default_rng(0)
    params = net.init_params(0)
    X = rng.normal(size=(32, width))
    Y = np.eye(10)[rng.integers(0, 10, 32)]
    native = compiled.native(params)
    torch_step = _torch_block(params, X, Y)
    functions = [torch_step, lambda: compiled.gradient(params, X, Y),
                 lambda: compiled.raw_loss_and_gradient(native, X, Y)]  # fmt: skip
    name = f"transformer block d=64, 32 positions (compile {build:.2f} s)"
    return name, best_of(functions), ["torch eager"]


def _torch_block(params: dict, X: np.ndarray, Y: np.ndarray):  # noqa: ANN202
    import torch

    torch.set_num_threads(1)
    F = torch.nn.functional  # noqa: N806
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}  # noqa: N806
    x0, y = torch.tensor(X), torch.tensor(Y)

    def step() -> None:
        for value in P.values():
            value.grad = None
        q = F.linear(x0, P["0.body.0.q.weight"], P["0.body.0.q.bias"])
        k = F.linear(x0, P["0.body.0.k.weight"], P["0.body.0.k.bias"])
        v = F.linear(x0, P["0.body.0.v.weight"], P["0.body.0.v.bias"])
        att = torch.softmax(q @ k.T / q.shape[1] ** 0.5, dim=1) @ v
        x = x0 + F.linear(att, P["0.body.0.o.weight"], P["0.body.0.o.bias"])
        x = F.layer_norm(x, (x.shape[1],), P["1.weight"], P["1.bias"])
        h = F.relu(F.linear(x, P["2.body.0.weight"], P["2.body.0.bias"]))
        x = x + F.linear(h, P["2.body.2.weight"], P["2.body.2.bias"])
        x = F.layer_norm(x, (x.shape[1],), P["3.weight"], P["3.bias"])
        a = torch.softmax(F.linear(x, P["4.weight"], P["4.bias"]), dim=1)
        (-(y * torch.log(a)).sum(dim=1).mean()).backward()

    return step


def main() -> None:
    print("networks of layers: generated matrix code (best mean per call, one BLAS thread)")
    print(
        f"{'network':<62}{'reference':>14}{'compiled':>12}{'ratio':>8}{'raw path':>12}{'ratio':>8}"
    )
    for name, (reference, public, raw), (label,) in (dense_row(), transformer_row()):
        print(
            f"{name:<62}{reference * 1e3:>9.2f} ms{public * 1e3:>9.2f} ms{public / reference:>8.2f}"
            f"{raw * 1e3:>9.2f} ms{raw / reference:>8.2f}   (reference: {label})"
        )


if __name__ == "__main__":
    main()
