"""Test oracles for layered MLP gradients, written independently of the symbackprop package.

Nothing here imports `symbackprop`: these are plain reference implementations (central
differences, a hand-written NumPy backprop after Nielsen's BP1-BP4, PyTorch autograd, SymPy's own
`diff` of the fully expanded loss) and published reference numbers (Mazur's worked example), so a
bug in the package cannot hide in a shared helper.

Conventions (the package's, followed exactly):
- sizes [n0, n1, ..., nL]; layer `layer` (1-based) has `W[layer-1]` of shape (n_layer, n_{layer-1}),
  `W[layer-1][j-1, k-1]` = w^(layer)_jk, the weight from neuron k of layer-1 to neuron j;
  z^(layer) = W^(layer) a^(layer-1) + b^(layer), a^(layer) = f_layer(z^(layer)), a^(0) = x.
- bias modes: "per_neuron" (b[layer-1] has shape (n_layer,)), "shared" (b[layer-1] is one float
  added to every neuron of the layer; its gradient is the sum of that layer's deltas) and "none"
  (b is None or a list of None).
- activations: sigmoid, tanh, relu (derivative 0 at z == 0), leaky_relu (slope 0.01 for z <= 0),
  softplus, identity, softmax (output layer only).
- per-sample losses: half_sse = 1/2 sum (a-y)^2, mse = (1/nL) sum (a-y)^2,
  bce = -sum [y log a + (1-y) log(1-a)], cross_entropy = -sum y log a. A batch's loss is the MEAN
  over samples of the per-sample loss, and gradients are gradients of that mean.
- logs of probabilities are taken of max(p, tiny), tiny = np.finfo(float).tiny, so a probability
  that underflowed to 0 gives a large finite loss instead of inf or NaN.
- ASCII parameter names: "w{layer}_{j}_{k}", "b{layer}_{j}" (per_neuron), "b{layer}" (shared),
  all 1-based, e.g. "w2_1_1".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity", "softmax")
HIDDEN_ACTIVATION_NAMES = tuple(name for name in ACTIVATION_NAMES if name != "softmax")
LOSS_NAMES = ("half_sse", "mse", "bce", "cross_entropy")
BIAS_MODES = ("per_neuron", "shared", "none")

# Output activations whose range makes each loss well defined: bce needs a in (0, 1) and
# cross_entropy needs a > 0; the squared-error losses accept any output.
LOSS_COMPATIBLE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "half_sse": ACTIVATION_NAMES,
    "mse": ACTIVATION_NAMES,
    "bce": ("sigmoid", "softmax"),
    "cross_entropy": ("softmax", "sigmoid", "softplus"),
}

LEAKY_SLOPE = 0.01
TINY = np.finfo(float).tiny  # smallest positive normal float64; log(TINY) is about -708.4

# Targets of softmax + cross_entropy must sum to 1 for the shortcut delta = a - y; rows whose sum
# is further than this from 1 use the full softmax Jacobian instead (still exact).
_TARGET_SUM_ATOL = 1e-12


# ---------------------------------------------------------------------------------------------
# Central differences
# ---------------------------------------------------------------------------------------------


def central_differences(
    f: Callable[[dict[str, float]], float], params: Mapping[str, float], h: float = 1e-6
) -> dict[str, float]:
    """Return {name: (f(theta + s e_name) - f(theta - s e_name)) / (2 s)}, s = h * max(1, |theta|).

    The divisor is the step actually taken, (theta + s) - (theta - s), so the rounding of
    theta + s does not bias the quotient. `params` is never mutated: f gets a fresh dict each call.
    """
    gradient: dict[str, float] = {}
    for name, theta in params.items():
        theta = float(theta)
        step = h * max(1.0, abs(theta))
        theta_plus = theta + step
        theta_minus = theta - step
        loss_plus = float(f({**params, name: theta_plus}))
        loss_minus = float(f({**params, name: theta_minus}))
        gradient[name] = (loss_plus - loss_minus) / (theta_plus - theta_minus)
    return gradient


# ---------------------------------------------------------------------------------------------
# Parameter names
# ---------------------------------------------------------------------------------------------


def weight_name(layer: int, j: int, k: int) -> str:
    """Return the ASCII name of w^(layer)_jk (all indices 1-based), e.g. "w2_1_1"."""
    return f"w{layer}_{j}_{k}"


def bias_name(layer: int, j: int | None) -> str:
    """Return "b{layer}_{j}" for a per-neuron bias or "b{layer}" for a shared one (j is None)."""
    if j is None:
        return f"b{layer}"
    return f"b{layer}_{j}"


def flatten_named(W: Sequence[Any], b: Sequence[Any] | None, bias: str) -> dict[str, float]:
    """Return {name: value} for every parameter, layer by layer, weights before biases."""
    _check_bias_mode(bias)
    named: dict[str, float] = {}
    for layer, weights in enumerate(W, start=1):
        weights = np.asarray(weights, dtype=float)
        for j in range(1, weights.shape[0] + 1):
            for k in range(1, weights.shape[1] + 1):
                named[weight_name(layer, j, k)] = float(weights[j - 1, k - 1])
        if bias == "per_neuron":
            vector = np.asarray(b[layer - 1], dtype=float).reshape(-1)
            for j in range(1, vector.shape[0] + 1):
                named[bias_name(layer, j)] = float(vector[j - 1])
        elif bias == "shared":
            named[bias_name(layer, None)] = _as_scalar(b[layer - 1], layer)
    return named


def unflatten_named(
    named: Mapping[str, float], sizes: Sequence[int], bias: str
) -> tuple[list[np.ndarray], list[Any]]:
    """Return (W, b) for `sizes` from a dict keyed by ASCII name; the inverse of flatten_named.

    b holds arrays (per_neuron), floats (shared) or None (none). Missing or unexpected names raise
    ValueError, so a misnamed gradient cannot pass silently.
    """
    _check_bias_mode(bias)
    expected = set(parameter_names(sizes, bias))
    missing = sorted(expected - set(named))
    unexpected = sorted(set(named) - expected)
    if missing or unexpected:
        raise ValueError(
            f"parameter names do not match sizes {list(sizes)} with bias {bias!r}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    W: list[np.ndarray] = []
    b: list[Any] = []
    for layer in range(1, len(sizes)):
        n_out, n_in = sizes[layer], sizes[layer - 1]
        weights = np.empty((n_out, n_in))
        for j in range(1, n_out + 1):
            for k in range(1, n_in + 1):
                weights[j - 1, k - 1] = float(named[weight_name(layer, j, k)])
        W.append(weights)
        if bias == "per_neuron":
            b.append(np.array([float(named[bias_name(layer, j)]) for j in range(1, n_out + 1)]))
        elif bias == "shared":
            b.append(float(named[bias_name(layer, None)]))
        else:
            b.append(None)
    return W, b


def parameter_names(sizes: Sequence[int], bias: str) -> list[str]:
    """Return the ASCII parameter names of a layered network, in flatten_named's order."""
    _check_bias_mode(bias)
    names: list[str] = []
    for layer in range(1, len(sizes)):
        n_out, n_in = sizes[layer], sizes[layer - 1]
        names += [weight_name(layer, j, k) for j in range(1, n_out + 1) for k in range(1, n_in + 1)]
        if bias == "per_neuron":
            names += [bias_name(layer, j) for j in range(1, n_out + 1)]
        elif bias == "shared":
            names.append(bias_name(layer, None))
    return names


