"""The matrix program of a network of layers: named matrix assignments over a batch (model layer).

One column per sample (Nielsen's layout): the input is ``X`` (n0 x B), a dense layer computes
``Z = W X + b 1^T`` with ``W`` laid out (out, in) as PyTorch's ``state_dict``. Every assignment
is one small SymPy matrix expression over named matrices, so that the reverse sweep can name
every adjoint and cite one rule per step. Layers (:mod:`symbackprop.model.layers`) stage
themselves into a :class:`ProgramBuilder`; :mod:`symbackprop.model.sequential` drives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy as sp

from symbackprop.model.errors import SpecError
from symbackprop.model.penalty import NO_PENALTY, Penalty

BATCH = sp.Symbol("B", integer=True, positive=True)
INPUT_NAME = "X"
TARGET_NAME = "Y"


@dataclass(frozen=True, slots=True)
class MatrixAssignment:
    """One line ``lhs := rhs`` of a matrix program; ``layer`` is the state_dict prefix ("2")."""

    lhs: sp.MatrixSymbol
    rhs: sp.MatrixExpr
    layer: str
    role: str  # what the node is: "pre-activation", "activation", "mean", "variance", ...
    level: int  # the textbook layer number l of the superscript (l)
    # One sample's column as PyTorch shapes it: (n,) features, (C, H, W) or (C, L) feature
    # maps, (T, n) a sequence's steps. The column holds it flattened in C order.
    sample_shape: tuple[int, ...] = ()
    step: int | None = None  # the time step t of a recurrent layer's node, from 1


@dataclass(frozen=True, slots=True)
class MatrixParameter:
    """A parameter: its matrix symbol, its state_dict name and the state_dict's shape."""

    symbol: sp.MatrixSymbol
    state_name: str
    state_shape: tuple[int, ...]
    init: str  # "uniform_fan_in" (PyTorch's Linear), "ones" or "zeros"
    fan_in: int = 1


@dataclass(frozen=True, slots=True)
class MatrixConstant:
    """A constant matrix the program uses (a dropout mask): its symbol and how it is drawn."""

    symbol: sp.MatrixSymbol
    keep_probability: float
    seed: int


@dataclass(frozen=True, slots=True)
class MatrixProgram:
    """A network of layers as matrix assignments, with its parameters, input, target and loss."""

    assignments: tuple[MatrixAssignment, ...]
    parameters: tuple[MatrixParameter, ...]
    constants: tuple[MatrixConstant, ...]
    scalars: tuple[tuple[sp.Symbol, float], ...]  # named numbers such as epsilon
    input: sp.MatrixSymbol
    target: sp.MatrixSymbol
    output: sp.MatrixSymbol
    loss_name: str
    sequence: bool = False  # columns are the positions of one sequence (attention)
    penalty: Penalty = NO_PENALTY
    input_shape: tuple[int, ...] = ()  # one sample of X as PyTorch shapes it; () is (n0,)

    def sample_shape(self, name: str) -> tuple[int, ...]:
        """Return one sample's shape of a node (or of X): (n,) unless a layer gave it a map."""
        if name == INPUT_NAME:
            return self.input_shape or (int(self.input.shape[0]),)
        assignment = self.assignment(name)
        rows = assignment.lhs.shape[0]
        if assignment.sample_shape or not rows.is_Integer:  # attention's scores are B x B
            return assignment.sample_shape
        return (int(rows),)

    @property
    def output_steps(self) -> int:
        """Return T when each sample's output is a sequence of T steps, else 1.

        The loss of a sequence output sums the loss of each step (its last dimension, as
        PyTorch's losses read (B, T, k)) over the steps: L = (1/B) sum_b sum_t loss_t.
        """
        shape = self.sample_shape(str(self.output.name))
        recurrent = any(a.step is not None for a in self.assignments)
        return shape[0] if len(shape) == 2 and recurrent else 1

    @property
    def penalized(self) -> tuple[MatrixParameter, ...]:
        """Return the weight matrices a penalty applies to (W, W_Q, K, ...: not b, gamma, beta)."""
        return tuple(p for p in self.parameters if str(p.symbol.name).startswith(("W", "K")))

    def assignment(self, name: str) -> MatrixAssignment:
        """Return the assignment of the node called ``name``."""
        for assignment in self.assignments:
            if assignment.lhs.name == name:
                return assignment
        raise KeyError(name)

    def parameter(self, state_name: str) -> MatrixParameter:
        for parameter in self.parameters:
            if parameter.state_name == state_name:
                return parameter
        raise KeyError(state_name)

    @property
    def nodes(self) -> tuple[sp.MatrixSymbol, ...]:
        return tuple(a.lhs for a in self.assignments)


