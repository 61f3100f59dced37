"""Layer kinds of a network of layers: each stages itself into matrix assignments (model layer).

A layer is a frozen value that knows its parameters (named and shaped as PyTorch's
``state_dict`` names them for the same module), its output size, and how to write its forward
pass as small matrix assignments (:class:`ProgramBuilder`). The reverse sweep is generic, so a
new layer kind is one class here and one entry in ``LAYER_KINDS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import sympy as sp

from symbackprop.model.activations import get_activation
from symbackprop.model.conv_layers import CONV_LAYER_KINDS
from symbackprop.model.errors import SpecError, shorten, unknown_name
from symbackprop.model.matrices import ColumnSoftmax, elementwise, ones
from symbackprop.model.matrix_program import BATCH, ProgramBuilder
from symbackprop.model.recurrent_layers import LSTM, RNN, steps_of
from symbackprop.model.tensor_ops import Stack

DEFAULT_EPSILON = 1e-5  # PyTorch's default eps of LayerNorm and BatchNorm1d


class Layer(Protocol):
    """What every layer kind provides."""

    kind: ClassVar[str]

    def n_out(self, n_in: int) -> int: ...

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        """Append this layer's assignments for input ``x``; return its output node."""
        ...

    def describe(self) -> str: ...


def _affine(
    builder: ProgramBuilder,
    x: sp.MatrixSymbol,
    prefix: str,
    n_out: int,
    letters: tuple[str, str, str],
    bias: bool = True,
) -> sp.MatrixSymbol:
    """Stage ``letter := W x + b 1^T`` with W (n_out, n_in) and b (n_out,), PyTorch's Linear."""
    node_letter, weight_letter, bias_letter = letters
    n_in = int(x.shape[0])
    W = builder.parameter(weight_letter, f"{prefix}weight", n_out, n_in, (n_out, n_in),
                          "uniform_fan_in", n_in)  # fmt: skip
    rhs: sp.MatrixExpr = W * x
    if bias:
        b = builder.parameter(bias_letter, f"{prefix}bias", n_out, 1, (n_out,),
                              "uniform_fan_in", n_in)  # fmt: skip
        rhs = rhs + b * ones(1, BATCH)
    return builder.node(node_letter, rhs, prefix.rstrip("."), "affine")


@dataclass(frozen=True, slots=True)
class Dense:
    """A dense (affine) layer, PyTorch's ``nn.Linear``: Z = W X + b 1^T."""

    out_features: int
    bias: bool = True
    kind: ClassVar[str] = "dense"

    def __post_init__(self) -> None:
        _check_positive("out_features of a dense layer", self.out_features)

    def n_out(self, n_in: int) -> int:
        return self.out_features

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _per_step_shape(self, shape, self.out_features)

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        builder.next_level()
        if _is_sequence(builder):
            return _affine_per_step(builder, x, prefix, self.out_features, self.bias)
        return _affine(builder, x, prefix, self.out_features, ("Z", "W", "b"), self.bias)

    def describe(self) -> str:
        return f"dense {self.out_features}" + ("" if self.bias else " (no bias)")


@dataclass(frozen=True, slots=True)
class Elementwise:
    """An elementwise activation from the registry: A = f(Z)."""

    activation: str
    kind: ClassVar[str] = "activation"

    def __post_init__(self) -> None:
        entry = get_activation(self.activation)
        if entry.is_layerwise:
            raise SpecError(
                f"{self.activation!r} is not elementwise; use the softmax layer (Softmax())"
            )

    def n_out(self, n_in: int) -> int:
        return n_in

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        rhs = elementwise(self.activation, x)
        return builder.node("A", rhs, prefix.rstrip("."), "activation")

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape  # elementwise: any feature map or sequence keeps its shape

    def describe(self) -> str:
        return self.activation


@dataclass(frozen=True, slots=True)
class Softmax:
    """softmax over the features of each sample (each column), PyTorch's ``nn.Softmax(dim=1)``."""

    kind: ClassVar[str] = "softmax"

    def n_out(self, n_in: int) -> int:
        if n_in < 2:
            raise SpecError("softmax needs at least 2 features; use sigmoid for a single output")
        return n_in

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _per_step_shape(self, shape, self.n_out(shape[-1]))

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        layer = prefix.rstrip(".")
        if not _is_sequence(builder):
            return builder.node("A", ColumnSoftmax(x), layer, "softmax")
        steps = [builder.node("A", ColumnSoftmax(x_t), layer, "softmax of one step", step=t)
                 for t, x_t in enumerate(steps_of(builder, x, self.kind), start=1)]  # fmt: skip
        return _stacked(builder, "A", steps, layer)

    def describe(self) -> str:
        return "softmax"


