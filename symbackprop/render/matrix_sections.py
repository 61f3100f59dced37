"""A matrix derivation and its numbers as plain sections: the rows every matrix format prints.

Rendering layer. :func:`matrix_sections` walks a :class:`MatrixDerivation` in stage order and
groups its steps by layer (the state_dict prefix and the layer's kind): each line is one matrix
equation with its shape, the rules it cites in words, the paths of a sum over paths and, with
an evaluation, its numbers. :func:`entry_text` and :func:`matrix_grid` format those numbers
(4 significant digits, powers of ten written out); the writers in
:mod:`symbackprop.render.matrix_text` and the reports lay the sections out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.model.sequential import LayerNetwork
from symbackprop.render.text import rule_words

SIGNIFICANT = 4  # digits of every matrix entry
ROWS_SHOWN = 8  # a matrix with more rows, or more columns than COLUMNS_SHOWN, is abbreviated
COLUMNS_SHOWN = 6
CORNER = 3  # an abbreviated matrix shows its first CORNER rows and columns, and its last
# Below this a printed entry is float64 round-off of an exact zero (the bias of a dense layer
# before a batch norm, attention's key bias), shown as 0 rather than as 1e-19.
ROUNDOFF = 1e-12
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

Printer = Callable[[sp.Basic], str]

BAR_NOTE = (
    "A bar marks an adjoint: V̄ = ∂(B·L)/∂V is the derivative of the batch's total loss "
    "(the sum of the B samples' losses) with respect to the node V, one column per sample, so "
    "column b is sample b's own share of the blame; Δ is the adjoint of a pre-activation Z. "
    "The gradients ∂L/∂θ are of the mean loss L, hence their factor 1/B."
)
SEQUENCE_NOTE = (
    "Self-attention mixes the columns: here the B columns are the positions of one sequence, "
    "not independent samples."
)
INTROS = {
    Stage.FORWARD: "Each layer's assignments over the whole batch, one column per sample "
    "(X is features × B); 𝟏 is a column of ones, so b 𝟏ᵀ copies a bias into every column and "
    "Δ 𝟏 sums a matrix's columns.",
    Stage.LOSS: "The mean over the batch of each sample's loss.",
    Stage.ADJOINT: "From the loss back, each node's adjoint from the adjoints of the nodes it "
    "feeds, with the rule of each step; a node used twice adds the blame of both paths. "
    "A bar marks an adjoint (one column per sample); Δ is the adjoint of a pre-activation Z.",
    Stage.GRADIENT: "Each parameter's gradient of the mean loss, stored under its state_dict "
    "name (PyTorch's layout: a weight is out × in, a bias a vector).",
    Stage.UPDATE: "Gradient descent: every parameter moves against its gradient, θ⁺ = θ − η ∂L/∂θ.",
}
TITLES = {
    Stage.FORWARD: "Forward pass",
    Stage.LOSS: "Loss",
    Stage.ADJOINT: "Backward pass",
    Stage.GRADIENT: "Gradients",
    Stage.UPDATE: "Update",
}


@dataclass
class MatrixPathLine:
    """One term of a sum over paths: what the node ``via`` sends back, and the rules."""

    via: str
    term: str
    words: str


@dataclass
class MatrixLine:
    """One matrix equation: lhs = rhs, its shape, rule words, paths and numbers."""

    name: str
    lhs: str
    rhs: str
    shape: str  # "4×B"
    words: str = ""
    paths: list[MatrixPathLine] = field(default_factory=list)
    state_name: str = ""
    state_shape: str = ""
    value: Any = None  # an ndarray (program layout) or the loss, when evaluated
    # One sample's shape when it is a feature map or a sequence ((C, H, W), (T, n)): its
    # numbers are shown as small grids per sample. A kernel's own shape (out, in, kh, kw) for
    # a kernel and its gradient, whose numbers are grids per channel pair (``per_sample`` off).
    sample_shape: tuple[int, ...] = ()
    per_sample: bool = True


@dataclass
class MatrixGroup:
    """The lines of one layer (or of no layer: the loss)."""

    title: str
    lines: list[MatrixLine] = field(default_factory=list)


@dataclass
class MatrixSection:
    stage: Stage
    title: str
    intro: str
    groups: list[MatrixGroup] = field(default_factory=list)


# --- numbers -------------------------------------------------------------------------------
def entry_parts(value: float) -> tuple[str, int]:
    """Split a number into (mantissa text, power of ten) with 4 significant digits.

    Numbers from 0.001 to 9999 keep the power 0 (0.01234, 123.4); others are m × 10ⁿ."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return ("0" if value == 0 else str(value)), 0
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent <= 3:
        decimals = max(SIGNIFICANT - 1 - exponent, 0)
        return _trimmed(f"{value:.{decimals}f}"), 0
    mantissa = f"{value / 10.0**exponent:.{SIGNIFICANT - 1}f}"
    if mantissa.lstrip("-").startswith("10"):  # 9.9996 rounds up to 10.000
        exponent += 1
        mantissa = f"{value / 10.0**exponent:.{SIGNIFICANT - 1}f}"
    return _trimmed(mantissa), exponent


