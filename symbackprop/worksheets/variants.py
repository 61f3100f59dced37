"""Worksheet variants: one student's seeded draw, its blanks with their keys, and the predicates.

Worksheets stage. A student's variant is drawn from SHA-256(course salt, worksheet
id, student id, attempt), so it is reproducible and independent of every other student. A draw
is rejected by named predicates (dead relu, unreadable gradient, equal answers, a mistake too
close to the answer) and the next attempt is tried; a mistake that cannot be told from the
answer at the sheet's precision is dropped from that blank's catalogue instead (SECOND_ORDER).
The numbers come from the derivation's own steps (:mod:`symbackprop.worksheets.step_program`), the
anticipated wrong answers from :mod:`symbackprop.worksheets.known_mistakes`, the spec
from :mod:`symbackprop.worksheets.spec`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from symbackprop.derivation.steps import LEARNING_RATE, Step
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network, mlp
from symbackprop.model.program import NodeKind
from symbackprop.model.rulebook import Rule
from symbackprop.worksheets.known_mistakes import known_mistakes, mistake_function
from symbackprop.worksheets.spec import (
    NUMERIC_KINDS,
    SYMBOLIC_KINDS,
    Question,
    ValueRange,
    WorksheetSpec,
    quantity_step,
)
from symbackprop.worksheets.step_program import StepProgram, program_for, tolerances

MAX_ATTEMPTS = 400  # draws tried per student before generation gives up
SEPARATION = 3.0  # a mistake or another answer must be > 3 tolerances from the right answer
READABLE = 20.0  # a graded gradient must be >= 20 tolerances: two significant digits at least
# A known mistake within SEPARATION tolerances of the right answer normally rejects the draw
# (issue 7). It is instead left out of that blank's catalogue on that variant (so it gives no
# targeted feedback there) when it is indistinguishable at the sheet's precision: a second-order
# slip (SECOND_ORDER, e.g. updated weights in a hidden delta differ only by eta * gradient *
# delta) or any slip that changes this variant's answer by at most INDISTINGUISHABLE (relative).
# A first-order mistake that lands close because the answer is near 0 (sign, factor 2) still
# rejects: its relative gap is >= 0.5.
SECOND_ORDER = frozenset({"updated_weights"})
INDISTINGUISHABLE = 0.05
_KINKED = ("relu", "leaky_relu")


# --- seeds ----------------------------------------------------------------
def variant_seed(course_salt: str, worksheet_id: str, student_id: str, attempt: int) -> int:
    """Return the 64-bit seed of one draw: SHA-256 over (salt, worksheet, student, attempt)."""
    text = "\x1f".join((course_salt, worksheet_id, student_id, str(attempt)))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class Draws:
    """Uniform integers from SHA-256 in counter mode: stable across Python and NumPy versions."""

    def __init__(self, seed: int) -> None:
        self.seed = seed.to_bytes(8, "big")
        self.counter = 0

    def below(self, n: int) -> int:
        self.counter += 1
        block = hashlib.sha256(self.seed + self.counter.to_bytes(8, "big")).digest()
        return int.from_bytes(block[:8], "big") % n

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.below(len(options))]

    def value(self, grid: ValueRange) -> float:
        return grid.value(self.below(grid.count()))


# --- the rule question ----------------------------------------------------------------
# Rules every step of a sweep uses in some sense: never the key (when a step cites another) and
# never a distractor, which could then be defended as right.
GENERIC_RULES = frozenset({Rule.CHAIN, Rule.SUM_OVER_PATHS, Rule.ELEMENTARY})
# The distractors come from the rules of a per-neuron derivation (no optimiser steps other than
# gradient descent, no penalties, no matrix-level rules): a student of this sheet knows them.
DISTRACTOR_RULES = (
    Rule.SUM, Rule.PRODUCT, Rule.QUOTIENT, Rule.POWER, Rule.CONSTANT_FACTOR,
    Rule.HALF_CANCELS_TWO, Rule.MEAN_OVER_OUTPUTS, Rule.SIGMOID_IDENTITY, Rule.TANH_IDENTITY,
    Rule.RELU_STEP, Rule.LEAKY_RELU_STEP, Rule.SOFTPLUS_SIGMOID, Rule.IDENTITY,
    Rule.SOFTMAX_JACOBIAN, Rule.SOFTMAX_CROSS_ENTROPY, Rule.SIGMOID_CROSS_ENTROPY,
    Rule.LOG_DERIVATIVE, Rule.EXP_DERIVATIVE, Rule.BIAS_IS_ONE, Rule.WEIGHT_PICKS_INPUT,
    Rule.WEIGHT_CARRIES_BLAME, Rule.GRADIENT_DESCENT,
)  # fmt: skip


def keyed_rule(step: Step) -> Rule:
    """Return the rule a "which rule" question about ``step`` is keyed to.

    The last rule the step's annotation cites that is not generic (for a delta, its
    activation's identity or the fused loss rule): fixed by the step, so every student asked
    about the same step of the same network has the same key.
    """
    specific = [r for r in step.rules if r not in GENERIC_RULES]
    if not specific:
        raise SymbackpropError(
            f"step {step.lhs} cites no rule particular to it; ask the rule question about a "
            "delta, a gradient or an update"
        )
    return specific[-1]


def rule_options(step: Step, draws: Draws) -> tuple[list[Rule], int]:
    """Return four rules to choose from and the index of the one right answer.

    The right one is :func:`keyed_rule`; the three others are drawn from DISTRACTOR_RULES
    leaving out every rule the step's annotation cites (and any with the same words), so
    exactly one option is right by construction.
    """
    right = keyed_rule(step)
    cited = {_rule_text(r) for r in step.rules}
    pool = [r for r in DISTRACTOR_RULES if _rule_text(r) not in cited]
    options = [right]
    while len(options) < 4:
        candidate = draws.choice(pool)
        if all(_rule_text(candidate) != _rule_text(o) for o in options):
            options.append(candidate)
    order = sorted(range(4), key=lambda _: draws.below(1 << 30))
    shuffled = [options[i] for i in order]
    return shuffled, shuffled.index(right)


# --- one student's variant ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Mistaken:
    """A known mistake's value in one variant."""

    name: str
    title: str
    explanation: str
    value: float


