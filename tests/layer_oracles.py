"""Oracles for networks of layers, written independently of the package's matrix engine.

Nothing here imports the package's derivation or numeric code: the networks are described as
plain tuples (``("dense", 4)``, ``("act", "relu")``, ``("layer_norm",)``,
``("conv2d", out, kernel, stride, padding)``, ``("max_pool2d", kernel, stride, padding)``,
``("flatten",)``, ...; maps take X shaped (batch, C, H, W) or (batch, C, L)), run by
PyTorch's own modules and functional API in float64 (autograd is the second differentiator), or
by a hand-written NumPy backprop for dense stacks (Nielsen's BP1-BP4, batch-first rows).
Parameters are keyed as ``nn.Sequential``'s ``state_dict`` would key them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Description = Sequence[tuple[Any, ...]]

_TORCH_ACTIVATIONS = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "softplus": "softplus",
    "identity": None,
    "leaky_relu": "leaky_relu",
}


def torch_loss_and_gradient(
    description: Description,
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    loss: str,
    masks: Mapping[str, np.ndarray] | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """Return the mean loss over the batch and its gradient by PyTorch autograd (float64)."""
    import torch

    tensors = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
         for k, v in params.items()}  # fmt: skip
    out = _run(torch, description, tensors, torch.tensor(X, dtype=torch.float64), "", masks or {})
    value = _torch_loss(torch, loss, out, torch.tensor(Y, dtype=torch.float64))
    value.backward()
    return float(value.item()), {k: v.grad.numpy().copy() for k, v in tensors.items()}


def _run(
    torch: Any,
    description: Description,
    P: dict,
    x: Any,
    prefix: str,
    masks: Mapping,  # noqa: N803
) -> Any:
    F = torch.nn.functional  # noqa: N806
    for index, layer in enumerate(description):
        p = f"{prefix}{index}."
        kind = layer[0]
        if kind == "dense":
            x = F.linear(x, P[p + "weight"], P.get(p + "bias"))
        elif kind == "act":
            name = _TORCH_ACTIVATIONS[layer[1]]
            x = x if name is None else getattr(F, name)(x)
        elif kind == "softmax":
            x = torch.softmax(x, dim=1)
        elif kind == "layer_norm":
            x = F.layer_norm(x, (x.shape[1],), P[p + "weight"], P[p + "bias"], 1e-5)
        elif kind == "batch_norm":
            x = F.batch_norm(x, None, None, P[p + "weight"], P[p + "bias"], True, 0.1, 1e-5)
        elif kind == "dropout":
            mask = torch.tensor(masks[p.rstrip(".")], dtype=torch.float64)
            x = x * mask / (1 - layer[1])
        elif kind == "residual":
            x = x + _run(torch, layer[1], P, x, p + "body.", masks)
        elif kind == "attention":
            q = F.linear(x, P[p + "q.weight"], P[p + "q.bias"])
            k = F.linear(x, P[p + "k.weight"], P[p + "k.bias"])
            v = F.linear(x, P[p + "v.weight"], P[p + "v.bias"])
            weights = torch.softmax(q @ k.T / np.sqrt(q.shape[1]), dim=1)  # rows: queries
            x = F.linear(weights @ v, P[p + "o.weight"], P[p + "o.bias"])
        elif kind in ("conv1d", "conv2d"):  # (kind, out_channels, kernel, stride, padding)
            conv = F.conv1d if kind == "conv1d" else F.conv2d
            x = conv(x, P[p + "weight"], P.get(p + "bias"), stride=layer[3], padding=layer[4])
        elif kind in ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"):  # kernel, s, p
            x = getattr(F, kind)(x, layer[1], layer[2], layer[3])
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        else:
            raise ValueError(kind)
    return x


def _torch_loss(torch: Any, loss: str, a: Any, y: Any) -> Any:
    if loss == "half_sse":
        return (0.5 * (a - y) ** 2).sum(dim=1).mean()
    if loss == "mse":
        return ((a - y) ** 2).mean(dim=1).mean()
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy(a, y, reduction="none").sum(dim=1).mean()
    if loss == "cross_entropy":
        return -(y * torch.log(a)).sum(dim=1).mean()
    raise ValueError(loss)


def torch_sequential(description: Description, n_inputs: int) -> Any:
    """Build the nn.Sequential of torch modules a description of dense/act/norm layers names."""
    import torch

    nn = torch.nn
    modules: list[Any] = []
    width = n_inputs
    for layer in description:
        kind = layer[0]
        if kind == "dense":
            modules.append(nn.Linear(width, layer[1], dtype=torch.float64))
            width = layer[1]
        elif kind == "act":
            modules.append({"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
                            "softplus": nn.Softplus, "identity": nn.Identity,
                            "leaky_relu": nn.LeakyReLU}[layer[1]]())  # fmt: skip
        elif kind == "softmax":
            modules.append(nn.Softmax(dim=1))
        elif kind == "layer_norm":
            modules.append(nn.LayerNorm(width, dtype=torch.float64))
        elif kind == "batch_norm":
            modules.append(nn.BatchNorm1d(width, dtype=torch.float64))
        else:
            raise ValueError(kind)
    return nn.Sequential(*modules)


def numpy_dense_backprop(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    activations: Sequence[str],
    X: np.ndarray,
    Y: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hand-written BP1-BP4 for a dense stack with sigmoid/tanh hidden layers and a softmax
    + cross-entropy output, batch-first (rows are samples); returns (dW, db) of the mean loss."""
    a, zs, As = X, [], [X]
    for layer, (W, b) in enumerate(zip(weights, biases, strict=True)):
        z = a @ W.T + b
        zs.append(z)
        if layer == len(weights) - 1:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        elif activations[layer] == "sigmoid":
            a = 1 / (1 + np.exp(-z))
        else:
            a = np.tanh(z)
        As.append(a)
    batch = X.shape[0]
    delta = (As[-1] - Y) / batch  # BP1 with softmax + cross-entropy, mean over the batch
    dW: list[np.ndarray] = []
    db: list[np.ndarray] = []
    for layer in range(len(weights) - 1, -1, -1):
        dW.insert(0, delta.T @ As[layer])  # BP4
        db.insert(0, delta.sum(axis=0))  # BP3
        if layer > 0:
            a_prev = As[layer]
            prime = a_prev * (1 - a_prev) if activations[layer - 1] == "sigmoid" else 1 - a_prev**2
            delta = (delta @ weights[layer]) * prime  # BP2
    return dW, db
