"""Check a hand-derived matrix gradient of a network of layers: verdict, counterexample, diagnosis.

Checks layer. ``check_gradient(net, "2.weight", "Delta2 @ A1.T / B")`` for a network of layers
lands here. The formula is parsed in matrix mode (:mod:`symbackprop.model.parsing.matrix`)
over the derivation's named matrices, so its shapes are checked symbolically: operands that do
not fit give a wrong verdict whose diagnosis names them and the nearest formula that fits. A
well-shaped formula is evaluated with the right gradient at seeded probe points, each with a
batch of its own size (:mod:`symbackprop.checks.matrix_probing`); a wrong one gets the
smallest batch where they differ as a counterexample, and a diagnosis from the matrix catalogue.

What may be checked: a parameter's gradient, by state_dict name (``"2.weight"``) or symbol
(``"W2"``), or a node's adjoint by its name (``"Delta1"``, ``"dA1"``, ``"dXhat2"``). The formula
may use every forward node, parameter, adjoint, ``X``, ``Y``, dropout mask, ``B`` and named
number (``epsilon2``), but not a gradient, an updated parameter or the quantity asked for.

The gradient of a vector parameter (a bias, gamma, beta: state shape (n,)) is an n×1 column in
the derivation; a 1×n row is accepted for it too, since both flatten to the state's shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

import symbackprop.checks.catalogue  # noqa: F401  (registers the mistakes)
from symbackprop.checks.matrix_mistakes import MatrixMistakeContext, diagnose_matrix
from symbackprop.checks.matrix_probing import (
    ProbePoint,
    close,
    derivation_of,
    evaluate,
    probe,
)
from symbackprop.checks.matrix_text import formula_text, matrix_text
from symbackprop.checks.mistakes import Diagnosis
from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.model.errors import ParseError, shorten, unknown_name
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.parsing.conv_calls import MapFacts, map_facts
from symbackprop.model.parsing.matrix import FormulaShapeError, parse_matrix
from symbackprop.model.sequential import LayerNetwork

FloatArray = np.ndarray
SHAPE_MISMATCH = "shape_mismatch"


@dataclass(frozen=True, slots=True)
class MatrixCounterexample:
    """The smallest probe batch where the formulas differ: parameters, data, both values."""

    params: Mapping[str, FloatArray]  # state_dict names and shapes
    X: FloatArray  # (batch, n_inputs): one row per sample, as passed to sb.compile etc.
    Y: FloatArray
    expected_value: FloatArray  # in the derivation's layout (one column per sample)
    given_value: FloatArray

    @property
    def batch(self) -> int:
        return int(self.X.shape[0])

    def values(self) -> dict[str, FloatArray]:
        """Return every array of the point by name: parameters, X and Y."""
        return {**self.params, "X": self.X, "Y": self.Y}


@dataclass(frozen=True, slots=True)
class MatrixGradientVerdict:
    """The verdict on a hand-derived matrix gradient or adjoint: correct or not, and why not."""

    wrt: str  # as asked: "2.weight", "W2" or "Delta1"
    target: str  # the derivation's step: "dL_dW2" or "Delta1"
    correct: bool
    expected: sp.Basic
    given: sp.Basic | None  # None when the formula's shapes do not fit
    diagnosis: Diagnosis | None = None
    counterexample: MatrixCounterexample | None = None
    method: str = "numeric"
    points: int = 0
    batches: tuple[int, ...] = ()
    given_text: str | None = None  # the formula as typed (shown when its shapes do not fit)

    def to_text(self) -> str:
        """Return a short readable report (the `symbackprop check` output)."""
        lines = [f"{self.target} ({self.wrt}): {'correct' if self.correct else 'wrong'}"]
        lines.append(f"  expected: {formula_text(self.expected)}")
        if self.given is not None:
            lines.append(f"  given:    {formula_text(self.given)}")
        elif self.given_text is not None:
            lines.append(f"  given:    {' '.join(self.given_text.split())}")
        if self.correct:
            sizes = ", ".join(str(b) for b in self.batches)
            lines.append(f"  equal at {self.points} random points (batches of {sizes} samples)")
        if self.diagnosis is not None:
            lines.append(f"  diagnosis: {self.diagnosis.title}: {self.diagnosis.explanation}")
        if self.counterexample is not None:
            point = self.counterexample
            lines.append(f"  counterexample (a batch of {point.batch}, one row per sample):")
            for name, value in point.values().items():
                lines.append(f"    {name} = {matrix_text(value)}")
            lines.append(f"    expected {self.target} = {matrix_text(point.expected_value)}")
            lines.append(f"    given {' ' * len(self.target)}   = {matrix_text(point.given_value)}")
        return "\n".join(lines)


def check_layer_gradient(
    network: LayerNetwork,
    wrt: str,
    expression: str | sp.Basic,
    *,
    source: str = "<expr>",
    seed: int = 0,
    forbidden: Iterable[str] = (),
) -> MatrixGradientVerdict:
    """Check a matrix formula for a gradient or an adjoint of a network of layers.

    ``wrt`` is a state_dict name ("2.weight"), a parameter symbol ("W2") or an adjoint
    ("Delta1"); ``expression`` is NumPy-style text (parsed safely) or a SymPy matrix
    expression over the derivation's names; ``forbidden`` names further matrices the formula
    may not use. Unknown names and refused constructs raise ``ParseError``; operands whose
    shapes do not fit give a wrong verdict that says which and why.
    """
    derivation = derivation_of(network)
    target = target_step(derivation, wrt)
    refused = _refused(derivation, target, forbidden)
    matrices, scalars = allowed_names(derivation)
    try:
        given = _given(expression, matrices | refused_symbols(derivation, refused), scalars,
                       source, maps_of(derivation))  # fmt: skip
    except FormulaShapeError as problem:
        text = expression if isinstance(expression, str) else None
        return _shape_verdict(wrt, target, problem.explanation, text)
    _check_not_refused(given, refused, source)
    aligned = _aligned(derivation, target, given)
    points = probe(network, seed)
    given_values = tuple(evaluate(aligned, p.values) for p in points)
    expected_values = tuple(np.asarray(p.values[target.name]) for p in points)
    wrong = [i for i, (g, e) in enumerate(zip(given_values, expected_values, strict=True))
             if not close(g, e)]  # fmt: skip
    batches = tuple(p.batch for p in points)
    if not wrong:
        return MatrixGradientVerdict(wrt, target.name, True, target.rhs, given,
                                     points=len(points), batches=batches)  # fmt: skip
    context = MatrixMistakeContext(
        derivation, target, aligned, points, given_values, expected_values
    )
    smallest = min(wrong, key=lambda i: (points[i].batch, i))
    counterexample = _counterexample(points[smallest], expected_values[smallest],
                                     given_values[smallest])  # fmt: skip
    return MatrixGradientVerdict(wrt, target.name, False, target.rhs, given,
                                 diagnose_matrix(context), counterexample, points=len(points),
                                 batches=batches)  # fmt: skip


def target_step(derivation: MatrixDerivation, wrt: str) -> MatrixStep:
    """Return the step a name asks for: a parameter's gradient, or an adjoint."""
    if not isinstance(wrt, str):
        raise ParseError(
            f"wrt {shorten(repr(wrt))} is not a name; pass e.g. '2.weight' or 'Delta1'"
        )
    for step in derivation.stage(Stage.GRADIENT):
        node_name = getattr(step.node, "name", None)
        if wrt in (step.state_name, node_name, step.name):
            return step
    for step in derivation.stage(Stage.ADJOINT):
        if step.name == wrt:
            return step
    known = [s.state_name or s.name for s in derivation.stage(Stage.GRADIENT)]
    known += [s.name for s in derivation.stage(Stage.ADJOINT)]
    raise unknown_name("parameter or adjoint", wrt, known)