@dataclass(frozen=True, slots=True)
class Blank:
    """One graded blank of a variant with its key: a number, a formula or a choice."""

    id: str
    kind: str
    of: str
    step: str  # the derivation step whose value (or formula) is asked for
    points: float
    answer: float | str  # full precision number, ASCII formula, or the right option letter
    atol: float = 0.0  # numeric blanks: from the rounding the sheet asks for
    upstream: tuple[str, ...] = ()  # blank ids this blank is computed from (for ECF)
    mistakes: tuple[Mistaken, ...] = ()
    options: tuple[str, ...] = ()  # rule words of a choice blank, A, B, C, D

    @property
    def type(self) -> str:
        if self.kind in NUMERIC_KINDS:
            return "numeric"
        return "symbolic" if self.kind in SYMBOLIC_KINDS else "choice"


@dataclass(frozen=True, slots=True)
class Variant:
    """One student's worksheet: the network, the shown values, every blank and its key."""

    student_id: str
    seed: int
    skipped: int  # draws rejected before this one (all MAX_ATTEMPTS when relaxed)
    rejected: Mapping[str, int]  # predicate name -> how many draws it rejected
    network: Network
    shown: Mapping[str, float]  # parameters, inputs, targets: exactly as printed
    values: Mapping[str, float]  # every step's value at full precision
    blanks: tuple[Blank, ...]
    learning_rate: float
    decimals: int
    relaxed: tuple[str, ...] = ()  # predicates waived for this student (see RELAXATIONS)


LETTERS = "ABCD"


def draw_variant(spec: WorksheetSpec, course_salt: str, student_id: str) -> Variant:
    """Draw a student's variant, skipping draws a predicate rejects (deterministically).

    When none of MAX_ATTEMPTS draws meets every predicate, the predicates are relaxed in the
    order of RELAXATIONS, one more at a time, and the first draw that meets the rest is taken
    (its ``relaxed`` names the waived predicates): one student can never stop a class.
    """
    rejected: dict[str, int] = {}
    failures: list[frozenset[str]] = []
    for attempt in range(MAX_ATTEMPTS):
        seed = variant_seed(course_salt, spec.id, student_id, attempt)
        variant = _draw(spec, seed, student_id, attempt, rejected)
        failed = violated_predicates(variant)
        if not failed:
            return variant
        failures.append(frozenset(failed))
        for name in failed:
            rejected[name] = rejected.get(name, 0) + 1
    return _relaxed_draw(spec, course_salt, student_id, failures, rejected)