@dataclass(slots=True)
class ProgramBuilder:
    """Collects the assignments of a matrix program while layers stage themselves into it."""

    n_inputs: int
    level: int = 0
    # The shape of one sample of the value the next layer receives (see MatrixAssignment);
    # the driver (model/sequential.py) sets it before each layer stages itself.
    shape: tuple[int, ...] = ()
    assignments: list[MatrixAssignment] = field(default_factory=list)
    parameters: list[MatrixParameter] = field(default_factory=list)
    constants: list[MatrixConstant] = field(default_factory=list)
    scalars: list[tuple[sp.Symbol, float]] = field(default_factory=list)
    _names: set[str] = field(default_factory=lambda: {INPUT_NAME, TARGET_NAME})

    @property
    def input(self) -> sp.MatrixSymbol:
        return sp.MatrixSymbol(INPUT_NAME, self.n_inputs, BATCH)

    def next_level(self) -> int:
        """Start the next numbered layer (one with parameters): the (l) of its names."""
        self.level += 1
        return self.level

    def _fresh(self, letter: str, step: int | None = None) -> str:
        time = "" if step is None else f"t{step}"
        name = f"{letter}{self.level}{time}"
        suffix = 2
        while name in self._names:
            # The same kind of node twice in one numbered layer (two dropouts in a row).
            name = f"{letter}{self.level}v{suffix}{time}"
            suffix += 1
        self._names.add(name)
        return name

    def node(
        self,
        letter: str,
        rhs: sp.MatrixExpr,
        layer: str,
        role: str,
        sample_shape: tuple[int, ...] = (),
        step: int | None = None,
    ) -> sp.MatrixSymbol:
        """Append ``letter^(l) := rhs`` (``letter^(l)<t>`` at time step t); return its symbol.

        ``sample_shape`` is one sample's shape when it is not flat ((C, H, W), (T, n)).
        """
        rows, cols = rhs.shape
        symbol = sp.MatrixSymbol(self._fresh(letter, step), rows, cols)
        if not sample_shape and len(self.shape) > 1 and math.prod(self.shape) == rows:
            sample_shape = self.shape  # a shape-keeping layer (relu of a map) keeps the map
        flat = sample_shape if len(sample_shape) > 1 else ()
        self.assignments.append(MatrixAssignment(symbol, rhs, layer, role, self.level, flat, step))
        return symbol

    def parameter(
        self,
        letter: str,
        state_name: str,
        rows: int,
        cols: int,
        state_shape: tuple[int, ...],
        init: str,
        fan_in: int = 1,
    ) -> sp.MatrixSymbol:
        """Declare a parameter ``letter^(l)`` (rows x cols) stored as ``state_name``."""
        name = f"{letter}{self.level}"
        if name in self._names:
            raise SpecError(f"parameter {name} is declared twice; this is a bug in a layer kind")
        self._names.add(name)
        symbol = sp.MatrixSymbol(name, rows, cols)
        self.parameters.append(MatrixParameter(symbol, state_name, state_shape, init, fan_in))
        return symbol

    def mask(self, rows: int, keep_probability: float, seed: int) -> sp.MatrixSymbol:
        """Declare a dropout mask ``M^(l)`` (rows x B) of 0s and 1s, drawn from ``seed``."""
        symbol = sp.MatrixSymbol(self._fresh("M"), rows, BATCH)
        self.constants.append(MatrixConstant(symbol, keep_probability, seed))
        return symbol

    def scalar(self, letter: str, value: float) -> sp.Symbol:
        """Declare a named number (epsilon of a normalisation) and return its symbol."""
        symbol = sp.Symbol(self._fresh(letter), positive=True)
        self.scalars.append((symbol, value))
        return symbol
