"""The vectorized NumPy kernels of the structured matrix operations (derivation engine).

Each :class:`symbackprop.model.tensor_ops.TensorOp` names its kernel; the generated code calls
``_kernels[name](*operand_arrays, *settings)``. Operands and results are flattened, one column
per sample, exactly as in the matrix program. A kernel loops at most over a kernel's offsets or a
sequence's blocks, never over pixels or samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from symbackprop.derivation.conv_kernels import CONV_KERNELS

FloatArray = np.ndarray


def block(X: FloatArray, start: int, stop: int, step: int = 0) -> FloatArray:
    """Rows start .. stop - 1 (``step``, a sequence's time step, only changes the printing)."""
    return X[start:stop]


def embed(G: FloatArray, start: int, total: int) -> FloatArray:
    """G placed at rows start onward of a total-row matrix of zeros."""
    out = np.zeros((total, G.shape[1]))
    out[start : start + G.shape[0]] = G
    return out


def stack(*parts: FloatArray) -> FloatArray:
    """Matrices with the same columns stacked on top of each other."""
    columns = max(p.shape[1] for p in parts)
    return np.vstack([np.broadcast_to(p, (p.shape[0], columns)) for p in parts])


def identity(X: FloatArray) -> FloatArray:
    return X


KERNELS: dict[str, Callable[..., Any]] = {
    "block": block,
    "embed": embed,
    "stack": stack,
    "identity": identity,
    **CONV_KERNELS,
}
