"""A per-neuron network's scalar program run on another array library (PyTorch, JAX) (numeric).

The derivation's steps, one line each, handed to lambdify as its common subexpressions, as the
NumPy backend's scalar program does (``compiled.py``), but printed over the backend's namespace
``xp``: every input, node and adjoint is an array over the batch on the backend's device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.derive import derive
from symbackprop.model import notation
from symbackprop.model.network import Network
from symbackprop.numeric.array_forms import check_forms, modules

FloatArray = np.ndarray

# The functions with a kink, as the NumPy backend's scalar program lists them.
_KINKED = ("Relu", "LeakyRelu", "Abs", "Max", "Min", "Step", "LeakyStep", "Heaviside")


def _straight_line(
    xp: Any, args: Sequence[sp.Symbol], lines: list[tuple[sp.Symbol, sp.Expr]], outputs: list
) -> Callable[..., Any]:
    """The lines and outputs as one function of ``args`` over ``xp`` (lambdify, lines as cse)."""
    check_forms(xp, [rhs for _, rhs in lines] + outputs)

    def given_lines(expressions: list[sp.Expr]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], Any]:
        return lines, expressions

    function = sp.lambdify(list(args), outputs, modules=modules(xp), cse=given_lines,
                           docstring_limit=0)  # fmt: skip
    return xp.compiled(function)


class ScalarArrayRunner:
    """The scalar program of a per-neuron network over the namespace ``xp``."""

    def __init__(self, network: Network, xp: Any) -> None:
        program = network.program
        self.xp = xp
        self.param_names = [p.name for p in program.params]
        self._gradient = _straight_line(xp, *derive(network).gradient_program())
        forward = [(a.lhs, a.rhs) for a in program.forward_assignments]
        inputs = list(program.params) + list(program.inputs)
        self._forward = _straight_line(xp, inputs, forward, list(program.outputs()))
        kinked = [call.args[0] for _, rhs in forward for call in rhs.atoms(sp.Function)
                  if type(call).__name__ in _KINKED]  # fmt: skip
        self.kink_names = [f"{notation.LOSS}_kink{i}" for i in range(len(kinked))]
        self._kinks = _straight_line(xp, inputs, forward, kinked or [sp.Integer(0)])

    def _params(self, params: dict[str, float]) -> list[Any]:
        return [self.xp.asarray(np.float64(params[n])) for n in self.param_names]

    def _columns(self, X: FloatArray) -> list[Any]:
        return list(self.xp.batch(X.T))  # one row per input: its values over the batch

    def _mean(self, value: Any, batch: int) -> float:
        return float(np.mean(np.broadcast_to(self.xp.to_numpy(value), (batch,))))

    def forward(self, params: dict[str, float], X: FloatArray) -> FloatArray:
        values = self._forward(*self._params(params), *self._columns(X))
        return np.column_stack([np.broadcast_to(self.xp.to_numpy(v), (X.shape[0],))
                                for v in values])  # fmt: skip

    def loss(self, params: dict[str, float], X: FloatArray, Y: FloatArray) -> float:
        return self.loss_and_gradient(params, X, Y)[0]

    def loss_and_gradient(
        self, params: dict[str, float], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, float]]:
        loss, *grads = self._gradient(*self._params(params), *self._columns(X), *self._columns(Y))
        batch = X.shape[0]
        means = [self._mean(g, batch) for g in grads]
        return self._mean(loss, batch), dict(zip(self.param_names, means, strict=True))

    def kink_arguments(self, params: dict[str, float], X: FloatArray) -> dict[str, FloatArray]:
        """Return the arguments of every kinked function call (relu's z), per sample."""
        if not self.kink_names:
            return {}
        values = self._kinks(*self._params(params), *self._columns(X))
        return {name: np.broadcast_to(self.xp.to_numpy(v), (X.shape[0],))
                for name, v in zip(self.kink_names, values, strict=True)}  # fmt: skip