# The predicates waived, in this order, one more at a time, when no draw in MAX_ATTEMPTS meets
# them all; each with what the waiver means for the sheet (said on stderr, kept in the manifest).
RELAXATIONS = (
    ("mistake_too_close", "known mistakes within 3 tolerances of a right answer are left out of "
     "that blank's feedback"),
    ("tiny_gradient", "a delta or gradient may be under 20 tolerances, so it has fewer "
     "significant digits at this rounding"),
    ("equal_answers", "two answers may lie within 3 tolerances of each other"),
    ("dead_relu", "a relu unit may sit at or near its kink"),
)  # fmt: skip


def _relaxed_draw(
    spec: WorksheetSpec,
    course_salt: str,
    student_id: str,
    failures: Sequence[frozenset[str]],
    rejected: Mapping[str, int],
) -> Variant:
    """Return the first draw that meets every predicate but the fewest waived (RELAXATIONS)."""
    for level in range(1, len(RELAXATIONS) + 1):
        waived = {name for name, _ in RELAXATIONS[:level]}
        for attempt, failed in enumerate(failures):
            if failed <= waived:
                seed = variant_seed(course_salt, spec.id, student_id, attempt)
                variant = _draw(spec, seed, student_id, attempt, rejected)
                relaxed = tuple(name for name, _ in RELAXATIONS if name in failed)
                variant = replace(variant, skipped=len(failures), relaxed=relaxed)
                return _without_close_mistakes(variant)
    raise AssertionError("every predicate is in RELAXATIONS, so the last level takes any draw")


def _without_close_mistakes(variant: Variant) -> Variant:
    """Leave the known mistakes within SEPARATION tolerances of their answer out of the blanks."""
    blanks = []
    for blank in variant.blanks:
        if blank.type == "numeric":
            gap = SEPARATION * blank.atol
            kept = tuple(m for m in blank.mistakes if abs(m.value - float(blank.answer)) > gap)
            blank = replace(blank, mistakes=kept)
        blanks.append(blank)
    return replace(variant, blanks=tuple(blanks))


def relaxation_text(variant: Variant) -> str:
    """Return what was relaxed for a variant, in words ("" when nothing was)."""
    words = dict(RELAXATIONS)
    return "; ".join(f"{name}: {words[name]}" for name in variant.relaxed)


PREDICATE_ADVICE = {
    "dead_relu": "keep relu units active (e.g. positive bias ranges) or use a smooth activation",
    "tiny_gradient": "ask for deltas and gradients nearer the output, use fewer layers, "
    "widen the weight range or raise decimals",
    "equal_answers": "widen the value ranges or ask for quantities that differ more",
    "mistake_too_close": "raise decimals or widen the value ranges so the known mistakes "
    "land farther from the right answers",
}


def _draw(
    spec: WorksheetSpec, seed: int, student_id: str, attempt: int, rejected: Mapping[str, int]
) -> Variant:
    draws = Draws(seed)
    sizes = draws.choice(spec.sizes)
    hidden = draws.choice(spec.hidden_activations)
    output = draws.choice(spec.output_activations)
    depth = len(sizes) - 1
    loss = draws.choice(spec.losses)
    network = mlp(sizes, [hidden] * (depth - 1) + [output], loss)
    shown: dict[str, float] = {}
    for name in network.parameter_names():
        grid = spec.ranges["weights" if name.startswith("w") else "biases"]
        shown[name] = draws.value(grid)
    for name in network.input_names():
        shown[name] = draws.value(spec.ranges["inputs"])
    shown.update(_targets(network.target_names(), loss, spec.ranges["targets"], draws))
    program = program_for(network)
    base = {**shown, LEARNING_RATE.name: spec.learning_rate}
    values = program.run(base)
    numeric = [quantity_step(q) for q in spec.questions if q.kind in NUMERIC_KINDS]
    atols = tolerances(program, base, values, numeric, spec.decimals)
    blanks = tuple(_blank(spec, program, atols, values, q, draws) for q in spec.questions)
    return Variant(student_id, seed, attempt, dict(rejected), network, shown, values, blanks,
                   spec.learning_rate, spec.decimals)  # fmt: skip


def _targets(names: Sequence[str], loss: str, grid: ValueRange, draws: Draws) -> dict[str, float]:
    """Draw the targets from their grid, or a one-hot row (a class) when the loss needs one.

    A loss whose targets must be a distribution (cross-entropy: non-negative, summing to 1)
    refuses an all-zero row; its targets are then one class drawn uniformly, one-hot.
    """
    if needs_one_hot(loss, len(names)):
        label = draws.below(len(names))
        return {name: float(k == label) for k, name in enumerate(names)}
    return {name: draws.value(grid) for name in names}


