"""The PyTorch backend: a matrix derivation's generated code over float64 torch tensors (numeric).

:class:`TorchNamespace` gives PyTorch NumPy's names for what the generated code, the kernels
(``array_kernels.py``) and the forms (``array_forms.py``) call. Tensors live on the first CUDA
device when there is one, else on the CPU. No gradient is taken by autograd: the backward
pass is the derivation's own steps, as on NumPy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from symbackprop.model.errors import SymbackpropError

Tensor = Any


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:  # pragma: no cover - torch is in the test extra
        raise SymbackpropError(
            "backend='torch' needs PyTorch: pip install 'symbackprop[torch]'"
        ) from error
    return torch


class TorchNamespace:
    """NumPy's names over float64 torch tensors on one device."""

    name = "torch"

    def __init__(self, device: str | None = None) -> None:
        torch = _torch()
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.float64 = torch.float64

    # --- moving arrays -----------------------------------------------------------------------
    def asarray(self, value: Any) -> Tensor:
        if isinstance(value, self.torch.Tensor):
            return value
        # torch shares a writable array's memory; a read-only one (a broadcast view) is copied.
        array = np.require(value, dtype=np.float64, requirements="W")
        return self.torch.as_tensor(array, device=self.device)

    def batch(self, value: Any) -> Tensor:
        """An array whose columns are samples (one device: like any other array)."""
        return self.asarray(value)

    def to_numpy(self, value: Tensor) -> np.ndarray:
        return np.asarray(self.asarray(value).detach().cpu().numpy(), dtype=np.float64)

    def compiled(self, function: Callable[..., Any], static: tuple[int, ...] = ()) -> Any:
        def run(*arguments: Any) -> Any:
            with self.torch.no_grad():
                return function(*arguments)

        return run

    # --- building arrays ---------------------------------------------------------------------
    def ones(self, shape: tuple[int, ...]) -> Tensor:
        return self.torch.ones(shape, dtype=self.float64, device=self.device)

    def zeros(self, shape: tuple[int, ...]) -> Tensor:
        return self.torch.zeros(shape, dtype=self.float64, device=self.device)

    def arange(self, n: int) -> Tensor:
        return self.torch.arange(n, device=self.device)

    def broadcast_to(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return self.torch.broadcast_to(self.asarray(x), shape)

    def broadcast_arrays(self, *parts: Any) -> list[Tensor]:
        return list(self.torch.broadcast_tensors(*[self.asarray(p) for p in parts]))

    def concatenate(self, parts: list[Tensor], axis: int = 0) -> Tensor:
        return self.torch.cat(parts, dim=axis)

    def stack(self, parts: list[Tensor], axis: int = 0) -> Tensor:
        return self.torch.stack(parts, dim=axis)

    def pad(self, x: Tensor, widths: tuple[tuple[int, int], ...], fill: float) -> Tensor:
        flat = [side for before_after in reversed(widths) for side in before_after]
        return self.torch.nn.functional.pad(x, flat, value=fill)

    def flip(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        return self.torch.flip(x, dims=axes)

    def transpose(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        return x.permute(*axes)

    def repeat(self, x: Tensor, repeats: int, axis: int) -> Tensor:
        return self.torch.repeat_interleave(x, repeats, dim=axis)

    def add_at(self, target: Tensor, index: tuple[slice, ...], values: Tensor) -> Tensor:
        out = target.clone()
        out[index] += values
        return out

    # --- reductions --------------------------------------------------------------------------
    def sum(self, x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)

    def mean(self, x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return x.mean() if axis is None else x.mean(dim=axis, keepdim=keepdims)

    def max(self, x: Tensor, axis: int, keepdims: bool = False) -> Tensor:
        return x.amax(dim=axis, keepdim=keepdims)

    def argmax(self, x: Tensor, axis: int) -> Tensor:
        return x.argmax(dim=axis)  # the first maximum, as NumPy's

    # --- elementwise -------------------------------------------------------------------------
    def where(self, condition: Tensor, x: Any, y: Any) -> Tensor:
        return self.torch.where(condition, self.asarray(x), self.asarray(y))

    def maximum(self, x: Tensor, y: Any) -> Tensor:
        return self.torch.maximum(self.asarray(x), self.asarray(y))

    def minimum(self, x: Tensor, y: Any) -> Tensor:
        return self.torch.minimum(self.asarray(x), self.asarray(y))

    def logaddexp(self, x: Any, y: Any) -> Tensor:
        return self.torch.logaddexp(self.asarray(x), self.asarray(y))

    def __getattr__(self, name: str) -> Any:
        # exp, log, sqrt, abs, tanh, sign: PyTorch's own, under NumPy's names.
        if name in _SAME_NAME:
            return getattr(self.torch, name)
        raise AttributeError(f"the torch backend has no form of numpy.{name}")


_SAME_NAME = frozenset({"exp", "log", "sqrt", "abs", "tanh", "sign"})