def allowed_names(
    derivation: MatrixDerivation,
) -> tuple[dict[str, sp.MatrixSymbol], dict[str, sp.Symbol]]:
    """Return the matrices and numbers a formula may use (before refusals)."""
    program = derivation.program
    matrices = {program.input.name: program.input, program.target.name: program.target}
    matrices |= {p.symbol.name: p.symbol for p in program.parameters}
    matrices |= {c.symbol.name: c.symbol for c in program.constants}
    for step in derivation.steps:
        if step.stage in (Stage.FORWARD, Stage.ADJOINT) and isinstance(step.lhs, sp.MatrixSymbol):
            matrices[step.name] = step.lhs
    scalars = {"B": BATCH} | {symbol.name: symbol for symbol, _ in program.scalars}
    return matrices, scalars


def maps_of(derivation: MatrixDerivation) -> MapFacts | None:
    """Return the convolution and pooling layers a formula's functions act on, if any."""
    adjoints = {s.name: str(s.node.name) for s in derivation.stage(Stage.ADJOINT)
                if isinstance(s.node, sp.MatrixSymbol)}  # fmt: skip
    facts = map_facts(derivation.program.assignments, adjoints)
    return facts if facts.layers else None


def refused_symbols(
    derivation: MatrixDerivation, refused: Mapping[str, str]
) -> dict[str, sp.MatrixSymbol]:
    """Return the refused names that are matrices of the derivation, so that parsing knows them."""
    return {s.name: s.lhs for s in derivation.steps
            if s.name in refused and isinstance(s.lhs, sp.MatrixSymbol)}  # fmt: skip


