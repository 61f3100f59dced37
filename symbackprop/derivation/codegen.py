"""Straight-line SymPy assignments -> one NumPy function, through lambdify (derivation engine).

The derivation's own steps are handed to lambdify as its common subexpressions: each named
intermediate (z, a, delta) becomes one line of the generated function, computed once, so the
generated code is the derivation, line for line, vectorized over whatever arrays it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

from symbackprop.model.functions import numpy_namespace

Lines = list[tuple[sp.Symbol, sp.Expr]]


def straight_line_function(
    args: Sequence[sp.Symbol],
    assignments: Sequence[tuple[sp.Symbol, sp.Expr]],
    outputs: Sequence[sp.Expr],
) -> Callable[..., Any]:
    """Return f(*args) that runs the assignments in order and returns the outputs as a list."""
    lines = list(assignments)

    def given_lines(expressions: list[sp.Expr]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], Any]:
        return lines, expressions

    return sp.lambdify(
        list(args),
        list(outputs),
        modules=[numpy_namespace(), "numpy"],
        cse=given_lines,
        docstring_limit=0,
    )
