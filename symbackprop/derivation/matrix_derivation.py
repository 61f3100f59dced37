"""The Derivation of a network of layers: matrix steps, looked up and evaluated (derivation).

A :class:`MatrixDerivation` is what ``derive()`` returns for a network of layers: the forward
assignments, the loss, one named adjoint per node (Delta^(l) for a pre-activation, dA^(l) for
any other node), one gradient per parameter (keyed by its state_dict name too) and the update.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.matrix_derive import matrix_steps
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation, MatrixRunner
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.model import display, notation
from symbackprop.model.errors import NumericError, SymbackpropError, unknown_name
from symbackprop.model.matrix_program import MatrixProgram
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import data_arrays


@dataclass(frozen=True, slots=True)
class MatrixDerivation:
    """Every matrix step of a network of layers' backpropagation, in order."""

    network: LayerNetwork
    steps: tuple[MatrixStep, ...]

    @property
    def program(self) -> MatrixProgram:
        return self.network.program

    def step(self, name: str) -> MatrixStep:
        """Return the step whose left-hand side is ``name`` (Z1, Delta1, dA1, dL_dW1, L)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise unknown_name("step", name, [s.name for s in self.steps])

    def stage(self, stage: Stage) -> tuple[MatrixStep, ...]:
        return tuple(s for s in self.steps if s.stage is stage)

    def gradient_step(self, parameter: str) -> MatrixStep:
        """Return the gradient step of a parameter, by state_dict name ("2.weight") or symbol."""
        for step in self.stage(Stage.GRADIENT):
            node = step.node
            if parameter in (step.state_name, getattr(node, "name", None)):
                return step
        known = [s.state_name or "" for s in self.stage(Stage.GRADIENT)]
        raise unknown_name("parameter", parameter, known)

    def gradient(self, parameter: str) -> sp.Basic:
        """Return dL/dtheta as a matrix expression in named adjoints (e.g. Delta2 A1^T / B)."""
        return self.gradient_step(parameter).rhs

    def symbol(self, parameter: str) -> sp.MatrixSymbol:
        """Return the matrix symbol of a state_dict name: "2.weight" -> W2."""
        return (
            self.program.parameter(parameter).symbol
            if parameter in _states(self)
            else (self.gradient_step(parameter).node)
        )

    def evaluate(
        self,
        params: Mapping[str, Any],
        X: Any,
        Y: Any,
        learning_rate: float | None = None,
    ) -> MatrixEvaluation:
        """Return every matrix of the sweep for this batch (one column per sample)."""
        arrays = self.network.checked_params(params)
        X2, Y2 = data_arrays(self.network, X, Y)
        values = _runner(self).everything(arrays, X2, Y2)
        runner = _runner(self)
        loss = runner.loss_of_output(values[self.program.output.name], Y2) + runner.penalty(arrays)
        if not np.isfinite(loss):
            raise NumericError("the loss is not finite for these parameters and data")
        updated = {}
        if learning_rate is not None:
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
                raise SymbackpropError(
                    f"learning_rate {learning_rate!r} is not a number; pass e.g. 0.5"
                )
            for step in self.stage(Stage.UPDATE):
                theta = str(getattr(step.node, "name", ""))
                gradient = notation.gradient_name(theta)
                updated[step.name] = values[theta] - learning_rate * values[gradient]
        return MatrixEvaluation(values, loss, X2.shape[0], learning_rate, updated)

    # --- text ------------------------------------------------------------------------------
    def to_text(self, evaluation: MatrixEvaluation | None = None) -> str:
        """Return the derivation as Unicode terminal text (numbers when evaluated)."""
        return str(display.render("matrix_derivation.text", self, evaluation))

    def to_markdown(self, evaluation: MatrixEvaluation | None = None) -> str:
        """Return the derivation as Markdown with $...$ math (numbers when evaluated)."""
        return str(display.render("matrix_derivation.markdown", self, evaluation))

    def to_latex(self, evaluation: MatrixEvaluation | None = None) -> str:
        """Return the derivation as a LaTeX fragment (align* blocks, bmatrix numbers)."""
        return str(display.render("matrix_derivation.latex", self, evaluation))

    # Jupyter display.
    def _repr_html_(self) -> str:
        return str(display.render("matrix_derivation.html", self))

    def runner(self) -> MatrixRunner:
        """Return the compiled NumPy functions of this derivation (built once)."""
        return _runner(self)


def _states(derivation: MatrixDerivation) -> set[str]:
    return {p.state_name for p in derivation.program.parameters}


@functools.lru_cache(maxsize=32)
def _runner(derivation: MatrixDerivation) -> MatrixRunner:
    return MatrixRunner(derivation.program, derivation.steps)


def derive_layers(network: LayerNetwork, freeze: Iterable[str] = ()) -> MatrixDerivation:
    """Derive a network of layers: its matrix program's reverse sweep.

    ``freeze`` names parameters (state_dict names) that get a gradient but no update step.
    """
    frozen = set(freeze)
    known = network.parameter_names()
    for name in frozen:
        if name not in known:
            raise unknown_name("parameter to freeze", name, known)
    steps = tuple(s for s in matrix_steps(network.program)
                  if not (s.stage is Stage.UPDATE and s.state_name in frozen))  # fmt: skip
    return MatrixDerivation(network, steps)
