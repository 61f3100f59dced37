"""Registry of losses: name -> per-sample symbolic loss, the rule dL/da cites, NumPy form.

Model layer. A batch's loss is the mean of the per-sample losses (so for one sample it is the
textbook value); every entry here is one sample's loss, summed or averaged over the outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symbackprop.model.functions import FloatArray
from symbackprop.model.registry import Registry
from symbackprop.model.rulebook import Rule

_TINY = np.finfo(np.float64).tiny
# Targets of cross-entropy must sum to 1 per sample for delta = a - y to hold exactly.
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Loss:
    """One loss: ``terms(a, y)`` gives one sample's loss as one term per output."""

    name: str
    terms: Callable[[Sequence[sp.Symbol], Sequence[sp.Symbol]], tuple[sp.Expr, ...]]
    numpy_form: Callable[[FloatArray, FloatArray], FloatArray]  # (batch, n) x2 -> (batch,)
    rule: Rule  # what dL/da cites
    formula: str  # one sample's loss in words, for help texts
    fused_with: tuple[tuple[str, Rule], ...] = ()  # output activation whose delta is a - y
    check_targets: Callable[[FloatArray], str | None] = lambda Y: None
    # The output activations whose range the loss needs (its logs are finite there); () is any.
    outputs: tuple[str, ...] = ()
    needs: str = ""  # what the loss needs of the outputs, in words, for the refusal
    instead: str = ""  # what to use instead, in words, for the refusal

    def fused_rule(self, activation: str) -> Rule | None:
        """Return the rule giving delta = a - y when the output layer uses ``activation``."""
        return dict(self.fused_with).get(activation)

    def refusal(self, activation: str) -> str | None:
        """Return why this loss cannot follow an ``activation`` output layer, or None."""
        if not self.outputs or activation in self.outputs:
            return None
        return (
            f"loss {self.name!r} needs {self.needs}, but the output activation is "
            f"{activation!r}; {self.instead}"
        )


LOSSES: Registry[Loss] = Registry("loss")


def register_loss(entry: Loss) -> Loss:
    """Add a loss; every property test then covers it with no test edits."""
    return LOSSES.register(entry)


def get_loss(name: str) -> Loss:
    """Look a loss up by name; an unknown name lists the known ones."""
    return LOSSES.lookup(name)


def _log(x: FloatArray) -> FloatArray:
    # A probability that underflowed to 0 is read as the smallest float, so 0 * log 0 is 0.
    return np.log(np.maximum(x, _TINY))


def _half_sse_terms(a: Sequence[sp.Symbol], y: Sequence[sp.Symbol]) -> tuple[sp.Expr, ...]:
    return tuple(sp.Rational(1, 2) * (a_j - y_j) ** 2 for a_j, y_j in zip(a, y, strict=True))


def _mse_terms(a: Sequence[sp.Symbol], y: Sequence[sp.Symbol]) -> tuple[sp.Expr, ...]:
    n = sp.Integer(len(a))
    return tuple((a_j - y_j) ** 2 / n for a_j, y_j in zip(a, y, strict=True))


def _bce_terms(a: Sequence[sp.Symbol], y: Sequence[sp.Symbol]) -> tuple[sp.Expr, ...]:
    return tuple(
        -(y_j * sp.log(a_j) + (1 - y_j) * sp.log(1 - a_j)) for a_j, y_j in zip(a, y, strict=True)
    )


def _cross_entropy_terms(a: Sequence[sp.Symbol], y: Sequence[sp.Symbol]) -> tuple[sp.Expr, ...]:
    return tuple(-y_j * sp.log(a_j) for a_j, y_j in zip(a, y, strict=True))


def _targets_in_unit_interval(Y: FloatArray) -> str | None:
    if np.any((Y < 0) | (Y > 1)):
        return "targets of bce must lie in [0, 1]; rescale them or choose another loss"
    return None


def _targets_are_distributions(Y: FloatArray) -> str | None:
    if np.any(Y < 0) or np.any(np.abs(Y.sum(axis=-1) - 1) > _SUM_TOLERANCE):
        return (
            "targets of cross_entropy must be non-negative and sum to 1 per sample "
            "(one-hot rows); fix the target rows or choose another loss"
        )
    return None


HALF_SSE = register_loss(
    Loss(
        "half_sse",
        _half_sse_terms,
        lambda A, Y: 0.5 * np.sum((A - Y) ** 2, axis=-1),
        Rule.HALF_CANCELS_TWO,
        "1/2 sum_j (a_j - y_j)^2",
    )
)
MSE = register_loss(
    Loss(
        "mse",
        _mse_terms,
        lambda A, Y: np.mean((A - Y) ** 2, axis=-1),
        Rule.MEAN_OVER_OUTPUTS,
        "(1/n) sum_j (a_j - y_j)^2",
    )
)
BCE = register_loss(
    Loss(
        "bce",
        _bce_terms,
        lambda A, Y: -np.sum(Y * _log(A) + (1 - Y) * _log(1 - A), axis=-1),
        Rule.LOG_DERIVATIVE,
        "-sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)]",
        fused_with=(("sigmoid", Rule.SIGMOID_CROSS_ENTROPY),),
        check_targets=_targets_in_unit_interval,
        outputs=("sigmoid", "softmax"),
        needs="outputs in (0, 1) (it takes log a and log(1 - a))",
        instead="use a sigmoid output layer with bce, or half_sse / mse for other outputs",
    )
)
CROSS_ENTROPY = register_loss(
    Loss(
        "cross_entropy",
        _cross_entropy_terms,
        lambda A, Y: -np.sum(Y * _log(A), axis=-1),
        Rule.LOG_DERIVATIVE,
        "-sum_j y_j log a_j",
        fused_with=(("softmax", Rule.SOFTMAX_CROSS_ENTROPY),),
        check_targets=_targets_are_distributions,
        outputs=("softmax",),
        needs="outputs that are probabilities summing to 1",
        instead="use a softmax output layer (or sigmoid outputs with loss 'bce')",
    )
)
