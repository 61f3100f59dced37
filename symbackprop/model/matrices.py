"""Matrix building blocks of the matrix programs: ones, elementwise f(Z), column softmax.

Model layer. These are SymPy matrix expressions (shapes checked by SymPy) that the printer
typesets and the NumPy code generator translates; nothing here computes numbers.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.model.activations import get_activation

_T = sp.Symbol("t")


class ColumnSoftmax(sp.MatrixExpr):  # type: ignore[misc]
    """softmax applied to each column of a matrix: column b of the result sums to 1."""

    def __new__(cls, argument: sp.MatrixExpr) -> ColumnSoftmax:
        return sp.Basic.__new__(cls, argument)  # type: ignore[no-any-return]

    @property
    def argument(self) -> sp.MatrixExpr:
        return self.args[0]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape  # type: ignore[no-any-return]


def ones(rows: sp.Expr | int, cols: sp.Expr | int) -> sp.MatrixExpr:
    """Return the all-ones matrix 1 (rows x cols); 1 (n x 1) sums, 1^T (1 x B) broadcasts."""
    return sp.OneMatrix(rows, cols)


def scalar_function(activation: str) -> sp.Expr:
    """Return f(t) of an elementwise activation, as a SymPy expression in ``t``."""
    return get_activation(activation).apply(_T)


def elementwise(activation: str, argument: sp.MatrixExpr, derivative: bool = False) -> sp.Basic:
    """Return f(Z) (or f'(Z)) applied elementwise: sigma(Z), relu'(Z), ..."""
    entry = get_activation(activation)
    applied = entry.apply(_T) if entry.apply_layer is None else sp.Function("softmax")(_T)
    body = sp.Derivative(applied, _T, evaluate=False) if derivative else applied
    return ElementwiseApplyFunction(sp.Lambda(_T, body), argument)


def apply_scalar(function: sp.Lambda, argument: sp.MatrixExpr) -> sp.Basic:
    """Return a scalar function (a ``Lambda`` of one variable) applied elementwise."""
    return ElementwiseApplyFunction(function, argument)
