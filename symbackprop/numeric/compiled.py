"""compile(): a Network's derivation -> NumPy forward / loss / gradient, vectorized over a batch.

Numeric backend. Two views of one network, both generated from a Derivation:

* the scalar program (any network): the derivation's steps, one line each, compiled by
  lambdify with the steps as its common subexpressions (``codegen.py``); every input, node
  and adjoint is an array over the batch;
* the layer view (layered networks): matrix code over W1, b1, ... whose elementwise pieces --
  each layer's sigma'(z) and the output delta -- are lambdified from the derivation of a
  one-neuron-per-hidden-layer network of the same architecture, so a 784-128-10 network
  compiles in well under a second without writing 100,000 scalar lines.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.codegen import straight_line_function
from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.matrix_derivation import MatrixDerivation, derive_layers
from symbackprop.model import notation
from symbackprop.model.activations import get_activation
from symbackprop.model.architecture import (
    Architecture,
    layer_arrays_to_names,
    names_to_layer_arrays,
)
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.functions import FloatArray, numpy_namespace
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network, mlp
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import (
    data_arrays,
    input_array,
    is_layer_form,
    layer_arrays,
    layer_shapes,
    params_by_name,
    require_network,
)
from symbackprop.numeric.backends import ArrayBackend, array_backend
from symbackprop.numeric.float_program import FloatProgram, fits_floats, float_program
from symbackprop.numeric.inputs import LayerInputs

VIEWS = ("auto", "layers", "scalar")


@dataclass(frozen=True, slots=True)
class CompiledNetwork:
    """Forward pass, loss and gradient of one network, compiled once.

    Parameters are accepted by ASCII name or (layered networks) as layer arrays; gradients come
    back in the form the parameters were given. The loss of a batch is the mean of the
    per-sample losses, and the gradient is that mean's gradient.
    """

    network: Network | LayerNetwork
    view: str
    _backend: _LayerBackend | _ScalarBackend | _MatrixBackend | ArrayBackend
    # The layer view's boundary checks, cheap for the usual input (None: the general ones).
    _inputs: LayerInputs | None = field(default=None, compare=False, repr=False)

    def forward(self, params: Mapping[str, Any], X: Any) -> FloatArray:
        """Return the network's outputs for a batch, shape (batch, n_outputs)."""
        return self._backend.forward(self.native(params), input_array(self.network, X))

    def loss(self, params: Mapping[str, Any], X: Any, Y: Any) -> float:
        """Return the mean over the batch of one sample's loss."""
        X2, Y2 = self._data(X, Y)
        return float(self._backend.loss(self.native(params), X2, Y2))

    def gradient(self, params: Mapping[str, Any], X: Any, Y: Any) -> dict[str, Any]:
        """Return dL/dtheta for every parameter, keyed like ``params`` (names or W1, b1, ...)."""
        return self.loss_and_gradient(params, X, Y)[1]

    def loss_and_gradient(
        self, params: Mapping[str, Any], X: Any, Y: Any
    ) -> tuple[float, dict[str, Any]]:
        """Return (loss, gradient) from one forward and one backward pass."""
        inputs = self._inputs
        if inputs is None:
            X2, Y2 = data_arrays(self.network, X, Y)
            loss, grads = self._backend.loss_and_gradient(self.native(params), X2, Y2)
            return float(loss), self._outward(grads, params)
        if inputs.small:
            small = inputs.floats(params, X, Y)
            if small is not None:
                flat, rows_x, rows_y, arrays_in = small
                assert isinstance(self._backend, _LayerBackend)
                on_floats = self._backend.floats(flat, rows_x, rows_y)
                if on_floats is not None:
                    return on_floats[0], inputs.outward(on_floats[1], arrays_in)
        X2, Y2 = inputs.data(X, Y)
        native: Any
        native, arrays_in = inputs.params(params)
        loss, grads = self._backend.loss_and_gradient(native, X2, Y2)
        return float(loss), grads if arrays_in else inputs.names(grads)

    def _data(self, X: Any, Y: Any) -> tuple[FloatArray, FloatArray]:
        if self._inputs is None:
            return data_arrays(self.network, X, Y)
        return self._inputs.data(X, Y)

    # --- trusted fast path (validated input, the backend's own parameter form) --------------
    def raw_loss(self, native: Any, X: FloatArray, Y: FloatArray) -> float:
        """Return the loss for parameters already in ``native`` form and validated arrays."""
        return float(self._backend.loss(native, X, Y))

    def raw_forward(self, native: Any, X: FloatArray) -> FloatArray:
        """Return the outputs (batch, n_outputs) for ``native`` parameters and validated X."""
        return self._backend.forward(native, X)

    def raw_loss_and_gradient(
        self, native: Any, X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, Any]]:
        """Return (loss, gradient) in the backend's own form, for validated input."""
        return self._backend.loss_and_gradient(native, X, Y)

    def raw_kink_arguments(self, native: Any, X: FloatArray) -> dict[str, FloatArray]:
        """Return the kinked activations' arguments for validated input."""
        return self._backend.kink_arguments(native, X)

    def flat_view(self) -> FlatLayers | None:
        """The layer view over one vector of parameters (None for the other views)."""
        if isinstance(self._backend, _LayerBackend):
            return FlatLayers(self._backend)
        return None

    def kink_arguments(self, params: Mapping[str, Any], X: Any) -> dict[str, FloatArray]:
        """Return the kinked activations' arguments (relu's z) per sample, by node name."""
        return self._backend.kink_arguments(self.native(params), input_array(self.network, X))

    # --- parameter forms -------------------------------------------------------------------
    def native(self, params: Mapping[str, Any]) -> Any:
        """Validate parameters and return them in the backend's form (layer arrays or names)."""
        if isinstance(self.network, LayerNetwork):
            return self.network.checked_params(params)
        if self._inputs is not None:
            return self._inputs.params(params)[0]
        if isinstance(self._backend, _LayerBackend):
            return layer_arrays(self.network, params)
        return params_by_name(self.network, params)

    def _outward(self, grads: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(self.network, LayerNetwork):
            return dict(grads)
        assert isinstance(self.network, Network)
        if isinstance(self._backend, _LayerBackend):
            if is_layer_form(self.network, params):
                return dict(grads)
            assert self.network.architecture is not None
            return layer_arrays_to_names(self.network.architecture, grads)
        if is_layer_form(self.network, params):
            assert self.network.architecture is not None
            return names_to_layer_arrays(self.network.architecture, grads)
        return dict(grads)


def compile(  # noqa: A001
    network: Network | LayerNetwork, view: str = "auto", backend: str = "numpy"
) -> CompiledNetwork:
    """Compile a network's derivation to NumPy (``view``: "auto", "layers" or "scalar").

    "auto" takes the layer view for a layered network and the scalar program otherwise; a
    network of layers always runs its matrix derivation ("matrix"). ``backend`` "torch" or
    "jax" runs the same generated code on that library (``backends.py``).
    """
    if backend != "numpy":
        elsewhere = array_backend(network, view, backend)
        return CompiledNetwork(network, elsewhere.view, elsewhere)
    if isinstance(network, LayerNetwork):
        if view not in ("auto", "matrix"):
            raise SymbackpropError(f"a network of layers compiles its matrix view, not {view!r}")
        return CompiledNetwork(network, "matrix", _MatrixBackend(derive_layers(network)))
    network = require_network(network, "compile")
    if view not in VIEWS:
        raise SymbackpropError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    if view == "layers" and network.architecture is None:
        raise SymbackpropError("the layer view needs a layered network (mlp); use view='scalar'")
    if network.architecture is not None and view != "scalar":
        layers = _layer_backend(network.architecture)
        return CompiledNetwork(network, "layers", layers, LayerInputs(network))
    return CompiledNetwork(network, "scalar", _ScalarBackend(derive(network)))


FLAT = "theta"  # the one entry of a FlatLayers state


class FlatLayers:
    """A layer-view network whose parameters are one vector: W1, b1, W2, ... end to end (C order).

    train() keeps its state this way: one optimiser call then steps every parameter, instead of
    one call per array, and a small network's gradient comes from the float program already in
    this order. A state is ``{FLAT: vector}``; the raw_* methods are CompiledNetwork's.
    """

    def __init__(self, backend: _LayerBackend) -> None:
        self.backend = backend

    def pack(self, arrays: Mapping[str, Any]) -> dict[str, FloatArray]:
        """Return ``{FLAT: vector}`` of layer arrays (or of arrays shaped like them)."""
        parts = [np.broadcast_to(arrays[name], shape).reshape(-1)
                 for name, shape in self.backend.shapes.items()]  # fmt: skip
        return {FLAT: np.concatenate(parts).astype(np.float64)}

    def unpack(self, state: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        """Return the layer arrays of a state (views of its vector)."""
        return self.backend.split(state[FLAT])

    def raw_loss(self, state: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray) -> float:
        return float(self.backend.loss(self.unpack(state), X, Y))

    def raw_forward(self, state: Mapping[str, FloatArray], X: FloatArray) -> FloatArray:
        return self.backend.forward(self.unpack(state), X)

    def raw_loss_and_gradient(
        self, state: Mapping[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]]:
        vector = state[FLAT]
        if fits_floats(self.backend.n_parameters, X.shape[0]):
            on_floats = self.backend.floats(vector.tolist(), X.tolist(), Y.tolist())
            if on_floats is not None:
                return on_floats[0], {FLAT: np.array(on_floats[1], dtype=np.float64)}
        loss, grads = self.backend.arrays_loss_and_gradient(self.unpack(state), X, Y)
        return loss, self.pack(grads)


# --- the matrix program of a network of layers -----------------------------------------------
class _MatrixBackend:
    """The generated matrix code of a network of layers; parameters are state_dict arrays."""

    def __init__(self, derivation: MatrixDerivation) -> None:
        self.runner = derivation.runner()

    def forward(self, params: dict[str, FloatArray], X: FloatArray) -> FloatArray:
        return self.runner.forward(params, X)

    def loss(self, params: dict[str, FloatArray], X: FloatArray, Y: FloatArray) -> float:
        return self.runner.loss(params, X, Y)

    def loss_and_gradient(
        self, params: dict[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]]:
        return self.runner.loss_and_gradient(params, X, Y)

    def kink_arguments(self, params: dict[str, FloatArray], X: FloatArray) -> dict[str, FloatArray]:
        return self.runner.kink_arguments(params, X)


# --- the scalar program ----------------------------------------------------------------------
class _ScalarBackend:
    """The derivation's steps as one straight-line NumPy function over the batch."""

    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        self.param_names = [p.name for p in derivation.network.program.params]
        self._gradient = straight_line_function(*derivation.gradient_program())
        # A small program runs a few samples on floats (float_program.py).
        small = fits_floats(len(self.param_names), 1)
        self._float_program = float_program(derivation, self.param_names) if small else None
        self._forward = _forward_function(derivation.network)
        self._kinks = _kink_function(derivation.network)

    def _args(self, params: dict[str, float], X: FloatArray, Y: FloatArray) -> list[Any]:
        return [params[n] for n in self.param_names] + list(X.T) + list(Y.T)

    def forward(self, params: dict[str, float], X: FloatArray) -> FloatArray:
        values = self._forward(*[params[n] for n in self.param_names], *X.T)
        return np.column_stack([np.broadcast_to(v, (X.shape[0],)) for v in values])

    def loss(self, params: dict[str, float], X: FloatArray, Y: FloatArray) -> float:
        return self.loss_and_gradient(params, X, Y)[0]

    def loss_and_gradient(
        self, params: dict[str, float], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, float]]:
        if self._float_program is not None and fits_floats(len(params), X.shape[0]):
            flat = [float(params[n]) for n in self.param_names]
            on_floats = self._float_program.loss_and_gradient(flat, X.tolist(), Y.tolist())
            if on_floats is not None:
                return on_floats[0], dict(zip(self.param_names, on_floats[1], strict=True))
        loss, *grads = self._gradient(*self._args(params, X, Y))
        batch = X.shape[0]
        mean = [float(np.mean(np.broadcast_to(g, (batch,)))) for g in grads]
        return float(np.mean(np.broadcast_to(loss, (batch,)))), dict(
            zip(self.param_names, mean, strict=True)
        )

    def kink_arguments(self, params: dict[str, float], X: FloatArray) -> dict[str, FloatArray]:
        names, function = self._kinks
        if not names:
            return {}
        values = function(*[params[n] for n in self.param_names], *X.T)
        return {n: np.broadcast_to(v, (X.shape[0],)) for n, v in zip(names, values, strict=True)}


def _forward_function(network: Network) -> Callable[..., Any]:
    """Compile the forward pass: the assignments that use no target, up to the outputs."""
    program = network.program
    lines = [(a.lhs, a.rhs) for a in program.forward_assignments]
    args = list(program.params) + list(program.inputs)
    return straight_line_function(args, lines, list(program.outputs()))


_KINKED = ("Relu", "LeakyRelu", "Abs", "Max", "Min", "Step", "LeakyStep", "Heaviside")


def _kink_function(network: Network) -> tuple[list[str], Callable[..., Any]]:
    """Compile the arguments of every kinked function call (relu's z) of the program."""
    program = network.program
    arguments: list[sp.Expr] = []
    for assignment in program.forward_assignments:
        for call in assignment.rhs.atoms(sp.Function):
            if type(call).__name__ in _KINKED:
                arguments.append(call.args[0])
    names = [f"{notation.LOSS}_kink{i}" for i in range(len(arguments))]
    lines = [(a.lhs, a.rhs) for a in program.forward_assignments]
    args = list(program.params) + list(program.inputs)
    return names, straight_line_function(args, lines, arguments or [sp.Integer(0)])


# --- the layer view --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Layer:
    """One layer's compiled pieces: f(Z), and sigma'(Z, A) lambdified from the derivation."""

    index: int
    activate: Callable[[FloatArray], FloatArray]
    prime: Callable[[FloatArray, FloatArray], FloatArray] | None  # None: output layer
    kinked: bool


class _LayerBackend:
    """Matrix code over W1, b1, ...: Z = A W^T + b, BP1-BP4 row-wise over the batch."""

    def __init__(self, arch: Architecture, layers: list[_Layer], output: _OutputDelta) -> None:
        self.arch = arch
        self.layers = layers
        self.output = output
        self.loss_form = get_loss(arch.loss).numpy_form
        # Names looked up once: the sweeps below run per call, and a small batch is mostly them.
        self.weights = [notation.weight_matrix_name(layer.index) for layer in layers]
        self.biases = [
            notation.bias_vector_name(layer.index) if arch.bias != "none" else None
            for layer in layers
        ]
        # The layer arrays laid end to end (C order), as the float program takes its parameters.
        self.shapes = layer_shapes(arch)
        sizes = [math.prod(shape) for shape in self.shapes.values()]
        self.n_parameters = sum(sizes)
        starts = [0, *itertools.accumulate(sizes)]
        self.slices = [(name, start, start + size, shape) for (name, shape), start, size
                       in zip(self.shapes.items(), starts, sizes, strict=False)]  # fmt: skip

    def _forward_all(self, params: dict[str, FloatArray], X: FloatArray) -> list[FloatArray]:
        values = [X]  # A0, Z1, A1, Z2, A2, ...
        A = X
        for layer, W_name, b_name in zip(self.layers, self.weights, self.biases, strict=True):
            Z = A @ params[W_name].T
            if b_name is not None:
                Z += params[b_name]  # Z is a new array: add the bias in place
            A = layer.activate(Z)
            values += [Z, A]
        return values

    def forward(self, params: dict[str, FloatArray], X: FloatArray) -> FloatArray:
        return self._forward_all(params, X)[-1]

    def loss(self, params: dict[str, FloatArray], X: FloatArray, Y: FloatArray) -> float:
        return self._mean_loss(self.forward(params, X), Y) + self._penalty(params)

    def _mean_loss(self, A: FloatArray, Y: FloatArray) -> float:
        return float(np.add.reduce(self.loss_form(A, Y))) / A.shape[0]

    def _penalty(self, params: dict[str, FloatArray]) -> float:
        """Omega = (lambda/2) sum w^2 + lambda_1 sum |w| over every weight matrix."""
        penalty = self.arch.penalty
        if penalty.is_zero:
            return 0.0
        weights = [params[name] for name in self.weights]
        squares = sum(float(np.sum(W * W)) for W in weights)
        sizes = sum(float(np.sum(np.abs(W))) for W in weights)
        return penalty.weight_decay / 2 * squares + penalty.l1 * sizes

    def loss_and_gradient(
        self, params: dict[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]]:
        if fits_floats(self.n_parameters, X.shape[0]):
            on_floats = self._on_floats(params, X, Y)
            if on_floats is not None:
                return on_floats
        return self.arrays_loss_and_gradient(params, X, Y)

    def arrays_loss_and_gradient(
        self, params: dict[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]]:
        """loss_and_gradient in matrix code, whatever the size."""
        values = self._forward_all(params, X)
        batch = X.shape[0]
        loss = self._mean_loss(values[-1], Y) + self._penalty(params)
        delta = self.output(values[-2], values[-1], Y)  # BP1
        penalty = self.arch.penalty
        grads: dict[str, FloatArray] = {}
        for layer in reversed(self.layers):
            W_name, b_name = self.weights[layer.index - 1], self.biases[layer.index - 1]
            W = params[W_name]
            dW = delta.T @ values[2 * layer.index - 2]  # BP4 (A of the layer below)
            np.divide(dW, batch, out=dW)
            if not penalty.is_zero:
                dW += penalty.weight_decay * W + penalty.l1 * np.sign(W)  # dOmega/dW
            grads[W_name] = dW
            if b_name is None:
                pass
            elif self.arch.bias == "per_neuron":
                grads[b_name] = np.add.reduce(delta, axis=0) / batch  # BP3
            elif self.arch.bias == "shared":
                grads[b_name] = np.asarray(float(np.add.reduce(delta, axis=None)) / batch)
            if layer.index > 1:
                below = self.layers[layer.index - 2]
                assert below.prime is not None
                Z, A = values[2 * layer.index - 3], values[2 * layer.index - 2]
                delta = delta @ W
                delta *= below.prime(Z, A)  # BP2
        return loss, grads

    @functools.cached_property
    def _float_program(self) -> FloatProgram | None:
        """The scalar program over floats, in the layer arrays' order: made on first use."""
        network = Network(architecture=self.arch, loss_name=self.arch.loss)
        return float_program(derive(network), self.arch.parameter_names())

    def floats(
        self, flat: list[float], X: list[list[float]], Y: list[list[float]]
    ) -> tuple[float, list[float]] | None:
        """Loss and gradient (in layer order) on the float program; None: it overflowed."""
        program = self._float_program
        return None if program is None else program.loss_and_gradient(flat, X, Y)

    def _on_floats(
        self, params: dict[str, FloatArray], X: FloatArray, Y: FloatArray
    ) -> tuple[float, dict[str, FloatArray]] | None:
        """loss_and_gradient of a few samples on the float program (None: it overflowed)."""
        flat = np.concatenate([params[name].reshape(-1) for name in self.shapes]).tolist()
        result = self.floats(flat, X.tolist(), Y.tolist())
        if result is None:
            return None
        loss, grads = result
        return loss, self.split(np.array(grads, dtype=np.float64))

    def split(self, vector: FloatArray) -> dict[str, FloatArray]:
        """Return the layer arrays W1, b1, ... as views of one vector in layer order."""
        return {name: vector[start:stop].reshape(shape)
                for name, start, stop, shape in self.slices}  # fmt: skip

    def kink_arguments(self, params: dict[str, FloatArray], X: FloatArray) -> dict[str, FloatArray]:
        values = self._forward_all(params, X)
        found = {}
        for layer in self.layers:
            if layer.kinked:
                Z = values[2 * layer.index - 1]
                for j in range(Z.shape[1]):
                    found[notation.z_name(layer.index, j + 1)] = Z[:, j]
        return found


class _OutputDelta:
    """BP1 for the output layer, from the derivation's output delta (or its dL/da, softmax)."""

    def __init__(
        self,
        elementwise: Callable[..., FloatArray] | None,
        gradient_a: Callable[..., FloatArray] | None,
        backward_layer: Callable[[FloatArray, FloatArray], FloatArray] | None,
    ) -> None:
        self.elementwise = elementwise
        self.gradient_a = gradient_a
        self.backward_layer = backward_layer

    def __call__(self, Z: FloatArray, A: FloatArray, Y: FloatArray) -> FloatArray:
        if self.elementwise is not None:
            delta = self.elementwise(Z, A, Y)
            if getattr(delta, "shape", None) == Z.shape and delta.dtype == np.float64:
                return delta
            return np.broadcast_to(delta, Z.shape).astype(np.float64)
        assert self.gradient_a is not None and self.backward_layer is not None
        G = np.broadcast_to(self.gradient_a(A, Y), A.shape)
        return self.backward_layer(A, G)


@functools.lru_cache(maxsize=64)
def _layer_backend(arch: Architecture) -> _LayerBackend:
    """Derive a one-neuron-per-hidden-layer network of this architecture; lambdify its pieces."""
    small_sizes = (1,) * arch.depth + (arch.sizes[-1],)
    small = mlp(small_sizes, list(arch.activations), arch.loss, arch.bias)
    derivation = derive(small)
    layers = []
    for layer in range(1, arch.depth + 1):
        activation = get_activation(arch.activations[layer - 1])
        prime = _prime_function(derivation, layer) if layer < arch.depth else None
        layers.append(_Layer(layer, activation.numpy_form, prime, activation.kinked))
    return _LayerBackend(arch, layers, _output_delta(derivation, arch))


def _lambdify(args: list[sp.Symbol], expr: sp.Expr) -> Callable[..., FloatArray]:
    return sp.lambdify(args, expr, modules=[numpy_namespace(), "numpy"], docstring_limit=0)


def _prime_function(derivation: Derivation, layer: int) -> Callable[..., FloatArray]:
    """sigma'(z) of a hidden layer: the second factor of delta^(layer)_1, as f(Z, A)."""
    step = derivation.step(notation.delta_name(layer, 1))
    z, a = sp.Symbol(notation.z_name(layer, 1)), sp.Symbol(notation.a_name(layer, 1))
    return _lambdify([z, a], step.factors[1])


def _output_delta(derivation: Derivation, arch: Architecture) -> _OutputDelta:
    depth = arch.depth
    z, a = sp.Symbol(notation.z_name(depth, 1)), sp.Symbol(notation.a_name(depth, 1))
    y = sp.Symbol(notation.target_name(1))
    step = derivation.step(notation.delta_name(depth, 1))
    if step.rhs.free_symbols <= {z, a, y}:
        return _OutputDelta(_lambdify([z, a, y], step.rhs), None, None)
    # A layer-wise activation (softmax) without a fused loss: dL/da comes from the
    # derivation, and the activation's transpose Jacobian carries it to z.
    via_a = next(p for p in step.paths if p.via == a)
    backward = get_activation(arch.activations[-1]).backward_layer
    return _OutputDelta(None, _lambdify([a, y], via_a.adjoint), backward)
