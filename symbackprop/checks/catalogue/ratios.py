"""Mistakes diagnosed from the ratio yours/correct: a constant factor, or a factor of the chain.

Checks layer. Tried after every rebuilt formula of :mod:`symbackprop.checks.catalogue.formulas`
failed to fit: a ratio that is the same at every probe point is a constant factor (a dropped
1/2, a mean mixed up with a sum); a ratio that tracks one factor of the chain dL/da, da/dz,
dz/dw names the factor that is missing, doubled or replaced. The last entry always answers.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from symbackprop.checks.mistakes import (
    RTOL,
    FloatArray,
    Mistake,
    MistakeContext,
    close,
    register_mistake,
)
from symbackprop.derivation.steps import Stage
from symbackprop.model.printing import format_number, to_text

_MIN_EXPECTED = 1e-9  # below this |dL/dw| a ratio given/expected says nothing


def _name(expr: sp.Expr) -> str:
    return to_text(expr)


def _ratio(context: MistakeContext) -> FloatArray:
    """Return given/expected at the points where the gradient is far enough from 0."""
    usable = np.isfinite(context.given) & (np.abs(context.expected) > _MIN_EXPECTED)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(context.given[usable] / context.expected[usable])


def _constant(values: FloatArray) -> float | None:
    """Return the value if every entry is the same (to RTOL), else None."""
    if values.size < 3 or not np.all(np.isfinite(values)):
        return None
    median = float(np.median(values))
    return median if bool(np.all(close(values, np.full_like(values, median)))) else None


def _constant_factor(context: MistakeContext) -> str | None:
    c = _constant(_ratio(context))
    if c is None or c == 0 or abs(abs(c) - 1) <= RTOL:
        return None
    n = context.derivation.network.n_outputs
    loss = context.derivation.network.loss_name
    if loss == "mse" and n > 1 and abs(c - n) <= n * RTOL:
        return (
            f"{format_number(c)} times the gradient: the 1/{n} of the mean over {n} outputs "
            "was dropped"
        )
    if loss == "mse" and n > 1 and abs(c * n - 1) <= RTOL:
        return f"1/{n} of the gradient: the mean over {n} outputs divided by {n} twice"
    if abs(c - 2) <= 2 * RTOL and loss != "mse":
        return "twice the gradient: the 1/2 of the half squared error was dropped"
    if abs(c - 0.5) <= RTOL:
        return "half the gradient: d/da (a - y)^2 = 2 (a - y) lost its 2, or a 1/2 was added"
    if n > 1 and (abs(c * n - 1) <= n * RTOL or abs(c - n) <= n * RTOL):
        return f"off by the factor {format_number(c)}: mean over {n} outputs mixed up with a sum"
    return f"off by the constant factor {format_number(c)} at every probe point"


CONSTANT_FACTOR = register_mistake(
    Mistake("constant_factor", "off by a constant factor", _constant_factor)
)


def chain_factors(context: MistakeContext) -> list[tuple[str, sp.Expr]]:
    """Return the chain of dL/d(wrt) as (Leibniz name, factor): dL/da, da/dz, dz/dw."""
    gradient = context.gradient_step
    if len(gradient.paths) != 1:
        return [(f"the path through {_name(p.via)}", p.term) for p in gradient.paths]
    path = gradient.paths[0]
    z, w = _name(path.via), _name(context.wrt)
    factors: list[tuple[str, sp.Expr]] = []
    delta = context.derivation.step(path.adjoint.name) if path.adjoint.is_Symbol else None
    if delta is not None and len(delta.factors) == 2 and delta.paths:
        a = context.activation_of(delta)
        if a is None and len(delta.paths) == 1:
            a = delta.paths[0].via  # a program's own node (f of f = sigma(sum1)), not "a"
        a_name = _name(a) if a is not None else "a"
        factors += [(f"∂L/∂{a_name}", delta.factors[0]), (f"∂{a_name}/∂{z}", delta.factors[1])]
    else:
        factors.append((f"∂L/∂{z}", path.adjoint))
    factors.append((f"∂{z}/∂{w}", path.local))
    return factors


def _wrong_factor(context: MistakeContext) -> str | None:
    ratio_usable = np.isfinite(context.given) & (np.abs(context.expected) > _MIN_EXPECTED)
    if not np.any(ratio_usable):
        return _no_usable_ratio(context)
    ratio = _ratio(context)
    for label, factor in chain_factors(context):
        values = context.evaluate(factor)[ratio_usable]
        if values.size and np.all(values != 0):
            if _constant(ratio * values) is not None:
                return f"the factor {label} = {_name(factor)} of the chain is missing"
            if _constant(ratio / values) is not None:
                return f"the factor {label} = {_name(factor)} of the chain appears twice"
            replaced = _replaced_by(context, ratio * values, ratio_usable)
            if replaced is not None:
                shown = _name(_defined(context, factor))
                return f"the factor {label} should be {shown}, not {_name(replaced)}"
    labels = ", ".join(label for label, _ in chain_factors(context))
    low, high = format_number(float(np.min(ratio))), format_number(float(np.max(ratio)))
    return (
        f"the ratio yours/correct varies from {low} to {high} and tracks no single factor of "
        f"the chain ({labels}); recheck each factor"
    )


def _defined(context: MistakeContext, factor: sp.Expr) -> sp.Expr:
    """Return an adjoint's definition (dL/df f (1 - f)) where the factor is its name."""
    if factor.is_Symbol:
        for step in context.derivation.stage(Stage.ADJOINT):
            if step.lhs == factor:
                return step.rhs
    return factor


def _no_usable_ratio(context: MistakeContext) -> str:
    """Explain a wrong formula where no point has both a finite value and a gradient far from 0."""
    if np.all(context.expected == 0):
        return "your formula differs from a gradient that is 0 at every probe point"
    if not np.any(np.isfinite(context.given)):
        return "your formula is undefined (a division by 0?) at every probe point"
    return (
        f"the gradient is below {format_number(_MIN_EXPECTED)} in size wherever your formula is "
        "defined, so no factor of the chain can be singled out; recheck each factor"
    )


def _replaced_by(
    context: MistakeContext, values: FloatArray, usable: NDArray[np.bool_]
) -> sp.Symbol | None:
    """Return the named symbol (a node, input, target or parameter) with these values, if any."""
    derivation = context.derivation
    program = derivation.network.program
    symbols = [*program.params, *program.inputs, *program.targets]
    symbols += [s.lhs for s in derivation.steps if s.is_named_value]
    for symbol in symbols:
        if bool(np.all(close(values, context.evaluate(symbol)[usable]))):
            return symbol
    return None


WRONG_FACTOR = register_mistake(Mistake("wrong_factor", "a factor of the chain", _wrong_factor))
