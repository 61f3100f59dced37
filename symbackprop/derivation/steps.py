"""The lines of a derivation: Stage, Step, Path (the blame split), Equation and BlameShare.

Derivation engine. Everything here is immutable SymPy data (no strings): one ``Step`` is one
line ``lhs = rhs`` with the rules it cites; :mod:`symbackprop.derivation.derivation` holds them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sympy as sp

from symbackprop.model import display, notation
from symbackprop.model.rulebook import Rule

LOSS = sp.Symbol(notation.LOSS)
LEARNING_RATE = sp.Symbol(notation.LEARNING_RATE)


class Stage(enum.Enum):
    """Where a step sits in the story: forward pass, loss, backward pass, gradients, update."""

    FORWARD = "forward"
    LOSS = "loss"
    ADJOINT = "adjoint"
    GRADIENT = "gradient"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class Path:
    """One downstream use of a node: blame flowing back from ``via`` (adjoint x local)."""

    via: sp.Symbol  # the node fed (z2_1), or L
    adjoint: sp.Expr  # dL/d(via): a named adjoint (delta2_1), or 1 for the loss itself
    local: sp.Expr  # d(via)/d(node) in named intermediates (w2_1_1)
    rules: tuple[Rule, ...]

    @property
    def term(self) -> sp.Expr:
        return self.adjoint * self.local


@dataclass(frozen=True, slots=True)
class Step:
    """One line ``lhs = rhs`` of a derivation, with the rules it cites and what it uses.

    ``chain`` is the step in Leibniz form (dL/da * da/dz); ``factors`` is ``rhs`` as the
    textbook's product (dL/da, sigma'(z)); ``paths`` is the blame split of an adjoint or a
    gradient; ``terms`` are the loss's per-output terms.
    """

    lhs: sp.Symbol
    rhs: sp.Expr
    stage: Stage
    layer: int | None
    rules: tuple[Rule, ...] = ()
    depends_on: tuple[sp.Symbol, ...] = ()
    paths: tuple[Path, ...] = ()
    factors: tuple[sp.Expr, ...] = ()
    chain: sp.Expr | None = None
    terms: tuple[sp.Expr, ...] = ()
    node: sp.Symbol | None = None  # the node or parameter an adjoint / gradient / update is of

    @property
    def is_named_value(self) -> bool:
        """Is this a forward node, a loss term of the program (E_o1) or an adjoint?"""
        if self.stage is Stage.LOSS:
            return self.lhs != LOSS
        return self.stage in (Stage.FORWARD, Stage.ADJOINT)


@dataclass(frozen=True, slots=True)
class Equation:
    """One of the layer-view equations (forward, BP1-BP4) of a layered network."""

    label: str  # "forward", "BP1", "BP2", "BP3", "BP4"
    layer: int
    lhs: sp.Basic
    rhs: sp.Basic


class _Shown(tuple):  # type: ignore[type-arg]
    """A tuple that Jupyter shows through the display views ``<_view>.html`` / ``.latex``."""

    __slots__ = ()
    _view = ""

    def _repr_html_(self) -> str:
        return str(display.render(f"{self._view}.html", self))

    def _repr_latex_(self) -> str:
        return str(display.render(f"{self._view}.latex", self))


class Equations(_Shown):
    """The layer-view equations (a tuple of :class:`Equation`), shown as maths in Jupyter."""

    __slots__ = ()
    _view = "equations"


class BlameShares(_Shown):
    """A blame split (a tuple of :class:`BlameShare`), shown as a table in Jupyter."""

    __slots__ = ()
    _view = "blame"


@dataclass(frozen=True, slots=True)
class BlameShare:
    """One path of a delta's blame split: the term, and its value and share when evaluated."""

    via: sp.Symbol
    term: sp.Expr
    value: float | None = None
    share: float | None = None  # value / (sum of the path values)
