"""Worksheet variants: the worksheet spec, seeded draws, predicates and known-mistake values.

Rendering layer (worksheets). A worksheet spec names a family of networks and value ranges;
a student's variant is drawn from SHA-256(course salt, worksheet id, student id, attempt), so it
is reproducible and independent of every other student. A draw is rejected by named
predicates (dead relu, unreadable gradient, equal answers, a mistake too close to the answer)
and the next attempt is tried. The numbers come from the derivation's own steps, run one by one
(:class:`StepProgram`), so the same code gives the key, the error-carried-forward values and
the tolerance from rounding (first-order propagation along ``Step.depends_on``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symbackprop import notation
from symbackprop.derive import LEARNING_RATE, Derivation, Stage, Step, derive
from symbackprop.errors import SpecError, SymbackpropError, shorten
from symbackprop.functions import numpy_namespace
from symbackprop.mistakes import MISTAKES, MistakeContext
from symbackprop.network import Network, NodeKind, mlp
from symbackprop.rulebook import Rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NUMERIC_KINDS = ("forward", "loss", "delta", "gradient", "update")
SYMBOLIC_KINDS = ("symbolic_delta", "symbolic_gradient")
KINDS = NUMERIC_KINDS + SYMBOLIC_KINDS + ("rule",)
MAX_ATTEMPTS = 400  # draws tried per student before generation gives up
SEPARATION = 3.0  # a mistake or another answer must be > 3 tolerances from the right answer
READABLE = 20.0  # a graded gradient must be >= 20 tolerances: two significant digits at least
_FD_STEP = 1e-6  # sensitivity of an answer to an intermediate (central differences)
_KINKED = ("relu", "leaky_relu")


class VariantError(SymbackpropError):
    """No acceptable variant was found for a student within MAX_ATTEMPTS draws."""


# --- the spec ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Question:
    """One blank: its kind, the quantity it asks for (ASCII name), points, its blank id."""

    kind: str
    of: str
    points: float
    id: str


@dataclass(frozen=True, slots=True)
class ValueRange:
    """Values drawn on a grid lo, lo + step, ..., hi (shown exactly on the sheet)."""

    low: float
    high: float
    step: float

    def count(self) -> int:
        return int(round((self.high - self.low) / self.step)) + 1

    def value(self, index: int) -> float:
        decimals = max(0, -int(np.floor(np.log10(self.step) + 1e-9)))
        return round(self.low + index * self.step, decimals)


@dataclass(frozen=True, slots=True)
class WorksheetSpec:
    """A worksheet: id, title, the network family, value ranges, questions and marking rules."""

    id: str
    title: str
    sizes: tuple[tuple[int, ...], ...]
    hidden_activations: tuple[str, ...]
    output_activations: tuple[str, ...]
    losses: tuple[str, ...]
    ranges: Mapping[str, ValueRange]
    questions: tuple[Question, ...]
    decimals: int = 4
    learning_rate: float = 0.5
    ecf_credit: float = 1.0
    mistake_credit: float = 0.0
    source: Mapping[str, Any] = field(default_factory=dict)

    def question(self, blank: str) -> Question:
        for question in self.questions:
            if question.id == blank:
                return question
        raise SpecError(f"no blank {blank!r} in worksheet {self.id!r}")

    def networks(self) -> list[Network]:
        """Return every network of the family (each combination of the choices)."""
        out = []
        for sizes in self.sizes:
            for hidden in self.hidden_activations:
                for output in self.output_activations:
                    for loss in self.losses:
                        depth = len(sizes) - 1
                        out.append(mlp(sizes, [hidden] * (depth - 1) + [output], loss))
        return out


def load_worksheet_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> WorksheetSpec:
    """Read a worksheet spec from a TOML file or a dict; errors name the file and the key."""
    where = "<dict>"
    if isinstance(spec, Mapping):
        document = dict(spec)
    else:
        where = os.fspath(spec)
        try:
            with open(where, "rb") as handle:
                document = tomllib.load(handle)
        except OSError as error:
            raise SpecError(f"cannot read worksheet spec {where!r}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{where}: not valid TOML: {error}") from None
    return _spec_from(document, where)


def _spec_from(document: Mapping[str, Any], where: str) -> WorksheetSpec:
    sheet = _table(document, "worksheet", where)
    net = _table(document, "network", where)
    values = _table(document, "values", where)
    ranges = {name: _range(values, name, where) for name in ("weights", "biases", "inputs")}
    ranges["targets"] = _range(values, "targets", where)
    sizes = tuple(tuple(int(n) for n in s) for s in _list(net, "sizes", where))
    spec = WorksheetSpec(
        id=_text(sheet, "id", where),
        title=str(sheet.get("title", "Backpropagation by hand")),
        sizes=sizes,
        hidden_activations=tuple(_list(net, "activations", where)),
        output_activations=tuple(net.get("output_activations", ["sigmoid"])),
        losses=tuple(net.get("losses", ["half_sse"])),
        ranges=ranges,
        questions=tuple(_questions(document, where)),
        decimals=int(sheet.get("decimals", 4)),
        learning_rate=float(sheet.get("learning_rate", 0.5)),
        ecf_credit=float(sheet.get("ecf_credit", 1.0)),
        mistake_credit=float(sheet.get("mistake_credit", 0.0)),
        source=document,
    )
    _check_spec(spec, where)
    return spec


def _table(document: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    table = document.get(name)
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: missing table [{name}]; see examples/worksheets/")
    return table


def _list(table: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = table.get(key)
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: {key!r} must be a non-empty list, got {shorten(repr(value))}")
    return value


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f'{where}: {key!r} must be a non-empty string, e.g. {key} = "week5"')
    return value


def _range(values: Mapping[str, Any], key: str, where: str) -> ValueRange:
    raw = values.get(key)
    if not (isinstance(raw, list) and len(raw) == 3 and all(_is_number(v) for v in raw)):
        raise SpecError(
            f"{where}: values.{key} must be [low, high, step], got {shorten(repr(raw))}; "
            f"e.g. {key} = [-1.0, 1.0, 0.1]"
        )
    low, high, step = (float(v) for v in raw)
    if not (step > 0 and high > low):
        raise SpecError(f"{where}: values.{key} = {raw} needs low < high and step > 0")
    return ValueRange(low, high, step)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _questions(document: Mapping[str, Any], where: str) -> list[Question]:
    raw = document.get("questions")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}: add at least one [[questions]] table with kind, of and points")
    out = []
    for number, entry in enumerate(raw, start=1):
        kind = entry.get("kind")
        if kind not in KINDS:
            raise SpecError(
                f"{where}: question {number} has kind {kind!r}; known: {', '.join(KINDS)}"
            )
        of = "L" if kind == "loss" else entry.get("of")
        if not isinstance(of, str):
            raise SpecError(f'{where}: question {number} ({kind}) needs of = "<name>"')
        points = entry.get("points", 1)
        if not _is_number(points) or points < 0:
            raise SpecError(f"{where}: question {number} has points {points!r}; use a number >= 0")
        blank = str(entry.get("id", _default_id(kind, of)))
        out.append(Question(kind, of, float(points), blank))
    ids = [q.id for q in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpecError(f"{where}: blank ids {duplicates} repeat; give each question its own id")
    return out


def _default_id(kind: str, of: str) -> str:
    return {
        "forward": of,
        "loss": "L",
        "delta": of,
        "gradient": notation.gradient_name(of),
        "update": notation.updated_name(of),
        "symbolic_delta": f"expr_{of}",
        "symbolic_gradient": f"expr_{notation.gradient_name(of)}",
        "rule": f"rule_{of}",
    }[kind]


def _check_spec(spec: WorksheetSpec, where: str) -> None:
    if not 1 <= spec.decimals <= 8:
        raise SpecError(f"{where}: decimals = {spec.decimals}; use 1 to 8")
    for network in spec.networks():
        d = program_for(network).derivation
        for question in spec.questions:
            step_name = quantity_step(question)
            try:
                step = d.step(step_name)
            except SymbackpropError as error:
                raise SpecError(
                    f"{where}: question {question.id!r} asks for {question.of!r}, which "
                    f"{network.describe()} does not have ({error})"
                ) from None
            if question.kind in ("symbolic_delta", "delta") and step.stage is not Stage.ADJOINT:
                raise SpecError(f"{where}: {question.of!r} is not a delta; use e.g. delta2_1")
            if question.kind == "symbolic_delta":
                bias_parameter(network, question.of)


def quantity_step(question: Question) -> str:
    """Return the name of the derivation step whose value a question asks for."""
    if question.kind in ("gradient", "symbolic_gradient"):
        return notation.gradient_name(question.of)
    if question.kind == "update":
        return notation.updated_name(question.of)
    return question.of


def bias_parameter(network: Network, delta: str) -> str:
    """Return b^(l)_j for delta^(l)_j (dL/db = delta): symbolic deltas are checked through it."""
    layer, j = (int(part) for part in delta.removeprefix("delta").split("_"))
    name = notation.bias_name(layer, j)
    if name not in network.parameter_names():
        raise SpecError(
            f"symbolic delta {delta!r} needs per-neuron biases (b^({layer})_{j}); "
            "set bias = per_neuron or ask for a gradient instead"
        )
    return name


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


# --- the step program ----------------------------------------------------------------
class StepProgram:
    """A derivation's steps as one small NumPy function each, run in order with overrides."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.derivation: Derivation = derive(network)
        self.steps: tuple[Step, ...] = self.derivation.steps
        namespace = [numpy_namespace(), "numpy"]
        self.functions: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = []
        for step in self.steps:
            args = tuple(sorted((s.name for s in step.rhs.free_symbols)))
            function = sp.lambdify([sp.Symbol(a) for a in args], step.rhs, modules=namespace)
            self.functions.append((step.lhs.name, args, function))
        self.upstream = _upstream(self.steps)

    def run(
        self,
        base: Mapping[str, float],
        overrides: Mapping[str, float] | None = None,
        decimals: int | None = None,
    ) -> dict[str, float]:
        """Return every step's value; ``overrides`` replace steps, ``decimals`` rounds each."""
        values = dict(base)
        overrides = overrides or {}
        for name, args, function in self.functions:
            if name in overrides:
                values[name] = float(overrides[name])
                continue
            value = float(function(*(values[a] for a in args)))
            values[name] = round(value, decimals) if decimals is not None else value
        return values

    def sensitivities(
        self, base: Mapping[str, float], values: Mapping[str, float], names: Sequence[str]
    ) -> dict[str, float]:
        """Return, per step in ``names``, sum over its upstream steps s of |d(step)/ds|.

        One vectorized run: column 2i moves the i-th intermediate up by h, column 2i+1 down.
        """
        movable = [s.lhs.name for s in self.steps]
        columns = 2 * len(movable)
        shift = np.zeros(columns)
        shift[0::2], shift[1::2] = _FD_STEP, -_FD_STEP
        where = {name: i for i, name in enumerate(movable)}
        known: dict[str, Any] = {k: np.full(columns, v) for k, v in base.items()}
        for name, args, function in self.functions:
            value = np.broadcast_to(np.asarray(function(*(known[a] for a in args)), float),
                                    (columns,)).copy()  # fmt: skip
            i = where[name]
            value[2 * i : 2 * i + 2] = values[name] + shift[2 * i : 2 * i + 2]
            known[name] = value
        out = {}
        for name in names:
            total = 0.0
            for upstream in self.upstream[name]:
                i = where[upstream]
                total += abs(known[name][2 * i] - known[name][2 * i + 1]) / (2 * _FD_STEP)
            out[name] = float(total)
        return out


