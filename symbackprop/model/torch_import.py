"""from_torch(): a PyTorch ``nn.Sequential`` -> a LayerNetwork and its parameters (model layer).

PyTorch is optional: it is imported inside :func:`from_torch` only. Each module of the
``nn.Sequential`` becomes one layer at the same index, so the parameters keep their
``state_dict`` names ("0.weight") and shapes. Supported modules:

- ``Linear`` (with or without bias) -> ``Dense``;
- ``ReLU``, ``Sigmoid``, ``Tanh``, ``Softplus`` (beta 1), ``LeakyReLU`` (slope 0.01),
  ``Identity`` -> the elementwise activation of that name (``identity`` for Identity);
- ``Softmax`` over the features (dim 1 or -1) -> ``Softmax``;
- ``LayerNorm`` over the last dimension with ``elementwise_affine`` (and its bias) -> ``LayerNorm``;
- ``BatchNorm1d`` with ``affine`` -> ``BatchNorm``, which always uses the batch's statistics
  (training mode); a BatchNorm1d in eval mode that tracks running statistics is refused, since
  PyTorch would use the running ones;
- ``Dropout`` with p == 0, or any Dropout in eval mode -> ``identity`` (what PyTorch computes
  then); a Dropout that drops in training mode is refused (its random mask cannot be matched).
- ``Conv1d``/``Conv2d`` (groups 1, dilation 1, zero padding given as numbers) -> ``Conv1d``/
  ``Conv2d``; ``MaxPool1d``/``MaxPool2d`` (dilation 1, floor mode, no indices) and
  ``AvgPool1d``/``AvgPool2d`` (floor mode, count_include_pad, no divisor_override) -> the pool
  of that name; ``Flatten`` (start_dim 1, end_dim -1) -> ``Flatten``. A model of maps needs
  ``input_shape=(C, H, W)`` (or (C, L)).

- ``RNN`` (tanh) and ``LSTM`` with ``batch_first=True``, one layer, one direction (and no
  projection) -> ``RNN`` / ``LSTM`` with ``output="sequence"``, the output PyTorch's module
  gives first. An ``nn.Sequential`` cannot run them (they return a tuple), but from_torch reads
  only the structure and the ``state_dict``; pass ``input_shape=(T, n)``.

Anything else is refused with its index and class name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symbackprop.model.conv_layers import (
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    MaxPool1d,
    MaxPool2d,
)
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.layers import (
    LSTM,
    RNN,
    BatchNorm,
    Dense,
    Elementwise,
    Flatten,
    LayerNorm,
    Softmax,
    output_shape,
)
from symbackprop.model.sequential import LayerNetwork, sequential

# PyTorch's module class name -> our activation name (parameter-free elementwise modules).
_ACTIVATIONS = {
    "ReLU": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softplus": "softplus",
    "LeakyReLU": "leaky_relu",
    "Identity": "identity",
}
LEAKY_SLOPE = 0.01  # the one slope the leaky_relu activation has
_SUPPORTED = "Linear, ReLU, Sigmoid, Tanh, Softplus, LeakyReLU(0.01), Identity, Softmax, "
_SUPPORTED += "LayerNorm, BatchNorm1d, Dropout, Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool1d, "
_SUPPORTED += "AvgPool2d, Flatten, RNN, LSTM"
_MAP_MODULES = ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d")


def from_torch(
    model: Any,
    loss: str = "cross_entropy",
    n_inputs: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> tuple[LayerNetwork, dict[str, np.ndarray]]:
    """Return (network, params) equal to a PyTorch ``nn.Sequential`` of supported modules.

    ``params`` are float64 copies of the model's parameters by ``state_dict`` name.
    ``n_inputs`` is needed only when no module says its input width (e.g. a model that starts
    with an activation); ``input_shape`` is one sample's shape when it is not flat: (C, H, W)
    or (C, L) for convolutions and pooling, (T, n) for a sequence of T steps (RNN, LSTM).
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Sequential):
        raise SymbackpropError(
            f"from_torch needs an nn.Sequential, not {type(model).__name__}; "
            "wrap the modules in torch.nn.Sequential(...)"
        )
    if len(model) == 0:
        raise SymbackpropError("the nn.Sequential is empty; give it at least one module")
    shape = _first_shape(model, n_inputs, input_shape)
    first = shape
    layers = []
    for index, module in enumerate(model):
        layer = _layer(torch, index, module, shape)
        shape = output_shape(layer, shape)
        layers.append(layer)
    network = sequential(first if len(first) > 1 else first[0], layers, loss)
    params = {
        name: tensor.detach().to("cpu", torch.float64).numpy().copy()
        for name, tensor in model.named_parameters()
    }
    return network, network.checked_params(params)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise SymbackpropError(
            "from_torch needs PyTorch, which is not installed; install the torch extra: "
            "pip install 'symbackprop[torch]'"
        ) from None
    return torch


