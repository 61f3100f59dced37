"""The Derivation data model: Steps, Paths, the layer equations and the Derivation itself.

Derivation engine. Everything here is immutable SymPy data (no strings): reports, the checker
and worksheets all read the same Derivation that :func:`symbackprop.derive.derive` builds.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy as sp

from symbackprop import notation
from symbackprop.errors import UnknownNameError, unknown_name
from symbackprop.network import Network
from symbackprop.rulebook import Rule

if TYPE_CHECKING:
    from symbackprop.evaluation import Evaluation

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


@dataclass(frozen=True, slots=True)
class Equation:
    """One of the layer-view equations (forward, BP1-BP4) of a layered network."""

    label: str  # "forward", "BP1", "BP2", "BP3", "BP4"
    layer: int
    lhs: sp.Basic
    rhs: sp.Basic


@dataclass(frozen=True, slots=True)
class BlameShare:
    """One path of a delta's blame split: the term, and its value and share when evaluated."""

    via: sp.Symbol
    term: sp.Expr
    value: float | None = None
    share: float | None = None  # value / (sum of the path values)


@dataclass(frozen=True, slots=True)
class Derivation:
    """Every step of backpropagation through one network, as SymPy data.

    The loss of a batch is the mean of the per-sample losses, and every gradient is the mean
    of the per-sample gradients (``batch_mean`` is always True; a single sample gives the
    textbook value).
    """

    network: Network
    steps: tuple[Step, ...]
    frozen: tuple[str, ...] = ()
    batch_mean: bool = True
    _by_name: Mapping[str, Step] = field(default_factory=dict, repr=False, compare=False)
    # Compiled NumPy functions of this derivation, made on first evaluate() (a cache only).
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {step.lhs.name: step for step in self.steps})

    # --- looking steps up ------------------------------------------------------------------
    def step(self, name: str) -> Step:
        """Return the step whose left side is ``name`` (z2_1, delta2_1, dL_dw2_1_1, L, ...)."""
        found = self._by_name.get(name)
        if found is None:
            raise unknown_name("step", name, self._by_name)
        return found

    def stage(self, stage: Stage) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.stage is stage)

    def gradient(self, name: str) -> sp.Expr:
        """Return dL/d(name) for a parameter, in named intermediates (delta2_1 a1_1)."""
        return self._gradient_step(name).rhs

    def _gradient_step(self, name: str) -> Step:
        step = self._by_name.get(notation.gradient_name(name))
        if step is None or step.stage is not Stage.GRADIENT:
            raise unknown_name("parameter", name, self.network.parameter_names())
        return step

    def expanded(self, name: str) -> sp.Expr:
        """Return a step (or a parameter's gradient) with every named intermediate substituted.

        The result is in parameters, inputs and targets only; it can be large for deep nets.
        """
        step = self._by_name.get(name) or self._gradient_step(name)
        expr = step.rhs
        index = self.steps.index(step)
        for earlier in reversed(self.steps[:index]):
            if earlier.lhs in expr.free_symbols:
                expr = expr.xreplace({earlier.lhs: earlier.rhs})
        return expr

    def equations(self) -> tuple[Equation, ...]:
        """Return the layer view: forward equations and BP1-BP4 in matrix form."""
        from symbackprop.equations import layer_equations

        return layer_equations(self.network)

    # --- numbers ---------------------------------------------------------------------------
    def evaluate(
        self,
        params: Mapping[str, Any],
        x: Any,
        y: Any,
        learning_rate: float | None = None,
    ) -> Evaluation:
        """Return the number for every node, adjoint, gradient (and update, given eta)."""
        from symbackprop.evaluation import evaluate

        return evaluate(self, params, x, y, learning_rate)

    def blame(self, name: str, evaluation: Evaluation | None = None) -> tuple[BlameShare, ...]:
        """Split an adjoint (or gradient) into its downstream paths, with values if evaluated."""
        step = self.step(name)
        if not step.paths:
            raise UnknownNameError(f"{name!r} has no blame split; pass a delta or an adjoint")
        if evaluation is None:
            return tuple(BlameShare(p.via, p.term) for p in step.paths)
        values = evaluation.path_values(name)
        total = sum(values)
        return tuple(
            BlameShare(p.via, p.term, v, (v / total) if total != 0 else None)
            for p, v in zip(step.paths, values, strict=True)
        )

    # --- text ------------------------------------------------------------------------------
    def to_markdown(self, evaluation: Evaluation | None = None) -> str:
        """Return the derivation as Markdown with $...$ math (numbers when evaluated)."""
        from symbackprop.text import derivation_markdown

        return derivation_markdown(self, evaluation)

    def to_latex(self, evaluation: Evaluation | None = None) -> str:
        """Return the derivation as a LaTeX fragment (align* blocks)."""
        from symbackprop.text import derivation_latex

        return derivation_latex(self, evaluation)

    def to_text(self, evaluation: Evaluation | None = None) -> str:
        """Return the derivation as Unicode terminal text."""
        from symbackprop.text import derivation_text

        return derivation_text(self, evaluation)

    # Jupyter display: the renderers are imported on call, so derive.py never loads them.
    def _repr_latex_(self) -> str:
        return self.to_latex()

    def _repr_html_(self) -> str:
        from symbackprop.report import derivation_html

        return derivation_html(self)
