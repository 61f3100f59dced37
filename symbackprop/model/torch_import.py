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

Anything else is refused with its index and class name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symbackprop.model.errors import SymbackpropError
from symbackprop.model.layers import BatchNorm, Dense, Elementwise, LayerNorm, Softmax
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
_SUPPORTED += "LayerNorm, BatchNorm1d, Dropout"


def from_torch(
    model: Any, loss: str = "cross_entropy", n_inputs: int | None = None
) -> tuple[LayerNetwork, dict[str, np.ndarray]]:
    """Return (network, params) equal to a PyTorch ``nn.Sequential`` of supported modules.

    ``params`` are float64 copies of the model's parameters by ``state_dict`` name.
    ``n_inputs`` is needed only when no module says its input width (e.g. a model that starts
    with an activation).
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Sequential):
        raise SymbackpropError(
            f"from_torch needs an nn.Sequential, not {type(model).__name__}; "
            "wrap the modules in torch.nn.Sequential(...)"
        )
    if len(model) == 0:
        raise SymbackpropError("the nn.Sequential is empty; give it at least one module")
    first = n_inputs if n_inputs is not None else _input_width(model)
    width = first
    layers = []
    for index, module in enumerate(model):
        layer = _layer(torch, index, module, width)
        width = layer.n_out(width)
        layers.append(layer)
    network = sequential(first, layers, loss)
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


def _check_width(where: str, expected: int, width: int) -> None:
    if expected != width:
        raise SymbackpropError(
            f"{where} takes {expected} features but gets {width}; fix the model's sizes"
        )


def _refuse(where: str, what: str) -> None:
    raise SymbackpropError(f"{where} has {what}; from_torch cannot match it exactly")