def _first_shape(
    model: Any, n_inputs: int | None, input_shape: tuple[int, ...] | None
) -> tuple[int, ...]:
    """One sample's shape: input_shape, else (n_inputs,), else the first module's width."""
    if input_shape is not None:
        if isinstance(input_shape, int) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in input_shape
        ):
            raise SymbackpropError(
                f"input_shape {input_shape!r} is not a tuple of positive integers; give one "
                "sample's shape, e.g. input_shape=(1, 8, 8)"
            )
        return tuple(input_shape)
    for index, module in enumerate(model):
        name = type(module).__name__
        if name in _MAP_MODULES:
            raise SymbackpropError(
                f"module {index} ({name}) works on maps, so from_torch needs one sample's "
                "shape; pass input_shape=(C, H, W) (or (C, L) for a 1-D signal)"
            )
        if name in ("RNN", "LSTM"):
            raise SymbackpropError(
                f"module {index} ({name}) takes a sequence; pass input_shape=(T, n), one "
                "sample's steps and features"
            )
        if name in ("Linear", "LayerNorm", "BatchNorm1d"):
            break
    return (n_inputs if n_inputs is not None else _input_width(model),)


def _input_width(model: Any) -> int:
    """The input width the first module that has one says (Linear, LayerNorm, BatchNorm1d)."""
    for module in model:
        name = type(module).__name__
        if name == "Linear":
            return int(module.in_features)
        if name == "LayerNorm":
            return int(module.normalized_shape[-1])
        if name == "BatchNorm1d":
            return int(module.num_features)
    raise SymbackpropError("no module of the nn.Sequential says its input width; pass n_inputs=...")


def _layer(torch: Any, index: int, module: Any, shape: tuple[int, ...]) -> Any:
    """Return the layer equal to one module, refusing what it cannot match exactly."""
    name = type(module).__name__
    nn = torch.nn
    where = f"module {index} ({name})"
    if name in _MAP_MODULES or isinstance(module, nn.Flatten):
        return _map_layer(torch, where, module, shape)
    sizes = "x".join(str(n) for n in shape)
    if isinstance(module, (nn.RNN, nn.LSTM)):
        if len(shape) != 2:
            raise SymbackpropError(f"{where} takes a sequence (T, n) but gets {sizes} samples")
        return _recurrent(where, module, shape[-1])
    # nn.Linear acts on the last dimension (each step of a sequence); the others need features.
    flat_only = (nn.LayerNorm, nn.BatchNorm1d)
    last_dimension = (nn.Linear, nn.Softmax)
    if (len(shape) > 2 and isinstance(module, last_dimension)) or (
        len(shape) > 1 and isinstance(module, flat_only)
    ):
        raise SymbackpropError(
            f"{where} gets {sizes} maps but takes flat features; put nn.Flatten() before it"
        )
    width = shape[-1]
    if isinstance(module, nn.Linear):
        _check_width(where, int(module.in_features), width)
        return Dense(int(module.out_features), bias=module.bias is not None)
    if name in _ACTIVATIONS and type(module) is getattr(nn, name):
        if isinstance(module, nn.LeakyReLU) and module.negative_slope != LEAKY_SLOPE:
            _refuse(where, f"negative_slope {module.negative_slope} (only {LEAKY_SLOPE})")
        if isinstance(module, nn.Softplus) and (module.beta != 1):
            _refuse(where, f"beta {module.beta} (only beta = 1)")
        return Elementwise(_ACTIVATIONS[name])
    if isinstance(module, nn.Softmax):
        if module.dim not in (1, -1):
            _refuse(where, f"dim {module.dim} (only the features: dim = 1 or -1)")
        return Softmax()
    if isinstance(module, nn.LayerNorm):
        return _layer_norm(where, module, width)
    if isinstance(module, nn.BatchNorm1d):
        return _batch_norm(where, module, width)
    if isinstance(module, nn.Dropout):
        if module.p == 0 or not module.training:
            return Elementwise("identity")
        _refuse(where, f"p = {module.p} in training mode (switch the model to evaluation "
                "mode with model.train(False), or use p = 0)")  # fmt: skip
    raise SymbackpropError(
        f"{where} is not supported; from_torch takes an nn.Sequential of {_SUPPORTED}"
    )


def _layer_norm(where: str, module: Any, width: int) -> LayerNorm:
    if tuple(module.normalized_shape) != (width,):
        _refuse(where, f"normalized_shape {tuple(module.normalized_shape)} (only ({width},))")
    if not module.elementwise_affine or module.bias is None:
        _refuse(where, "no elementwise_affine weight and bias (give both)")
    return LayerNorm(float(module.eps))