def _refused(
    derivation: MatrixDerivation, target: MatrixStep, forbidden: Iterable[str]
) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for step in derivation.steps:
        if step.stage is Stage.GRADIENT:
            reasons[step.name] = "a parameter's gradient"
        elif step.stage is Stage.UPDATE:
            reasons[step.name] = "an updated parameter (after the gradient step)"
    reasons[target.name] = "the quantity asked for"
    reasons |= {name: "the quantity asked for" for name in forbidden}
    return reasons


def _given(
    expression: str | sp.Basic,
    matrices: Mapping[str, sp.MatrixSymbol],
    scalars: Mapping[str, sp.Symbol],
    source: str,
    maps: MapFacts | None = None,
) -> sp.MatrixExpr:
    if isinstance(expression, str):
        return parse_matrix(expression, matrices=matrices, scalars=scalars, source=source,
                            maps=maps)  # fmt: skip
    if not isinstance(expression, sp.MatrixExpr):
        raise ParseError(
            f"{source}:1:1: {type(expression).__name__} is not a matrix expression; pass text "
            "such as 'Delta2 @ A1.T / B' or a SymPy matrix expression"
        )
    replacements: dict[sp.Basic, sp.Basic] = {}
    for symbol in expression.atoms(sp.MatrixSymbol):
        known = matrices.get(str(symbol.name))
        if known is None or known.shape != symbol.shape:
            raise unknown_name("matrix", str(symbol.name), matrices, where="in the expression")
        replacements[symbol] = known
    for symbol in expression.free_symbols - set(expression.atoms(sp.MatrixSymbol)):
        if not isinstance(symbol, sp.Symbol) or symbol.name not in scalars:
            raise unknown_name("number", str(symbol), scalars, where="in the expression")
        replacements[symbol] = scalars[symbol.name]
    return expression.xreplace(replacements)  # type: ignore[no-any-return]


def _check_not_refused(given: sp.Basic, refused: Mapping[str, str], source: str) -> None:
    used = sorted(str(m.name) for m in given.atoms(sp.MatrixSymbol) if str(m.name) in refused)
    if used:
        name = used[0]
        raise ParseError(
            f"{source}:1:1: the formula uses {name!r}, {refused[name]}; write it in terms of "
            "the forward matrices, the adjoints it depends on, the parameters, X and Y"
        )


def _aligned(derivation: MatrixDerivation, target: MatrixStep, given: sp.MatrixExpr) -> sp.Basic:
    """Return the formula in the target's layout: a row for a vector parameter becomes a column."""
    expected_shape = target.shape
    if target.stage is not Stage.GRADIENT or target.state_name is None or expected_shape is None:
        return given
    vector = len(derivation.program.parameter(target.state_name).state_shape) == 1
    if vector and given.shape == (expected_shape[1], expected_shape[0]) and given.shape[0] == 1:
        return given.T
    return given


def _shape_verdict(
    wrt: str, target: MatrixStep, explanation: str, text: str | None
) -> MatrixGradientVerdict:
    diagnosis = Diagnosis(SHAPE_MISMATCH, "the shapes do not fit", explanation)
    return MatrixGradientVerdict(
        wrt, target.name, False, target.rhs, None, diagnosis, given_text=text
    )


def _counterexample(
    point: ProbePoint, expected: FloatArray, given: FloatArray
) -> MatrixCounterexample:
    return MatrixCounterexample(dict(point.params), point.X, point.Y, expected, given)
