"""The JAX backend: a matrix derivation's generated code, jit-compiled over float64 (numeric).

:class:`JaxNamespace` is ``jax.numpy`` with the few names the kernels need that it spells
otherwise. Creating it turns on JAX's float64 (``jax_enable_x64``): without it every array
would be float32. The batch is data parallel: arrays whose columns are samples are sharded
over a one-dimensional mesh of every device (``NamedSharding``, axis "batch") when the batch
divides evenly, and the parameters are replicated; XLA then adds the per-device shares of each
gradient. No gradient is taken by ``jax.grad``: the backward pass is the derivation's own steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from symbackprop.model.errors import SymbackpropError

Array = Any
BATCH_AXIS = "batch"


def _jax() -> Any:
    try:
        import jax
    except ImportError as error:
        raise SymbackpropError("backend='jax' needs JAX: pip install 'symbackprop[jax]'") from error
    jax.config.update("jax_enable_x64", True)
    return jax


class JaxNamespace:
    """``jax.numpy`` over float64, with the batch's columns sharded over the devices."""

    name = "jax"

    def __init__(self, devices: list[Any] | None = None) -> None:
        jax = _jax()
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.jax = jax
        self.jnp = jax.numpy
        self.devices = list(devices or jax.devices())
        self.mesh = Mesh(np.array(self.devices), (BATCH_AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.by_columns = NamedSharding(self.mesh, PartitionSpec(None, BATCH_AXIS))

    # --- moving arrays -----------------------------------------------------------------------
    def asarray(self, value: Any) -> Array:
        if isinstance(value, np.ndarray):
            return self.jax.device_put(value.astype(np.float64), self.replicated)
        return self.jnp.asarray(value, dtype=self.jnp.float64)

    def sharding(self, columns: int) -> Any:
        """Columns spread over the devices when they divide evenly, else replicated."""
        return self.by_columns if columns % len(self.devices) == 0 else self.replicated

    def batch(self, value: Any) -> Array:
        """A matrix whose columns are samples, sharded along them (see :meth:`sharding`)."""
        array = np.asarray(value, dtype=np.float64)
        return self.jax.device_put(array, self.sharding(array.shape[-1]))

    def to_numpy(self, value: Array) -> np.ndarray:
        return np.asarray(value, dtype=np.float64)

    def compiled(self, function: Callable[..., Any], static: tuple[int, ...] = ()) -> Any:
        """``function`` jit-compiled; the arguments at ``static`` (shapes) are fixed per call."""
        return self.jax.jit(function, static_argnums=static)

    # --- the names jax.numpy spells otherwise ------------------------------------------------
    def ones(self, shape: tuple[int, ...]) -> Array:
        return self.jnp.ones(shape, dtype=self.jnp.float64)

    def zeros(self, shape: tuple[int, ...]) -> Array:
        return self.jnp.zeros(shape, dtype=self.jnp.float64)

    def pad(self, x: Array, widths: tuple[tuple[int, int], ...], fill: float) -> Array:
        return self.jnp.pad(x, widths, constant_values=fill)

    def add_at(self, target: Array, index: tuple[slice, ...], values: Array) -> Array:
        return target.at[index].add(values)

    def __getattr__(self, name: str) -> Any:
        # exp, log, where, sum, max, argmax, flip, ...: jax.numpy's own, NumPy's names.
        if name.startswith("_") or name in ("jax", "jnp") or not hasattr(self.jnp, name):
            raise AttributeError(f"the jax backend has no form of numpy.{name}")
        return getattr(self.jnp, name)
