"""Every (output activation, loss) pair of the registries: right against PyTorch, or refused.

The oracle is PyTorch float64 with its own losses (mse_loss, binary_cross_entropy,
cross_entropy on logits with probability targets), not a transcription of the package's.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.model.errors import SpecError

torch = pytest.importorskip("torch", reason="PyTorch float64 is the oracle of these tests")
F = torch.nn.functional

# Two float64 computations of the same loss and gradient differ only by rounding.
RTOL_TORCH = 1e-9
ATOL_TORCH = 1e-12
ORACLE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity", "softmax")
ORACLE_LOSSES = ("half_sse", "mse", "bce", "cross_entropy")
PAIRS = [(activation, loss) for activation in sorted(sb.ACTIVATIONS) for loss in sorted(sb.LOSSES)]
REFUSAL = r"use a (softmax|sigmoid) output layer"


def _activate(name: str, z):
    if name == "softmax":
        return torch.softmax(z, dim=1)
    if name == "leaky_relu":
        return F.leaky_relu(z, 0.01)
    if name == "softplus":
        # softplus' own linear tail starts at 20 by default; sigma(20) is 1 - 2e-9, not 1.
        return F.softplus(z, threshold=50)
    if name == "identity":
        return z
    return getattr(torch, name)(z)


def _torch_loss(loss: str, output: str, z, a, Y):
    batch = Y.shape[0]
    if loss == "half_sse":
        return 0.5 * F.mse_loss(a, Y, reduction="sum") / batch
    if loss == "mse":
        return F.mse_loss(a, Y, reduction="mean")
    if loss == "bce" and output == "sigmoid":
        return F.binary_cross_entropy_with_logits(z, Y, reduction="sum") / batch
    if loss == "bce":
        return F.binary_cross_entropy(a, Y, reduction="sum") / batch
    assert loss == "cross_entropy" and output == "softmax"
    return F.cross_entropy(z, Y, reduction="mean")


def torch_loss_and_gradient(W, b, activations, loss, X, Y):
    """Return (loss, [dW], [db]) of z = a W^T + b layer by layer, by torch autograd."""
    weights = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in W]
    biases = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in b]
    a = torch.tensor(X, dtype=torch.float64)
    z = a
    for weight, bias, name in zip(weights, biases, activations, strict=True):
        z = a @ weight.T + bias
        a = _activate(name, z)
    value = _torch_loss(loss, activations[-1], z, a, torch.tensor(Y, dtype=torch.float64))
    value.backward()
    return (
        float(value.detach()),
        [w.grad.numpy() for w in weights],
        [v.grad.numpy() for v in biases],
    )


def _targets(rng: np.random.Generator, loss: str, batch: int, n: int) -> np.ndarray:
    if loss == "cross_entropy":
        return rng.dirichlet(np.ones(n), batch)  # probability rows, as torch's soft targets
    if loss == "bce":
        return rng.uniform(0, 1, (batch, n))
    return rng.normal(0, 1, (batch, n))


@pytest.mark.parametrize(("output", "loss"), PAIRS)
@settings(deadline=None, max_examples=6, suppress_health_check=[HealthCheck.too_slow])
@given(n_out=st.integers(1, 3), batch=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_every_pair_is_right_against_pytorch_or_refused(output, loss, n_out, batch, seed):
    assume(output in ORACLE_ACTIVATIONS and loss in ORACLE_LOSSES)
    sizes = [2, 3, n_out]
    try:
        net = sb.mlp(sizes, activation=["tanh", output], loss=loss)
    except SpecError as refused:
        message = str(refused)
        assert re.search(REFUSAL, message) or "softmax needs at least 2 outputs" in message
        assert output in message
        return
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, 0.8, (sizes[i + 1], sizes[i])) for i in range(2)]
    b = [rng.normal(0, 0.5, sizes[i + 1]) for i in range(2)]
    X = rng.normal(0, 1, (batch, 2))
    Y = _targets(rng, loss, batch, n_out)
    params = {"W1": W[0], "b1": b[0], "W2": W[1], "b2": b[1]}
    got_loss, got = sb.compile(net).loss_and_gradient(params, X, Y)
    expected_loss, dW, db = torch_loss_and_gradient(W, b, ["tanh", output], loss, X, Y)
    assert got_loss == pytest.approx(expected_loss, rel=RTOL_TORCH, abs=ATOL_TORCH)
    for layer in (1, 2):
        np.testing.assert_allclose(got[f"W{layer}"], dW[layer - 1], RTOL_TORCH, ATOL_TORCH)
        np.testing.assert_allclose(got[f"b{layer}"], db[layer - 1], RTOL_TORCH, ATOL_TORCH)


@pytest.mark.parametrize(
    ("activation", "loss"),
    [(["tanh", "identity"], "cross_entropy"), (["tanh", "tanh"], "bce"), ("relu", "bce")],
)
def test_a_loss_whose_logs_the_outputs_cannot_feed_is_refused_where_it_is_built(activation, loss):
    with pytest.raises(SpecError, match=REFUSAL):
        sb.mlp([3, 4, 3], activation=activation, loss=loss)


def test_the_spec_refuses_it_at_the_activation(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[network]\nsizes = [3, 4, 3]\nactivation = ["tanh", "identity"]\n'
        'loss = "cross_entropy"\n\n[init]\nseed = 0\n'
    )
    with pytest.raises(SpecError, match=r"bad\.toml:3:\d+: loss 'cross_entropy' needs"):
        sb.load_spec(path)