# --- a layer applied to each step of a sequence (PyTorch's Linear and Softmax(dim=-1) act on
# the last dimension): one node per step, then the steps stacked into one sequence node --------
def _is_sequence(builder: ProgramBuilder) -> bool:
    """True when each sample reaching the layer is a sequence of steps (T, n)."""
    return len(builder.shape) == 2


def _per_step_shape(layer: Any, shape: tuple[int, ...], n_out: int) -> tuple[int, ...]:
    if len(shape) == 1:
        return (n_out,)
    if len(shape) == 2:
        return (shape[0], n_out)
    sizes = "x".join(str(n) for n in shape)
    raise SpecError(
        f"{layer.describe()} takes flat features or a sequence but each sample reaching it is "
        f'a {sizes} array; put Flatten() (kind = "flatten") before it'
    )


def _affine_per_step(
    builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str, n_out: int, bias: bool
) -> sp.MatrixSymbol:
    """Stage Z<t> := W x_t + b 1^T for every step t (one W, b shared by the steps), stacked."""
    steps = steps_of(builder, x, "dense")
    n_in, layer = int(steps[0].shape[0]), prefix.rstrip(".")
    W = builder.parameter("W", f"{prefix}weight", n_out, n_in, (n_out, n_in),
                          "uniform_fan_in", n_in)  # fmt: skip
    b = None
    if bias:
        b = builder.parameter("b", f"{prefix}bias", n_out, 1, (n_out,), "uniform_fan_in", n_in)
    nodes = []
    for t, x_t in enumerate(steps, start=1):
        rhs: sp.MatrixExpr = W * x_t
        if b is not None:
            rhs = rhs + b * ones(1, BATCH)
        nodes.append(builder.node("Z", rhs, layer, "affine, one step", step=t))
    return _stacked(builder, "Z", nodes, layer)


def _stacked(
    builder: ProgramBuilder, letter: str, steps: list[sp.MatrixSymbol], layer: str
) -> sp.MatrixSymbol:
    shape = (len(steps), int(steps[0].shape[0]))
    return builder.node(letter, Stack(*steps), layer, "the steps stacked", shape)


def _normalise(
    builder: ProgramBuilder,
    x: sp.MatrixSymbol,
    prefix: str,
    epsilon: float,
    over_batch: bool,
) -> sp.MatrixSymbol:
    """Stage mean, centring, variance, 1/sqrt(var + eps), x-hat and gamma x-hat + beta."""
    builder.next_level()
    n = int(x.shape[0])
    layer = prefix.rstrip(".")
    gamma = builder.parameter("gamma", f"{prefix}weight", n, 1, (n,), "ones")
    beta = builder.parameter("beta", f"{prefix}bias", n, 1, (n,), "zeros")
    eps = builder.scalar("epsilon", epsilon)
    if over_batch:  # batch norm: statistics of each feature over the batch (rows)
        count, column, row = BATCH, ones(BATCH, 1), ones(1, BATCH)
        mu = builder.node("mu", x * column / count, layer, "mean")
        C = builder.node("C", x - mu * row, layer, "centred")
        var = builder.node("var", sp.HadamardProduct(C, C) * column / count, layer, "variance")
        r = builder.node("r", sp.HadamardPower(var + eps * ones(n, 1), -sp.Rational(1, 2)),
                         layer, "inverse deviation")  # fmt: skip
        xhat = builder.node("Xhat", sp.HadamardProduct(C, r * row), layer, "normalised")
    else:  # layer norm: statistics of each sample over its features (columns)
        count, column, row = sp.Integer(n), ones(n, 1), ones(1, n)
        mu = builder.node("mu", row * x / count, layer, "mean")
        C = builder.node("C", x - column * mu, layer, "centred")
        var = builder.node("var", row * sp.HadamardProduct(C, C) / count, layer, "variance")
        r = builder.node("r", sp.HadamardPower(var + eps * ones(1, BATCH), -sp.Rational(1, 2)),
                         layer, "inverse deviation")  # fmt: skip
        xhat = builder.node("Xhat", sp.HadamardProduct(C, column * r), layer, "normalised")
    rhs = sp.HadamardProduct(gamma * ones(1, BATCH), xhat) + beta * ones(1, BATCH)
    return builder.node("N", rhs, layer, "scaled and shifted")


