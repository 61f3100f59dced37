"""Weight penalties: the L2 and L1 terms a loss gains, and their gradients (model layer).

With ``weight_decay`` lambda and ``l1`` lambda_1 a network's loss gains one term,
Omega = (lambda/2) sum_w w^2 + lambda_1 sum_w |w|, named as a node of its own so that the
derivation shows it and each weight's gradient gains the path through it:
dOmega/dw = lambda w + lambda_1 sign(w). A layered network penalises its weights (not its
biases, as Nielsen's L2 regularisation does); a custom program penalises every parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from symbackprop.model import notation
from symbackprop.model.errors import SpecError
from symbackprop.model.functions import Sign
from symbackprop.model.rulebook import Rule

PENALTY = sp.Symbol(notation.PENALTY)


@dataclass(frozen=True, slots=True)
class Penalty:
    """The weight penalty of a loss: lambda (L2, weight decay) and lambda_1 (L1), both >= 0."""

    weight_decay: float = 0.0
    l1: float = 0.0

    def __post_init__(self) -> None:
        for key in ("weight_decay", "l1"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"{key} {value!r} is not a number; give e.g. 0.01 (0: none)")
            if not math.isfinite(value) or value < 0:
                raise SpecError(f"{key} {value!r} is not a finite number >= 0; give e.g. 0.01")
        object.__setattr__(self, "weight_decay", float(self.weight_decay))
        object.__setattr__(self, "l1", float(self.l1))

    @property
    def is_zero(self) -> bool:
        return self.weight_decay == 0 and self.l1 == 0

    def term(self, weights: Sequence[sp.Symbol]) -> sp.Expr:
        """Return Omega = (lambda/2) sum w^2 + lambda_1 sum |w| over ``weights``."""
        squares = sp.Add(*[w**2 for w in weights])
        sizes = sp.Add(*[sp.Abs(w) for w in weights])
        return _times(self.weight_decay / 2, squares) + _times(self.l1, sizes)

    def gradient(self, weight: sp.Symbol) -> sp.Expr:
        """Return dOmega/dw = lambda w + lambda_1 sign(w) (sign(0) = 0, as in torch)."""
        return _times(self.weight_decay, weight) + _times(self.l1, Sign(weight))

    def rules(self) -> tuple[Rule, ...]:
        """Return the rules dOmega/dw cites."""
        rules = [Rule.L2_PENALTY] if self.weight_decay else []
        return tuple(rules + ([Rule.L1_PENALTY] if self.l1 else []))

    def describe(self) -> str:
        """Return e.g. 'weight decay 0.01, l1 0.001' (empty with no penalty)."""
        parts = [f"weight decay {self.weight_decay:g}"] if self.weight_decay else []
        return ", ".join(parts + ([f"l1 {self.l1:g}"] if self.l1 else []))


NO_PENALTY = Penalty()


def _times(coefficient: float, expr: sp.Expr) -> sp.Expr:
    # The exact decimal the user wrote (0.01 -> 1/100), as the parser reads a formula's
    # numbers, so that a hand-derived 0.01*w is the derivation's own term exactly.
    return sp.S.Zero if coefficient == 0 else sp.Rational(repr(coefficient)) * expr
