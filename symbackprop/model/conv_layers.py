"""Convolution and pooling layers: Conv1d/2d, MaxPool1d/2d, AvgPool1d/2d (model layer).

Each layer reads one sample's map shape from ``builder.shape`` ((C, L) for the 1-D kinds,
(C, H, W) for the 2-D ones), stages one structured operation of
:mod:`symbackprop.model.conv_ops` and records its output map's shape. A 1-D map is the 2-D
case with H = 1. Parameters are named, shaped and initialised as PyTorch's modules of the same
name: ``"0.weight"`` (out, in, kh, kw) or (out, in, k), ``"0.bias"`` (out,), both
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in kh kw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import sympy as sp

from symbackprop.model.conv_ops import AvgPool, ChannelBroadcast, Conv, Geometry, MaxPool
from symbackprop.model.errors import SpecError, shorten
from symbackprop.model.matrices import ones
from symbackprop.model.matrix_program import BATCH, ProgramBuilder

Pair = tuple[int, int]


def _pair(what: str, value: Any, smallest: int, dims: int) -> Pair:
    """Return (rows, columns) of an int or a pair; a 1-D layer's rows are (1 or 0)."""
    values: tuple[Any, ...] = (value,) * dims
    if isinstance(value, (tuple, list)) and dims == 2:
        values = tuple(value)
    if len(values) != dims or any(
        isinstance(v, bool) or not isinstance(v, int) or v < smallest for v in values
    ):
        form = "an integer or a pair of integers" if dims == 2 else "an integer"
        raise SpecError(f"{what} {shorten(repr(value))} must be {form} >= {smallest}")
    if dims == 1:
        return (1 if smallest else 0, values[0])
    return (values[0], values[1])


def _frozen(layer: Any, *names: str) -> None:
    """Store list settings (a TOML [3, 3]) as tuples, so the layer stays hashable."""
    for name in names:
        value = getattr(layer, name)
        if isinstance(value, list):
            object.__setattr__(layer, name, tuple(value))


def _map_shape(layer: Any, shape: tuple[int, ...], dims: int) -> tuple[int, int, int]:
    """Return (C, H, W) of the map reaching ``layer``; refuse a wrong rank."""
    if len(shape) != dims + 1:
        got = "x".join(str(n) for n in shape)
        need = "(channels, length)" if dims == 1 else "(channels, height, width)"
        raise SpecError(
            f"{layer.describe()} needs each sample to be a {need} map but gets shape ({got}); "
            f"give the network's inputs that shape (e.g. inputs = {_example(dims)})"
        )
    return (shape[0], 1, shape[1]) if dims == 1 else (shape[0], shape[1], shape[2])


def _example(dims: int) -> str:
    return "[1, 16]" if dims == 1 else "[1, 8, 8]"


def _geometry(
    layer: Any, shape: tuple[int, ...], dims: int, kernel: Pair, stride: Pair, padding: Pair
) -> Geometry:
    """The geometry of ``layer`` on ``shape``; refuse a window larger than the padded map."""
    C, H, W = _map_shape(layer, shape, dims)
    g = Geometry(C, H, W, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1])
    if g.kh > H + 2 * g.ph or g.kw > W + 2 * g.pw:
        size = "x".join(str(n) for n in shape[1:])
        window = str(g.kw) if dims == 1 else f"{g.kh}x{g.kw}"
        raise SpecError(
            f"{layer.describe()} has a {window} window but its input map is {size} "
            f"(padding {g.pw if dims == 1 else (g.ph, g.pw)}); use a smaller kernel or more "
            "padding"
        )
    return g


def _out_shape(g: Geometry, channels: int, dims: int) -> tuple[int, ...]:
    if dims == 1:
        return (channels, g.out_width)
    return (channels, g.out_height, g.out_width)


def _sizes(pair: Pair, dims: int, square: bool = False) -> str:
    """A window "3x3" (``square``: kept as a pair), a stride or padding "1" or "1x2"."""
    if dims == 1 or (pair[0] == pair[1] and not square):
        return str(pair[1])
    return "x".join(map(str, pair))


