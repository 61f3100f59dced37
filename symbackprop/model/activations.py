"""Registry of activations: name -> symbolic form, the identity its derivative cites, NumPy form.

Model layer. Adding an activation happens here, in one entry, and nowhere else: the network
builder, the derivation, the compiler and the tests read this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symbackprop.model import functions as fn
from symbackprop.model.functions import FloatArray
from symbackprop.model.registry import Registry
from symbackprop.model.rulebook import Rule


@dataclass(frozen=True, slots=True)
class Activation:
    """One activation function a layer may use.

    ``apply(z)`` builds a = f(z) for one neuron; a layer-wise activation (softmax) is built by
    ``apply_layer(j, zs)`` instead, and may only sit in the output layer.
    """

    name: str
    apply: Callable[[sp.Expr], sp.Expr]
    numpy_form: Callable[[FloatArray], FloatArray]  # (batch, n) -> (batch, n); no overflow
    identity: Rule  # what the derivation cites for da/dz
    kinked: bool = False  # not differentiable at z = 0 (central differences may straddle it)
    apply_layer: Callable[[int, tuple[sp.Symbol, ...]], sp.Expr] | None = None
    # The transpose Jacobian of a layer-wise activation applied to dL/da: (A, G) -> dL/dz.
    backward_layer: Callable[[FloatArray, FloatArray], FloatArray] | None = None

    @property
    def is_layerwise(self) -> bool:
        return self.apply_layer is not None


ACTIVATIONS: Registry[Activation] = Registry("activation")


def register_activation(entry: Activation) -> Activation:
    """Add an activation; every property test then covers it with no test edits."""
    return ACTIVATIONS.register(entry)


def get_activation(name: str, where: str = "") -> Activation:
    """Look an activation up by name; an unknown name lists the known ones."""
    return ACTIVATIONS.lookup(name, where)


def _identity_numpy(z: FloatArray) -> FloatArray:
    return np.asarray(z, dtype=np.float64)


def _softmax_rows(z: FloatArray) -> FloatArray:
    # Subtracting each row's largest z keeps every exponent <= 0, so nothing overflows.
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _softmax_backward(a: FloatArray, g: FloatArray) -> FloatArray:
    # dL/dz_k = sum_i g_i a_i (delta_ik - a_k) = a_k (g_k - sum_i g_i a_i): the Jacobian of
    # Softmax.fdiff applied to g, row by row.
    return np.asarray(a * (g - np.sum(g * a, axis=-1, keepdims=True)))


SIGMOID = register_activation(
    Activation("sigmoid", fn.Sigmoid, fn.SIGMOID.numpy_form_required, Rule.SIGMOID_IDENTITY)
)
TANH = register_activation(
    Activation("tanh", fn.Tanh, fn.TANH.numpy_form_required, Rule.TANH_IDENTITY)
)
RELU = register_activation(
    Activation("relu", fn.Relu, fn.RELU.numpy_form_required, Rule.RELU_STEP, kinked=True)
)
LEAKY_RELU = register_activation(
    Activation(
        "leaky_relu",
        fn.LeakyRelu,
        fn.LEAKY_RELU.numpy_form_required,
        Rule.LEAKY_RELU_STEP,
        kinked=True,
    )
)
SOFTPLUS = register_activation(
    Activation("softplus", fn.Softplus, fn.SOFTPLUS.numpy_form_required, Rule.SOFTPLUS_SIGMOID)
)
IDENTITY = register_activation(Activation("identity", lambda z: z, _identity_numpy, Rule.IDENTITY))
SOFTMAX = register_activation(
    Activation(
        "softmax",
        lambda z: z,
        _softmax_rows,
        Rule.SOFTMAX_JACOBIAN,
        apply_layer=lambda j, zs: fn.Softmax(j, *zs),
        backward_layer=_softmax_backward,
    )
)