def _upstream(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    """Map each step to every earlier step it depends on, directly or through others."""
    found: dict[str, set[str]] = {}
    for step in steps:
        names: set[str] = set()
        for used in step.depends_on:
            names.add(used.name)
            names |= found.get(used.name, set())
        found[step.lhs.name] = names
    order = {s.lhs.name: i for i, s in enumerate(steps)}
    return {k: tuple(sorted(v, key=order.__getitem__)) for k, v in found.items()}


@functools.lru_cache(maxsize=64)
def program_for(network: Network) -> StepProgram:
    return StepProgram(network)


# --- known mistakes ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KnownMistake:
    """One anticipated wrong answer to a blank: catalogue name, title, why, and its formula."""

    name: str
    title: str
    explanation: str
    expr: sp.Expr


@dataclass(frozen=True)
class _Recorder(MistakeContext):
    """A MistakeContext that records the catalogue's candidate formulas instead of testing them.

    ``hit`` = i makes the i-th candidate "match", so the entry returns its explanation of it.
    """

    hit: int = -1
    seen: list[sp.Expr] = field(default_factory=list)

    def matches(self, expr: sp.Expr) -> bool:
        self.seen.append(expr)
        return len(self.seen) - 1 == self.hit


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
    """Collect every candidate formula the checker's catalogue tries for dL/d(wrt)."""
    points = np.ones(5)
    found: list[KnownMistake] = []
    for mistake in MISTAKES.values():
        probe = _Recorder(d, sp.Symbol(wrt), points, points, lambda e: points, eta)
        mistake.detect(probe)
        for i, expr in enumerate(probe.seen):
            named = _Recorder(d, sp.Symbol(wrt), points, points, lambda e: points, eta, hit=i)
            explanation = mistake.detect(named)
            if explanation is not None:
                found.append(KnownMistake(mistake.name, mistake.title, explanation, expr))
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


# --- the rule question ----------------------------------------------------------------
_GENERIC_RULES = (Rule.CHAIN, Rule.SUM_OVER_PATHS)


def rule_options(step: Step, draws: Draws) -> tuple[list[Rule], int]:
    """Return four rules to choose from (one the step cites) and the index of the right one."""
    specific = [r for r in step.rules if r not in _GENERIC_RULES] or list(step.rules)
    right = draws.choice(specific)
    pool = [r for r in Rule if r not in step.rules]
    options = [right]
    while len(options) < 4:
        candidate = draws.choice(pool)
        if candidate not in options:
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
    skipped: int  # draws rejected before this one
    rejected: Mapping[str, int]  # predicate name -> how many draws it rejected
    network: Network
    shown: Mapping[str, float]  # parameters, inputs, targets: exactly as printed
    values: Mapping[str, float]  # every step's value at full precision
    blanks: tuple[Blank, ...]
    learning_rate: float
    decimals: int


LETTERS = "ABCD"


def draw_variant(spec: WorksheetSpec, course_salt: str, student_id: str) -> Variant:
    """Draw a student's variant, skipping draws a predicate rejects (deterministically)."""
    rejected: dict[str, int] = {}
    for attempt in range(MAX_ATTEMPTS):
        seed = variant_seed(course_salt, spec.id, student_id, attempt)
        variant = _draw(spec, seed, student_id, attempt, rejected)
        failed = violated_predicates(variant)
        if not failed:
            return variant
        for name in failed:
            rejected[name] = rejected.get(name, 0) + 1
    worst = max(rejected, key=rejected.__getitem__)
    raise VariantError(
        f"no acceptable variant for student {student_id!r} in {MAX_ATTEMPTS} draws (most "
        f"often rejected: {worst}, {rejected[worst]} times); widen the value ranges or ask "
        "for other quantities"
    )


def _draw(
    spec: WorksheetSpec, seed: int, student_id: str, attempt: int, rejected: Mapping[str, int]
) -> Variant:
    draws = Draws(seed)
    sizes = draws.choice(spec.sizes)
    hidden = draws.choice(spec.hidden_activations)
    output = draws.choice(spec.output_activations)
    depth = len(sizes) - 1
    network = mlp(sizes, [hidden] * (depth - 1) + [output], draws.choice(spec.losses))
    shown: dict[str, float] = {}
    for name in network.parameter_names():
        grid = spec.ranges["weights" if name.startswith("w") else "biases"]
        shown[name] = draws.value(grid)
    for name in network.input_names():
        shown[name] = draws.value(spec.ranges["inputs"])
    for name in network.target_names():
        shown[name] = draws.value(spec.ranges["targets"])
    program = program_for(network)
    base = {**shown, LEARNING_RATE.name: spec.learning_rate}
    values = program.run(base)
    numeric = [quantity_step(q) for q in spec.questions if q.kind in NUMERIC_KINDS]
    atols = tolerances(program, base, values, numeric, spec.decimals)
    blanks = tuple(_blank(spec, program, atols, values, q, draws) for q in spec.questions)
    return Variant(student_id, seed, attempt, dict(rejected), network, shown, values, blanks,
                   spec.learning_rate, spec.decimals)  # fmt: skip


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
    mistakes = tuple(
        Mistaken(m.name, m.title, m.explanation, v)
        for m, v in zip(known, mistake_values, strict=True)
        if np.isfinite(v)
    )
    return Blank(answer=float(values[step]), atol=atol, mistakes=mistakes, **common)


@functools.lru_cache(maxsize=256)
def _formula(network: Network, step: str) -> str:
    return str(program_for(network).derivation.step(step).rhs)


def _rule_text(rule: Rule) -> str:
    from symbackprop.text import RULE_WORDS

    return RULE_WORDS[rule]


def tolerances(
    program: StepProgram,
    base: Mapping[str, float],
    values: Mapping[str, float],
    steps: Sequence[str],
    decimals: int,
) -> dict[str, float]:
    """Return atol = 10^-d (1 + sum_s |d answer / d s|) per step: rounding to d places.

    Each of the answer's own rounding and the rounding of every upstream intermediate s moves
    it by at most 0.5 10^-d |d answer/ds| to first order; the factor 2 over that bound leaves
    room for second-order terms.
    """
    spread = program.sensitivities(base, values, steps)
    return {step: 10.0 ** (-decimals) * (1.0 + spread[step]) for step in steps}


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
