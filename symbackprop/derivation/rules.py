"""The local rule: differentiate one assignment's right side and name the rules used.

Derivation engine. :func:`differentiate` is applied by the reverse sweep in ``derive.py`` to
every (node, input) pair; it knows one expression at a time and nothing of the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symbackprop.model.functions import rule_of
from symbackprop.model.rulebook import Rule


@dataclass(frozen=True, slots=True)
class LocalDerivative:
    """d(rhs)/d(wrt), written in the program's named intermediates, and the rules it cites."""

    expr: sp.Expr
    rules: tuple[Rule, ...]


def differentiate(
    rhs: sp.Expr,
    wrt: sp.Symbol,
    names: Mapping[sp.Expr, sp.Symbol],
    params: frozenset[sp.Symbol],
) -> LocalDerivative:
    """Return d(rhs)/d(wrt) with each known subexpression replaced by its name.

    ``names`` maps right sides to the symbols they were assigned to (sigma(z) -> a), so that
    sigma'(z) = sigma(z)(1 - sigma(z)) reads a(1 - a): the sigmoid identity reusing a.
    """
    # factor_terms pulls a common factor out (2(a - y)/n rather than 2a/n - 2y/n); it is
    # cheap on a local derivative, unlike simplify(), once the function calls are set aside:
    # inside tanh(w1 x1 + ... + w30 x30) it would work through the whole sum for nothing.
    derivative = sp.diff(rhs, wrt)
    calls = {call: sp.Dummy() for call in derivative.atoms(sp.Function)}
    factored = sp.factor_terms(derivative.xreplace(calls))
    derivative = factored.xreplace({dummy: call for call, dummy in calls.items()})
    derivative = derivative.xreplace(dict(names))
    return LocalDerivative(derivative, tuple(dict.fromkeys(_rules(rhs, wrt, params))))


def _rules(expr: sp.Expr, wrt: sp.Symbol, params: frozenset[sp.Symbol]) -> list[Rule]:
    """Name the rules that d(expr)/d(wrt) uses, outermost first."""
    if expr == wrt or not expr.has(wrt):
        return []
    if expr.is_Add:
        return _sum_rules(expr, wrt, params)
    if expr.is_Mul:
        return _product_rules(expr, wrt, params)
    if expr.is_Pow:
        return _power_rules(expr, wrt, params)
    if isinstance(expr, sp.Function):
        inner = [arg for arg in expr.args if arg.has(wrt)]
        rules = [rule_of(expr.func)]
        if inner and inner != [wrt]:
            rules.insert(0, Rule.CHAIN)
            for arg in inner:
                rules += _rules(arg, wrt, params)
        return rules
    return [Rule.ELEMENTARY]


def _sum_rules(expr: sp.Add, wrt: sp.Symbol, params: frozenset[sp.Symbol]) -> list[Rule]:
    terms = [term for term in expr.args if term.has(wrt)]
    if len(terms) == 1 and _is_linear_in(terms[0], wrt):
        coefficient = sp.diff(terms[0], wrt)
        if wrt in params:
            return [Rule.BIAS_IS_ONE] if coefficient == 1 else [Rule.WEIGHT_PICKS_INPUT]
        if coefficient.is_Symbol and coefficient in params:
            return [Rule.WEIGHT_CARRIES_BLAME]
        if coefficient == 1 and terms[0] == wrt and len(expr.args) > 1:
            return [Rule.ADD_GATE]  # a node summed with others: its gate passes the blame on
        return [] if coefficient.is_number else [Rule.CONSTANT_FACTOR]
    rules = [Rule.SUM] if len(expr.args) > 1 else []
    for term in terms:
        rules += _rules(term, wrt, params)
    return rules


def _product_rules(expr: sp.Mul, wrt: sp.Symbol, params: frozenset[sp.Symbol]) -> list[Rule]:
    constant, variable = expr.as_independent(wrt, as_Add=False)
    factors = sp.Mul.make_args(variable)
    if constant == sp.Rational(1, 2) and variable.is_Pow and variable.exp == 2:
        return [Rule.HALF_CANCELS_TWO] + _chain_into(variable.base, wrt, params)
    if len(factors) == 1:
        rules = [] if constant == 1 or constant == -1 else [Rule.CONSTANT_FACTOR]
        if constant.is_Rational and constant.q > 1 and constant.p == 1:
            rules = [Rule.MEAN_OVER_OUTPUTS]
        if _is_linear_in(variable, wrt) and wrt in params and constant.is_Symbol:
            return [Rule.WEIGHT_PICKS_INPUT]
        if variable == wrt and constant.is_Symbol and constant not in params:
            return [Rule.MUL_GATE]  # two nodes multiplied: each gets the other's value
        return rules + _rules(variable, wrt, params)
    divides = any(f.is_Pow and f.exp.is_negative for f in factors)
    rules = [Rule.QUOTIENT if divides else Rule.PRODUCT]
    for factor in factors:
        rules += _rules(factor, wrt, params)
    return rules


def _power_rules(expr: sp.Pow, wrt: sp.Symbol, params: frozenset[sp.Symbol]) -> list[Rule]:
    if expr.exp.has(wrt):
        return [Rule.EXP_DERIVATIVE if expr.base == sp.E else Rule.ELEMENTARY]
    rules = [Rule.QUOTIENT] if expr.exp == -1 else [Rule.POWER]
    return rules + _chain_into(expr.base, wrt, params)


def _chain_into(inner: sp.Expr, wrt: sp.Symbol, params: frozenset[sp.Symbol]) -> list[Rule]:
    # An inner a - y has derivative 1: citing the chain rule for it would be noise.
    if inner == wrt or (_is_linear_in(inner, wrt) and sp.diff(inner, wrt).is_number):
        return []
    return [Rule.CHAIN] + _rules(inner, wrt, params)


def _is_linear_in(expr: sp.Expr, wrt: sp.Symbol) -> bool:
    return not sp.diff(expr, wrt).has(wrt)
