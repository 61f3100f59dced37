"""compile(..., backend="torch" | "jax"): the same generated code, the same numbers as NumPy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model.errors import SymbackpropError, UnknownNameError
from symbackprop.numeric import array_runner
from symbackprop.numeric.array_forms import elementwise_factory
from tests.derivation.test_matrix import LAYER_KINDS, data, jittered_params

RTOL = 1e-12

NETWORKS = {
    **LAYER_KINDS,
    "conv2d + max pool": sb.sequential(
        (1, 5, 5),
        [sb.Conv2d(2, 3, padding=1), "relu", sb.MaxPool2d(2), sb.Flatten(), sb.Dense(2), "softmax"],
    ),
    "conv1d + avg pool": sb.sequential(
        (2, 7),
        [sb.Conv1d(3, 3, stride=2, padding=1), "tanh", sb.AvgPool1d(2), sb.Flatten(), sb.Dense(2)],
        "mse",
    ),
    "rnn": sb.sequential((3, 2), [sb.RNN(3), sb.Flatten(), sb.Dense(2), "softmax"]),
    "lstm": sb.sequential((3, 2), [sb.LSTM(3, output="last"), sb.Dense(2)], "mse"),
}


def _backend_or_skip(name: str) -> str:
    if name == "jax":
        pytest.importorskip("jax", reason="the jax backend needs JAX: pip install -e '.[jax]'")
    else:
        pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    return name


def assert_close(got: np.ndarray, expected: np.ndarray, scale: float) -> None:
    """Equal to RTOL of each entry, or of the largest entry (for entries that cancel to 0)."""
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("kind", list(NETWORKS))
def test_loss_and_gradient_equal_numpy(kind: str, backend: str) -> None:
    _backend_or_skip(backend)
    net = NETWORKS[kind]
    X, Y = data(net, 6, 2)
    params = jittered_params(net, 2)
    loss, grads = sb.compile(net).loss_and_gradient(params, X, Y)
    compiled = sb.compile(net, backend=backend)
    got_loss, got_grads = compiled.loss_and_gradient(params, X, Y)
    assert got_loss == pytest.approx(loss, rel=RTOL)
    assert set(got_grads) == set(grads)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    for name, gradient in grads.items():
        assert got_grads[name].dtype == np.float64 and got_grads[name].shape == gradient.shape
        assert_close(got_grads[name], gradient, scale)
    assert compiled.loss(params, X, Y) == pytest.approx(loss, rel=RTOL)
    outputs = sb.compile(net).forward(params, X)
    assert_close(compiled.forward(params, X), outputs, float(np.max(np.abs(outputs))))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_kink_arguments_equal_numpy(backend: str) -> None:
    _backend_or_skip(backend)
    net = NETWORKS["conv2d + max pool"]
    X, _ = data(net, 4, 1)
    params = jittered_params(net, 1)
    expected = sb.compile(net).kink_arguments(params, X)
    got = sb.compile(net, backend=backend).kink_arguments(params, X)
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=RTOL, atol=1e-14)


def test_torch_backend_computes_on_float64_tensors() -> None:
    torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    compiled = sb.compile(NETWORKS["dense+softmax"], backend="torch")
    runner = compiled._backend.runner  # type: ignore[union-attr]
    net = NETWORKS["dense+softmax"]
    X, Y = data(net, 3, 0)
    output, *grads = runner._gradient(*runner._feed(net.init_params(0), X, Y))
    assert all(isinstance(g, torch.Tensor) and g.dtype == torch.float64 for g in [output, *grads])


def test_torch_backend_runs_on_the_gpu() -> None:
    torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the torch backend runs on the CPU here")
    net = NETWORKS["conv2d + max pool"]
    compiled = sb.compile(net, backend="torch")
    assert compiled._backend.runner.xp.device.type == "cuda"  # type: ignore[union-attr]
    X, Y = data(net, 6, 2)
    params = jittered_params(net, 2)
    loss, grads = sb.compile(net).loss_and_gradient(params, X, Y)
    got_loss, got_grads = compiled.loss_and_gradient(params, X, Y)
    assert got_loss == pytest.approx(loss, rel=RTOL)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    for name, gradient in grads.items():
        assert_close(got_grads[name], gradient, scale)


def test_jax_backend_runs_on_the_gpu() -> None:
    jax = pytest.importorskip("jax", reason="the jax backend needs JAX: pip install -e '.[jax]'")
    if jax.default_backend() != "gpu":
        pytest.skip("no GPU visible to JAX: the jax backend runs on the CPU here")
    net = NETWORKS["dense+softmax"]
    X, Y = data(net, 8, 2)
    params = jittered_params(net, 2)
    loss = sb.compile(net).loss(params, X, Y)
    assert sb.compile(net, backend="jax").loss(params, X, Y) == pytest.approx(loss, rel=RTOL)


@pytest.mark.parametrize("name", ["jx", "Torch", "pytorch"])
def test_an_unknown_backend_is_refused_with_a_suggestion(name: str) -> None:
    with pytest.raises(UnknownNameError, match="did you mean '(jax|torch)'"):
        sb.compile(NETWORKS["dense+sigmoid"], backend=name)


PER_NEURON = {
    "relu, softmax, cross-entropy": sb.mlp((3, 4, 3), ["relu", "softmax"], "cross_entropy"),
    "tanh, sigmoid, bce": sb.mlp((2, 3, 1), ["tanh", "sigmoid"], "bce"),
    "leaky relu, softplus, mse": sb.mlp((2, 3, 2), ["leaky_relu", "softplus"], "mse"),
}


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("kind", list(PER_NEURON))
def test_a_per_neuron_networks_scalar_program_equals_numpy(kind: str, backend: str) -> None:
    _backend_or_skip(backend)
    net = PER_NEURON[kind]
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, net.n_inputs))
    Y = np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, 7)]
    params = net.init_params(5)
    loss, grads = sb.compile(net, view="scalar").loss_and_gradient(params, X, Y)
    compiled = sb.compile(net, backend=backend)
    assert compiled.view == "scalar"
    got_loss, got_grads = compiled.loss_and_gradient(params, X, Y)
    assert got_loss == pytest.approx(loss, rel=RTOL)
    scale = max(abs(g) for g in grads.values())
    assert all(isinstance(got_grads[name], float) for name in grads)
    assert_close(np.array([got_grads[n] for n in grads]), np.array(list(grads.values())), scale)
    kinks = sb.compile(net, view="scalar").kink_arguments(params, X)
    got_kinks = compiled.kink_arguments(params, X)
    assert set(got_kinks) == set(kinks)


def test_the_layer_view_is_numpys_own() -> None:
    with pytest.raises(SymbackpropError, match="scalar program, not the 'layers' view"):
        sb.compile(PER_NEURON["tanh, sigmoid, bce"], view="layers", backend="torch")


def test_an_operation_without_a_port_is_refused_naming_its_kernel(monkeypatch) -> None:
    _backend_or_skip("torch")
    kernels = {k: v for k, v in array_runner._KERNELS.items() if k != "max_pool_route"}
    monkeypatch.setattr(array_runner, "_KERNELS", kernels)
    with pytest.raises(SymbackpropError, match="no kernel for max_pool_route"):
        sb.compile(NETWORKS["conv2d + max pool"], backend="torch")


def test_a_function_without_a_form_is_refused_naming_it() -> None:
    _backend_or_skip("torch")
    from symbackprop.numeric.torch_backend import TorchNamespace

    t = sp.Symbol("t")
    with pytest.raises(SymbackpropError, match="torch backend has no form of Gelu"):
        elementwise_factory(TorchNamespace())([t], sp.Function("Gelu")(t))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_training_on_a_backend_gives_numpys_loss_history(backend: str) -> None:
    _backend_or_skip(backend)
    net = NETWORKS["dropout"]
    X, Y = data(net, 8, 4)
    params = net.init_params(4)
    mlp = PER_NEURON["tanh, sigmoid, bce"]
    mlp_params = mlp.init_params(4)
    settings = {"learning_rate": 0.1, "epochs": 4, "batch_size": 4, "optimizer": "adam"}
    expected = sb.train(net, params, X, Y, **settings)
    got = sb.train(net, params, X, Y, backend=backend, **settings)
    np.testing.assert_allclose(got.losses, expected.losses, rtol=RTOL)
    for name, value in expected.params.items():
        np.testing.assert_allclose(got.params[name], value, rtol=1e-10, atol=1e-12)
    X, Y = X[:, :2], (Y[:, :1] > 0.5).astype(float)
    expected = sb.train(mlp, mlp_params, X, Y, **settings)
    got = sb.train(mlp, mlp_params, X, Y, backend=backend, **settings)
    np.testing.assert_allclose(got.losses, expected.losses, rtol=RTOL)
    assert all(isinstance(got.params[name], float) for name in expected.params)


_SHARDED_RUN = textwrap.dedent(
    """
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=" + sys.argv[1]
    import jax
    import numpy as np
    import symbackprop as sb
    from symbackprop.numeric.jax_backend import JaxNamespace

    net = sb.sequential(3, [sb.Dense(6), "relu", sb.Dropout(0.5, seed=3), sb.Dense(3), "softmax"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3))
    Y = np.eye(3)[rng.integers(0, 3, 16)]
    result = sb.train(net, net.init_params(0), X, Y, learning_rate=0.2, epochs=5, batch_size=8,
                      optimizer="adam", backend="jax")
    spread = JaxNamespace().batch(X.T).sharding.device_set
    print(json.dumps({"devices": len(jax.devices()), "spread": len(spread),
                      "losses": list(result.losses)}))
    """
)


def _sharded_run(devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run(
        [sys.executable, "-c", _SHARDED_RUN, str(devices)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_batch_sharded_over_four_devices_gives_one_devices_loss_history() -> None:
    pytest.importorskip("jax", reason="the jax backend needs JAX: pip install -e '.[jax]'")
    one, four = _sharded_run(1), _sharded_run(4)
    assert (one["devices"], one["spread"]) == (1, 1)
    assert (four["devices"], four["spread"]) == (4, 4)  # a mini-batch of 8: 2 columns a device
    np.testing.assert_allclose(four["losses"], one["losses"], rtol=RTOL)
    assert four["losses"][-1] < four["losses"][0]
