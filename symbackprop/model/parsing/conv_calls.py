"""The convolution functions of the matrix parser: a call's layer inferred, its operation built.

Model layer. A formula for a network with convolution or pooling layers may call

=============================  ============================================================
``correlate(X, K1)``           the forward correlation X ⋆ K1 of the layer whose kernel is K1;
                               a map that is not that layer's input (``correlate(Delta2,
                               flip(K2))``) is correlated 'valid': stride 1, no padding
``flip(K2)``                   K2 rotated 180 degrees, in and out channels swapped
``full_correlate(Delta2, F)``  the full correlation of the layer's output adjoint with a kernel
                               in the flipped layout: ``full_correlate(Delta2, flip(K2))`` is
                               the input gradient (Δ padded by k - 1, the stride's zeros
                               inserted, the forward's padding cropped)
``full_convolve(Delta2, K2)``  the same input gradient written as a full convolution with K2
``correlate_kernel(X, Delta1)``  the kernel gradient X ⋆ Δ, summed over the batch
``channel_sum(Delta1)``        each channel's positions summed: (C P x B) -> (C x B)
``channel_repeat(b1)``         a bias repeated over its channel's positions (the forward)
``max_pool(A1)``, ``avg_pool(A1)``  the pooling layers' forward
``route_to_max(dP1, A1)``      each window's adjoint sent to the winner of its window in A1
``spread_evenly(dP1)``         each window's adjoint shared evenly by its window
=============================  ============================================================

No size, stride or padding is typed: each call finds the layer it belongs to from its
operands' shapes (and, when several layers fit, from the names it uses: K2, Delta2, A1);
a call that fits no layer, or several alike, raises :class:`ConvCallError` saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from symbackprop.model.conv_formula_ops import Flip, FullCorrelate, SwappedKernelCorrelation
from symbackprop.model.conv_ops import (
    AvgPool,
    AvgPoolSpread,
    ChannelBroadcast,
    ChannelSum,
    Conv,
    ConvInputGradient,
    ConvKernelGradient,
    Geometry,
    MaxPool,
    MaxPoolRoute,
)

CONV_FUNCTIONS: dict[str, int] = {  # name -> number of operands
    "correlate": 2,
    "flip": 1,
    "full_correlate": 2,
    "full_convolve": 2,
    "correlate_kernel": 2,
    "channel_sum": 1,
    "channel_repeat": 1,
    "max_pool": 1,
    "avg_pool": 1,
    "route_to_max": 2,
    "spread_evenly": 1,
}


class ConvCallError(ValueError):
    """A convolution call that fits no layer (or several); ``shapes`` if it is a shape slip."""

    def __init__(self, message: str, shapes: bool = False) -> None:
        super().__init__(message)
        self.shapes = shapes


@dataclass(frozen=True, slots=True)
class MapLayer:
    """A convolution or pooling layer as a formula sees it: its geometry and its names."""

    kind: str  # "conv", "max" or "avg"
    geometry: Geometry
    out_channels: int
    names: frozenset[str]  # its kernel, bias, output and the output's adjoint
    inputs: frozenset[str]  # the matrices of its input and their adjoints
    kernel: sp.MatrixSymbol | None = None
    bias: sp.MatrixSymbol | None = None

    @property
    def in_rows(self) -> int:
        return self.geometry.size

    @property
    def out_rows(self) -> int:
        return self.out_channels * self.geometry.positions

    @property
    def kernel_shape(self) -> tuple[int, int]:
        return (self.out_channels, self.geometry.channels * self.geometry.window)

    @property
    def flipped_shape(self) -> tuple[int, int]:
        return (self.geometry.channels, self.out_channels * self.geometry.window)

    def key(self) -> tuple[object, ...]:
        return (self.kind, self.geometry, self.out_channels)


@dataclass(frozen=True, slots=True)
class MapFacts:
    """The map layers of a network and each map's (C, H, W), by node or adjoint name."""

    layers: tuple[MapLayer, ...]
    shapes: Mapping[str, tuple[int, int, int]]
    adjoints: frozenset[str]


