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

- ``RNN`` (tanh) and ``LSTM`` with ``batch_first=True``, one layer, one direction (and no
  projection) -> ``RNN`` / ``LSTM`` with ``output="sequence"``, the output PyTorch's module
  gives first. An ``nn.Sequential`` cannot run them (they return a tuple), but from_torch reads
  only the structure and the ``state_dict``; pass ``input_shape=(T, n)``.

Anything else is refused with its index and class name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symbackprop.model.errors import SymbackpropError
from symbackprop.model.layers import (
    LSTM,
    RNN,
    BatchNorm,
    Dense,
    Elementwise,
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
_SUPPORTED += "LayerNorm, BatchNorm1d, Dropout, RNN, LSTM"


def from_torch(
    model: Any,
    loss: str = "cross_entropy",
    n_inputs: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> tuple[LayerNetwork, dict[str, np.ndarray]]:
    """Return (network, params) equal to a PyTorch ``nn.Sequential`` of supported modules.

    ``params`` are float64 copies of the model's parameters by ``state_dict`` name.
    ``n_inputs`` is needed only when no module says its input width (e.g. a model that starts
    with an activation). ``input_shape`` is one sample's shape when it is not flat, e.g.
    ``(T, n)`` for a sequence of T steps (needed by RNN and LSTM).
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
        layer = _layer(torch, index, module, shape[-1])
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
    if input_shape is not None:
        return tuple(int(n) for n in input_shape)
    if any(type(module).__name__ in ("RNN", "LSTM") for module in model):
        raise SymbackpropError(
            "an RNN or LSTM takes a sequence; pass input_shape=(T, n), one sample's steps and "
            "features"
        )
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


def _layer(torch: Any, index: int, module: Any, width: int) -> Any:
    """Return the layer equal to one module, refusing what it cannot match exactly."""
    name = type(module).__name__
    nn = torch.nn
    where = f"module {index} ({name})"
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
    if isinstance(module, (nn.RNN, nn.LSTM)):
        return _recurrent(where, module, width)
    if isinstance(module, nn.Dropout):
        if module.p == 0 or not module.training:
            return Elementwise("identity")
        _refuse(where, f"p = {module.p} in training mode (call model.eval() or use p = 0)")
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
