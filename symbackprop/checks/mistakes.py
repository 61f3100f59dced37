"""Registry of classic backpropagation mistakes, each rebuilt from the correct derivation (checks).

A :class:`Mistake` builds the formula a student would write after making it (dropping sigma'(z)
of a layer, transposing w_jk, using updated weights in a hidden delta, ...) from the steps of
the :class:`~symbackprop.derivation.derive.Derivation`, and the checker tests it against the
student's formula at its probe points. The entries are :mod:`symbackprop.checks.catalogue`, each
registered below its definition; they are tried in registration order and the first that fits
names the mistake. The helpers here build an entry's candidate formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Stage, Step
from symbackprop.model import notation
from symbackprop.model.printing import to_text
from symbackprop.model.program import NodeKind
from symbackprop.model.registry import Registry

FloatArray = NDArray[np.float64]
# Two probe vectors agree when every point agrees to this relative tolerance (float64 values of
# small expressions: equivalent forms agree to ~1e-13; 1e-7 leaves room for cancellation).
RTOL = 1e-7
ATOL = 1e-12


def close(given: FloatArray, expected: FloatArray) -> NDArray[np.bool_]:
    """Return, per probe point, whether two values agree (a non-finite value never agrees)."""
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.maximum(np.abs(given), np.abs(expected))
        ok = np.abs(given - expected) <= RTOL * scale + ATOL
    return ok & np.isfinite(given) & np.isfinite(expected)


@dataclass(frozen=True)
class MistakeContext:
    """What a mistake needs: the derivation, the parameter, values at the probe points.

    ``evaluate(expr)`` gives the values of any expression over the derivation's named symbols
    (forward nodes, adjoints, gradients: each with its correct meaning) at the probe points.
    """

    derivation: Derivation
    wrt: sp.Symbol
    given: FloatArray
    expected: FloatArray
    evaluate: Callable[[sp.Expr], FloatArray]
    learning_rate: float

    @property
    def gradient_step(self) -> Step:
        return self.derivation.step(notation.gradient_name(self.wrt.name))

    def matches(self, expr: sp.Expr) -> bool:
        """Tell whether ``expr`` equals the user's formula at every probe point."""
        return bool(np.all(close(self.given, self.evaluate(expr))))

    def first_match(self, candidates: Iterable[tuple[str, sp.Expr]]) -> str | None:
        """Return the explanation of the first candidate formula that matches the user's.

        A method, so a context that collects the candidates (the worksheets' catalogue of
        anticipated answers) can take every one of them in a single pass.
        """
        for explanation, expr in candidates:
            if self.matches(expr):
                return explanation
        return None

    def gradient_with(self, overrides: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
        """Return dL/d(wrt) with each adjoint inlined, ``overrides`` replacing their rhs."""
        expr = self.gradient_step.rhs
        for step in reversed(self.derivation.stage(Stage.ADJOINT)):
            if step.lhs in expr.free_symbols:
                expr = expr.xreplace({step.lhs: overrides.get(step.lhs, step.rhs)})
        return expr

    def chain_adjoints(self) -> list[Step]:
        """Return the adjoint steps dL/d(wrt) depends on, directly or through other adjoints."""
        needed: set[sp.Symbol] = set(self.gradient_step.depends_on)
        chain = []
        for step in reversed(self.derivation.stage(Stage.ADJOINT)):
            if step.lhs in needed:
                chain.append(step)
                needed |= set(step.depends_on)
        return list(reversed(chain))

    def activation_of(self, step: Step) -> sp.Symbol | None:
        """Return the activation a = f(z) of a delta's node z (an elementwise activation)."""
        for assignment in self.derivation.network.assignments:
            if assignment.kind is NodeKind.ACTIVATION and assignment.rhs.free_symbols == {
                step.node
            }:
                return assignment.lhs
        return None


@dataclass(frozen=True, slots=True)
class Mistake:
    """One classic mistake: ``detect`` returns a one-line explanation when the formula fits it."""

    name: str
    title: str
    detect: Callable[[MistakeContext], str | None]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What the checker thinks went wrong: the registry name, its title, one line of why."""

    name: str
    title: str
    explanation: str


MISTAKES: Registry[Mistake] = Registry("mistake")


def register_mistake(entry: Mistake) -> Mistake:
    """Add a mistake to the catalogue the checker tries, in registration order."""
    return MISTAKES.register(entry)


def get_mistake(name: str) -> Mistake:
    """Look a mistake up by name; an unknown name lists the known ones."""
    return MISTAKES.lookup(name)


def diagnose(context: MistakeContext) -> Diagnosis | None:
    """Return the first registered mistake that explains the user's formula, if any."""
    for mistake in MISTAKES.values():
        explanation = mistake.detect(context)
        if explanation is not None:
            return Diagnosis(mistake.name, mistake.title, explanation)
    return None


# --- helpers ------------------------------------------------------------------------------------
Candidate = tuple[str, sp.Expr]  # (explanation, the mistaken formula in named intermediates)


def first_match(context: MistakeContext, candidates: Iterable[Candidate]) -> str | None:
    """Return the explanation of the first candidate formula that matches the user's."""
    return context.first_match(candidates)


def delta_steps(context: MistakeContext) -> list[Step]:
    """Return the chain's deltas written as (dL/da) * f'(z): the ones with an activation factor."""
    return [step for step in context.chain_adjoints() if len(step.factors) == 2]


def _groups(steps: list[Step]) -> Iterator[tuple[str, list[Step]]]:
    """Yield each layer's steps together (a student repeats a slip across a layer), then each."""
    layers = sorted({s.layer for s in steps if s.layer is not None}, reverse=True)
    for layer in layers:
        group = [s for s in steps if s.layer == layer]
        yield f"layer {layer}", group
    for step in steps:
        yield to_text(step.lhs), [step]


def _override(
    context: MistakeContext, group: list[Step], rewrite: Callable[[Step], sp.Expr | None]
) -> sp.Expr | None:
    overrides = {}
    for step in group:
        new = rewrite(step)
        if new is None:
            return None
        overrides[step.lhs] = new
    return context.gradient_with(overrides)


def grouped_candidates(
    context: MistakeContext,
    steps: list[Step],
    rewrite: Callable[[Step], sp.Expr | None],
    explain: Callable[[str, Step], str],
) -> Iterator[Candidate]:
    """Yield (explanation, dL/d(wrt)) with ``rewrite`` applied per layer, then per step."""
    for where, group in _groups(steps):
        expr = _override(context, group, rewrite)
        if expr is not None:
            yield explain(where, group[0]), expr
