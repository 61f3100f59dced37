"""sb.from_torch: random nn.Sequential models give PyTorch autograd's loss and gradients."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.model.errors import SymbackpropError

torch = pytest.importorskip("torch", reason="from_torch is compared with PyTorch (the torch extra)")
nn = torch.nn

RTOL = 1e-7  # float64 on both sides; only the order of the sums differs
ATOL = 1e-12  # gradients that are zero on one side may be ~1e-17 on the other
KINK_MARGIN = 1e-9  # a relu argument closer to 0 than this is on its kink
HIDDEN = [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.LeakyReLU, nn.Identity]
LOSS_OUTPUTS = {  # loss -> the output module that feeds it
    "cross_entropy": lambda: nn.Softmax(dim=1),
    "bce": nn.Sigmoid,
    "half_sse": nn.Tanh,
    "mse": nn.Identity,
}


def _torch_loss(loss: str, a, y):
    if loss == "cross_entropy":
        return -(y * torch.log(a)).sum(dim=1).mean()
    if loss == "bce":
        return nn.functional.binary_cross_entropy(a, y, reduction="none").sum(dim=1).mean()
    if loss == "half_sse":
        return (0.5 * (a - y) ** 2).sum(dim=1).mean()
    return ((a - y) ** 2).mean(dim=1).mean()


@st.composite
def models(draw):
    """A random nn.Sequential (float64) of supported modules, its loss and its data."""
    torch.manual_seed(draw(st.integers(0, 10_000)))
    width = n_inputs = draw(st.integers(1, 4))
    modules = []
    if draw(st.booleans()) and n_inputs >= 2:
        modules.append(nn.LayerNorm(n_inputs, dtype=torch.float64))
    for _ in range(draw(st.integers(1, 3))):
        out = draw(st.integers(2, 4))
        modules.append(nn.Linear(width, out, bias=draw(st.booleans()), dtype=torch.float64))
        width = out
        extra = draw(st.sampled_from(["none", "layer_norm", "batch_norm", "dropout"]))
        if extra == "layer_norm":
            modules.append(nn.LayerNorm(width, dtype=torch.float64))
        elif extra == "batch_norm":
            modules.append(nn.BatchNorm1d(width, dtype=torch.float64))
        elif extra == "dropout":
            modules.append(nn.Dropout(0.0))
        modules.append(draw(st.sampled_from(HIDDEN))())
    loss = draw(st.sampled_from(sorted(LOSS_OUTPUTS)))
    out = 2 if loss == "cross_entropy" else draw(st.integers(1, 3))
    modules += [nn.Linear(width, out, dtype=torch.float64), LOSS_OUTPUTS[loss]()]
    model = nn.Sequential(*modules)
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    batch = draw(st.integers(2, 5))
    X = rng.normal(size=(batch, n_inputs))
    if loss == "cross_entropy":
        Y = np.eye(out)[rng.integers(0, out, batch)]
    elif loss == "bce":
        Y = rng.uniform(0, 1, (batch, out))
    else:
        Y = rng.normal(size=(batch, out))
    return model, loss, X, Y


@settings(max_examples=25, deadline=None)
@given(models())
def test_from_torch_equals_torch_autograd(case):
    model, loss, X, Y = case
    net, params = sb.from_torch(model, loss=loss)
    assert net.parameter_names() == [name for name, _ in model.named_parameters()]
    compiled = sb.compile(net)
    # A relu's argument at 0 up to rounding (a dead layer before a batch norm of a constant
    # feature gives exactly beta = 0) is a kink: each side's rounding picks its own slope.
    kinks = compiled.kink_arguments(params, X)
    assume(all(np.min(np.abs(values)) > KINK_MARGIN for values in kinks.values()))
    value, grads = compiled.loss_and_gradient(params, X, Y)
    model.zero_grad()
    expected = _torch_loss(loss, model(torch.tensor(X)), torch.tensor(Y))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=RTOL)
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(
            grads[name], parameter.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name
        )


def test_params_are_float64_copies():
    model = nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=-1))  # float32, as PyTorch's default
    net, params = sb.from_torch(model)
    assert params["0.weight"].dtype == np.float64
    np.testing.assert_array_equal(params["0.weight"], model[0].weight.detach().double().numpy())
    params["0.weight"][0, 0] = 99.0
    assert model[0].weight[0, 0].item() != 99.0
    assert net.describe().startswith("network of layers 3 -> dense 2, softmax")


def test_dropout_in_eval_mode_is_the_identity_and_keeps_the_indices():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Tanh(), nn.Linear(3, 1))
    model.eval()
    net, _ = sb.from_torch(model, loss="mse")
    assert net.parameter_names() == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert net.layers[1] == sb.Elementwise("identity")


@pytest.mark.parametrize(
    ("modules", "fragment"),
    [
        (lambda: [nn.Linear(2, 2), nn.GELU()], r"module 1 \(GELU\) is not supported"),
        (lambda: [nn.Linear(2, 2), nn.Dropout(0.5)], r"module 1 \(Dropout\) has p = 0.5 in tr"),
        (lambda: [nn.Linear(2, 2), nn.LeakyReLU(0.2)], "negative_slope 0.2"),
        (lambda: [nn.Linear(2, 2), nn.Softplus(beta=2)], "beta 2"),
        (lambda: [nn.Linear(2, 2), nn.Softmax(dim=0)], "dim 0"),
        (lambda: [nn.Linear(2, 3), nn.LayerNorm(3, elementwise_affine=False)], "elementwise_aff"),
        (lambda: [nn.Linear(2, 3), nn.BatchNorm1d(3, affine=False)], "affine=False"),
        (lambda: [nn.Linear(2, 3), nn.Linear(2, 1)], r"module 1 \(Linear\) takes 2 features but"),
        (lambda: [nn.ReLU()], "pass n_inputs"),
    ],
)
def test_unsupported_modules_are_refused_by_index_and_name(modules, fragment):
    with pytest.raises(SymbackpropError, match=fragment):
        sb.from_torch(nn.Sequential(*modules()), loss="mse")


def test_batch_norm_in_eval_mode_and_non_sequential_models_are_refused():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    model.eval()
    with pytest.raises(SymbackpropError, match=r"module 1 \(BatchNorm1d\) has eval mode"):
        sb.from_torch(model, loss="mse")
    with pytest.raises(SymbackpropError, match="needs an nn.Sequential, not Linear"):
        sb.from_torch(nn.Linear(2, 2))


def test_missing_torch_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SymbackpropError, match=r"pip install 'symbackprop\[torch\]'"):
        sb.from_torch(object())


def test_convolution_models_import_with_their_input_shape_and_match_autograd():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, stride=2, padding=1), nn.Tanh(), nn.MaxPool1d(2, stride=1, padding=1),
        nn.AvgPool1d(2), nn.Flatten(), nn.Linear(6, 2), nn.Softmax(dim=1),
    ).double()  # fmt: skip
    net, params = sb.from_torch(model, input_shape=(2, 7))
    assert net.sample_shape == (2, 7)
    assert net.parameter_shapes()["0.weight"] == (3, 2, 3)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 2, 7)), np.eye(2)[[0, 1, 1]]
    value, grads = sb.compile(net).loss_and_gradient(params, X, Y)
    expected = _torch_loss("cross_entropy", model(torch.tensor(X)), torch.tensor(Y))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=RTOL)
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(grads[name], parameter.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_a_linear_layer_on_maps_asks_for_flatten():
    model = nn.Sequential(nn.Conv2d(1, 1, 2), nn.Linear(4, 2))
    with pytest.raises(SymbackpropError, match=r"gets 1x2x2 maps .* put nn.Flatten\(\) before it"):
        sb.from_torch(model, input_shape=(1, 3, 3))


# --- recurrent modules ---------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["RNN", "LSTM"])
@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_reads_rnn_and_lstm_as_sequence_layers(module, bias):
    torch.manual_seed(0)
    recurrent = getattr(torch.nn, module)(2, 3, batch_first=True, bias=bias, dtype=torch.float64)
    linear = torch.nn.Linear(3, 2, dtype=torch.float64)
    model = torch.nn.Sequential(recurrent, linear, torch.nn.Softmax(dim=-1))
    net, params = sb.from_torch(model, input_shape=(4, 2))
    kind = sb.LSTM if module == "LSTM" else sb.RNN
    assert net.layers[0] == kind(3, output="sequence", bias=bias)
    assert net.output_shape == (4, 2)
    assert set(params) == {name for name, _ in model.named_parameters()}
    X = np.random.default_rng(0).normal(size=(2, 4, 2))
    Y = np.eye(2)[[[0, 1, 1, 0], [1, 1, 0, 0]]]
    x = torch.tensor(X)
    A = torch.softmax(linear(recurrent(x)[0]), dim=-1)  # what the Sequential would compute
    loss = -(torch.tensor(Y) * torch.log(A)).sum(-1).sum(1).mean()
    loss.backward()
    got = sb.compile(net).gradient(params, X, Y)
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(got[name], parameter.grad.numpy(), rtol=1e-7, err_msg=name)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (torch.nn.RNN(2, 3), "batch_first=False"),
        (torch.nn.RNN(2, 3, batch_first=True, num_layers=2), "num_layers=2"),
        (torch.nn.LSTM(2, 3, batch_first=True, bidirectional=True), "bidirectional=True"),
        (torch.nn.LSTM(2, 3, batch_first=True, proj_size=2), "proj_size=2"),
        (torch.nn.RNN(2, 3, batch_first=True, nonlinearity="relu"), "nonlinearity 'relu'"),
    ],
)
def test_from_torch_refuses_recurrent_settings_it_cannot_match(module, message):
    with pytest.raises(SymbackpropError, match=message):
        sb.from_torch(torch.nn.Sequential(module), loss="mse", input_shape=(3, 2))


def test_from_torch_asks_for_the_input_shape_of_a_recurrent_model():
    model = torch.nn.Sequential(torch.nn.RNN(2, 3, batch_first=True))
    with pytest.raises(SymbackpropError, match=r"pass input_shape=\(T, n\)"):
        sb.from_torch(model, loss="mse")
