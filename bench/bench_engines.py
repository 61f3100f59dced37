"""Benchmark: one MLP gradient in every engine, in one run, as ratios to hand-written NumPy.

Run: python bench/bench_engines.py               (one BLAS / intra-op thread)
     python bench/bench_engines.py --threads 0    (each library's default thread count)

Engines, for sigmoid MLPs with half_sse in float64 (the batch mean's gradient):
  hand NumPy           Nielsen's BP1-BP4, written out (bench_gradient.hand_backprop)
  compile public       sb.compile(net).gradient(params, X, Y): checks its input every call
  compile trusted      the path train() takes after checking once (raw_loss_and_gradient)
  torch eager          autograd, tensors made once, grads cleared per call
  jax jit(grad)        compiled once, outside the timing (pip install -e '.[bench]')
All timings come from one run and take turns within every round (bench_gradient.best_of), so
the ratios hold on a shared, noisy machine even where absolute times do not. An engine that is
not installed prints "not installed".
"""

from __future__ import annotations

import argparse
import os
import sys

_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads per library; 0: default")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per row")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else argparse.Namespace(threads=1, rounds=15)
if ARGS.threads:
    # Before NumPy, torch or JAX load: each reads its thread count once, at import.
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, str(ARGS.threads))
    os.environ.setdefault(
        "XLA_FLAGS",
        f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={ARGS.threads}",
    )

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_gradient import best_of, hand_backprop  # noqa: E402

import symbackprop as sb  # noqa: E402

SIZES = [
    ([2, 2, 2], 1),
    ([16, 16, 10], 256),
    ([64, 32, 10], 256),
    ([784, 128, 10], 256),
    ([784, 256, 256, 10], 256),
]
ENGINES = ["hand NumPy", "compile public", "compile trusted", "torch eager", "jax jit(grad)"]


def problem(sizes: list[int], batch: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Seeded layer arrays W1, b1, ... and a batch (X, Y) with targets in (0, 1)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for layer in range(1, len(sizes)):
        arrays[f"W{layer}"] = rng.normal(0, 0.1, (sizes[layer], sizes[layer - 1]))
        arrays[f"b{layer}"] = rng.normal(0, 0.1, sizes[layer])
    X = rng.normal(size=(batch, sizes[0]))
    Y = rng.uniform(size=(batch, sizes[-1]))
    return arrays, X, Y


def numpy_engines(sizes: list[int], arrays: dict, X: np.ndarray, Y: np.ndarray) -> list:
    depth = len(sizes) - 1
    Ws = [arrays[f"W{i}"] for i in range(1, depth + 1)]
    bs = [arrays[f"b{i}"] for i in range(1, depth + 1)]
    compiled = sb.compile(sb.mlp(sizes))
    native = compiled.native(arrays)
    return [
        lambda: hand_backprop(Ws, bs, X, Y),
        lambda: compiled.gradient(arrays, X, Y),
        lambda: compiled.raw_loss_and_gradient(native, X, Y),
    ]


def torch_engine(arrays: dict, X: np.ndarray, Y: np.ndarray) -> Callable[[], object] | None:
    try:
        import torch
    except ImportError:
        return None
    if ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    depth = len(arrays) // 2
    P = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}  # noqa: N806
    x, y = torch.tensor(X), torch.tensor(Y)

    def step() -> object:
        for value in P.values():
            value.grad = None
        a = x
        for layer in range(1, depth + 1):
            a = torch.sigmoid(torch.nn.functional.linear(a, P[f"W{layer}"], P[f"b{layer}"]))
        loss = 0.5 * ((a - y) ** 2).sum() / x.shape[0]
        loss.backward()
        return [P[k].grad for k in P]

    return step


def jax_engine(arrays: dict, X: np.ndarray, Y: np.ndarray) -> Callable[[], object] | None:
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    depth = len(arrays) // 2

    def loss(params: dict, x: object, y: object) -> object:
        a = x
        for layer in range(1, depth + 1):
            a = jax.nn.sigmoid(a @ params[f"W{layer}"].T + params[f"b{layer}"])
        return 0.5 * jnp.sum((a - y) ** 2) / x.shape[0]

    gradient = jax.jit(jax.grad(loss))
    P = {k: jnp.asarray(v) for k, v in arrays.items()}  # noqa: N806
    x, y = jnp.asarray(X), jnp.asarray(Y)
    jax.block_until_ready(gradient(P, x, y))  # compile outside the timing

    def step() -> object:
        return jax.block_until_ready(gradient(P, x, y))

    return step


def row(sizes: list[int], batch: int) -> list[float | None]:
    """Best mean seconds per call of each engine (None: not installed)."""
    arrays, X, Y = problem(sizes, batch)
    functions: list[Callable[[], object] | None] = [*numpy_engines(sizes, arrays, X, Y)]
    functions += [torch_engine(arrays, X, Y), jax_engine(arrays, X, Y)]
    present = [f for f in functions if f is not None]
    times = iter(best_of(present, ARGS.rounds))
    return [None if f is None else next(times) for f in functions]


def main() -> None:
    threads = ARGS.threads or "default"
    print(f"MLP gradient, sigmoid + half_sse, float64, {threads} thread(s): time per call, and")
    print("in brackets the ratio to hand NumPy (best mean of interleaved rounds)")
    print(f"{'network, batch':<24}" + "".join(f"{e:>22}" for e in ENGINES))
    for sizes, batch in SIZES:
        times = row(sizes, batch)
        hand = times[0]
        assert hand is not None
        cells = []
        for seconds in times:
            if seconds is None:
                cells.append(f"{'not installed':>22}")
            else:
                cells.append(f"{_duration(seconds):>13} ({seconds / hand:5.2f})")
        print(f"{'-'.join(map(str, sizes)) + f', {batch}':<24}" + "".join(cells))


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