def map_facts(assignments: Iterable[object], adjoint_nodes: Mapping[str, str]) -> MapFacts:
    """Collect the map layers of a program's assignments; ``adjoint_nodes``: Delta1 -> Z1."""
    layers: list[MapLayer] = []
    shapes: dict[str, tuple[int, int, int]] = {}
    for assignment in assignments:
        lhs, rhs = assignment.lhs, assignment.rhs  # type: ignore[attr-defined]
        for op in sp.preorder_traversal(rhs):
            layer = _layer_of(op, lhs, rhs)
            if layer is None:
                continue
            g = layer.geometry
            source = op.operands[0]
            if isinstance(source, sp.MatrixSymbol):
                shapes[str(source.name)] = (g.channels, g.height, g.width)
            shapes[str(lhs.name)] = (layer.out_channels, g.out_height, g.out_width)
            layers.append(layer)
    by_node: dict[str, set[str]] = {}
    for adjoint, node in adjoint_nodes.items():
        by_node.setdefault(node, set()).add(adjoint)
    for adjoint, node in adjoint_nodes.items():
        if node in shapes:
            shapes[adjoint] = shapes[node]
    widened = tuple(
        MapLayer(
            layer.kind,
            layer.geometry,
            layer.out_channels,
            layer.names.union(*(by_node.get(n, set()) for n in layer.names)),
            layer.inputs.union(*(by_node.get(n, set()) for n in layer.inputs)),
            layer.kernel,
            layer.bias,
        )
        for layer in layers
    )
    return MapFacts(widened, shapes, frozenset(adjoint_nodes))


def _layer_of(op: sp.Basic, lhs: sp.MatrixSymbol, rhs: sp.Basic) -> MapLayer | None:
    if not isinstance(op, (Conv, MaxPool, AvgPool)):
        return None
    g = op.geometry
    inputs = frozenset(str(s.name) for s in op.operands[0].atoms(sp.MatrixSymbol))
    names = {str(lhs.name)}
    if isinstance(op, Conv):
        kernel = op.operands[1]
        biases = [b.operands[0] for b in sp.preorder_traversal(rhs)
                  if isinstance(b, ChannelBroadcast)]  # fmt: skip
        bias = biases[0] if biases else None
        names |= {str(kernel.name)} | ({str(bias.name)} if bias is not None else set())
        return MapLayer("conv", g, int(kernel.shape[0]), frozenset(names), inputs, kernel, bias)
    kind = "max" if isinstance(op, MaxPool) else "avg"
    return MapLayer(kind, g, g.channels, frozenset(names), inputs)


def build_conv_call(
    name: str, operands: Sequence[sp.MatrixExpr], texts: Sequence[str], facts: MapFacts | None
) -> sp.MatrixExpr:
    """Build the operation a call names, with the geometry of the layer it belongs to."""
    call = f"{name}({', '.join(texts)})"
    if facts is None or not facts.layers:
        raise ConvCallError(
            f"{call}: this network has no convolution or pooling layer for {name}() to act on"
        )
    builder = _CALLS[name]
    return builder(_Call(call, list(operands), list(texts), facts))


@dataclass(frozen=True)
class _Call:
    text: str
    operands: list[sp.MatrixExpr]
    texts: list[str]
    facts: MapFacts

    def rows(self, index: int) -> int | None:
        rows = self.operands[index].shape[0]
        return int(rows) if rows.is_Integer else None

    def names(self, *indices: int) -> set[str]:
        return {str(s.name) for i in indices for s in self.operands[i].atoms(sp.MatrixSymbol)}

    def has_adjoint(self, index: int) -> bool:
        return bool(self.names(index) & self.facts.adjoints)

    def layers(self, kind: str) -> list[MapLayer]:
        return [layer for layer in self.facts.layers if layer.kind == kind]

    def pick(self, candidates: list[MapLayer], needs: str) -> MapLayer:
        """Return the one layer the call belongs to, or say why there is none."""
        if not candidates:
            raise ConvCallError(f"{self.text}: {needs}")
        distinct = {layer.key(): layer for layer in candidates}
        if len(distinct) == 1:
            return candidates[0]
        used = self.names(*range(len(self.operands)))
        for side in ("names", "inputs"):  # its own matrices first, then its input's
            named = {layer.key(): layer for layer in candidates if getattr(layer, side) & used}
            if len(named) == 1:
                return next(iter(named.values()))
        raise ConvCallError(
            f"{self.text} fits {len(distinct)} layers alike; use a matrix of the layer you mean "
            "(its kernel, input or adjoint) so that the call names it"
        )


