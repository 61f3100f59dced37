"""The local rule of each matrix operation: its adjoint to every operand (derivation engine).

For ``V := rhs`` with adjoint ``G`` (dL/dV, one column per sample), :func:`contributions`
returns, for every named matrix in ``rhs``, the term ``rhs`` sends back to it and the rules
cited: the transpose rule of a product (dA = G B^T, dB = A^T G), the Hadamard product with
f'(Z) for an elementwise function, the batch sum of a broadcast bias (G 1), the softmax
Jacobian per column. :func:`lift` turns one output's scalar loss (or its derivative) into the
same expression over whole matrices, elementwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.functions import rule_of
from symbackprop.model.matrices import ColumnSoftmax, ones
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.rulebook import Rule
from symbackprop.model.tensor_ops import TensorOp


@dataclass(frozen=True, slots=True)
class Contribution:
    """The term one assignment sends back to one operand, and the rules it cites."""

    operand: sp.MatrixSymbol
    term: sp.MatrixExpr
    rules: tuple[Rule, ...]


def contributions(
    rhs: sp.MatrixExpr, adjoint: sp.MatrixExpr, lhs: sp.MatrixSymbol, wanted: Iterable[sp.Basic]
) -> list[Contribution]:
    """Return what ``lhs := rhs`` sends back to each wanted operand, given dL/d(lhs)."""
    found: dict[sp.MatrixSymbol, list[tuple[sp.MatrixExpr, tuple[Rule, ...]]]] = {}
    _Backward(frozenset(wanted), lhs, rhs, found).visit(rhs, adjoint, ())
    out = []
    for operand, parts in found.items():
        term = parts[0][0] if len(parts) == 1 else sp.MatAdd(*(p[0] for p in parts))
        rules = tuple(dict.fromkeys(r for p in parts for r in p[1]))
        out.append(Contribution(operand, term, rules))
    return out


class _Backward:
    """One reverse walk over an expression tree, collecting the terms per operand."""

    def __init__(
        self,
        wanted: frozenset[sp.Basic],
        lhs: sp.MatrixSymbol,
        rhs: sp.MatrixExpr,
        found: dict[sp.MatrixSymbol, list[tuple[sp.MatrixExpr, tuple[Rule, ...]]]],
    ) -> None:
        self.wanted, self.lhs, self.rhs, self.found = wanted, lhs, rhs, found

    def visit(self, expr: sp.Basic, G: sp.MatrixExpr, rules: tuple[Rule, ...]) -> None:
        if not any(leaf in self.wanted for leaf in expr.atoms(sp.MatrixSymbol)):
            return
        if isinstance(expr, sp.MatrixSymbol):
            self.found.setdefault(expr, []).append((G, rules))
        elif isinstance(expr, sp.MatAdd):
            for term in expr.args:
                self.visit(term, G, rules)
        elif isinstance(expr, sp.MatMul):
            self._product(expr, G, rules)
        elif isinstance(expr, sp.Transpose):
            self.visit(expr.arg, G.T, rules + (Rule.TRANSPOSE,))
        elif isinstance(expr, sp.HadamardProduct):
            for i, factor in enumerate(expr.args):
                others = [f for j, f in enumerate(expr.args) if j != i]
                other = others[0] if len(others) == 1 else sp.HadamardProduct(*others)
                self.visit(factor, sp.HadamardProduct(G, other), rules + (Rule.HADAMARD_PRODUCT,))
        elif isinstance(expr, sp.HadamardPower):
            self._power(expr, G, rules)
        elif isinstance(expr, ElementwiseApplyFunction):
            prime = _derivative_of(expr)
            cited = (Rule.HADAMARD_DERIVATIVE, _function_rule(expr.function))
            self.visit(expr.expr, sp.HadamardProduct(G, prime), rules + cited)
        elif isinstance(expr, ColumnSoftmax):
            # The softmax's own output is named (A = softmax(Z)): the adjoint reuses the name.
            S = self.lhs if expr == self.rhs else expr
            n = expr.shape[0]
            spread = ones(n, 1) * (ones(1, n) * sp.HadamardProduct(S, G))
            term = sp.HadamardProduct(S, G - spread)
            self.visit(expr.argument, term, rules + (Rule.SOFTMAX_COLUMNS,))
        elif isinstance(expr, TensorOp):
            if not hasattr(expr, "adjoint_terms"):
                raise AssertionError(
                    f"{type(expr).__name__} stands only in adjoints; a bug: a layer staged it"
                )
            for index, sent, local in expr.adjoint_terms(G, self.lhs):
                self.visit(expr.operands[index], sent, rules + local)
        else:
            raise AssertionError(
                f"no matrix rule for {type(expr).__name__}; a bug: layers build only the above"
            )

    def _product(self, expr: sp.MatMul, G: sp.MatrixExpr, rules: tuple[Rule, ...]) -> None:
        coefficient, factors = expr.as_coeff_matrices()
        for i, factor in enumerate(factors):
            if isinstance(factor, sp.OneMatrix):
                continue
            left, right = factors[:i], factors[i + 1 :]
            term: sp.MatrixExpr = G
            if right:
                term = term * _product_of(right).T
            if left:
                term = _product_of(left).T * term
            if coefficient != 1:
                term = coefficient * term
            cited = rules + _product_rules(factor, left, right, coefficient)
            self.visit(factor, term, cited)

    def _power(self, expr: sp.HadamardPower, G: sp.MatrixExpr, rules: tuple[Rule, ...]) -> None:
        base, exponent = expr.args
        lowered = base if exponent - 1 == 1 else sp.HadamardPower(base, exponent - 1)
        self.visit(base, sp.HadamardProduct(G, exponent * lowered), rules + (Rule.HADAMARD_POWER,))


def _product_of(factors: list[sp.MatrixExpr]) -> sp.MatrixExpr:
    return factors[0] if len(factors) == 1 else sp.MatMul(*factors)


def _product_rules(
    factor: sp.MatrixExpr,
    left: list[sp.MatrixExpr],
    right: list[sp.MatrixExpr],
    coefficient: sp.Expr,
) -> tuple[Rule, ...]:
    """Name what the product rule did: transposes, a broadcast summed, a sum spread."""
    cited: list[Rule] = []
    others = [f for f in left + right if not isinstance(f, sp.OneMatrix)]
    if others:
        cited.append(Rule.TRANSPOSE_PRODUCT)
    for neighbour, on_right in [(f, True) for f in right] + [(f, False) for f in left]:
        if isinstance(neighbour, sp.OneMatrix):
            cited.append(_ones_rule(neighbour, on_right))
    if coefficient != 1:
        cited.append(Rule.CONSTANT_FACTOR)
    return tuple(cited)


def _ones_rule(one: sp.OneMatrix, on_right: bool) -> Rule:
    rows, cols = one.shape
    broadcast = (on_right and rows == 1) or (not on_right and cols == 1)
    if not broadcast:
        return Rule.SUM_SPREADS
    copied = cols if on_right else rows
    return Rule.BATCH_SUM if copied == BATCH else Rule.BROADCAST_SUM


_T = sp.Symbol("t")


def _derivative_of(applied: ElementwiseApplyFunction) -> sp.Basic:
    body = applied.function.expr
    variable = applied.function.variables[0]
    derivative = sp.Derivative(body.subs(variable, _T), _T, evaluate=False)
    return ElementwiseApplyFunction(sp.Lambda(_T, derivative), applied.expr)


def _function_rule(function: sp.Lambda) -> Rule:
    body = function.expr.subs(function.variables[0], _T)
    for entry in ACTIVATIONS.values():
        if not entry.is_layerwise and entry.apply(_T) == body:
            return entry.identity
    return rule_of(type(body)) if isinstance(body, sp.Function) else Rule.ELEMENTARY


# --- one output's scalar formula, lifted to whole matrices -----------------------------------
def lift(expr: sp.Expr, bindings: Mapping[sp.Symbol, sp.MatrixExpr]) -> sp.MatrixExpr:
    """Return ``expr`` (over scalars a, y) applied elementwise to the bound matrices (A, Y)."""
    shape = next(iter(bindings.values())).shape
    return _Lifter(bindings, shape).lift(expr)


class _Lifter:
    def __init__(self, bindings: Mapping[sp.Symbol, sp.MatrixExpr], shape: tuple) -> None:
        self.bindings, self.shape = bindings, shape

    def lift(self, expr: sp.Expr) -> sp.MatrixExpr:
        if expr in self.bindings:
            return self.bindings[expr]
        if not expr.free_symbols & set(self.bindings):
            return expr * ones(*self.shape)
        if isinstance(expr, sp.Add):
            return sp.MatAdd(*(self.lift(term) for term in expr.args))
        if isinstance(expr, sp.Mul):
            return self._product(expr)
        if isinstance(expr, sp.Pow) and expr.exp.is_number:
            return sp.HadamardPower(self.lift(expr.base), expr.exp)
        if isinstance(expr, sp.Function) and len(expr.args) == 1:
            inner = self.lift(expr.args[0])
            return ElementwiseApplyFunction(sp.Lambda(_T, expr.func(_T)), inner)
        raise AssertionError(
            f"cannot lift {expr} to matrices; a bug: a loss uses a function not above"
        )

    def _product(self, expr: sp.Mul) -> sp.MatrixExpr:
        constant = sp.Mul(*(f for f in expr.args if not f.free_symbols & set(self.bindings)))
        lifted = [self.lift(f) for f in expr.args if f.free_symbols & set(self.bindings)]
        body = lifted[0] if len(lifted) == 1 else sp.HadamardProduct(*lifted)
        return body if constant == 1 else constant * body
