"""The explorer's numbers: a derivation's steps printed as JavaScript by SymPy's printer.

Rendering layer. Every number the explorer page shows comes from the functions made here:
``compute(v)`` runs the forward steps, the loss, the adjoints and the gradients of one sample
(then the values of each step's textbook factors and blame paths), and ``update(v)`` runs the
optimiser's update steps. Both are SymPy's ``JavascriptCodePrinter`` output of the
derivation's own right-hand sides, over one object ``v`` of values keyed by ASCII name; no
derivative is written by hand. The project's functions (sigma, relu, ...) are printed through
their own rewrites into elementary SymPy (exp, Max, Piecewise).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import sympy as sp
from sympy.printing.jscode import JavascriptCodePrinter

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Stage, Step
from symbackprop.model import functions, notation
from symbackprop.model.errors import SymbackpropError

# How each of the project's functions is printed: the SymPy function its own rewrite targets.
_REWRITES: dict[type[sp.Function], type[sp.Basic]] = {
    functions.Sigmoid: sp.exp,
    functions.Tanh: sp.tanh,
    functions.Relu: sp.Max,
    functions.Softplus: sp.log,
    functions.Softmax: sp.exp,
    functions.Step: sp.Piecewise,
    functions.LeakyStep: sp.Piecewise,
    functions.LeakyRelu: sp.Piecewise,
    functions.Sign: sp.Piecewise,
}


def factor_key(name: str, index: int) -> str:
    """The key of a step's textbook factor in ``v`` (dL/da of delta2_1 is factor:delta2_1:0)."""
    return f"factor:{name}:{index}"


def path_key(name: str, index: int, part: str) -> str:
    """The key of a blame path's ``part`` ("up", "local" or "term") of a step in ``v``."""
    return f"path:{name}:{index}:{part}"


class _ValuesPrinter(JavascriptCodePrinter):
    """JavaScript over one object of values: the symbol w2_1_1 is printed v["w2_1_1"]."""

    def _print_Symbol(self, expr: sp.Symbol) -> str:  # noqa: N802 (SymPy's printer protocol)
        return f"v[{json.dumps(expr.name)}]"


def elementary(expr: sp.Expr) -> sp.Expr:
    """Return ``expr`` with the project's functions written in elementary SymPy functions."""

    def is_ours(node: sp.Basic) -> bool:
        return type(node) in _REWRITES

    def rewritten(node: sp.Basic) -> sp.Basic:
        return node.rewrite(_REWRITES[type(node)])

    return expr.replace(is_ours, rewritten)


_PRINTER = _ValuesPrinter({"strict": True})


def javascript(expr: sp.Expr | int | float) -> str:
    """Print one expression (or a plain number) as JavaScript over the values object ``v``."""
    flat = elementary(_as_expr(expr))
    unknown = sorted({type(f).__name__ for f in flat.atoms(sp.Function) if _unprintable(f)})
    if unknown:
        raise SymbackpropError(
            f"the explorer cannot print {', '.join(unknown)} as JavaScript; use the "
            "activations and functions of the registry"
        )
    text = _PRINTER.doprint(flat)
    return " ".join(text.split())


def _as_expr(value: sp.Expr | int | float) -> sp.Expr:
    """A derivation's expression as it is; a plain number (a constant factor) as SymPy's."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a SymPy expression or a number, got {type(value).__name__}")
    return sp.Integer(value) if isinstance(value, int) else sp.Float(value)


def _unprintable(function: sp.Function) -> bool:
    name = type(function).__name__
    return not hasattr(_PRINTER, f"_print_{name}") and name not in _PRINTER.known_functions


def _assign(key: str, expr: sp.Expr) -> str:
    return f"  v[{json.dumps(key)}] = {javascript(expr)};"


@dataclass(frozen=True, slots=True)
class ExplorerCode:
    """The generated JavaScript: ``compute(v)`` and ``update(v)``, and what they assign."""

    compute: str
    update: str
    updated: tuple[tuple[str, str], ...]  # (name, key of its new value): params and state


def per_sample_steps(d: Derivation) -> tuple[Step, ...]:
    """Return the steps of one sample: forward, loss, adjoints, gradients, in order."""
    stages = (Stage.FORWARD, Stage.LOSS, Stage.ADJOINT, Stage.GRADIENT)
    return tuple(s for s in d.steps if s.stage in stages)


def compute_function(steps: Iterable[Step]) -> str:
    """Return ``function compute(v)``: each step, then its factors and blame paths."""
    steps = tuple(steps)
    lines = [_assign(s.lhs.name, s.rhs) for s in steps]
    for step in steps:
        if len(step.factors) > 1:
            lines += [_assign(factor_key(step.lhs.name, i), f) for i, f in enumerate(step.factors)]
        for i, path in enumerate(step.paths):
            lines.append(_assign(path_key(step.lhs.name, i, "up"), path.adjoint))
            lines.append(_assign(path_key(step.lhs.name, i, "local"), path.local))
            lines.append(_assign(path_key(step.lhs.name, i, "term"), path.term))
    return "function compute(v) {\n" + "\n".join(lines) + "\n}"


def update_function(d: Derivation) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Return ``function update(v)`` (the optimiser's steps) and the values it renews.

    The steps write new values under new names (w1_new, v_w1_new); the page copies each back
    to its own name (w1, v_w1) once every step has run, so all use the values before the step.
    """
    lines = []
    updated: list[tuple[str, str]] = []
    for step in d.stage(Stage.UPDATE):
        lines.append(_assign(step.lhs.name, step.rhs))
        if step.node is None:
            continue
        if step.lhs.name == notation.updated_name(step.node.name):
            updated.append((step.node.name, step.lhs.name))
        old, new = d.optimizer.state_symbols(step.node.name)
        for kind, symbol in new.items():
            if step.lhs == symbol:
                updated.append((old[kind].name, symbol.name))
    return "function update(v) {\n" + "\n".join(lines) + "\n}", tuple(updated)


def explorer_code(d: Derivation) -> ExplorerCode:
    """Generate the page's two functions from a derivation."""
    update, updated = update_function(d)
    return ExplorerCode(compute_function(per_sample_steps(d)), update, updated)