def _kernel_text(layer: MapLayer) -> str:
    """Return "K2 (2x8) on 2x3x3 maps": a layer's kernel and the maps it takes."""
    g, (rows, cols) = layer.geometry, layer.kernel_shape
    return f"{layer.kernel} ({rows}x{cols}) on {g.channels}x{g.height}x{g.width} maps"


def _correlate(call: _Call) -> sp.MatrixExpr:
    source, K = call.operands
    if not K.shape[1].is_Integer:
        raise ConvCallError(
            f"{call.text}: {call.texts[1]} is a map (one column per sample), not a kernel; the "
            f"kernel's gradient is correlate_kernel({call.texts[0]}, {call.texts[1]})"
        )
    fitting = [layer for layer in call.layers("conv")
               if layer.kernel_shape == K.shape and layer.in_rows == call.rows(0)]  # fmt: skip
    if fitting:
        layer = call.pick(fitting, "")
        return Conv(source, K, layer.geometry.settings())
    return _valid(call)


def _valid(call: _Call) -> sp.MatrixExpr:
    """Correlate a map that is no layer's input with a kernel: stride 1, no padding."""
    source, K = call.operands
    windows = {(layer.geometry.kh, layer.geometry.kw) for layer in call.layers("conv")
               if K.shape in (layer.kernel_shape, layer.flipped_shape)
               and layer.names & call.names(1)}  # fmt: skip
    maps = {call.facts.shapes[n] for n in call.names(0) if n in call.facts.shapes}
    maps = {shape for shape in maps if shape[0] * shape[1] * shape[2] == call.rows(0)}
    if len(windows) != 1 or len(maps) != 1:
        kernels = ", ".join(_kernel_text(layer) for layer in call.layers("conv"))
        raise ConvCallError(
            f"{call.text}: no convolution takes a {call.rows(0)}-row map with a "
            f"{K.shape[0]}x{K.shape[1]} kernel; the network's are {kernels}"
        )
    (kh, kw), (C, H, W) = windows.pop(), maps.pop()
    if K.shape[1] != C * kh * kw or kh > H or kw > W:
        raise ConvCallError(
            f"{call.text}: a {kh}x{kw} kernel with {K.shape[1] // (kh * kw)} input channels "
            f"does not fit {call.texts[0]}'s {C}x{H}x{W} map",
            shapes=True,
        )
    return Conv(source, K, (C, H, W, kh, kw, 1, 1, 0, 0))


def _flip(call: _Call) -> sp.MatrixExpr:
    K = call.operands[0]
    forward = [layer for layer in call.layers("conv") if layer.kernel_shape == K.shape]
    if forward:
        layer = call.pick(forward, "")
        g = layer.geometry
        return Flip(K, (layer.out_channels, g.channels, g.kh, g.kw))
    back = [layer for layer in call.layers("conv") if layer.flipped_shape == K.shape]
    layer = call.pick(back, f"{call.texts[0]} ({K.shape[0]}x{K.shape[1]}) is no layer's kernel; "
                      "flip() takes a kernel such as K1")  # fmt: skip
    g = layer.geometry
    return Flip(K, (g.channels, layer.out_channels, g.kh, g.kw))


def _input_gradient(call: _Call, flipped: bool) -> sp.MatrixExpr:
    D, kernel = call.operands
    outputs = [layer for layer in call.layers("conv") if layer.out_rows == call.rows(0)]
    want = "flipped_shape" if flipped else "kernel_shape"
    fitting = [layer for layer in outputs if getattr(layer, want) == kernel.shape]
    rows, cols = kernel.shape
    if not fitting:
        other = [layer for layer in outputs if layer.kernel_shape == kernel.shape]
        if flipped and other:
            k = other[0].flipped_shape
            raise ConvCallError(
                f"{call.text}: the kernel of the full correlation is the flipped one, "
                f"{k[0]}x{k[1]} (rot180, channels swapped), but {call.texts[1]} is "
                f"{rows}x{cols}; write full_correlate({call.texts[0]}, flip({call.texts[1]}))",
                shapes=True,
            )
        which = " (flipped)" if flipped else ""
        raise ConvCallError(
            f"{call.text}: no convolution has a {call.rows(0)}-row output map and a "
            f"{rows}x{cols} kernel{which}"
        )
    layer = call.pick(fitting, "")
    if flipped:
        return FullCorrelate(D, kernel, layer.geometry.settings())
    return ConvInputGradient(D, kernel, layer.geometry.settings())