@dataclass(frozen=True, slots=True)
class LayerNorm:
    """Layer normalisation over each sample's features, PyTorch's ``nn.LayerNorm(n)``."""

    epsilon: float = DEFAULT_EPSILON
    kind: ClassVar[str] = "layer_norm"

    def __post_init__(self) -> None:
        _check_epsilon(self.epsilon)

    def n_out(self, n_in: int) -> int:
        if n_in < 2:
            raise SpecError("layer norm needs at least 2 features (one feature normalises to 0)")
        return n_in

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        return _normalise(builder, x, prefix, self.epsilon, over_batch=False)

    def describe(self) -> str:
        return "layer norm"


@dataclass(frozen=True, slots=True)
class BatchNorm:
    """Batch normalisation in training mode (batch statistics), PyTorch's ``nn.BatchNorm1d``."""

    epsilon: float = DEFAULT_EPSILON
    kind: ClassVar[str] = "batch_norm"

    def __post_init__(self) -> None:
        _check_epsilon(self.epsilon)

    def n_out(self, n_in: int) -> int:
        return n_in

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        return _normalise(builder, x, prefix, self.epsilon, over_batch=True)

    def describe(self) -> str:
        return "batch norm (training mode)"


@dataclass(frozen=True, slots=True)
class Dropout:
    """Dropout with a fixed mask: D = (M o X) / (1 - p), M drawn once per batch from ``seed``."""

    p: float
    seed: int = 0
    kind: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 <= self.p < 1:
            raise SpecError(f"dropout p {shorten(repr(self.p))} must be a number in [0, 1)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpecError(f"dropout seed {shorten(repr(self.seed))} must be an integer >= 0")

    def n_out(self, n_in: int) -> int:
        return n_in

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        keep = 1 - sp.Rational(str(self.p))
        mask = builder.mask(int(x.shape[0]), float(keep), self.seed)
        rhs = sp.HadamardProduct(mask, x) / keep
        return builder.node("D", rhs, prefix.rstrip("."), "dropout")

    def describe(self) -> str:
        return f"dropout p={self.p:g}"


@dataclass(frozen=True, slots=True)
class Residual:
    """A residual block: R = X + F(X), where F is the block's own layers (size-preserving)."""

    layers: tuple[Any, ...]
    kind: ClassVar[str] = "residual"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", checked_layers(self.layers, "a residual block"))

    def n_out(self, n_in: int) -> int:
        shape: tuple[int, ...] = (n_in,)
        for layer in self.layers:
            shape = output_shape(layer, shape)
        n = math.prod(shape)
        if n != n_in:
            raise SpecError(
                f"a residual block maps {n_in} features to {n}; its layers must end with "
                f"{n_in} features so that X + F(X) is defined"
            )
        return n_in

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        out = stage_layers(builder, self.layers, x, f"{prefix}body.")
        return builder.node("R", x + out, prefix.rstrip("."), "residual")

    def describe(self) -> str:
        return "residual(" + ", ".join(layer.describe() for layer in self.layers) + ")"


@dataclass(frozen=True, slots=True)
class SelfAttention:
    """Single-head scaled dot-product self-attention over the columns (positions).

    Q = W_Q X + b_Q 1^T, K and V likewise, S = K^T Q / sqrt(d_k) (keys x queries),
    P = softmax of each column of S, H = V P, O = W_O H + b_O 1^T.
    """

    d_k: int | None = None  # None: the model's width
    kind: ClassVar[str] = "self_attention"

    def __post_init__(self) -> None:
        if self.d_k is not None:
            _check_positive("d_k of self-attention", self.d_k)

    def n_out(self, n_in: int) -> int:
        return n_in

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        builder.next_level()
        d_model = int(x.shape[0])
        d_k = self.d_k or d_model
        layer = prefix.rstrip(".")
        Q = _affine(builder, x, f"{prefix}q.", d_k, ("Q", "WQ", "bQ"))
        K = _affine(builder, x, f"{prefix}k.", d_k, ("K", "WK", "bK"))
        V = _affine(builder, x, f"{prefix}v.", d_k, ("V", "WV", "bV"))
        S = builder.node("S", K.T * Q / sp.sqrt(d_k), layer, "scores")
        P = builder.node("P", ColumnSoftmax(S), layer, "attention weights")
        H = builder.node("H", V * P, layer, "attended values")
        return _affine(builder, H, f"{prefix}o.", d_model, ("O", "WO", "bO"))

    def describe(self) -> str:
        return "self-attention" + (f" d_k={self.d_k}" if self.d_k else "")


@dataclass(frozen=True, slots=True)
class Flatten:
    """Flatten each sample's feature map to one column of features, PyTorch's ``nn.Flatten``.

    The matrix program already holds every sample flattened (channels, then rows, then
    columns, C order), so flattening writes no assignment: only the shape changes.
    """

    kind: ClassVar[str] = "flatten"

    def n_out(self, n_in: int) -> int:
        return n_in

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(shape),)

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        return x

    def describe(self) -> str:
        return "flatten"


