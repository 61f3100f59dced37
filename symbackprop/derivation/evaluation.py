"""Numbers for a Derivation: every node, adjoint, gradient and update at one point.

Derivation engine (numeric side). The derivation's steps are compiled once, by
:mod:`symbackprop.derivation.codegen`, into one NumPy function per derivation; the values of the
textbook factors (dL/da, sigma'(z)) and of each blame path come out of the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.codegen import straight_line_function
from symbackprop.derivation.steps import LEARNING_RATE, LOSS, Stage, Step
from symbackprop.model import display
from symbackprop.model.network import Network
from symbackprop.model.optimizers import STEP_NUMBER, Optimizer
from symbackprop.model.validate import data_arrays, params_by_name

_PER_SAMPLE = ("forward", "loss", "adjoint", "gradient")


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The numbers of a derivation at one point (one sample, or a batch).

    For one sample every value is a float. For a batch, node, adjoint, factor and path values
    are per-sample arrays, while L and the gradients are batch means (the loss of a batch is
    the mean of the per-sample losses).
    """

    values: Mapping[str, Any]
    factors: Mapping[str, tuple[Any, ...]]
    paths: Mapping[str, tuple[Any, ...]]
    terms: tuple[Any, ...]  # the loss's per-output terms
    batch_size: int
    learning_rate: float | None = None
    # The derivation these numbers belong to (set by Derivation.evaluate): Jupyter shows it.
    derivation: Any = field(default=None, repr=False, compare=False)

    def _repr_html_(self) -> str | None:
        if self.derivation is None:
            return None
        return str(display.render("derivation.html", self.derivation, self))

    def _repr_latex_(self) -> str | None:
        if self.derivation is None:
            return None
        return str(display.render("derivation.notebook_latex", self.derivation, self))

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def factor_values(self, name: str) -> tuple[Any, ...]:
        """Return the values of a step's textbook factors (dL/da, sigma'(z))."""
        return self.factors[name]

    def path_values(self, name: str) -> tuple[float, ...]:
        """Return the value of each blame path of an adjoint (batch mean for a batch)."""
        return tuple(float(np.mean(v)) for v in self.paths[name])

    def gradients(self) -> dict[str, float]:
        """Return {parameter name: dL/dparameter} (batch means)."""
        prefix = "dL_d"
        return {
            k[len(prefix) :]: float(v)
            for k, v in self.values.items()
            if k.startswith(prefix) and k[len(prefix) :] in self.values
        }


def evaluate(
    network: Network,
    steps: tuple[Step, ...],
    cache: dict[str, Any],
    params: Mapping[str, Any],
    x: Any,
    y: Any,
    learning_rate: float | None = None,
) -> Evaluation:
    """Evaluate the steps of a network's derivation at (params, x, y); see Derivation.evaluate.

    The compiled function is kept in ``cache`` (the derivation's own) and made only once.
    """
    values_by_name = params_by_name(network, params)
    X, Y = data_arrays(network, x, y)
    if "evaluate" not in cache:
        cache["evaluate"] = _compile(network, steps)
    function, layout = cache["evaluate"]
    program = network.program
    args: list[Any] = [values_by_name[p.name] for p in program.params]
    args += [X[:, k] for k in range(X.shape[1])] + [Y[:, j] for j in range(Y.shape[1])]
    batch = X.shape[0]
    raw = [np.broadcast_to(np.asarray(v, dtype=np.float64), (batch,)) for v in function(*args)]
    return _assemble(network, steps, layout, raw, values_by_name, (X, Y), learning_rate)


def _compile(network: Network, all_steps: tuple[Step, ...]) -> tuple[Any, dict[str, Any]]:
    """Compile the per-sample steps, their factors and their paths into one function."""
    steps = [s for s in all_steps if s.stage.value in _PER_SAMPLE]
    outputs: list[sp.Expr] = [s.lhs for s in steps]
    layout: dict[str, Any] = {"lhs": [s.lhs.name for s in steps], "factors": {}, "paths": {}}
    for step in steps:
        if len(step.factors) > 1:
            layout["factors"][step.lhs.name] = (len(outputs), len(step.factors))
            outputs += list(step.factors)
        if step.paths:
            layout["paths"][step.lhs.name] = (len(outputs), len(step.paths))
            outputs += [p.term for p in step.paths]
    loss_step = next(s for s in steps if s.stage.value == "loss")
    layout["terms"] = (len(outputs), len(loss_step.terms))
    outputs += list(loss_step.terms)
    program = network.program
    args = list(program.params) + list(program.inputs) + list(program.targets)
    function = straight_line_function(args, [(s.lhs, s.rhs) for s in steps], outputs)
    return function, layout


def _assemble(
    network: Network,
    steps: tuple[Step, ...],
    layout: dict[str, Any],
    raw: list[Any],
    params: dict[str, float],
    data: tuple[Any, Any],
    learning_rate: float | None,
) -> Evaluation:
    X, Y = data
    batch = X.shape[0]

    def shown(array: Any, mean: bool = False) -> Any:
        if batch == 1:
            return float(array[0])
        return float(np.mean(array)) if mean else np.array(array)

    # L and the gradients are batch means; nodes, loss terms (E_o1) and adjoints per sample.
    is_mean = {s.lhs.name: s.lhs == LOSS or s.stage is Stage.GRADIENT for s in steps}
    values: dict[str, Any] = dict(params)
    program = network.program
    for k, symbol in enumerate(program.inputs):
        values[symbol.name] = shown(X[:, k])
    for j, symbol in enumerate(program.targets):
        values[symbol.name] = shown(Y[:, j])
    for i, name in enumerate(layout["lhs"]):
        values[name] = shown(raw[i], mean=is_mean[name])
    factors = {
        name: tuple(shown(raw[start + i]) for i in range(count))
        for name, (start, count) in layout["factors"].items()
    }
    paths = {
        name: tuple(shown(raw[start + i]) for i in range(count))
        for name, (start, count) in layout["paths"].items()
    }
    start, count = layout["terms"]
    terms = tuple(shown(raw[start + i], mean=True) for i in range(count))
    return Evaluation(values, factors, paths, terms, batch, learning_rate)


def first_step(
    evaluation: Evaluation, steps: Sequence[Step], optimizer: Optimizer, eta: float
) -> Evaluation:
    """Add the optimiser's first step: its state before (0), t = 1, the settings, and after.

    The gradients are the batch means; each update step is evaluated in order, so a step may
    use a state's new value (theta+ = theta - eta v+).
    """
    known: dict[str, Any] = dict(evaluation.values)
    known[LEARNING_RATE.name] = eta
    known.update(optimizer.hyperparameters())
    if optimizer.state:
        known[STEP_NUMBER.name] = 1.0
    for step in steps:
        if step.node is not None:
            old, _ = optimizer.state_symbols(step.node.name)
            known.update({s.name: 0.0 for s in old.values()})
    for step in steps:
        substitution = {sym: known[sym.name] for sym in step.rhs.free_symbols}
        known[step.lhs.name] = float(step.rhs.xreplace(substitution))
    return replace(evaluation, values=known)
