"""A tiny instance of a network of layers, expanded per element into a scalar program.

Derivation engine. Every matrix assignment of a small network, for a fixed batch size, is
written out entry by entry (z1_2 := w1_2_1 x1 + w1_2_2 x2 + b1_2), so the per-neuron machinery
(:func:`symbackprop.derivation.derive.derive`) derives it and a student can follow one weight's
gradient collecting every sample and every path it touched. :func:`per_element` returns the
scalar network with the maps between matrix entries and scalar names, so the two views can be
evaluated side by side and shown to agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.matrix_evaluation import dropout_mask
from symbackprop.model import functions as fn
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.losses import get_loss
from symbackprop.model.matrices import ColumnSoftmax
from symbackprop.model.matrix_program import BATCH, MatrixProgram
from symbackprop.model.network import Network
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.tensor_ops import StopGradient, TensorOp

# A per-element view is for reading: past this many scalar assignments it stops being one.
MAX_ENTRIES = 400


@dataclass(frozen=True)
class ElementView:
    """A network of layers written per element for one batch size, and its derivation."""

    network: Network
    derivation: Derivation
    batch: int
    entries: Mapping[str, sp.Matrix]  # matrix name -> its entries as scalar symbols
    layer_network: LayerNetwork

    def params(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Return the scalar parameters of state_dict arrays ({"w1_1_1": ..., ...})."""
        arrays = self.layer_network.checked_params(params)
        out: dict[str, float] = {}
        for parameter in self.layer_network.program.parameters:
            symbols = self.entries[str(parameter.symbol.name)]
            values = np.reshape(arrays[parameter.state_name], symbols.shape)
            for index in np.ndindex(symbols.shape):
                out[str(symbols[index])] = float(values[index])
        return out

    def data(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return one row holding the whole batch's inputs and one holding its targets."""
        X2 = np.atleast_2d(np.asarray(X, dtype=np.float64))
        Y2 = np.atleast_2d(np.asarray(Y, dtype=np.float64))
        if X2.shape[0] != self.batch:
            raise SymbackpropError(
                f"this per-element view is for a batch of {self.batch}; X has {X2.shape[0]} rows"
            )
        return X2.T.reshape(1, -1), Y2.T.reshape(1, -1)

    def gradient_arrays(self, scalar_gradient: Mapping[str, float]) -> dict[str, np.ndarray]:
        """Return a scalar derivation's gradients gathered back into state_dict arrays."""
        out = {}
        for parameter in self.layer_network.program.parameters:
            symbols = self.entries[str(parameter.symbol.name)]
            values = np.array([[scalar_gradient[str(symbols[i, j])]
                                for j in range(symbols.shape[1])]
                               for i in range(symbols.shape[0])])  # fmt: skip
            out[parameter.state_name] = values.reshape(parameter.state_shape)
        return out


def per_element(network: LayerNetwork, batch: int = 1) -> ElementView:
    """Expand a small network of layers, for ``batch`` samples, into a scalar program.

    Entries are named as the per-neuron derivation names them: z1_2, a1_2, w2_1_2, b2_1, x1,
    y2 for one sample; with more samples each name gains the sample, z1_2_s1.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SymbackpropError(f"batch {batch!r} must be a whole number >= 1")
    program = network.program
    _check_size(program, batch)
    entries = _declare(program, _Names(batch))
    assignments: list[tuple[sp.Symbol, sp.Expr]] = []
    explicit = _Explicit(entries, batch, _masks(program, batch), dict(program.scalars))
    for assignment in program.assignments:
        value = explicit.of(assignment.rhs)
        symbols = entries[str(assignment.lhs.name)]
        for index in np.ndindex(symbols.shape):
            assignments.append((symbols[index], value[index]))
    loss = _loss(program, entries, batch)
    scalar = Network.from_expressions(
        assignments,
        loss,
        params=[s for p in program.parameters for s in entries[str(p.symbol.name)]],
        inputs=list(entries["X"]),
        targets=list(entries["Y"]),
    )
    return ElementView(scalar, derive(scalar), batch, entries, network)


class _Names:
    """Scalar names of matrix entries, in the per-neuron notation where there is one."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def entry(self, matrix: str, row: int, col: int, is_parameter: bool, cols: int) -> str:
        if matrix == "X":
            base = f"x{row + 1}"
        elif matrix == "Y":
            base = f"y{row + 1}"
        elif is_parameter and matrix[0] == "W" and matrix[1:].isdigit():
            return f"w{matrix[1:]}_{row + 1}_{col + 1}"
        elif is_parameter:
            # A vector (b, gamma) is indexed by its row; a matrix (W_Q) by row and column.
            return f"{matrix}_{row + 1}" + (f"_{col + 1}" if cols > 1 else "")
        elif matrix[0] in "ZA" and matrix[1:].isdigit():
            base = f"{matrix[0].lower()}{matrix[1:]}_{row + 1}"
        else:
            base = f"{matrix}_{row + 1}"
        return base if self.batch == 1 else f"{base}_s{col + 1}"


def _declare(program: MatrixProgram, names: _Names) -> dict[str, sp.Matrix]:
    entries: dict[str, sp.Matrix] = {}
    parameters = {p.symbol for p in program.parameters}
    matrices = [program.input, program.target, *parameters, *(a.lhs for a in program.assignments)]
    for matrix in matrices:
        rows, cols = (int(s.subs(BATCH, names.batch)) for s in matrix.shape)
        name = str(matrix.name)
        is_parameter = matrix in parameters
        entries[name] = sp.Matrix(
            rows, cols,
            [sp.Symbol(names.entry(name, i, j, is_parameter, cols))
             for i in range(rows) for j in range(cols)],
        )  # fmt: skip
    return entries


def _check_size(program: MatrixProgram, batch: int) -> None:
    count = sum(int(a.lhs.shape[0].subs(BATCH, batch)) * int(a.lhs.shape[1].subs(BATCH, batch))
                for a in program.assignments)  # fmt: skip
    if count > MAX_ENTRIES:
        raise SymbackpropError(
            f"the per-element view of this network has {count} entries (limit {MAX_ENTRIES}); "
            "use a smaller network or batch for it"
        )


def _masks(program: MatrixProgram, batch: int) -> dict[str, sp.Matrix]:
    return {str(c.symbol.name): sp.Matrix(dropout_mask(c, batch).astype(int))
            for c in program.constants}  # fmt: skip


def _loss(program: MatrixProgram, entries: Mapping[str, sp.Matrix], batch: int) -> sp.Expr:
    """L = (1/B) sum over samples of one sample's loss (the mean over the batch)."""
    output, targets = entries[str(program.output.name)], entries["Y"]
    loss = get_loss(program.loss_name)
    k = output.rows // program.output_steps  # a sequence: each step's loss over its k features
    total = sp.Add(*(term for b in range(batch) for start in range(0, output.rows, k)
                     for term in loss.terms(list(output[start : start + k, b]),
                                            list(targets[start : start + k, b]))))  # fmt: skip
    return total if batch == 1 else total / batch


class _Explicit:
    """Evaluate a matrix expression to an explicit SymPy Matrix of scalar expressions."""

    def __init__(
        self,
        entries: Mapping[str, sp.Matrix],
        batch: int,
        masks: Mapping[str, sp.Matrix],
        scalars: Mapping[sp.Symbol, float],
    ) -> None:
        self.entries, self.batch, self.masks = entries, batch, masks
        self.numbers = {symbol: sp.Rational(str(value)) for symbol, value in scalars.items()}
        self.numbers[BATCH] = sp.Integer(batch)

    def of(self, expr: sp.Basic) -> sp.Matrix:  # noqa: C901 (one branch per matrix operation)
        if isinstance(expr, sp.MatrixSymbol):
            name = str(expr.name)
            return self.masks[name] if name in self.masks else self.entries[name]
        if isinstance(expr, sp.OneMatrix):
            rows, cols = (int(s.subs(BATCH, self.batch)) for s in expr.shape)
            return sp.ones(rows, cols)
        if isinstance(expr, sp.MatAdd):
            parts = [self.of(t) for t in expr.args]
            return sum(parts[1:], parts[0])
        if isinstance(expr, sp.MatMul):
            coefficient, factors = expr.as_coeff_matrices()
            product = self.of(factors[0])
            for factor in factors[1:]:
                product = product * self.of(factor)
            scale = (
                coefficient.subs(self.numbers) if isinstance(coefficient, sp.Basic) else coefficient
            )
            return product * scale
        if isinstance(expr, sp.Transpose):
            return self.of(expr.arg).T
        if isinstance(expr, sp.HadamardProduct):
            parts = [self.of(f) for f in expr.args]
            result = parts[0]
            for part in parts[1:]:
                result = result.multiply_elementwise(part)
            return result
        if isinstance(expr, sp.HadamardPower):
            exponent = expr.args[1]
            return self.of(expr.args[0]).applyfunc(lambda x: x**exponent)
        if isinstance(expr, ElementwiseApplyFunction):
            return self.of(expr.expr).applyfunc(expr.function)
        if isinstance(expr, ColumnSoftmax):
            Z = self.of(expr.argument)
            return sp.Matrix(Z.rows, Z.cols, lambda i, j: fn.Softmax(i + 1, *Z[:, j]))
        if isinstance(expr, StopGradient):
            raise SymbackpropError(
                "a per-element view cannot show a cut gradient (truncated BPTT); derive the "
                "network in matrix form, or leave truncation out for the per-element view"
            )
        if isinstance(expr, TensorOp):
            return expr.explicit(*(self.of(o) for o in expr.operands))
        raise AssertionError(
            f"no per-element form for {type(expr).__name__}; a bug: layers build only the above"
        )
