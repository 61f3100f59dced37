"""Matrix formulas and small matrices as NumPy-style text, for the checker's messages (checks).

A verdict shows the expected formula in the syntax a user types (``Delta2 @ A1.T / B``,
``sum(Delta2, axis=1) / B``, ``dA1 * sigmoid_prime(Z1)``), so that the two can be compared by
eye, and a counterexample as small matrices (``[[0.12, -0.5], [0.3, 1]]``).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.functions import FUNCTIONS
from symbackprop.model.matrices import ColumnSoftmax
from symbackprop.model.tensor_ops import TensorOp

_T = sp.Symbol("t")


def formula_text(expr: sp.Basic) -> str:
    """Return a matrix (or scalar) expression written as a user would type it."""
    if isinstance(expr, sp.MatrixSymbol):
        return str(expr.name)
    if isinstance(expr, sp.OneMatrix):
        return "1"  # NumPy broadcasts a 1 to the shape the formula needs
    if isinstance(expr, sp.Transpose):
        return f"{_atom(expr.arg)}.T"
    if isinstance(expr, sp.MatAdd):
        return _sum(expr)
    if isinstance(expr, sp.MatMul):
        return _product(expr)
    if isinstance(expr, sp.HadamardProduct):
        return " * ".join(_atom(arg) for arg in expr.args)
    if isinstance(expr, sp.HadamardPower):
        exponent = expr.args[1]
        shown = str(exponent) if exponent.is_Integer and exponent > 0 else f"({exponent})"
        return f"{_atom(expr.args[0])} ** {shown}"
    if isinstance(expr, ElementwiseApplyFunction):
        return f"{_function_name(expr.function)}({formula_text(expr.expr)})"
    if isinstance(expr, ColumnSoftmax):
        return f"softmax({formula_text(expr.argument)}, axis=0)"
    if isinstance(expr, TensorOp):
        return expr.formula([formula_text(o) for o in expr.operands])
    return str(expr)


def _atom(expr: sp.Basic) -> str:
    """Return an operand, bracketed when it has an operator outside brackets."""
    text = formula_text(expr)
    return f"({text})" if _has_top_level_space(text) else text


def _has_top_level_space(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == " " and depth == 0:
            return True
    return False


def _has_top_level_sum(text: str) -> bool:
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth == 0 and text[i : i + 3] in (" + ", " - "):
            return True
    return False


def _sum(expr: sp.MatAdd) -> str:
    parts: list[str] = []
    terms = sorted(expr.args, key=lambda term: _is_negative(term))  # a - b, not -b + a
    for term in terms:
        coefficient = term.as_coeff_mmul()[0] if isinstance(term, sp.MatMul) else sp.S.One
        if parts and coefficient.is_number and coefficient < 0:
            parts.append(f"- {formula_text(-term)}")
        elif parts:
            parts.append(f"+ {formula_text(term)}")
        else:
            parts.append(formula_text(term))
    return " ".join(parts)


def _is_negative(term: sp.Basic) -> bool:
    coefficient = term.as_coeff_mmul()[0] if isinstance(term, sp.MatMul) else sp.S.One
    return bool(coefficient.is_number and coefficient < 0)


def _product(expr: sp.MatMul) -> str:
    coefficient, factors = expr.as_coeff_matrices()
    if len(factors) == 1 and isinstance(factors[0], sp.OneMatrix):
        return _scalar(coefficient)  # a number in every entry: NumPy broadcasts it
    body = _reduced(list(factors))
    if coefficient == 1:
        return body
    if _has_top_level_sum(body):  # (a + b) / B: a sum binds less tightly than / and *
        body = f"({body})"
    if coefficient == -1:
        return f"-{body}" if not _has_top_level_space(body) else f"-({body})"
    numerator, denominator = sp.fraction(coefficient)
    if numerator == 1:
        return f"{body} / {_scalar(denominator)}"
    if numerator == -1:
        negated = f"-({body})" if _has_top_level_space(body) else f"-{body}"
        return f"{negated} / {_scalar(denominator)}"
    return f"{_scalar(coefficient)} * {body}"


def _reduced(factors: list[sp.MatrixExpr]) -> str:
    """Print a product, turning 1ᵀ M into sum(M, axis=0) and M 1 into sum(M, axis=1).

    A matrix of ones that copies a row or column (b 1ᵀ) is left out: NumPy broadcasts.
    """
    head: str | None = None
    lead = factors[0]
    if isinstance(lead, sp.OneMatrix) and len(factors) > 1:
        inner = factors[1:]
        inner_text = _reduced(inner)
        rows = _product_shape(inner)[0]
        return inner_text if rows == 1 else f"sum({inner_text}, axis=0)"
    if isinstance(factors[-1], sp.OneMatrix) and len(factors) > 1:
        inner = factors[:-1]
        inner_text = _reduced(inner)
        cols = _product_shape(inner)[1]
        return inner_text if cols == 1 else f"sum({inner_text}, axis=1)"
    if len(factors) == 1:
        return formula_text(factors[0])
    for factor in factors:
        text = _atom(factor)
        head = text if head is None else f"{head} @ {text}"
    return head or ""


def _product_shape(factors: list[sp.MatrixExpr]) -> tuple[sp.Expr, sp.Expr]:
    return (factors[0].shape[0], factors[-1].shape[1])


def _scalar(value: sp.Expr) -> str:
    text = str(value)
    return text if value.is_Atom or value.is_Function else f"({text})"


def _function_name(function: sp.Lambda) -> str:
    body = function.expr.subs(function.variables[0], _T)
    derivative = isinstance(body, sp.Derivative)
    inner = body.expr if derivative else body
    for entry in ACTIVATIONS.values():
        if not entry.is_layerwise and entry.apply(_T) == inner:
            return f"{entry.name}_prime" if derivative else entry.name
    for name, function in FUNCTIONS.items():
        if isinstance(inner, sp.Function) and type(inner) is function.sympy_form:
            return name
    return f"({function})"


def matrix_text(value: np.ndarray) -> str:
    """Return a small matrix as nested lists of short numbers: [[0.12, -0.5], [0.3, 1]]."""
    array = np.atleast_2d(np.asarray(value, dtype=np.float64))
    return _nested(array)


def _nested(array: np.ndarray) -> str:
    """Return an array of any rank (a conv kernel is 4-D) as nested lists."""
    if array.ndim == 1:
        return "[" + ", ".join(_number(x) for x in array) + "]"
    return "[" + ", ".join(_nested(part) for part in array) + "]"


def _number(x: float) -> str:
    if not np.isfinite(x):
        return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.4g}"
