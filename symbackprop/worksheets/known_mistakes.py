"""Known mistakes of a worksheet blank: the checker's catalogue turned into formulas to evaluate.

Worksheets stage. For a numeric blank, :func:`known_mistakes` records the formulas
the gradient checker's mistake catalogue would try (missing sigma', sign, dropped 1/2, ...) and
adds the slips of the blanks the catalogue does not cover (loss, forward value, update);
:func:`mistake_function` evaluates them all in one call per variant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

import symbackprop.checks.catalogue  # noqa: F401  (registers the mistakes)
from symbackprop.checks.mistakes import MISTAKES, MistakeContext
from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import LEARNING_RATE
from symbackprop.model import notation
from symbackprop.model.functions import numpy_namespace
from symbackprop.model.network import Network
from symbackprop.model.program import NodeKind
from symbackprop.worksheets.spec import Question, quantity_step
from symbackprop.worksheets.step_program import StepProgram, program_for


@dataclass(frozen=True, slots=True)
class KnownMistake:
    """One anticipated wrong answer to a blank: catalogue name, title, why, and its formula."""

    name: str
    title: str
    explanation: str
    expr: sp.Expr


@dataclass(frozen=True)
class _Recorder(MistakeContext):
    """A MistakeContext that collects the catalogue's candidate formulas instead of testing them.

    Every entry offers its candidates through ``first_match``; this one keeps them all, with
    their explanations, and matches none, so one pass over the catalogue collects everything.
    """

    seen: list[tuple[str, sp.Expr]] = field(default_factory=list)

    def first_match(self, candidates: Iterable[tuple[str, sp.Expr]]) -> str | None:
        self.seen.extend(candidates)
        return None


@functools.lru_cache(maxsize=256)
def known_mistakes(network: Network, kind: str, of: str, eta: float) -> tuple[KnownMistake, ...]:
    """Return the mistakes anticipated for one numeric blank of a network (cached per blank)."""
    program = program_for(network)
    d = program.derivation
    if kind == "gradient":
        found = _catalogue(d, of, eta)
    elif kind == "delta" and notation.bias_name(*_layer_j(of)) in network.parameter_names():
        found = _catalogue(d, notation.bias_name(*_layer_j(of)), eta)
    else:
        found = list(_local_mistakes(d, kind, of, eta))
    correct = d.step(quantity_step(Question(kind, of, 0.0, ""))).rhs
    correct = correct.xreplace({LEARNING_RATE: sp.Float(eta)})
    return tuple(_distinct(program, correct, found))


def _layer_j(delta: str) -> tuple[int, int]:
    layer, j = (int(part) for part in delta.removeprefix("delta").split("_"))
    return layer, j


def _catalogue(d: Derivation, wrt: str, eta: float) -> list[KnownMistake]:
    """Collect every candidate formula the checker's catalogue tries for dL/d(wrt), in one pass."""
    points = np.ones(5)
    found: list[KnownMistake] = []
    for mistake in MISTAKES.values():
        probe = _Recorder(d, sp.Symbol(wrt), points, points, lambda e: points, eta)
        mistake.detect(probe)
        found += [KnownMistake(mistake.name, mistake.title, why, expr) for why, expr in probe.seen]
    gradient = d.gradient(wrt)
    constant = MISTAKES.get("constant_factor")
    if constant is not None:
        for factor in (2.0, 0.5):
            scaled = _Recorder(d, sp.Symbol(wrt), points * factor, points, lambda e: points, eta)
            explanation = constant.detect(scaled)
            if explanation is not None:
                found.append(
                    KnownMistake(constant.name, constant.title, explanation, factor * gradient)
                )
    return found


def _local_mistakes(d: Derivation, kind: str, of: str, eta: float) -> list[KnownMistake]:
    """Slips in the blanks the gradient catalogue does not cover: loss, forward, update."""
    if kind == "loss" and d.network.architecture and d.network.architecture.loss == "half_sse":
        return [KnownMistake("dropped_half", "the ½ of the loss dropped",
                             "the half squared error is ½ Σ (a − y)²; the ½ was left out",
                             2 * d.step("L").rhs)]  # fmt: skip
    if kind == "forward":
        step = d.step(of)
        assignment = next(a for a in d.network.assignments if a.lhs == step.lhs)
        if assignment.kind is NodeKind.ACTIVATION:
            z = next(iter(step.depends_on))
            return [KnownMistake("activation_not_applied", "activation not applied",
                                 f"this is {z.name}, the weighted input; apply the activation",
                                 z)]  # fmt: skip
    if kind == "update":
        theta = sp.Symbol(of)
        gradient = sp.Symbol(notation.gradient_name(of))
        return [
            KnownMistake("sign_error", "sign error",
                         "the step went uphill: θ + η ∂L/∂θ instead of θ − η ∂L/∂θ",
                         theta + sp.Float(eta) * gradient),
            KnownMistake("missing_learning_rate", "learning rate left out",
                         "the gradient was subtracted without the factor η",
                         theta - gradient),
        ]  # fmt: skip
    return []


def _distinct(
    program: StepProgram, correct: sp.Expr, found: Sequence[KnownMistake]
) -> list[KnownMistake]:
    """Drop candidates that equal the right formula (or an earlier candidate) identically."""
    rng = np.random.default_rng(12345)
    names = sorted(
        {s.name for m in found for s in m.expr.free_symbols}
        | {s.name for s in correct.free_symbols}
    )
    points = []
    for _ in range(3):
        base = {n: float(rng.uniform(-1, 1)) for n in _leaves(program)}
        base[LEARNING_RATE.name] = 0.5
        known = program.run(base)
        points.append([known.get(n, 0.0) for n in names])
    symbols = [sp.Symbol(n) for n in names]
    modules = [numpy_namespace(), "numpy"]
    right = sp.lambdify(symbols, correct, modules=modules)
    kept: list[KnownMistake] = []
    seen = [[float(right(*p)) for p in points]]
    for mistake in found:
        f = sp.lambdify(symbols, mistake.expr, modules=modules)
        values = [float(f(*p)) for p in points]
        if any(np.allclose(values, other, rtol=1e-9, atol=1e-12) for other in seen):
            continue
        seen.append(values)
        kept.append(mistake)
    return kept


def _leaves(program: StepProgram) -> list[str]:
    program_ = program.network.program
    return [s.name for s in (*program_.params, *program_.inputs, *program_.targets)]


@functools.lru_cache(maxsize=256)
def mistake_function(network: Network, kind: str, of: str, eta: float) -> Callable[..., Any]:
    """Return f(values) -> [value of each known mistake] for one blank (lambdified once)."""
    mistakes = known_mistakes(network, kind, of, eta)
    names = sorted({s.name for m in mistakes for s in m.expr.free_symbols})
    function = sp.lambdify([sp.Symbol(n) for n in names], [m.expr for m in mistakes],
                           modules=[numpy_namespace(), "numpy"])  # fmt: skip

    def values(known: Mapping[str, float]) -> list[float]:
        return [float(v) for v in function(*(known[n] for n in names))] if mistakes else []

    return values