def output_shape(layer: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Return one sample's shape after ``layer``; a flat-only layer refuses a feature map."""
    own = getattr(layer, "out_shape", None)
    if own is not None:
        return tuple(own(shape))
    if len(shape) != 1:
        sizes = "x".join(str(n) for n in shape)
        raise SpecError(
            f"{layer.describe()} takes flat features but each sample reaching it is a "
            f'{sizes} array; put Flatten() (kind = "flatten") before it'
        )
    return (layer.n_out(shape[0]),)


def stage_layers(
    builder: ProgramBuilder, layers: Sequence[Any], x: sp.MatrixSymbol, prefix: str
) -> sp.MatrixSymbol:
    """Stage ``layers`` in order from ``x``, keeping ``builder.shape`` up to date."""
    for index, layer in enumerate(layers):
        shape = builder.shape or (int(x.shape[0]),)
        builder.shape = shape
        x = layer.stage(builder, x, f"{prefix}{index}.")
        builder.shape = output_shape(layer, shape)
    return x


LAYER_KINDS: dict[str, Callable[..., Any]] = {
    "dense": Dense,
    "activation": Elementwise,
    "softmax": Softmax,
    "layer_norm": LayerNorm,
    "batch_norm": BatchNorm,
    "dropout": Dropout,
    "residual": Residual,
    "self_attention": SelfAttention,
    "flatten": Flatten,
    **CONV_LAYER_KINDS,  # conv1d, conv2d, max_pool1d/2d, avg_pool1d/2d
    # recurrent layers (model/recurrent_layers.py)
    "rnn": RNN,
    "lstm": LSTM,
}
_LAYER_CLASSES = tuple(cls for cls in LAYER_KINDS.values() if isinstance(cls, type))


def as_layer(item: Any, where: str = "") -> Any:
    """Return a layer; a string names an activation ("relu") or "softmax"."""
    if isinstance(item, _LAYER_CLASSES):
        return item
    if isinstance(item, str):
        if item == "softmax":
            return Softmax()
        get_activation(item, where)
        return Elementwise(item)
    kinds = ", ".join(cls.__name__ for cls in _LAYER_CLASSES)
    raise SpecError(
        f"{shorten(repr(item))}{' ' + where if where else ''} is not a layer; use one of "
        f"{kinds} or an activation name"
    )


def checked_layers(layers: Sequence[Any], owner: str) -> tuple[Any, ...]:
    """Return the layers as a tuple, each checked; refuse an empty or non-list value."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise SpecError(f"{owner} needs a non-empty list of layers, e.g. [Dense(4), 'relu']")
    return tuple(as_layer(item, f"(layer {i} of {owner})") for i, item in enumerate(layers))


def layer_kind(name: str) -> Callable[..., Any]:
    """Look a layer kind up by its spec name ("dense", "layer_norm", ...)."""
    if name not in LAYER_KINDS:
        raise unknown_name("layer kind", name, LAYER_KINDS)
    return LAYER_KINDS[name]


def _check_positive(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{what} {shorten(repr(value))} is not a positive integer")


def _check_epsilon(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise SpecError(f"epsilon {shorten(repr(value))} must be a small positive number (1e-5)")