def gradients_named(
    W_grad: Sequence[np.ndarray], b_grad: Sequence[Any], bias: str
) -> dict[str, float]:
    """Return a gradient (dW, db), as returned by the backprop oracles, keyed by parameter name."""
    return flatten_named(W_grad, b_grad, bias)


# ---------------------------------------------------------------------------------------------
# NumPy: stable activations and losses
# ---------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp(-|z|) lies in (0, 1], so neither branch can overflow; it underflows harmlessly to 0.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    # Subtracting the row maximum leaves softmax unchanged and keeps every exponent <= 0.
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "softplus":
        # log(1 + e^z) = logaddexp(0, z), computed without overflow.
        return np.logaddexp(0.0, z)
    if name == "identity":
        return z.copy()
    if name == "softmax":
        return _softmax(z)
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}")


def _activation_derivative(name: str, z: np.ndarray) -> np.ndarray:
    """Return f'(z) elementwise (softmax has a Jacobian instead and is handled by the caller)."""
    if name == "sigmoid":
        s = _sigmoid(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        # Step function with H(0) = 0, the package's convention at the kink.
        return np.where(z > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE)
    if name == "softplus":
        return _sigmoid(z)
    if name == "identity":
        return np.ones_like(z)
    raise ValueError(f"activation {name!r} has no elementwise derivative; use it as output only")


def _per_sample_loss(name: str, a: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Return the loss of each sample (row) of a batch, shape (B,)."""
    n_outputs = a.shape[1]
    if name == "half_sse":
        return 0.5 * np.sum((a - Y) ** 2, axis=1)
    if name == "mse":
        return np.sum((a - Y) ** 2, axis=1) / n_outputs
    if name == "bce":
        log_a = np.log(np.maximum(a, TINY))
        log_one_minus_a = np.log(np.maximum(1.0 - a, TINY))
        return -np.sum(Y * log_a + (1.0 - Y) * log_one_minus_a, axis=1)
    if name == "cross_entropy":
        return -np.sum(Y * np.log(np.maximum(a, TINY)), axis=1)
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}")


def _loss_gradient_wrt_output(name: str, a: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Return dL/da for each sample's own loss (not yet divided by the batch size)."""
    n_outputs = a.shape[1]
    if name == "half_sse":
        return a - Y
    if name == "mse":
        return 2.0 * (a - Y) / n_outputs
    # The analytic derivative of the unclipped log; the guard only keeps the quotient finite.
    if name == "bce":
        return -Y / np.maximum(a, TINY) + (1.0 - Y) / np.maximum(1.0 - a, TINY)
    if name == "cross_entropy":
        return -Y / np.maximum(a, TINY)
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}")


# ---------------------------------------------------------------------------------------------
# NumPy: forward pass and backprop (Nielsen's BP1-BP4, vectorized over the batch)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    W: list[np.ndarray]
    bias_terms: list[Any]  # what is added to z: array (n_layer,), float, or 0.0 for "none"
    X: np.ndarray
    Y: np.ndarray | None


def _prepare(
    W: Sequence[Any],
    b: Sequence[Any] | None,
    activations: Sequence[str],
    X: Any,
    Y: Any,
    bias: str,
) -> _Prepared:
    _check_bias_mode(bias)
    weights = [np.array(w, dtype=float, ndmin=2) for w in W]
    if len(activations) != len(weights):
        raise ValueError(f"{len(activations)} activations for {len(weights)} layers; give one each")
    for layer, name in enumerate(activations, start=1):
        if name not in ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {name!r} for layer {layer}")
        if name == "softmax" and layer != len(weights):
            raise ValueError(f"softmax in hidden layer {layer}; it is supported in the output only")
    X = np.atleast_2d(np.asarray(X, dtype=float))
    sizes = [X.shape[1]] + [w.shape[0] for w in weights]
    for layer, w in enumerate(weights, start=1):
        if w.shape != (sizes[layer], sizes[layer - 1]):
            expected = (sizes[layer], sizes[layer - 1])
            raise ValueError(f"W{layer} has shape {w.shape}; expected {expected}")
    if Y is not None:
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        if Y.shape != (X.shape[0], sizes[-1]):
            raise ValueError(f"Y has shape {Y.shape}; expected {(X.shape[0], sizes[-1])}")
    bias_terms: list[Any] = []
    for layer in range(1, len(weights) + 1):
        if bias == "none":
            bias_terms.append(0.0)
        elif bias == "shared":
            bias_terms.append(_as_scalar(b[layer - 1], layer))
        else:
            vector = np.asarray(b[layer - 1], dtype=float).reshape(-1)
            if vector.shape != (sizes[layer],):
                raise ValueError(f"b{layer} has {vector.size} entries; expected {sizes[layer]}")
            bias_terms.append(vector)
    return _Prepared(weights, bias_terms, X, Y)


def numpy_forward(
    W: Sequence[Any],
    b: Sequence[Any] | None,
    activations: Sequence[str],
    X: Any,
    bias: str,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (zs, activations_out): z^(1..L) and a^(0..L), each of shape (B, n_layer).

    Batch form of z^(layer) = W^(layer) a^(layer-1) + b^(layer): the rows of Z are samples, so
    Z = A_prev W^T + b. A 1-D X is one sample.
    """
    prepared = _prepare(W, b, activations, X, None, bias)
    zs: list[np.ndarray] = []
    a_values = [prepared.X]
    for weights, bias_term, name in zip(prepared.W, prepared.bias_terms, activations, strict=True):
        z = a_values[-1] @ weights.T + bias_term
        zs.append(z)
        a_values.append(_activate(name, z))
    return zs, a_values


def numpy_forward_loss(
    W: Sequence[Any],
    b: Sequence[Any] | None,
    activations: Sequence[str],
    loss: str,
    X: Any,
    Y: Any,
    bias: str,
) -> float:
    """Return the batch loss L = (1/B) sum_samples loss(a^(L), y)."""
    prepared = _prepare(W, b, activations, X, Y, bias)
    _, a_values = numpy_forward(prepared.W, b, activations, prepared.X, bias)
    return float(np.mean(_per_sample_loss(loss, a_values[-1], prepared.Y)))


def _output_delta(
    output_activation: str, loss: str, z: np.ndarray, a: np.ndarray, Y: np.ndarray
) -> np.ndarray:
    """Return delta^(L) = dloss/dz^(L) per sample (BP1, or its softmax/sigmoid shortcuts)."""
    targets_sum_to_one = bool(np.all(np.abs(Y.sum(axis=1) - 1.0) <= _TARGET_SUM_ATOL))
    if output_activation == "softmax" and loss == "cross_entropy" and targets_sum_to_one:
        # -sum_j y_j log softmax_j(z) has gradient a - y * sum_j y_j = a - y when sum_j y_j = 1.
        return a - Y
    if output_activation == "sigmoid" and loss == "bce":
        # d/dz of -[y log s(z) + (1-y) log(1-s(z))] = s(z) - y, for any y.
        return a - Y
    dloss_da = _loss_gradient_wrt_output(loss, a, Y)
    if output_activation == "softmax":
        # delta_j = sum_i dL/da_i * da_i/dz_j with da_i/dz_j = a_i (1[i=j] - a_j),
        # i.e. delta_j = a_j (dL/da_j - sum_i dL/da_i a_i).
        return a * (dloss_da - np.sum(dloss_da * a, axis=1, keepdims=True))
    # BP1: delta^(L) = grad_a L (.) f'(z^(L)).
    return dloss_da * _activation_derivative(output_activation, z)


def numpy_backprop(
    W: Sequence[Any],
    b: Sequence[Any] | None,
    activations: Sequence[str],
    loss: str,
    X: Any,
    Y: Any,
    bias: str,
) -> tuple[float, list[np.ndarray], list[Any]]:
    """Return (L, dW, db) by textbook backprop, L the mean loss over the batch.

    BP1 delta^(L) = grad_a L (.) f'(z^(L)); BP2 delta^(l) = ((W^(l+1))^T delta^(l+1)) (.) f'(z^(l));
    BP3 dL/db^(l) = delta^(l); BP4 dL/dW^(l) = delta^(l) (a^(l-1))^T; each averaged over the batch.
    db[layer-1] is an array (per_neuron), the float sum_j delta_j averaged over the batch
    (shared), or None (none).
    """
    prepared = _prepare(W, b, activations, X, Y, bias)
    zs, a_values = numpy_forward(prepared.W, b, activations, prepared.X, bias)
    batch_size = prepared.X.shape[0]
    n_layers = len(prepared.W)
    loss_value = float(np.mean(_per_sample_loss(loss, a_values[-1], prepared.Y)))

    deltas: list[np.ndarray] = [np.empty(0)] * n_layers
    deltas[-1] = _output_delta(activations[-1], loss, zs[-1], a_values[-1], prepared.Y)
    for index in range(n_layers - 2, -1, -1):
        # BP2 with samples as rows: (W^T delta)^T = delta W.
        back = deltas[index + 1] @ prepared.W[index + 1]
        deltas[index] = back * _activation_derivative(activations[index], zs[index])

    W_grad: list[np.ndarray] = []
    b_grad: list[Any] = []
    for index in range(n_layers):
        # BP4 summed over samples, then divided by B because the loss is a mean.
        W_grad.append(deltas[index].T @ a_values[index] / batch_size)
        if bias == "per_neuron":
            b_grad.append(deltas[index].sum(axis=0) / batch_size)
        elif bias == "shared":
            # One bias feeds every neuron of the layer, so its gradient sums their deltas.
            b_grad.append(float(deltas[index].sum() / batch_size))
        else:
            b_grad.append(None)
    return loss_value, W_grad, b_grad


# ---------------------------------------------------------------------------------------------
# PyTorch autograd (float64)
# ---------------------------------------------------------------------------------------------


def torch_backprop(
    W: Sequence[Any],
    b: Sequence[Any] | None,
    activations: Sequence[str],
    loss: str,
    X: Any,
    Y: Any,
    bias: str,
) -> tuple[float, list[np.ndarray], list[Any]]:
    """Return (L, dW, db) like numpy_backprop, by float64 PyTorch autograd of the explicit loss.

    Tests guard this with pytest.importorskip("torch", reason=...). relu is written as
    where(z > 0, z, 0), so autograd gives 0 at z == 0 like the package; leaky_relu gives 0.01.
    """
    import torch

    prepared = _prepare(W, b, activations, X, Y, bias)
    dtype = torch.float64
    weights = [torch.tensor(w, dtype=dtype, requires_grad=True) for w in prepared.W]
    biases: list[Any] = []
    for bias_term in prepared.bias_terms:
        if bias == "none":
            biases.append(None)
        else:
            biases.append(torch.tensor(bias_term, dtype=dtype, requires_grad=True))
    a = torch.tensor(prepared.X, dtype=dtype)
    for index, name in enumerate(activations):
        z = a @ weights[index].T
        if biases[index] is not None:
            z = z + biases[index]
        a = _torch_activate(torch, name, z)
    targets = torch.tensor(prepared.Y, dtype=dtype)
    per_sample = _torch_per_sample_loss(torch, loss, a, targets)
    loss_tensor = per_sample.sum() / per_sample.shape[0]
    loss_tensor.backward()

    W_grad = [w.grad.detach().numpy().copy() for w in weights]
    b_grad: list[Any] = []
    for bias_tensor in biases:
        if bias_tensor is None:
            b_grad.append(None)
        elif bias == "shared":
            b_grad.append(float(bias_tensor.grad))
        else:
            b_grad.append(bias_tensor.grad.detach().numpy().copy())
    return float(loss_tensor.detach()), W_grad, b_grad


def _torch_activate(torch: Any, name: str, z: Any) -> Any:
    zero = torch.zeros_like(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "relu":
        return torch.where(z > 0, z, zero)
    if name == "leaky_relu":
        return torch.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "softplus":
        return torch.logaddexp(zero, z)
    if name == "identity":
        return z
    if name == "softmax":
        # The shift is a constant for differentiation: softmax(z - c) = softmax(z) for any c.
        shifted = z - z.max(dim=1, keepdim=True).values.detach()
        e = torch.exp(shifted)
        return e / e.sum(dim=1, keepdim=True)
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}")


def _torch_per_sample_loss(torch: Any, name: str, a: Any, Y: Any) -> Any:
    n_outputs = a.shape[1]
    if name == "half_sse":
        return 0.5 * ((a - Y) ** 2).sum(dim=1)
    if name == "mse":
        return ((a - Y) ** 2).sum(dim=1) / n_outputs
    if name == "bce":
        log_a = torch.log(torch.clamp(a, min=TINY))
        log_one_minus_a = torch.log(torch.clamp(1.0 - a, min=TINY))
        return -(Y * log_a + (1.0 - Y) * log_one_minus_a).sum(dim=1)
    if name == "cross_entropy":
        return -(Y * torch.log(torch.clamp(a, min=TINY))).sum(dim=1)
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}")


# ---------------------------------------------------------------------------------------------
# SymPy: diff of the fully expanded loss (small networks, one sample)
# ---------------------------------------------------------------------------------------------


def _sympy_activate(name: str, z: sp.Expr) -> sp.Expr:
    if name == "sigmoid":
        return 1 / (1 + sp.exp(-z))
    if name == "tanh":
        return sp.tanh(z)
    # Max rather than Piecewise: SymPy differentiates nested Piecewise several times slower.
    # diff(Max(z, 0)) is Heaviside(z), whose value at 0 is SymPy's 1/2, not the package's 0, so
    # the caller refuses points with a relu/leaky_relu pre-activation exactly 0.
    if name == "relu":
        return sp.Max(z, 0)
    if name == "leaky_relu":
        return sp.Max(z, sp.Rational(1, 100) * z)
    if name == "softplus":
        return sp.log(1 + sp.exp(z))
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}")


def _sympy_loss(name: str, a: list[sp.Expr], y: list[sp.Symbol]) -> sp.Expr:
    pairs = list(zip(a, y, strict=True))
    if name == "half_sse":
        return sp.Rational(1, 2) * sp.Add(*[(a_j - y_j) ** 2 for a_j, y_j in pairs])
    if name == "mse":
        return sp.Add(*[(a_j - y_j) ** 2 for a_j, y_j in pairs]) / len(pairs)
    if name == "bce":
        return -sp.Add(*[y_j * sp.log(a_j) + (1 - y_j) * sp.log(1 - a_j) for a_j, y_j in pairs])
    if name == "cross_entropy":
        return -sp.Add(*[y_j * sp.log(a_j) for a_j, y_j in pairs])
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}")


def sympy_expanded_gradients(
    W: Sequence[Any],
    b: Sequence[Any] | None,
    activations: Sequence[str],
    loss: str,
    x: Any,
    y: Any,
    bias: str,
    digits: int = 30,
) -> tuple[float, dict[str, float]]:
    """Return (loss, {name: dloss/dname}) from sp.diff of the fully expanded one-sample loss.

    Every parameter, input x_k and target y_j is a plain SymPy symbol; the loss is built as one
    nested expression (no intermediate names, no package code) and differentiated with sp.diff
    per parameter. The point is substituted as exact binary values of the float64 inputs and
    evaluated with `digits` significant digits, then rounded to float. Meant for small networks:
    the expanded expression grows with depth and width. relu and leaky_relu are sp.Max, whose
    derivative is a Heaviside with SymPy's H(0) = 1/2, so a point with any relu/leaky_relu
    pre-activation exactly 0 raises ValueError (use the NumPy or torch oracle there). The loss is
    exact, without the NumPy oracle's clipping, so a point where it is infinite (log 0, as in bce
    of a one-output softmax) raises ValueError too.
    """
    x_array = np.asarray(x, dtype=float)
    y_array = np.asarray(y, dtype=float)
    for label, array in (("x", x_array), ("y", y_array)):
        if array.ndim > 1 and array.shape[0] != 1:
            raise ValueError(f"{label} has shape {array.shape}; give one sample (1-D)")
    x_values = x_array.reshape(-1)
    y_values = y_array.reshape(-1)
    named = flatten_named(W, b, bias)
    symbols = {name: sp.Symbol(name, real=True) for name in named}
    x_symbols = [sp.Symbol(f"x{k}", real=True) for k in range(1, x_values.size + 1)]
    y_symbols = [sp.Symbol(f"y{j}", real=True) for j in range(1, y_values.size + 1)]

    a_exprs: list[sp.Expr] = list(x_symbols)
    kink_exprs: list[tuple[str, sp.Expr]] = []
    for layer, name in enumerate(activations, start=1):
        n_out = np.asarray(W[layer - 1]).shape[0]
        z_exprs = []
        for j in range(1, n_out + 1):
            z = sp.Add(
                *[symbols[weight_name(layer, j, k)] * a_k for k, a_k in enumerate(a_exprs, 1)]
            )
            if bias == "per_neuron":
                z += symbols[bias_name(layer, j)]
            elif bias == "shared":
                z += symbols[bias_name(layer, None)]
            z_exprs.append(z)
            if name in ("relu", "leaky_relu"):
                kink_exprs.append((f"z{layer}_{j}", z))
        if name == "softmax":
            exponentials = [sp.exp(z) for z in z_exprs]
            total = sp.Add(*exponentials)
            a_exprs = [e / total for e in exponentials]
        else:
            a_exprs = [_sympy_activate(name, z) for z in z_exprs]
    loss_expr = _sympy_loss(loss, a_exprs, y_symbols)

    point = {symbols[name]: sp.Float(value, digits) for name, value in named.items()}
    point.update({s: sp.Float(float(v), digits) for s, v in zip(x_symbols, x_values, strict=True)})
    point.update({s: sp.Float(float(v), digits) for s, v in zip(y_symbols, y_values, strict=True)})
    for z_name, z_expr in kink_exprs:
        if sp.N(z_expr.xreplace(point), digits) == 0:
            raise ValueError(f"{z_name} is exactly 0, where relu/leaky_relu has no derivative")

    def evaluate(expr: sp.Expr) -> float:
        return float(sp.N(expr.xreplace(point), digits))

    loss_value = sp.N(loss_expr.xreplace(point), digits)
    if not (loss_value.is_real and loss_value.is_finite):
        # The exact loss has no clipping: log 0 (e.g. bce of a one-output softmax) is infinite.
        raise ValueError(f"the exact loss is {loss_value} at this point; no finite gradient")
    gradient = {name: evaluate(sp.diff(loss_expr, symbols[name])) for name in named}
    return float(loss_value), gradient


# ---------------------------------------------------------------------------------------------
# Mazur, "A Step by Step Backpropagation Example": network and published numbers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MazurExample:
    """Mazur's 2-2-2 sigmoid network with one shared bias per layer and half_sse loss."""

    W1: tuple[tuple[float, float], tuple[float, float]] = ((0.15, 0.20), (0.25, 0.30))
    W2: tuple[tuple[float, float], tuple[float, float]] = ((0.40, 0.45), (0.50, 0.55))
    b1: float = 0.35
    b2: float = 0.60
    x: tuple[float, float] = (0.05, 0.10)
    y: tuple[float, float] = (0.01, 0.99)
    activations: tuple[str, str] = ("sigmoid", "sigmoid")
    loss: str = "half_sse"
    bias: str = "shared"
    eta: float = 0.5  # learning rate; Mazur updates weights only, never the biases
    sizes: tuple[int, int, int] = (2, 2, 2)

    def weights(self) -> list[np.ndarray]:
        """Return [W1, W2] as fresh float64 arrays."""
        return [np.array(self.W1, dtype=float), np.array(self.W2, dtype=float)]

    def biases(self) -> list[float]:
        """Return the shared biases [b1, b2]."""
        return [self.b1, self.b2]

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (X, Y) as a batch of one sample, shapes (1, 2) and (1, 2)."""
        return np.array([self.x], dtype=float), np.array([self.y], dtype=float)


MAZUR = MazurExample()

# Mazur's weight labels -> the package's names: w1 i1->h1, w2 i2->h1, w3 i1->h2, w4 i2->h2,
# w5 h1->o1, w6 h2->o1, w7 h1->o2, w8 h2->o2 (the post's "net_h1 = w1 i1 + w3 i2" is a typo).
MAZUR_WEIGHT_NAMES: dict[str, str] = {
    "w1": "w1_1_1",
    "w2": "w1_1_2",
    "w3": "w1_2_1",
    "w4": "w1_2_2",
    "w5": "w2_1_1",
    "w6": "w2_1_2",
    "w7": "w2_2_1",
    "w8": "w2_2_2",
}

# Every one-step number printed in the post, exactly as printed (reference-values.md). Each agrees
# with float64 within 5e-9 absolute. "_updated" values are w - eta * dE/dw with all deltas from
# the original weights (the post's "parallel" update).
MAZUR_PUBLISHED: dict[str, float] = {
    "net_h1": 0.3775,
    "out_h1": 0.593269992,
    "out_h2": 0.596884378,
    "net_o1": 1.105905967,
    "out_o1": 0.75136507,
    "out_o2": 0.772928465,
    "E_o1": 0.274811083,
    "E_o2": 0.023560026,
    "E_total": 0.298371109,
    "dE_total/dout_o1": 0.74136507,
    "dout_o1/dnet_o1": 0.186815602,
    "dnet_o1/dw5": 0.593269992,
    "dE_total/dw5": 0.082167041,
    "w5_updated": 0.35891648,
    "w6_updated": 0.408666186,
    "w7_updated": 0.511301270,
    "w8_updated": 0.561370121,
    "delta_o1": 0.138498562,
    "dnet_o1/dout_h1": 0.40,
    "dE_o1/dout_h1": 0.055399425,
    "dE_o2/dout_h1": -0.019049119,
    "dE_total/dout_h1": 0.036350306,
    "dout_h1/dnet_h1": 0.241300709,
    "dnet_h1/dw1": 0.05,
    "dE_total/dw1": 0.000438568,
    "w1_updated": 0.149780716,
    "w2_updated": 0.19956143,
    "w3_updated": 0.24975114,
    "w4_updated": 0.29950229,
}

# Values the post prints after training. They are mutually inconsistent (reference-values.md):
# the one-step loss matches a "sequential" update, the 10,000-step loss the parallel rule after
# 9,999 updates, and the outputs the sequential rule after 10,000 updates.
MAZUR_PUBLISHED_AFTER_TRAINING: dict[str, float] = {
    "E_total_after_1_update": 0.291027924,
    "E_total_after_10000": 0.0000351085,
    "out_o1_after_10000": 0.015912196,
    "out_o2_after_10000": 0.984065734,
}

# Not printed in the post: float64 values computed independently (reference-values.md).
MAZUR_DERIVED: dict[str, float] = {
    "net_h2": 0.39249999999999996,
    "net_o2": 1.2249214040964653,
    "delta_o1": 0.13849856162855695,
    "delta_o2": -0.038098236516556236,
    "delta_h1": 0.00877135468948693,
    "delta_h2": 0.009954254705217196,
    "dE/dw1": 0.0004385677344743465,
    "dE/dw2": 0.000877135468948693,
    "dE/dw3": 0.0004977127352608599,
    "dE/dw4": 0.0009954254705217198,
    "dE/dw5": 0.08216704056423077,
    "dE/dw6": 0.08266762784753325,
    "dE/dw7": -0.02260254047747507,
    "dE/dw8": -0.022740242215978222,
    "dE/db1_shared": 0.018725609394704128,
    "dE/db2_shared": 0.10040032511200071,
    "E_after_1_parallel_update_weights_only": 0.29102777369359933,
    "E_after_9999_parallel_updates_weights_only": 3.510854812e-05,
    "E_after_1_update_shared_biases_updated": 0.2857508866992965,
    "E_after_1_update_per_neuron_biases_updated": 0.28047144679143016,
}


# ---------------------------------------------------------------------------------------------
# Straight-line programs: SymPy's diff of the loss with every assignment substituted
# ---------------------------------------------------------------------------------------------


def sympy_program_gradients(
    assignments: Sequence[tuple[sp.Symbol, sp.Expr]],
    loss: sp.Expr,
    point: Mapping[str, float],
    params: Sequence[str],
    digits: int = 30,
) -> tuple[float, dict[str, float]]:
    """Return (loss, {param: dloss/dparam}) for a program of (symbol, expr) assignments.

    The loss is expanded by substituting the assignments from the last to the first (no names
    kept; the package's sigma is written as 1/(1 + e^-u)), then each parameter's derivative is
    taken with sp.diff and evaluated at ``point`` (every parameter, input and target by name)
    with ``digits`` significant digits.
    """
    expanded = loss
    for lhs, rhs in reversed(list(assignments)):
        expanded = expanded.subs(lhs, rhs)
    # The package's own sigma (a SymPy Function with its fdiff) is written out as the
    # textbook's 1/(1 + e^-u), so sp.diff uses nothing of the package.
    expanded = expanded.replace(
        lambda e: type(e).__name__ == "Sigmoid", lambda e: 1 / (1 + sp.exp(-e.args[0]))
    )
    # Real symbols, so that d|w|/dw is sign(w) (an L1 penalty) rather than a complex form.
    real = {name: sp.Symbol(name, real=True) for name in point}
    expanded = expanded.xreplace({sp.Symbol(name): symbol for name, symbol in real.items()})
    values = {real[name]: sp.Float(value, digits) for name, value in point.items()}
    gradient = {
        name: float(sp.diff(expanded, real[name]).evalf(digits, subs=values)) for name in params
    }
    return float(expanded.evalf(digits, subs=values)), gradient


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _check_bias_mode(bias: str) -> None:
    if bias not in BIAS_MODES:
        raise ValueError(f"unknown bias mode {bias!r}; known: {', '.join(BIAS_MODES)}")


def _as_scalar(value: Any, layer: int) -> float:
    array = np.asarray(value, dtype=float)
    if array.ndim != 0:
        raise ValueError(f"shared bias b{layer} has shape {array.shape}; give one float")
    return float(array)
