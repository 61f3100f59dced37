"""The structured operations' kernels bound to NumPy (derivation engine).

The kernels themselves are written once over an array namespace in
:mod:`symbackprop.derivation.array_kernels`; this module gives them NumPy, with the two names
NumPy spells differently: ``pad(array, widths, fill)`` and ``add_at`` (an in-place strided add:
the target is always a fresh local array).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from symbackprop.derivation import array_kernels

FloatArray = np.ndarray


class NumpyNamespace:
    """NumPy under the names the kernels call."""

    name = "numpy"

    def __getattr__(self, attribute: str) -> Any:
        return getattr(np, attribute)

    @staticmethod
    def pad(array: FloatArray, widths: Any, fill: float) -> FloatArray:
        return np.pad(array, widths, constant_values=fill)

    @staticmethod
    def add_at(target: FloatArray, index: tuple[slice, ...], values: FloatArray) -> FloatArray:
        target[index] += values
        return target


NUMPY = NumpyNamespace()
KERNELS: dict[str, Callable[..., Any]] = array_kernels.kernels(NUMPY)
HELPERS: dict[str, Any] = array_kernels.helpers(NUMPY)
max_pool_winners = functools.partial(array_kernels.max_pool_winners, NUMPY)
channel_sum = KERNELS["channel_sum"]
