"""The Derivation value: every step of backpropagation through one network, as SymPy data.

Derivation engine. Reports, the checker and worksheets all read the same Derivation that
:func:`symbackprop.derivation.derive.derive` builds; its renderings (``to_latex``, Jupyter
display) go through :mod:`symbackprop.model.display`, so this module imports no renderer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from symbackprop.derivation.equations import layer_equations
from symbackprop.derivation.evaluation import Evaluation, evaluate, first_step
from symbackprop.derivation.steps import LOSS, BlameShare, BlameShares, Equations, Stage, Step
from symbackprop.model import display, notation
from symbackprop.model.errors import UnknownNameError, unknown_name
from symbackprop.model.network import Network
from symbackprop.model.optimizers import SGD, Optimizer
from symbackprop.model.validate import require_number


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
    optimizer: Optimizer = SGD  # what the update stage uses the gradients for
    _by_name: Mapping[str, Step] = field(default_factory=dict, repr=False, compare=False)
    # Compiled NumPy functions of this derivation, made on first evaluate() (a cache only).
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {step.lhs.name: step for step in self.steps})

    # --- looking steps up ------------------------------------------------------------------
    def step(self, name: str) -> Step:
        """Return the step whose left side is ``name`` (z2_1, delta2_1, dL_dw2_1_1, L, ...)."""
        found = self._by_name.get(name) if isinstance(name, str) else None
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
        found = self._by_name.get(name) if isinstance(name, str) else None
        step = found or self._gradient_step(name)
        expr = step.rhs
        index = self.steps.index(step)
        for earlier in reversed(self.steps[:index]):
            if earlier.lhs in expr.free_symbols:
                expr = expr.xreplace({earlier.lhs: earlier.rhs})
        return expr

    def gradient_program(
        self, param_names: Sequence[str] | None = None
    ) -> tuple[list[sp.Symbol], list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
        """Return (args, lines, outputs) of one sample's loss and gradient, for code generation.

        The args are the parameters (in ``param_names``' order, else the program's), the inputs
        and the targets; the lines are the forward pass and the loss side, L, then the backward
        pass and the gradients; the outputs are L and dL/dtheta per parameter, in the args'
        order. Compiled code runs them line by line (``codegen.py``, ``numeric/``).
        """
        program = self.network.program
        per_sample = [s for s in self.steps if s.stage is not Stage.UPDATE and s.lhs != LOSS]
        before_loss = (Stage.FORWARD, Stage.LOSS)  # the loss side comes before L, which reads it
        lines = [(s.lhs, s.rhs) for s in per_sample if s.stage in before_loss]
        lines.append((LOSS, sp.Add(*program.loss_terms)))
        lines += [(s.lhs, s.rhs) for s in per_sample if s.stage not in before_loss]
        by_name = {p.name: p for p in program.params}
        names = [p.name for p in program.params] if param_names is None else param_names
        params = [by_name[name] for name in names]
        gradients: list[sp.Expr] = [sp.Symbol(notation.gradient_name(p.name)) for p in params]
        args = params + list(program.inputs) + list(program.targets)
        return args, lines, [LOSS, *gradients]

    def equations(self) -> Equations:
        """Return the layer view: forward equations and BP1-BP4 in matrix form."""
        return Equations(layer_equations(self.network))

    # --- numbers ---------------------------------------------------------------------------
    def evaluate(
        self,
        params: Mapping[str, Any],
        x: Any,
        y: Any,
        learning_rate: float | None = None,
    ) -> Evaluation:
        """Return the number for every node, adjoint, gradient (and update, given eta).

        The update is the optimiser's first step: its state (v, m, s) starts at 0 and t = 1;
        the values include the hyperparameters and the state before and after the step.
        """
        if learning_rate is not None:
            learning_rate = require_number(learning_rate, "learning_rate")
        ev = evaluate(self.network, self.steps, self._compiled, params, x, y, learning_rate)
        if learning_rate is not None and self.stage(Stage.UPDATE):
            ev = first_step(ev, self.stage(Stage.UPDATE), self.optimizer, float(learning_rate))
        return replace(ev, derivation=self)  # its Jupyter display is this derivation's numbers

    def blame(self, name: str, evaluation: Evaluation | None = None) -> BlameShares:
        """Split an adjoint (or gradient) into its downstream paths, with values if evaluated."""
        step = self.step(name)
        if not step.paths:
            raise UnknownNameError(f"{name!r} has no blame split; pass a delta or an adjoint")
        if evaluation is None:
            return BlameShares(BlameShare(p.via, p.term) for p in step.paths)
        values = evaluation.path_values(name)
        total = sum(values)
        return BlameShares(
            BlameShare(p.via, p.term, v, (v / total) if total != 0 else None)
            for p, v in zip(step.paths, values, strict=True)
        )

    # --- text ------------------------------------------------------------------------------
    def to_markdown(self, evaluation: Evaluation | None = None) -> str:
        """Return the derivation as Markdown with $...$ math (numbers when evaluated)."""
        return str(display.render("derivation.markdown", self, evaluation))

    def to_latex(self, evaluation: Evaluation | None = None) -> str:
        """Return the derivation as a LaTeX fragment (align* blocks)."""
        return str(display.render("derivation.latex", self, evaluation))

    def to_text(self, evaluation: Evaluation | None = None) -> str:
        """Return the derivation as Unicode terminal text."""
        return str(display.render("derivation.text", self, evaluation))

    # Jupyter display (numbers: display the evaluation, d.evaluate(params, x, y)).
    def _repr_latex_(self) -> str:
        return str(display.render("derivation.notebook_latex", self, None))

    def _repr_html_(self) -> str:
        return str(display.render("derivation.html", self))