# --- convolution ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Conv:
    """A convolution layer: Z = X ⋆ K + (b ⊗ 1_P) 1^T, K (C_out x C_in kh kw)."""

    out_channels: int
    kernel_size: Any
    stride: Any = 1
    padding: Any = 0
    bias: bool = True
    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "conv2d"

    def __post_init__(self) -> None:
        _frozen(self, "kernel_size", "stride", "padding")
        if isinstance(self.out_channels, bool) or not isinstance(self.out_channels, int):
            raise SpecError(
                f"out_channels {shorten(repr(self.out_channels))} of {self.kind} is not a "
                "positive integer"
            )
        if self.out_channels < 1:
            raise SpecError(f"out_channels {self.out_channels} of {self.kind} is not positive")
        self._sizes()
        if not isinstance(self.bias, bool):
            raise SpecError(f"bias {shorten(repr(self.bias))} of {self.kind} must be true or false")

    def _sizes(self) -> tuple[Pair, Pair, Pair]:
        return (
            _pair(f"kernel_size of {self.kind}", self.kernel_size, 1, self.dims),
            _pair(f"stride of {self.kind}", self.stride, 1, self.dims),
            _pair(f"padding of {self.kind}", self.padding, 0, self.dims),
        )

    def geometry(self, shape: tuple[int, ...]) -> Geometry:
        return _geometry(self, shape, self.dims, *self._sizes())

    def n_out(self, n_in: int) -> int:
        return math.prod(self.out_shape((n_in,)))

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _out_shape(self.geometry(shape), self.out_channels, self.dims)

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        builder.next_level()
        g = self.geometry(builder.shape)
        fan_in = g.channels * g.window
        state: tuple[int, ...] = (self.out_channels, g.channels, g.kh, g.kw)
        if self.dims == 1:
            state = (self.out_channels, g.channels, g.kw)
        K = builder.parameter("K", f"{prefix}weight", self.out_channels, fan_in, state,
                              "uniform_fan_in", fan_in)  # fmt: skip
        rhs: sp.MatrixExpr = Conv(x, K, g.settings())
        if self.bias:
            b = builder.parameter("b", f"{prefix}bias", self.out_channels, 1,
                                  (self.out_channels,), "uniform_fan_in", fan_in)  # fmt: skip
            rhs = rhs + ChannelBroadcast(b, (g.positions,)) * ones(1, BATCH)
        out = _out_shape(g, self.out_channels, self.dims)
        return builder.node("Z", rhs, prefix.rstrip("."), "convolution", sample_shape=out)

    def describe(self) -> str:
        kernel, stride, padding = self._sizes()
        text = f"{self.kind} {self.out_channels} {_sizes(kernel, self.dims, square=True)}"
        if stride != (1, 1):
            text += f" stride {_sizes(stride, self.dims)}"
        if padding != (0, 0):
            text += f" padding {_sizes(padding, self.dims)}"
        return text + ("" if self.bias else " (no bias)")


@dataclass(frozen=True, slots=True)
class Conv2d(_Conv):
    """A 2-D convolution, PyTorch's ``nn.Conv2d`` (cross-correlation, zero padding)."""

    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "conv2d"


@dataclass(frozen=True, slots=True)
class Conv1d(_Conv):
    """A 1-D convolution over (C, L) maps, PyTorch's ``nn.Conv1d``."""

    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "conv1d"


# --- pooling -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Pool:
    """A pooling layer over each channel's windows; stride defaults to the window."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "max_pool2d"
    operation: ClassVar[type] = MaxPool
    letter: ClassVar[str] = "P"
    role: ClassVar[str] = "max pooling"

    def __post_init__(self) -> None:
        _frozen(self, "kernel_size", "stride", "padding")
        kernel, _, padding = self._sizes()
        if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
            raise SpecError(
                f"padding {shorten(repr(self.padding))} of {self.kind} is more than half its "
                f"window {shorten(repr(self.kernel_size))}; PyTorch refuses it: use at most "
                "half the window"
            )

    def _sizes(self) -> tuple[Pair, Pair, Pair]:
        kernel = _pair(f"kernel_size of {self.kind}", self.kernel_size, 1, self.dims)
        stride = kernel
        if self.stride is not None:
            stride = _pair(f"stride of {self.kind}", self.stride, 1, self.dims)
        return kernel, stride, _pair(f"padding of {self.kind}", self.padding, 0, self.dims)

    def geometry(self, shape: tuple[int, ...]) -> Geometry:
        return _geometry(self, shape, self.dims, *self._sizes())

    def n_out(self, n_in: int) -> int:
        return math.prod(self.out_shape((n_in,)))

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        g = self.geometry(shape)
        return _out_shape(g, g.channels, self.dims)

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        g = self.geometry(builder.shape)
        rhs = self.operation(x, g.settings())
        out = _out_shape(g, g.channels, self.dims)
        return builder.node(self.letter, rhs, prefix.rstrip("."), self.role, sample_shape=out)

    def describe(self) -> str:
        kernel, stride, padding = self._sizes()
        text = f"{self.kind} {_sizes(kernel, self.dims, square=True)}"
        if stride != kernel:
            text += f" stride {_sizes(stride, self.dims)}"
        if padding != (0, 0):
            text += f" padding {_sizes(padding, self.dims)}"
        return text


@dataclass(frozen=True, slots=True)
class MaxPool2d(_Pool):
    """2-D max pooling, PyTorch's ``nn.MaxPool2d`` (dilation 1, floor mode)."""

    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "max_pool2d"


@dataclass(frozen=True, slots=True)
class MaxPool1d(_Pool):
    """1-D max pooling, PyTorch's ``nn.MaxPool1d``."""

    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "max_pool1d"


@dataclass(frozen=True, slots=True)
class AvgPool2d(_Pool):
    """2-D average pooling, PyTorch's ``nn.AvgPool2d`` (count_include_pad, floor mode)."""

    dims: ClassVar[int] = 2
    kind: ClassVar[str] = "avg_pool2d"
    operation: ClassVar[type] = AvgPool
    role: ClassVar[str] = "average pooling"


@dataclass(frozen=True, slots=True)
class AvgPool1d(_Pool):
    """1-D average pooling, PyTorch's ``nn.AvgPool1d``."""

    dims: ClassVar[int] = 1
    kind: ClassVar[str] = "avg_pool1d"
    operation: ClassVar[type] = AvgPool
    role: ClassVar[str] = "average pooling"


CONV_LAYER_KINDS: dict[str, type] = {
    "conv1d": Conv1d,
    "conv2d": Conv2d,
    "max_pool1d": MaxPool1d,
    "max_pool2d": MaxPool2d,
    "avg_pool1d": AvgPool1d,
    "avg_pool2d": AvgPool2d,
}
