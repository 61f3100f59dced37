"""Networks of layers: ``sequential(n_inputs, layers, loss)`` and its matrix program (model layer).

A :class:`LayerNetwork` is a list of layers (:mod:`symbackprop.model.layers`) applied in
order, as PyTorch's ``nn.Sequential``, and a loss. Its parameters are arrays named and shaped
as that ``nn.Sequential``'s ``state_dict`` (``"0.weight"`` is (out, in)); its matrix program
is built on first use and cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.model.errors import NumericError, ShapeError, SpecError, shorten
from symbackprop.model.layers import (
    Elementwise,
    SelfAttention,
    Softmax,
    checked_layers,
    output_shape,
    stage_layers,
)
from symbackprop.model.losses import get_loss
from symbackprop.model.matrix_program import TARGET_NAME, MatrixProgram, ProgramBuilder
from symbackprop.model.penalty import NO_PENALTY, Penalty


@dataclass(frozen=True, slots=True)
class LayerNetwork:
    """A network of layers: input width, layers in order (PyTorch's nn.Sequential), loss."""

    n_inputs: int
    layers: tuple[Any, ...]
    loss_name: str
    penalty: Penalty = NO_PENALTY  # L2 / L1 on the weight matrices (not biases, not gamma/beta)
    # One sample as PyTorch shapes it when it is not flat: (C, H, W) or (C, L) for
    # convolutions, (T, n) for a sequence of T steps; n_inputs is then its size.
    input_shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.n_inputs, (tuple, list)):
            shape = _checked_shape(self.n_inputs)
            object.__setattr__(self, "input_shape", shape if len(shape) > 1 else ())
            object.__setattr__(self, "n_inputs", math.prod(shape))
        if isinstance(self.n_inputs, bool) or not isinstance(self.n_inputs, (int, np.integer)):
            raise SpecError(
                f"input size {shorten(repr(self.n_inputs))} is not a positive integer; "
                "pass the number of input features, e.g. 4"
            )
        if self.n_inputs < 1:
            raise SpecError(f"input size {self.n_inputs} is not a positive integer")
        object.__setattr__(self, "n_inputs", int(self.n_inputs))
        object.__setattr__(self, "layers", checked_layers(self.layers, "the network"))
        get_loss(self.loss_name)
        self.n_outputs  # noqa: B018 (walks the sizes: a size mismatch is refused here)
        _check_output(self)

    def with_penalty(self, penalty: Penalty) -> LayerNetwork:
        """Return this network with ``penalty`` on its weight matrices in place of its own."""
        return replace(self, penalty=penalty)

    @property
    def program(self) -> MatrixProgram:
        """Return the matrix program (built once per network)."""
        return _program(self)

    @property
    def n_outputs(self) -> int:
        return math.prod(self.output_shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample of X as PyTorch shapes it: (n,), (C, H, W), (C, L) or (T, n)."""
        return self.input_shape or (self.n_inputs,)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """One sample of the output (and of Y) as PyTorch shapes it, e.g. (10,) or (T, k)."""
        shape = self.sample_shape
        for layer in self.layers:
            shape = output_shape(layer, shape)
        return shape

    @property
    def is_sequence(self) -> bool:
        """True when a layer mixes columns (attention): the batch is one sequence's positions."""
        return any(isinstance(layer, SelfAttention) for layer in _flat(self.layers))

    @property
    def is_layered(self) -> bool:
        """False: a network of layers has no per-neuron MLP layer view (see ``architecture``)."""
        return False

    @property
    def architecture(self) -> None:
        """None: the MLP layer view (BP1-BP4 per neuron) is for ``mlp`` networks."""
        return None

    def parameter_names(self) -> list[str]:
        """Return the state_dict names of the parameters, in the network's order."""
        return [p.state_name for p in self.program.parameters]

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {p.state_name: p.state_shape for p in self.program.parameters}

    def describe(self) -> str:
        """Return a one-line summary, e.g. 'layers 4 -> dense 8, relu, dense 3, softmax'."""
        inner = ", ".join(layer.describe() for layer in self.layers)
        penalty = f", {self.penalty.describe()}" if not self.penalty.is_zero else ""
        size = "x".join(str(n) for n in self.sample_shape)
        return (
            f"network of layers {size} -> {inner} ({self.n_outputs} outputs), "
            f"{self.loss_name}{penalty}"
        )

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Return seeded parameters as PyTorch initialises them: {state_dict name: array}.

        Dense and attention projections: weight and bias ~ U(-1/sqrt(n_in), 1/sqrt(n_in));
        normalisations: weight (gamma) 1, bias (beta) 0.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SpecError(f"seed {shorten(repr(seed))} must be an integer >= 0")
        rng = np.random.default_rng(seed)
        params: dict[str, np.ndarray] = {}
        for p in self.program.parameters:
            if p.init == "ones":
                params[p.state_name] = np.ones(p.state_shape)
            elif p.init == "zeros":
                params[p.state_name] = np.zeros(p.state_shape)
            else:
                bound = 1.0 / np.sqrt(p.fan_in)
                params[p.state_name] = rng.uniform(-bound, bound, p.state_shape)
        return params

    def checked_params(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return the parameter arrays as float64 in state_dict shapes; refuse missing names."""
        if not isinstance(params, Mapping):
            raise ShapeError(
                f"parameters must be a dict {{name: array}}, not {type(params).__name__}; "
                "use net.init_params()"
            )
        shapes = self.parameter_shapes()
        missing = [name for name in shapes if name not in params]
        if missing:
            raise ShapeError(
                f"parameters miss {', '.join(missing[:4])}; give every one of "
                f"{', '.join(list(shapes)[:6])}{', ...' if len(shapes) > 6 else ''}"
            )
        out = {}
        for name, shape in shapes.items():
            value = np.asarray(params[name], dtype=np.float64)
            if value.shape != shape:
                raise ShapeError(
                    f"parameter {name!r} has shape {value.shape} but the network needs {shape}"
                )
            if not np.all(np.isfinite(value)):
                raise NumericError(f"parameter {name!r} holds NaN or inf; give finite values")
            out[name] = value
        return out


def sequential(
    n_inputs: int | tuple[int, ...],
    layers: Sequence[Any],
    loss: str = "cross_entropy",
    weight_decay: float = 0.0,
    l1: float = 0.0,
) -> LayerNetwork:
    """Build a network of layers applied in order, as PyTorch's ``nn.Sequential``.

    ``n_inputs`` is the number of input features, or one sample's shape as PyTorch has it:
    ``(C, H, W)`` for images, ``(C, L)`` for 1-D signals, ``(T, n)`` for a sequence.

    ``layers`` holds layer values (``Dense(8)``, ``LayerNorm()``, ``Residual([...])``,
    ``SelfAttention()``, ...) or activation names ("relu", "softmax"). ``weight_decay``
    (lambda) and ``l1`` (lambda_1) add Omega = (lambda/2) sum ||W||^2 + lambda_1 sum |W| over
    the weight matrices to the loss.
    """
    listed = tuple(layers) if isinstance(layers, (list, tuple)) else layers
    return LayerNetwork(n_inputs, listed, loss, Penalty(weight_decay, l1))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=64)
def _program(network: LayerNetwork) -> MatrixProgram:
    builder = ProgramBuilder(network.n_inputs, shape=network.sample_shape)
    out = stage_layers(builder, network.layers, builder.input, "")
    return MatrixProgram(
        assignments=_used(builder.assignments, out),
        parameters=tuple(builder.parameters),
        constants=tuple(builder.constants),
        scalars=tuple(builder.scalars),
        input=builder.input,
        target=_target(out),
        output=out,
        loss_name=network.loss_name,
        sequence=network.is_sequence,
        penalty=network.penalty,
        input_shape=network.input_shape,
    )


def _used(assignments: Sequence[Any], output: sp.MatrixSymbol) -> tuple[Any, ...]:
    """Drop the assignments nothing reads: a sequence's stack that a per-step layer after it
    reads step by step (H1 = [H1<1>; ...], whose steps feed the next layer directly)."""
    needed = {output}
    kept = []
    for assignment in reversed(assignments):
        if assignment.lhs in needed:
            kept.append(assignment)
            needed |= assignment.rhs.atoms(sp.MatrixSymbol)
    return tuple(reversed(kept))


def _target(output: sp.MatrixSymbol) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(TARGET_NAME, output.shape[0], output.shape[1])


def _flat(layers: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for layer in layers:
        out.append(layer)
        inner = getattr(layer, "layers", None)
        if inner is not None:
            out.extend(_flat(inner))
    return out


def _check_output(network: LayerNetwork) -> None:
    """Refuse a loss the output layer cannot feed (cross-entropy needs probabilities)."""
    last = network.layers[-1]
    loss = network.loss_name
    if loss == "cross_entropy" and not isinstance(last, Softmax):
        raise SpecError(
            "cross_entropy needs probabilities: end the network with a softmax layer "
            "(or use sigmoid with bce for one output)"
        )
    if loss == "bce" and not (isinstance(last, (Elementwise, Softmax)) and _is_probability(last)):
        raise SpecError(
            "bce needs probabilities in [0, 1]: end the network with a sigmoid (or softmax) layer"
        )


def _is_probability(layer: Any) -> bool:
    return isinstance(layer, Softmax) or getattr(layer, "activation", "") == "sigmoid"


def _checked_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    if (
        not shape
        or len(shape) > 3
        or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape)
    ):
        raise SpecError(
            f"input shape {shorten(repr(shape))} is not 1 to 3 positive integers; give one "
            "sample's shape as PyTorch has it: (C, H, W), (C, L) or (steps, features)"
        )
    return tuple(int(n) for n in shape)