def _trimmed(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def entry_text(value: float) -> str:
    """Return a number as terminal text: 0.1234, -5.678×10⁻⁵ (never e-notation)."""
    mantissa, exponent = entry_parts(value)
    mantissa = mantissa.replace("-", "−")
    return mantissa if exponent == 0 else f"{mantissa}×10{str(exponent).translate(_SUPERSCRIPT)}"


def entry_latex(value: float) -> str:
    """Return a number as LaTeX: 0.1234, -5.678 \\times 10^{-5}."""
    mantissa, exponent = entry_parts(value)
    return mantissa if exponent == 0 else f"{mantissa} \\times 10^{{{exponent}}}"


def matrix_grid(array: Any, entry: Callable[[float], str]) -> tuple[list[list[str]], bool]:
    """Return the entries to show as rows of text, and whether the matrix was abbreviated.

    A large matrix keeps its first rows and columns and its last; "⋮", "⋯" and "⋱" stand
    for the rest."""
    values = np.atleast_2d(np.asarray(array, dtype=np.float64))
    rows, cols = values.shape
    row_ids = _kept(rows, ROWS_SHOWN)
    col_ids = _kept(cols, COLUMNS_SHOWN)
    grid = []
    for i in row_ids:
        grid.append([_cell(values, i, j, entry) for j in col_ids])
    return grid, (len(row_ids), len(col_ids)) != (rows, cols)


def _kept(count: int, limit: int) -> list[int | None]:
    if count <= limit:
        return list(range(count))
    return [*range(CORNER), None, count - 1]


def _cell(values: Any, i: int | None, j: int | None, entry: Callable[[float], str]) -> str:
    if i is None and j is None:
        return "⋱"
    if i is None:
        return "⋮"
    if j is None:
        return "⋯"
    value = float(values[i, j])
    return entry(0.0 if abs(value) < ROUNDOFF else value)


def shape_text(shape: Any) -> str:
    """Return a shape as 4×B (symbolic) or 4×5."""
    return "×".join(str(n) for n in shape)


# --- sections ------------------------------------------------------------------------------
def layer_kinds(network: LayerNetwork) -> dict[str, str]:
    """Return {state_dict prefix: "dense 8"} for every layer, nested ones too (2.body.0)."""
    kinds: dict[str, str] = {}

    def walk(layers: tuple[Any, ...], prefix: str) -> None:
        for index, layer in enumerate(layers):
            kinds[f"{prefix}{index}"] = layer.describe()
            inner = getattr(layer, "layers", None)
            if inner is not None:
                walk(inner, f"{prefix}{index}.body.")

    walk(network.layers, "")
    return kinds


def layer_titles(network: LayerNetwork) -> dict[str, str]:
    """Return {state_dict prefix: "dense 8 · state_dict 2.body.0.*"} for every layer."""
    return {
        prefix: f"{kind} · state_dict {prefix}.*" for prefix, kind in layer_kinds(network).items()
    }


def _group_title(titles: dict[str, str], layer: str | None) -> str:
    if layer is None:
        return ""
    known = [p for p in titles if layer == p or layer.startswith(p + ".")]
    return titles[max(known, key=len)] if known else f"state_dict {layer}.*"


def matrix_sections(
    d: MatrixDerivation, ev: MatrixEvaluation | None, print_: Printer
) -> list[MatrixSection]:
    """Join the steps with their numbers, stage by stage and layer by layer."""
    titles = layer_titles(d.network)
    out = []
    for stage in (Stage.FORWARD, Stage.LOSS, Stage.ADJOINT, Stage.GRADIENT, Stage.UPDATE):
        steps = d.stage(stage)
        if not steps or (stage is Stage.UPDATE and (ev is None or ev.learning_rate is None)):
            continue
        section = MatrixSection(stage, TITLES[stage], INTROS[stage])
        for step in steps:
            title = _group_title(titles, step.layer)
            if not section.groups or section.groups[-1].title != title:
                section.groups.append(MatrixGroup(title))
            section.groups[-1].lines.append(_line(d, step, ev, print_))
        out.append(section)
    return out


def _line(
    d: MatrixDerivation, step: MatrixStep, ev: MatrixEvaluation | None, p: Printer
) -> MatrixLine:
    shape = step.shape
    line = MatrixLine(step.name, p(step.lhs), p(step.rhs), shape_text(shape) if shape else "")
    if step.stage is not Stage.FORWARD:
        line.words = rule_words(step.rules) or _path_words(step.rules)
    if len(step.paths) > 1:
        line.paths = [MatrixPathLine(p(path.via), p(path.term), _path_words(path.rules))
                      for path in step.paths]  # fmt: skip
    if step.state_name:
        line.state_name = step.state_name
        line.state_shape = str(tuple(int(n) for n in _state_shape(d, step.state_name)))
    if ev is not None:
        line.value = _value(step, ev)
    line.sample_shape, line.per_sample = _map_shape(d, step)
    return line


def _map_shape(d: MatrixDerivation, step: MatrixStep) -> tuple[tuple[int, ...], bool]:
    """Return the shape a line's numbers are drawn in as grids, and whether per sample."""
    if step.state_name:
        shape = d.program.parameter(step.state_name).state_shape
        return (shape, False) if len(shape) > 2 else ((), True)
    node = step.node if step.node is not None else step.lhs
    try:
        shape = d.program.sample_shape(str(node.name))
    except (KeyError, AttributeError):
        return (), True
    return (shape, True) if len(shape) > 1 else ((), True)


def _path_words(rules: tuple[Any, ...]) -> str:
    return rule_words(rules) if rules else "passed on unchanged"


def _state_shape(d: MatrixDerivation, state_name: str) -> tuple[int, ...]:
    return d.program.parameter(state_name).state_shape


def _value(step: MatrixStep, ev: MatrixEvaluation) -> Any:
    if step.stage is Stage.LOSS:
        return ev.loss
    if step.stage is Stage.UPDATE:
        return ev.updated.get(step.name)
    return ev.values.get(step.name)


def iter_lines(sections: list[MatrixSection]) -> Iterator[MatrixLine]:
    """Yield every line of the sections, in order."""
    for section in sections:
        for group in section.groups:
            yield from group.lines
