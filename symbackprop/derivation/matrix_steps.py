"""The lines of a matrix derivation: MatrixStep and MatrixPath (derivation engine).

Immutable SymPy data, no strings: one :class:`MatrixStep` is one matrix equation ``lhs = rhs``
with its shape, the layer it belongs to (the state_dict prefix), and the rules it cites; an
adjoint's ``paths`` are the terms each downstream use sends back (the blame split).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symbackprop.derivation.steps import Stage
from symbackprop.model.rulebook import Rule


@dataclass(frozen=True, slots=True)
class MatrixPath:
    """One downstream use of a node: the term the assignment of ``via`` sends back."""

    via: sp.Basic  # the node whose assignment uses this one (or L for the output)
    term: sp.Basic
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class MatrixStep:
    """One matrix equation of a derivation, with its shape, layer, rules and paths."""

    lhs: sp.Basic  # a MatrixSymbol, or the loss symbol L
    rhs: sp.Basic
    stage: Stage
    layer: str | None = None  # the state_dict prefix of the layer ("2", "3.body.0")
    level: int | None = None  # the (l) of the textbook superscript
    rules: tuple[Rule, ...] = ()
    depends_on: tuple[str, ...] = ()
    paths: tuple[MatrixPath, ...] = ()
    node: sp.Basic | None = None  # the node or parameter an adjoint / gradient / update is of
    state_name: str | None = None  # a parameter's state_dict name (gradient and update steps)
    role: str = ""  # what a forward node is ("affine", "mean", ...)

    @property
    def name(self) -> str:
        return str(self.lhs.name)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr] | None:
        """Return (rows, cols) of a matrix step, None for the scalar loss."""
        shape = getattr(self.lhs, "shape", None)
        return None if shape is None else (shape[0], shape[1])