def _correlate_kernel(call: _Call) -> sp.MatrixExpr:
    A, D = call.operands
    convs = call.layers("conv")
    right = [layer for layer in convs
             if layer.in_rows == call.rows(0) and layer.out_rows == call.rows(1)]  # fmt: skip
    swapped = [layer for layer in convs
               if layer.out_rows == call.rows(0) and layer.in_rows == call.rows(1)]  # fmt: skip
    if right and swapped and call.has_adjoint(0) and not call.has_adjoint(1):
        right = []
    if right:
        return ConvKernelGradient(A, D, call.pick(right, "").geometry.settings())
    layer = call.pick(swapped, "correlate_kernel takes a layer's input map and its output's "
                      "adjoint, e.g. correlate_kernel(X, Delta1)")  # fmt: skip
    return SwappedKernelCorrelation(A, D, layer.geometry.settings())


def _channel_sum(call: _Call) -> sp.MatrixExpr:
    fitting = [layer for layer in call.layers("conv") if layer.out_rows == call.rows(0)]
    layer = call.pick(fitting, "channel_sum takes a convolution's output map (or its adjoint), "
                      "e.g. channel_sum(Delta1)")  # fmt: skip
    return ChannelSum(call.operands[0], (layer.geometry.positions,))


def _channel_repeat(call: _Call) -> sp.MatrixExpr:
    fitting = [layer for layer in call.layers("conv")
               if layer.bias is not None and layer.out_channels == call.rows(0)]  # fmt: skip
    layer = call.pick(fitting, "channel_repeat takes a convolution's bias, e.g. "
                      "channel_repeat(b1)")  # fmt: skip
    return ChannelBroadcast(call.operands[0], (layer.geometry.positions,))


def _pool(kind: str) -> Callable[[_Call], sp.MatrixExpr]:
    def build(call: _Call) -> sp.MatrixExpr:
        fitting = [layer for layer in call.layers(kind) if layer.in_rows == call.rows(0)]
        layer = call.pick(fitting, f"no {kind} pooling layer takes a {call.rows(0)}-row map")
        op = MaxPool if kind == "max" else AvgPool
        return op(call.operands[0], layer.geometry.settings())  # type: ignore[no-any-return]

    return build


def _route_to_max(call: _Call) -> sp.MatrixExpr:
    fitting = [layer for layer in call.layers("max")
               if layer.out_rows == call.rows(0) and layer.in_rows == call.rows(1)]  # fmt: skip
    layer = call.pick(fitting, "route_to_max takes a max pooling's output adjoint and its "
                      "input map, e.g. route_to_max(dP1, A1)")  # fmt: skip
    return MaxPoolRoute(*call.operands, layer.geometry.settings())


def _spread_evenly(call: _Call) -> sp.MatrixExpr:
    fitting = [layer for layer in call.layers("avg") if layer.out_rows == call.rows(0)]
    layer = call.pick(fitting, "spread_evenly takes an average pooling's output adjoint, e.g. "
                      "spread_evenly(dP1)")  # fmt: skip
    return AvgPoolSpread(call.operands[0], layer.geometry.settings())


_CALLS = {
    "correlate": _correlate,
    "flip": _flip,
    "full_correlate": lambda call: _input_gradient(call, flipped=True),
    "full_convolve": lambda call: _input_gradient(call, flipped=False),
    "correlate_kernel": _correlate_kernel,
    "channel_sum": _channel_sum,
    "channel_repeat": _channel_repeat,
    "max_pool": _pool("max"),
    "avg_pool": _pool("avg"),
    "route_to_max": _route_to_max,
    "spread_evenly": _spread_evenly,
}