@functools.lru_cache(maxsize=64)
def needs_one_hot(loss: str, n_outputs: int) -> bool:
    """True when the loss refuses targets that are not a distribution (a row of zeros)."""
    return get_loss(loss).check_targets(np.zeros((1, n_outputs))) is not None


def _blank(
    spec: WorksheetSpec,
    program: StepProgram,
    atols: Mapping[str, float],
    values: Mapping[str, float],
    question: Question,
    draws: Draws,
) -> Blank:
    step = quantity_step(question)
    common: dict[str, Any] = {"id": question.id, "kind": question.kind, "of": question.of,
                              "step": step, "points": question.points}  # fmt: skip
    if question.kind in SYMBOLIC_KINDS:
        return Blank(answer=_formula(program.network, step), **common)
    if question.kind == "rule":
        options, right = rule_options(program.derivation.step(step), draws)
        words = tuple(_rule_text(rule) for rule in options)
        return Blank(answer=LETTERS[right], options=words, **common)
    atol = atols[step]
    known = known_mistakes(program.network, question.kind, question.of, spec.learning_rate)
    mistake_values = mistake_function(
        program.network, question.kind, question.of, spec.learning_rate
    )(values)
    answer = float(values[step])
    mistakes = tuple(
        Mistaken(m.name, m.title, m.explanation, v)
        for m, v in zip(known, mistake_values, strict=True)
        if np.isfinite(v) and not indistinguishable(m.name, v, answer, atol)
    )
    return Blank(answer=answer, atol=atol, mistakes=mistakes, **common)


def indistinguishable(name: str, value: float, answer: float, atol: float) -> bool:
    """True when a known mistake cannot be told from the answer at the sheet's precision.

    Such a mistake is dropped from the blank's catalogue on this variant instead of rejecting
    the draw (see SECOND_ORDER): it is within SEPARATION tolerances of the answer and either
    second-order by nature or within INDISTINGUISHABLE of the answer, relatively.
    """
    gap = abs(value - answer)
    if gap > SEPARATION * atol:
        return False
    return name in SECOND_ORDER or gap <= INDISTINGUISHABLE * abs(answer)


@functools.lru_cache(maxsize=256)
def _formula(network: Network, step: str) -> str:
    return str(program_for(network).derivation.step(step).rhs)


def _rule_text(rule: Rule) -> str:
    from symbackprop.render.text import RULE_WORDS

    return RULE_WORDS[rule]


def upstream_blanks(variant: Variant, blank: Blank) -> tuple[str, ...]:
    """Return the ids of the numeric blanks this blank is computed from (its ECF inputs)."""
    program = program_for(variant.network)
    steps = set(program.upstream.get(blank.step, ()))
    return tuple(b.id for b in variant.blanks if b.type == "numeric" and b.step in steps)


def violated_predicates(variant: Variant) -> list[str]:
    """Return the names of the predicates a draw breaks (empty when it is acceptable)."""
    failed = []
    numeric = [b for b in variant.blanks if b.type == "numeric"]
    if _dead_relu(variant):
        failed.append("dead_relu")
    for blank in numeric:
        if blank.kind in ("gradient", "delta") and abs(float(blank.answer)) < READABLE * blank.atol:
            failed.append("tiny_gradient")
            break
    for i, first in enumerate(numeric):
        for second in numeric[i + 1 :]:
            gap = abs(float(first.answer) - float(second.answer))
            if gap <= SEPARATION * max(first.atol, second.atol):
                failed.append("equal_answers")
                break
        else:
            continue
        break
    # blank.mistakes holds only the mistakes that stay in the catalogue (see SECOND_ORDER)
    for blank in numeric:
        if any(abs(m.value - float(blank.answer)) <= SEPARATION * blank.atol
               for m in blank.mistakes):  # fmt: skip
            failed.append("mistake_too_close")
            break
    return failed


def _dead_relu(variant: Variant) -> bool:
    """A relu unit at or near its kink (z <= 10^-d): no gradient flows, or the side is unclear."""
    margin = 10.0 ** (-variant.decimals) * 10
    for assignment in variant.network.assignments:
        if assignment.kind is NodeKind.ACTIVATION and assignment.activation in _KINKED:
            z = next(iter(assignment.rhs.free_symbols))
            if variant.values[z.name] <= margin:
                return True
    return False
