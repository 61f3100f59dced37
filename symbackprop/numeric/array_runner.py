"""A matrix derivation's generated code run on another array library (PyTorch, JAX) (numeric).

The steps are the NumPy backend's own: ``matrix_codegen.generate`` writes the same source,
with a :class:`~symbackprop.derivation.matrix_codegen.Target` whose helpers, kernels and
elementwise functions come from the backend's namespace ``xp``. Parameters and data arrive as
NumPy arrays, are moved to the backend's device (the batch's columns spread over the devices
where the backend does that), and the results come back as NumPy float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.array_kernels import _KERNELS, helpers
from symbackprop.derivation.matrix_codegen import Target, generate
from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_evaluation import WINNERS, dropout_mask, kinked_arguments
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.derivation.tensor_kernels import max_pool_winners
from symbackprop.model.conv_ops import MaxPool
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.tensor_ops import TensorOp
from symbackprop.numeric.array_forms import elementwise_factory, loss_form

FloatArray = np.ndarray


def check_ports(derivation: MatrixDerivation, xp: Any) -> None:
    """Refuse a derivation whose structured operations have no kernel on this backend."""
    used = {op.kernel for step in derivation.steps for op in step.rhs.atoms(TensorOp)}
    missing = sorted(used - set(_KERNELS))
    if missing:
        raise SymbackpropError(
            f"the {xp.name} backend has no kernel for {', '.join(missing)}; "
            "compile with backend='numpy'"
        )


class ArrayRunner:
    """The generated functions of one matrix derivation over the namespace ``xp``."""

    def __init__(self, derivation: MatrixDerivation, xp: Any) -> None:
        check_ports(derivation, xp)
        program, steps = derivation.program, derivation.steps
        self.xp = xp
        self.program = program
        self.parameters = [(p.state_name, p.state_shape,
                            (int(p.symbol.shape[0]), int(p.symbol.shape[1])))
                           for p in program.parameters]  # fmt: skip
        forward = [s for s in steps if s.stage is Stage.FORWARD]
        backward = [s for s in steps if s.stage in (Stage.ADJOINT, Stage.GRADIENT)]
        self.gradient_steps = [s for s in steps if s.stage is Stage.GRADIENT]
        arguments = (["X", "Y", "B"] + [str(p.symbol.name) for p in program.parameters]
                     + [str(c.symbol.name) for c in program.constants]
                     + [str(s.name) for s, _ in program.scalars])  # fmt: skip
        target = Target(xp.name, helpers(xp), elementwise_factory(xp))
        output = str(program.output.name)
        gradients = [s.name for s in self.gradient_steps]
        self._loss_form = loss_form(xp, program.loss_name)
        batch = (arguments.index("B"),)  # B sizes the ones matrices: a shape, fixed per call
        self._forward = xp.compiled(
            generate(forward, arguments, [output], "_forward", target), batch
        )
        self._gradient = xp.compiled(
            generate(forward + backward, arguments, [output, *gradients], "_gradient", target),
            batch,
        )
        self.kinked = kinked_arguments(program)
        self.pools = [(str(op.operands[0].name), op.settings) for step in forward
                      for op in step.rhs.atoms(MaxPool)
                      if isinstance(op.operands[0], sp.MatrixSymbol)]  # fmt: skip
        watched = self.kinked + [name for name, _ in self.pools]
        self._kinks = generate(forward, arguments, watched or ["None"], "_kinks", target)

    def _feed(self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray | None) -> list:
        xp, batch = self.xp, X.shape[0]
        values: list[Any] = [xp.batch(X.T), None if Y is None else xp.batch(Y.T), batch]
        values += [
            xp.asarray(np.reshape(params[state], shape)) for state, _, shape in self.parameters
        ]
        values += [xp.batch(dropout_mask(c, batch)) for c in self.program.constants]
        values += [value for _, value in self.program.scalars]
        return values

    def forward(self, params: Mapping[str, FloatArray], X: FloatArray) -> FloatArray:
        """Return the network's output for X (batch, n_in), as (batch, n_out)."""
        (output,) = self._forward(*self._feed(params, X, None))
        return self.xp.to_numpy(output).T

    def kink_arguments(self, params: Mapping[str, FloatArray], X: FloatArray) -> dict:
        """Return the arguments of kinked activations (relu's Z) by node name."""
        if not self.kinked and not self.pools:
            return {}
        values = [self.xp.to_numpy(v) for v in self._kinks(*self._feed(params, X, None))]
        out = dict(zip(self.kinked, values, strict=False))
        for index, (name, settings) in enumerate(self.pools):
            pooled = values[len(self.kinked) + index]
            out[f"{WINNERS}{index} of {name}"] = max_pool_winners(pooled, *settings)
        return out

    def _loss_of_output(self, output: Any, Y: FloatArray) -> float:
        """The mean over the batch of each sample's loss; ``output`` is (n_out, batch)."""
        steps = self.program.output_steps  # a sequence: each step's loss, summed over the steps
        A, Y2 = output.T, self.xp.batch(Y.T).T
        shape = (A.shape[0], steps, A.shape[1] // steps)
        per_step = self._loss_form(A.reshape(shape), Y2.reshape(shape))
        return float(self.xp.to_numpy(self.xp.mean(self.xp.sum(per_step, axis=-1))))

    def penalty(self, params: Mapping[str, FloatArray]) -> float:
        """Return Omega = (lambda/2) sum ||W||^2 + lambda_1 sum |W| over the weight matrices."""
        penalty, xp = self.program.penalty, self.xp
        if penalty.is_zero:
            return 0.0
        weights = [xp.asarray(params[p.state_name]) for p in self.program.penalized]
        squares = sum(float(xp.to_numpy(xp.sum(W * W))) for W in weights)
        sizes = sum(float(xp.to_numpy(xp.sum(xp.abs(W)))) for W in weights)
        return penalty.weight_decay / 2 * squares + penalty.l1 * sizes

    def loss(self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray) -> float:
        """Return the mean loss over the batch, plus the weight penalty."""
        (output,) = self._forward(*self._feed(params, X, None))
        return self._loss_of_output(output, Y) + self.penalty(params)

    def loss_and_gradient(
        self, params: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]]:
        """Return L and {state_dict name: dL/dtheta in the state_dict's shape}, as NumPy."""
        output, *grads = self._gradient(*self._feed(params, X, Y))
        gradient = {step.state_name or "": np.reshape(self.xp.to_numpy(value), self._shape(step))
                    for step, value in zip(self.gradient_steps, grads, strict=True)}  # fmt: skip
        out = {state: gradient.get(state, np.zeros(shape)) for state, shape, _ in self.parameters}
        return self._loss_of_output(output, Y) + self.penalty(params), out

    def _shape(self, step: MatrixStep) -> tuple[int, ...]:
        return next(shape for state, shape, _ in self.parameters if state == step.state_name)
