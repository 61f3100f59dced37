"""One optimiser step over parameter arrays, compiled from its symbolic update rule (numeric).

The optimiser's lines for one generic parameter theta (``symbackprop.model.optimizers``, the
same lines the derivation's update stage shows for each parameter) are lambdified once and
applied to every parameter, a float or a layer array alike, elementwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.codegen import straight_line_function
from symbackprop.model import notation
from symbackprop.model.optimizers import (
    GRADIENT,
    LEARNING_RATE,
    STEP_NUMBER,
    THETA,
    Optimizer,
)


class Stepper:
    """An optimiser's state (v, m, s per parameter; the step number t) and its step."""

    def __init__(
        self,
        optimizer: Optimizer,
        learning_rate: float,
        params: Mapping[str, Any],
        learns: Mapping[str, Any],
    ) -> None:
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learns = learns  # 1 where a parameter learns, 0 where it is frozen
        self.settings = list(optimizer.hyperparameters().values())
        self.function = _update_function(optimizer)
        self.memory = {
            kind: {k: np.zeros_like(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
            for kind in optimizer.state
        }
        self.t = 0

    def step(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> dict[str, Any]:
        """Return the parameters after one step; the state moves on (frozen ones stay put)."""
        self.t += 1
        updated = {}
        for k, theta in params.items():
            learns = self._learns[k]
            if learns is False:  # frozen throughout: its value and its state stay as they are
                updated[k] = theta
                continue
            old = [self.memory[kind][k] for kind in self.optimizer.state]
            outputs = self.function(
                theta, grads[k], *old, self.learning_rate, self.t, *self.settings
            )
            for kind, value, before in zip(self.optimizer.state, outputs[1:], old, strict=True):
                self.memory[kind][k] = _kept(learns, value, before)
            moved = _kept(learns, outputs[0], theta)
            updated[k] = float(moved) if isinstance(theta, float) else moved
        return updated

    @functools.cached_property
    def _learns(self) -> dict[str, Any]:
        """Per parameter: True (every entry learns), False (none does) or the boolean mask."""
        flags: dict[str, Any] = {}
        for k, mask in self.learns.items():
            learns = np.asarray(mask) > 0
            flags[k] = bool(learns.all()) if learns.all() or not learns.any() else learns
        return flags


def _kept(learns: Any, value: Any, before: Any) -> Any:
    """Return ``value`` where the mask learns and ``before`` elsewhere, shaped like both."""
    if learns is True and np.shape(value) == np.shape(before):
        return np.asarray(value, dtype=np.float64)
    return np.where(learns, value, before)


def _update_function(optimizer: Optimizer) -> Callable[..., Any]:
    """Lambdify one step for a generic theta: (theta, g, *state, eta, t, *settings) -> new."""
    old, new = optimizer.state_symbols(THETA.name)
    theta_new = sp.Symbol(notation.updated_name(THETA.name))
    lines = [
        (theta_new if line.target == "theta" else new[line.target], line.rhs)
        for line in optimizer.lines(THETA, GRADIENT, old, new)
    ]
    settings = [sp.Symbol(name) for name in optimizer.hyperparameters()]
    args = [THETA, GRADIENT, *old.values(), LEARNING_RATE, STEP_NUMBER, *settings]
    return straight_line_function(args, lines, [theta_new, *new.values()])
