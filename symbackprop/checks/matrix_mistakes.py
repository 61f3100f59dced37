"""Registry of classic matrix-level backpropagation mistakes, rebuilt from the derivation (checks).

A :class:`MatrixMistake` tells whether a wrong matrix formula fits one slip: most entries
rebuild, from the derivation's own steps, the formula a person would write after the slip
(one operand transposed, one Hadamard factor f'(Z) left out, one path of a sum over paths
dropped, one constant lost) and compare it with the user's formula at the probe points; a few
compare the user's formula, transformed, with the right one (its transpose, its batch sum).
The entries are :mod:`symbackprop.checks.catalogue.matrix`, registered in diagnosis priority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symbackprop.checks.matrix_probing import ProbePoint, close, evaluate, values_with
from symbackprop.checks.matrix_text import formula_text
from symbackprop.checks.mistakes import Diagnosis
from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.model.registry import Registry

FloatArray = np.ndarray
Overrides = Mapping[str, sp.Basic]  # step name -> the (wrong) right-hand side used instead


@dataclass(frozen=True)
class MatrixMistakeContext:
    """What a matrix mistake needs: the derivation, the target step, the values at the probes.

    ``target`` is the step checked: a gradient (dL_dW2) or an adjoint (Delta1); ``given`` and
    ``expected`` hold the user's and the right values at each probe point.
    """

    derivation: MatrixDerivation
    target: MatrixStep
    given_expr: sp.MatrixExpr
    points: tuple[ProbePoint, ...]
    given: tuple[FloatArray, ...]
    expected: tuple[FloatArray, ...]

    @property
    def what(self) -> str:
        """Return how messages name the target: dL/dW2 or Delta1."""
        node = self.target.node
        if self.target.stage is Stage.GRADIENT and node is not None:
            return f"dL/d{node.name}"
        return self.target.name

    def value_with(self, point: ProbePoint, overrides: Overrides) -> FloatArray:
        """Return the target's value at one point with some steps' right-hand sides replaced."""
        adjoints = {k: v for k, v in overrides.items() if k != self.target.name}
        values = values_with(self.derivation, point.values, adjoints) if adjoints else point.values
        return evaluate(overrides.get(self.target.name, self.target.rhs), values)

    def matches(self, overrides: Overrides) -> bool:
        """Tell whether the derivation with these replacements gives the user's values."""
        for point, given in zip(self.points, self.given, strict=True):
            if not close(given, self.value_with(point, overrides)):
                return False
        return True

    def is_right(self, expr: sp.Basic) -> bool:
        """Tell whether a formula (a repaired version of the user's) gives the right values."""
        if getattr(expr, "shape", None) != self.target.rhs.shape:
            return False
        return all(
            close(evaluate(expr, point.values), expected)
            for point, expected in zip(self.points, self.expected, strict=True)
        )

    def given_matches(self, transform: Callable[[FloatArray, ProbePoint], FloatArray]) -> bool:
        """Tell whether the user's values, transformed, equal the right ones at every point."""
        return all(
            close(transform(given, point), expected)
            for given, expected, point in zip(self.given, self.expected, self.points, strict=True)
        )

    def chain(self) -> list[MatrixStep]:
        """Return the target (if an adjoint) and every adjoint it depends on, latest first."""
        needed = set(self.target.depends_on) | {self.target.name}
        chain = []
        for step in reversed(self.derivation.stage(Stage.ADJOINT)):
            if step.name in needed:
                chain.append(step)
                needed |= set(step.depends_on)
        return chain

    def steps_to_edit(self) -> list[MatrixStep]:
        """Return the target and the adjoints of its chain: the right-hand sides a slip edits."""
        chain = self.chain()
        if self.target.stage is Stage.GRADIENT:
            return [self.target, *reversed(chain)]
        return list(reversed(chain))


@dataclass(frozen=True, slots=True)
class MatrixMistake:
    """One classic matrix mistake: ``detect`` returns a one-line explanation when it fits."""

    name: str
    title: str
    detect: Callable[[MatrixMistakeContext], str | None]


MATRIX_MISTAKES: Registry[MatrixMistake] = Registry("matrix mistake")


def register_matrix_mistake(entry: MatrixMistake) -> MatrixMistake:
    """Add a mistake to the matrix catalogue, tried in registration order."""
    return MATRIX_MISTAKES.register(entry)


def diagnose_matrix(context: MatrixMistakeContext) -> Diagnosis | None:
    """Return the first registered matrix mistake that explains the user's formula, if any."""
    for mistake in MATRIX_MISTAKES.values():
        explanation = mistake.detect(context)
        if explanation is not None:
            return Diagnosis(mistake.name, mistake.title, explanation)
    return None


# (explanation, overrides); an override of None is an edit whose shapes did not fit: skipped
Candidate = tuple[str, dict[str, sp.Basic | None]]


def first_match(context: MatrixMistakeContext, candidates: Iterable[Candidate]) -> str | None:
    """Return the explanation of the first rebuilt derivation that gives the user's values."""
    for explanation, overrides in candidates:
        if any(rhs is None for rhs in overrides.values()):
            continue
        rebuilt = {name: rhs for name, rhs in overrides.items() if rhs is not None}
        if context.matches(rebuilt):
            return explanation
    return None


def equation(step: MatrixStep) -> str:
    """Return ``name = rhs`` of a step in the user's syntax, for a message."""
    return f"{step.name} = {formula_text(step.rhs)}"
