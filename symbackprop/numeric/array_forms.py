"""The registered functions and losses written once over an array namespace ``xp`` (numeric).

The same stable forms as the NumPy registry entries (``model/functions.py``,
``model/losses.py``), for array libraries other than NumPy. An ``xp`` is a small object with
NumPy's names for what is used here and in ``array_kernels.py`` (:class:`ArrayNamespace`);
each backend module provides one. A function or loss missing here is refused when a network
that uses it is compiled, naming what is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import sympy as sp

from symbackprop.model.errors import SymbackpropError

Array = Any

_TINY = float(np.finfo(np.float64).tiny)
_LEAK = 0.01  # LEAKY_SLOPE of model/functions.py


class ArrayNamespace(Protocol):
    """NumPy's names, on another array library: float64 arrays on the backend's device."""

    name: str

    def asarray(self, value: Any) -> Array: ...
    def to_numpy(self, value: Array) -> np.ndarray: ...
    def ones(self, shape: tuple[int, ...]) -> Array: ...
    def zeros(self, shape: tuple[int, ...]) -> Array: ...
    def add_at(self, target: Array, index: tuple[slice, ...], values: Array) -> Array: ...


# --- elementwise functions (by the name SymPy's printer gives them) ----------------------------
def _sigmoid(xp: Any, z: Array) -> Array:
    e = xp.exp(-xp.abs(z))  # in (0, 1]: never overflows
    return xp.where(z >= 0, 1.0, e) / (1.0 + e)


def _step(xp: Any, z: Array) -> Array:
    return xp.where(z > 0, 1.0, 0.0)


def _relu(xp: Any, z: Array) -> Array:
    return xp.where(z > 0, z, 0.0)


def _leaky_step(xp: Any, z: Array) -> Array:
    return xp.where(z > 0, 1.0, _LEAK)


def _leaky_relu(xp: Any, z: Array) -> Array:
    return xp.where(z > 0, z, _LEAK * z)


def _softplus(xp: Any, z: Array) -> Array:
    return xp.logaddexp(0.0, z)


def _safe_log(xp: Any, x: Array) -> Array:
    return xp.log(xp.where((x >= 0) & (x < _TINY), _TINY, x))


def _safe_exp(xp: Any, x: Array) -> Array:
    return xp.exp(xp.minimum(x, 709.0))  # e^709 is the largest finite float64


def _softmax(xp: Any, i: int, *z: Array) -> Array:
    stacked = xp.stack(xp.broadcast_arrays(*[xp.asarray(zk) for zk in z]), axis=0)
    e = xp.exp(stacked - xp.max(stacked, axis=0, keepdims=True))  # every exponent <= 0
    return e[int(i) - 1] / xp.sum(e, axis=0)


_FUNCTIONS: dict[str, Callable[..., Array]] = {
    "Sigmoid": _sigmoid,
    "Step": _step,
    "Relu": _relu,
    "LeakyStep": _leaky_step,
    "LeakyRelu": _leaky_relu,
    "Sign": lambda xp, z: xp.sign(z),
    "Softplus": _softplus,
    "Tanh": lambda xp, z: xp.tanh(z),
    "exp": _safe_exp,
    "log": _safe_log,
    "sqrt": lambda xp, z: xp.sqrt(z),
    "Abs": lambda xp, z: xp.abs(z),
    "sign": lambda xp, z: xp.sign(z),  # SymPy's own, as d|x|/dx
    "Softmax": _softmax,
}


def function_forms(xp: Any) -> dict[str, Callable[..., Array]]:
    """Return the ported elementwise functions bound to ``xp``, keyed as generated code calls."""
    return {name: functools.partial(form, xp) for name, form in _FUNCTIONS.items()}


def check_forms(xp: Any, expressions: Sequence[sp.Basic]) -> None:
    """Refuse expressions that call a function with no form on ``xp``, naming it."""
    called = {type(call).__name__ for e in expressions for call in e.atoms(sp.Function)}
    missing = sorted(called - set(_FUNCTIONS))
    if missing:
        raise SymbackpropError(
            f"the {xp.name} backend has no form of {', '.join(missing)}; "
            "compile with backend='numpy'"
        )


def modules(xp: Any) -> list[Any]:
    """lambdify's modules for ``xp``: the forms, and NumPy's printer's ``numpy.`` bound to xp."""
    return [function_forms(xp), {"numpy": xp}, "numpy"]


def elementwise_factory(xp: Any) -> Callable[[list[sp.Symbol], sp.Expr], Callable[..., Array]]:
    """Return how an elementwise body becomes a function over ``xp`` arrays (a codegen Target's)."""

    def make(variables: list[sp.Symbol], body: sp.Expr) -> Callable[..., Array]:
        check_forms(xp, [body])
        scalar = sp.lambdify(variables, body, modules=modules(xp), docstring_limit=0)

        def apply(X: Array, *values: Array) -> Array:
            # A constant derivative (identity' = 1) comes back as a number: give it X's shape.
            return xp.broadcast_to(xp.asarray(scalar(X, *values)), X.shape)

        return apply

    return make


# --- losses: (batch, n) x2 -> (batch,) ---------------------------------------------------------
def _log(xp: Any, x: Array) -> Array:
    return xp.log(xp.maximum(x, _TINY))  # 0 log 0 is 0


_LOSSES: dict[str, Callable[..., Array]] = {
    "half_sse": lambda xp, A, Y: 0.5 * xp.sum((A - Y) ** 2, axis=-1),
    "mse": lambda xp, A, Y: xp.mean((A - Y) ** 2, axis=-1),
    "bce": lambda xp, A, Y: -xp.sum(Y * _log(xp, A) + (1 - Y) * _log(xp, 1 - A), axis=-1),
    "cross_entropy": lambda xp, A, Y: -xp.sum(Y * _log(xp, A), axis=-1),
}


def loss_form(xp: Any, name: str) -> Callable[[Array, Array], Array]:
    """Return one sample's loss over ``xp`` arrays; refuse a loss that has no port."""
    if name not in _LOSSES:
        raise SymbackpropError(
            f"the {xp.name} backend has no form of loss {name!r}; compile with backend='numpy'"
        )
    return functools.partial(_LOSSES[name], xp)