def _batch_norm(where: str, module: Any, width: int) -> BatchNorm:
    _check_width(where, int(module.num_features), width)
    if not module.affine:
        _refuse(where, "affine=False (give it weight and bias)")
    if not module.training and module.track_running_stats:
        _refuse(where, "eval mode, which uses running statistics (call model.train())")
    return BatchNorm(float(module.eps))


def _recurrent(where: str, module: Any, width: int) -> RNN | LSTM:
    """RNN / LSTM: batch_first, one layer, one direction, tanh, no projection."""
    _check_width(where, int(module.input_size), width)
    if not module.batch_first:
        _refuse(where, "batch_first=False (give batch_first=True: samples are (B, T, n))")
    if module.num_layers != 1:
        _refuse(where, f"num_layers={module.num_layers} (only 1; stack single-layer modules)")
    if module.bidirectional:
        _refuse(where, "bidirectional=True (only one direction)")
    if getattr(module, "proj_size", 0):
        _refuse(where, f"proj_size={module.proj_size} (only 0)")
    if type(module).__name__ == "RNN" and module.nonlinearity != "tanh":
        _refuse(where, f"nonlinearity {module.nonlinearity!r} (only 'tanh')")
    kind = LSTM if type(module).__name__ == "LSTM" else RNN
    return kind(int(module.hidden_size), output="sequence", bias=bool(module.bias))


def _check_width(where: str, expected: int, width: int) -> None:
    if expected != width:
        raise SymbackpropError(
            f"{where} takes {expected} features but gets {width}; fix the model's sizes"
        )


def _refuse(where: str, what: str) -> None:
    raise SymbackpropError(f"{where} has {what}; from_torch cannot match it exactly")


# --- convolution, pooling, flatten ----------------------------------------------------------------
def _map_layer(torch: Any, where: str, module: Any, shape: tuple[int, ...]) -> Any:
    nn = torch.nn
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            _refuse(where, f"start_dim {module.start_dim}, end_dim {module.end_dim} (only 1, -1)")
        return Flatten()
    if isinstance(module, (nn.Conv1d, nn.Conv2d)) and type(module) in (nn.Conv1d, nn.Conv2d):
        return _conv(where, module, shape)
    if type(module) in (nn.MaxPool1d, nn.MaxPool2d):
        if _sizes_of(module.dilation, 1) != 1:
            _refuse(where, f"dilation {module.dilation} (only 1)")
        if module.return_indices:
            _refuse(where, "return_indices=True (only the pooled values)")
        return _pool(where, module, MaxPool1d if isinstance(module, nn.MaxPool1d) else MaxPool2d)
    if type(module) in (nn.AvgPool1d, nn.AvgPool2d):
        if not module.count_include_pad:
            _refuse(where, "count_include_pad=False (only True, PyTorch's default)")
        if getattr(module, "divisor_override", None) is not None:
            _refuse(where, f"divisor_override {module.divisor_override} (only None)")
        return _pool(where, module, AvgPool1d if isinstance(module, nn.AvgPool1d) else AvgPool2d)
    raise SymbackpropError(
        f"{where} is not supported; from_torch takes an nn.Sequential of {_SUPPORTED}"
    )


def _conv(where: str, module: Any, shape: tuple[int, ...]) -> Any:
    if module.groups != 1:
        _refuse(where, f"groups {module.groups} (only 1)")
    if _sizes_of(module.dilation, 1) != 1:
        _refuse(where, f"dilation {module.dilation} (only 1)")
    if module.padding_mode != "zeros":
        _refuse(where, f"padding_mode {module.padding_mode!r} (only 'zeros')")
    if isinstance(module.padding, str):
        _refuse(where, f"padding {module.padding!r} (give the padding as numbers)")
    if shape and module.in_channels != shape[0] and len(shape) > 1:
        raise SymbackpropError(
            f"{where} takes {module.in_channels} channels but gets {shape[0]}; fix the "
            "model's channels or input_shape"
        )
    dims = 1 if type(module).__name__ == "Conv1d" else 2
    kind = Conv1d if dims == 1 else Conv2d
    return kind(
        int(module.out_channels),
        _sizes_of(module.kernel_size, dims),
        _sizes_of(module.stride, dims),
        _sizes_of(module.padding, dims),
        bias=module.bias is not None,
    )


def _pool(where: str, module: Any, kind: Any) -> Any:
    if module.ceil_mode:
        _refuse(where, "ceil_mode=True (only floor mode)")
    dims = kind.dims
    kernel = _sizes_of(module.kernel_size, dims)
    stride = _sizes_of(module.stride if module.stride is not None else module.kernel_size, dims)
    return kind(kernel, stride, _sizes_of(module.padding, dims))


def _sizes_of(value: Any, dims: int) -> Any:
    """A module's size as our layers take it: an int (1-D, or equal pairs) or a pair."""
    values = tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),)
    if len(set(values)) == 1:
        return values[0]
    return values if dims == 2 else values[0]
