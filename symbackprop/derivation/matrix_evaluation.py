"""Numbers for a matrix derivation: every matrix of the sweep, for given parameters and data.

Derivation engine. :class:`MatrixRunner` turns the steps into three compiled NumPy
functions (forward only; forward + backward; everything) and feeds them the parameters in the
program's layout (PyTorch's (out,) bias becomes a column b (out x 1)), the data transposed
(one column per sample), the dropout masks and the named numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.derivation.matrix_codegen import generate
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.derivation.tensor_kernels import max_pool_winners
from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.conv_ops import MaxPool
from symbackprop.model.losses import get_loss
from symbackprop.model.matrix_program import MatrixConstant, MatrixProgram

FloatArray = np.ndarray


def dropout_mask(constant: MatrixConstant, batch: int) -> FloatArray:
    """Return the 0/1 mask (rows x batch) of a dropout layer, drawn from its seed."""
    rows = int(constant.symbol.shape[0])
    rng = np.random.default_rng(constant.seed)
    return (rng.random((batch, rows)) < constant.keep_probability).astype(np.float64).T


# The key of a max pool's winners in kink_arguments: compared for equality, not by sign.
WINNERS = "max pool winners "


def kinked_arguments(program: MatrixProgram) -> list[str]:
    """Return the nodes fed to a kinked activation (relu, leaky relu): where gradcheck may
    straddle the kink."""
    names = []
    for assignment in program.assignments:
        rhs = assignment.rhs
        if isinstance(rhs, ElementwiseApplyFunction) and isinstance(rhs.expr, sp.MatrixSymbol):
            body = rhs.function.expr.subs(rhs.function.variables[0], _T)
            if any(e.kinked and e.apply(_T) == body for e in ACTIVATIONS.values()
                   if not e.is_layerwise):  # fmt: skip
                names.append(str(rhs.expr.name))
    return names


_T = sp.Symbol("t")


class MatrixRunner:
    """The compiled NumPy functions of one matrix derivation."""

    def __init__(self, program: MatrixProgram, steps: Sequence[MatrixStep]) -> None:
        self.program = program
        self.parameters = [(str(p.symbol.name), p.state_name, p.state_shape,
                            (int(p.symbol.shape[0]), int(p.symbol.shape[1])))
                           for p in program.parameters]  # fmt: skip
        forward = [s for s in steps if s.stage is Stage.FORWARD]
        backward = [s for s in steps if s.stage in (Stage.ADJOINT, Stage.GRADIENT)]
        self.gradient_steps = [s for s in steps if s.stage is Stage.GRADIENT]
        self.arguments = (["X", "Y", "B"] + [name for name, *_ in self.parameters]
                          + [str(c.symbol.name) for c in program.constants]
                          + [str(s.name) for s, _ in program.scalars])  # fmt: skip
        output = str(program.output.name)
        gradients = [s.name for s in self.gradient_steps]
        self.value_names = [s.name for s in forward + backward]
        self._forward = generate(forward, self.arguments, [output], "_forward")
        self._gradient = generate(forward + backward, self.arguments, [output, *gradients],
                                  "_gradient")  # fmt: skip
        self._everything = generate(forward + backward, self.arguments, self.value_names,
                                    "_everything")  # fmt: skip
        self.kinked = kinked_arguments(program)
        # A max pool is kinked where its winner changes: its input's windows are watched too.
        self.pools = [(str(op.operands[0].name), op.settings) for step in forward
                      for op in step.rhs.atoms(MaxPool)
                      if isinstance(op.operands[0], sp.MatrixSymbol)]  # fmt: skip
        watched = self.kinked + [name for name, _ in self.pools]
        self._kinks = generate(forward, self.arguments, watched or ["None"], "_kinks")

    def _feed(self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray | None) -> list:
        batch = X.shape[0]
        values: list[Any] = [X.T, None if Y is None else Y.T, batch]
        values += [np.reshape(params[state], shape) for _, state, _, shape in self.parameters]
        values += [dropout_mask(c, batch) for c in self.program.constants]
        values += [value for _, value in self.program.scalars]
        return values

    def forward(self, params: Mapping[str, FloatArray], X: FloatArray) -> FloatArray:
        """Return the network's output for X (batch, n_in), as (batch, n_out)."""
        (output,) = self._forward(*self._feed(params, X, None))
        return np.asarray(output).T

    def kink_arguments(self, params: Mapping[str, FloatArray], X: FloatArray) -> dict:
        """Return the arguments of kinked activations (relu's Z) by node name."""
        if not self.kinked and not self.pools:
            return {}
        values = self._kinks(*self._feed(params, X, None))
        out = dict(zip(self.kinked, values, strict=False))
        for index, (name, settings) in enumerate(self.pools):
            pooled = values[len(self.kinked) + index]
            out[f"{WINNERS}{index} of {name}"] = max_pool_winners(pooled, *settings)
        return out

    def loss_of_output(self, output: FloatArray, Y: FloatArray) -> float:
        """Return the mean over the batch of each sample's loss; ``output`` is (n_out, batch)."""
        # A sequence output: each step's loss over its own features, summed over the steps.
        steps = self.program.output_steps
        A, Y = np.asarray(output).T, np.asarray(Y)
        shape = (A.shape[0], steps, A.shape[1] // steps)
        per_step = get_loss(self.program.loss_name).numpy_form(A.reshape(shape), Y.reshape(shape))
        return float(np.mean(np.sum(per_step, axis=-1)))

    def penalty(self, params: Mapping[str, FloatArray]) -> float:
        """Return Omega = (lambda/2) sum ||W||^2 + lambda_1 sum |W| over the weight matrices."""
        penalty = self.program.penalty
        if penalty.is_zero:
            return 0.0
        weights = [np.asarray(params[p.state_name]) for p in self.program.penalized]
        squares = sum(float(np.sum(W * W)) for W in weights)
        sizes = sum(float(np.sum(np.abs(W))) for W in weights)
        return penalty.weight_decay / 2 * squares + penalty.l1 * sizes

    def loss(self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray) -> float:
        """Return the mean loss over the batch, plus the weight penalty."""
        (output,) = self._forward(*self._feed(params, X, None))
        return self.loss_of_output(output, Y) + self.penalty(params)

    def loss_and_gradient(
        self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]]:
        """Return L and {state_dict name: dL/dtheta in the state_dict's shape}."""
        output, *grads = self._gradient(*self._feed(params, X, Y))
        gradient = {step.state_name or "": np.reshape(value, self._state_shape(step))
                    for step, value in zip(self.gradient_steps, grads, strict=True)}  # fmt: skip
        for _, state, state_shape, _ in self.parameters:  # one the loss does not use: 0
            gradient.setdefault(state, np.zeros(state_shape))
        out = {state: gradient[state] for _, state, _, _ in self.parameters}
        return self.loss_of_output(output, Y) + self.penalty(params), out

    def everything(
        self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> dict[str, FloatArray]:
        """Return every forward, adjoint and gradient matrix by its name (program layout)."""
        values = self._everything(*self._feed(params, X, Y))
        named = {name: np.array(value, dtype=np.float64)
                 for name, value in zip(self.value_names, values, strict=True)}  # fmt: skip
        for name, state, _, shape in self.parameters:
            named[name] = np.reshape(np.asarray(params[state], dtype=np.float64), shape)
        named["X"], named["Y"] = X.T.copy(), Y.T.copy()
        for constant in self.program.constants:
            named[str(constant.symbol.name)] = dropout_mask(constant, X.shape[0])
        return named

    def _state_shape(self, step: MatrixStep) -> tuple[int, ...]:
        for _, state, shape, _ in self.parameters:
            if state == step.state_name:
                return shape
        raise KeyError(step.state_name)


@dataclass(frozen=True)
class MatrixEvaluation:
    """The numbers of a matrix derivation: every matrix by name, the loss, the batch size."""

    values: Mapping[str, FloatArray]
    loss: float
    batch: int
    learning_rate: float | None = None
    updated: Mapping[str, FloatArray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FloatArray | float:
        if name == "L":
            return self.loss
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name == "L" or name in self.values
