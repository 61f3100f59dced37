"""Which sample a report works through: the one asked for, or the most informative one.

Rendering layer. A report derives one sample with every number; the first sample can be
degenerate (XOR's (0, 0) with zero biases makes most gradients 0 and its update reads
"w − η·0 = w"). :func:`choose_sample` takes the sample the user named (counted from 1) or picks
the one with the fewest zero gradients, then the largest gradient norm, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from symbackprop.model.errors import SpecError, shorten
from symbackprop.model.network import Network
from symbackprop.numeric.compiled import compile

SAMPLES_SCORED = 200  # the default pick looks at this many samples from the start
ZERO = 1e-12  # a gradient this small counts as 0


@dataclass(frozen=True)
class ChosenSample:
    index: int  # 0-based row of X
    note: str  # why this sample, for the report


def choose_sample(network: Network, params: dict[str, float], X: Any, Y: Any,
                  sample: int | None) -> ChosenSample:  # fmt: skip
    """Return the sample to derive: ``sample`` (1-based), or the most informative one."""
    count = X.shape[0]
    if sample is not None:
        return ChosenSample(sample_index(sample, count), _asked_note(int(sample), count))
    if count == 1:
        return ChosenSample(0, "")
    scores = _scores(network, params, X[:SAMPLES_SCORED], Y[:SAMPLES_SCORED])
    best = min(range(len(scores)), key=lambda i: (scores[i][0], -scores[i][1], i))
    return ChosenSample(best, _picked_note(best, scores, count, len(params)))


def sample_index(sample: int, count: int) -> int:
    """Return the 0-based row of sample number ``sample`` (counted from 1) of ``count``."""
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise SpecError(f"sample {shorten(repr(sample))} is not a whole number; pass 1 to "
                        f"{count}")  # fmt: skip
    if not 1 <= sample <= count:
        raise SpecError(f"sample {sample} is out of range: the data has {count} samples; "
                        f"pass 1 to {count}")  # fmt: skip
    return int(sample) - 1


def _scores(network: Network, params: dict[str, float], X: Any, Y: Any) -> list[tuple[int, float]]:
    """(number of zero gradients, gradient norm) of every sample."""
    compiled = compile(network)
    scores = []
    for x, y in zip(X, Y, strict=True):
        _, gradient = compiled.loss_and_gradient(params, x[None, :], y[None, :])
        values = np.array([float(v) for v in gradient.values()])
        scores.append((int(np.sum(np.abs(values) <= ZERO)), float(np.linalg.norm(values))))
    return scores


def _asked_note(sample: int, count: int) -> str:
    return (
        f"The data has {count} samples. Every number in the derivation is for sample {sample} "
        "(as asked); the loss and gradients of the whole batch are the means of the per-sample "
        "ones."
    )


def _picked_note(best: int, scores: list[tuple[int, float]], count: int, n_params: int) -> str:
    zeros, norm = scores[best]
    looked = f"of the first {len(scores)} samples " if len(scores) < count else ""
    why = (
        f"the sample {looked}with the fewest zero gradients ({zeros} of {n_params}), and among "
        f"those the largest gradient norm ({norm:.3g})"
    )
    first = ""
    if best != 0:
        first = f" Sample 1 has {scores[0][0]} zero gradients and gradient norm {scores[0][1]:.3g}."
    return (
        f"The data has {count} samples. Every number in the derivation is for sample "
        f"{best + 1}: {why}, so that as many steps as possible show a real change.{first} "
        "Choose another with --sample N (sb.report(..., sample=N)), N counting from 1; the "
        "loss and gradients of the whole batch are the means of the per-sample ones."
    )
