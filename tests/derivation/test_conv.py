"""Convolution and pooling: against PyTorch float64 autograd, finite differences, per element."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.derivation.steps import Stage
from symbackprop.derivation.tensor_kernels import KERNELS
from symbackprop.model.conv_ops import (
    AvgPool,
    AvgPoolSpread,
    Conv,
    ConvInputGradient,
    ConvKernelGradient,
    MaxPool,
    MaxPoolRoute,
)
from symbackprop.render.text import RULE_WORDS
from tests.layer_oracles import torch_loss_and_gradient

torch = pytest.importorskip("torch", reason="PyTorch is the second autodiff oracle (test extra)")

RTOL_TORCH = 1e-7  # float64 on both sides, relative to the gradient's largest entry
RTOL_EXPLICIT = 1e-10  # the SymPy entry-by-entry form against the NumPy kernel, float64


def describe(layers) -> list[tuple]:
    """The oracle's plain description of package layers (conv, pools, flatten, dense, ...)."""
    out: list[tuple] = []
    for layer in layers:
        if isinstance(layer, (sb.Conv1d, sb.Conv2d)):
            out.append((layer.kind, layer.out_channels, layer.kernel_size, layer.stride,
                        layer.padding))  # fmt: skip
        elif isinstance(layer, (sb.MaxPool1d, sb.MaxPool2d, sb.AvgPool1d, sb.AvgPool2d)):
            out.append((layer.kind, layer.kernel_size, layer.stride, layer.padding))
        elif isinstance(layer, sb.Flatten):
            out.append(("flatten",))
        elif isinstance(layer, sb.Dense):
            out.append(("dense", layer.out_features))
        elif isinstance(layer, sb.Elementwise):
            out.append(("act", layer.activation))
        elif isinstance(layer, sb.Softmax):
            out.append(("softmax",))
    return out


def data(net: sb.LayerNetwork, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, *net.sample_shape))
    Y = np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, batch)]
    return X, Y


def assert_matches_torch(net: sb.LayerNetwork, batch: int = 3, seed: int = 0) -> None:
    params = net.init_params(seed)
    X, Y = data(net, batch, seed)
    loss, grad = sb.compile(net).loss_and_gradient(params, X, Y)
    torch_loss, torch_grad = torch_loss_and_gradient(describe(net.layers), params, X, Y,
                                                     net.loss_name)  # fmt: skip
    assert loss == pytest.approx(torch_loss, rel=RTOL_TORCH)
    scale = max(max(np.max(np.abs(g)) for g in torch_grad.values()), 1e-8)
    for name, expected in torch_grad.items():
        error = np.max(np.abs(grad[name] - expected)) / scale
        assert error < RTOL_TORCH, f"{name}: {grad[name]} vs torch {expected}"


def head(shape_layers: list) -> list:
    return [*shape_layers, sb.Flatten(), sb.Dense(2), "softmax"]


LAYER_KINDS = {
    "conv2d": sb.sequential((2, 5, 6), head([sb.Conv2d(3, (3, 2), stride=(2, 1), padding=1)])),
    "conv2d no bias": sb.sequential((1, 4, 4), head([sb.Conv2d(2, 2, bias=False), "tanh"])),
    "conv1d": sb.sequential((2, 7), head([sb.Conv1d(3, 3, stride=2, padding=1), "relu"])),
    "max_pool2d": sb.sequential((2, 5, 5), head([sb.MaxPool2d(3, stride=2, padding=1)])),
    "max_pool1d": sb.sequential((2, 7), head([sb.MaxPool1d(2, padding=1)])),
    "avg_pool2d": sb.sequential((2, 5, 4), head([sb.AvgPool2d((2, 3), stride=1, padding=1)])),
    "avg_pool1d": sb.sequential((1, 6), head([sb.AvgPool1d(3, stride=2, padding=1)])),
    "conv, relu, pool": sb.sequential(
        (1, 6, 6), head([sb.Conv2d(2, 3, padding=1), "relu", sb.MaxPool2d(2)])
    ),
}


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_each_layer_kind_matches_torch_autograd(kind):
    assert_matches_torch(LAYER_KINDS[kind])


@pytest.mark.parametrize("kind", ["conv2d", "conv1d", "max_pool2d", "avg_pool1d"])
def test_gradcheck_agrees_with_central_differences(kind):
    net = LAYER_KINDS[kind]
    X, Y = data(net, 2, 1)
    assert sb.gradcheck(net, net.init_params(1), X, Y).ok


@st.composite
def networks(draw):
    dims = draw(st.sampled_from([1, 2]))
    first = tuple([draw(st.integers(1, 3))] + [draw(st.integers(3, 7)) for _ in range(dims)])
    shape, layers = first, []
    for _ in range(draw(st.integers(1, 3))):
        size = min(shape[1:])
        padding = draw(st.integers(0, 1))
        kernel = draw(st.integers(1, min(3, size + 2 * padding)))
        stride = draw(st.integers(1, 2))
        if draw(st.booleans()):
            conv = sb.Conv1d if dims == 1 else sb.Conv2d
            layer = conv(draw(st.integers(1, 3)), kernel, stride, padding, draw(st.booleans()))
        else:
            padding = min(padding, kernel // 2)
            pools = [sb.MaxPool1d, sb.AvgPool1d] if dims == 1 else [sb.MaxPool2d, sb.AvgPool2d]
            layer = draw(st.sampled_from(pools))(kernel, stride, padding)
        layers.append(layer)
        shape = layer.out_shape(shape)
        if draw(st.booleans()):
            layers.append(draw(st.sampled_from(["relu", "tanh", "sigmoid"])))
    return sb.sequential(first, head(layers))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=networks(), seed=st.integers(0, 10))
def test_random_conv_and_pool_stacks_match_torch_autograd(net, seed):
    assert_matches_torch(net, batch=2, seed=seed)


# --- the operations' own forms --------------------------------------------------------------
OPERATIONS = [
    # (class, operand shapes, settings (C, H, W, kh, kw, sh, sw, ph, pw))
    (Conv, [(2 * 4 * 5, 2), (3, 2 * 2 * 3)], (2, 4, 5, 2, 3, 2, 1, 1, 0)),
    (ConvInputGradient, [(3 * 3 * 3, 2), (3, 2 * 2 * 3)], (2, 4, 5, 2, 3, 2, 1, 1, 0)),
    (ConvKernelGradient, [(2 * 4 * 5, 2), (3 * 3 * 3, 2)], (2, 4, 5, 2, 3, 2, 1, 1, 0)),
    (MaxPool, [(2 * 5 * 4, 2)], (2, 5, 4, 3, 2, 2, 1, 1, 1)),
    (MaxPoolRoute, [(2 * 3 * 5, 2), (2 * 5 * 4, 2)], (2, 5, 4, 3, 2, 2, 1, 1, 1)),
    (AvgPool, [(2 * 5 * 4, 2)], (2, 5, 4, 3, 2, 2, 1, 1, 1)),
    (AvgPoolSpread, [(2 * 3 * 5, 2)], (2, 5, 4, 3, 2, 2, 1, 1, 1)),
]


@pytest.mark.parametrize(
    ("op", "shapes", "settings"), OPERATIONS, ids=lambda o: getattr(o, "__name__", "")
)
def test_the_entry_by_entry_form_equals_the_numpy_kernel(op, shapes, settings):
    rng = np.random.default_rng(3)
    values = [rng.normal(size=shape) for shape in shapes]
    symbols = [sp.MatrixSymbol(f"M{i}", *shape) for i, shape in enumerate(shapes)]
    expr = op(*symbols, settings)
    expected = KERNELS[op.kernel](*values, *settings)
    assert tuple(int(n) for n in expr.shape) == expected.shape
    explicit = expr.explicit(*(sp.Matrix(v) for v in values))
    np.testing.assert_allclose(np.array(explicit, dtype=float), expected, rtol=RTOL_EXPLICIT)
    assert expr.func(*expr.args) == expr


# --- the teaching instance, per element -------------------------------------------------------
def tiny() -> sb.LayerNetwork:
    return sb.sequential((1, 3, 3), [sb.Conv2d(1, 2), sb.Flatten(), sb.Dense(1)], "half_sse")


def test_the_per_element_view_of_a_tiny_convolution_gives_the_same_gradients():
    net = tiny()
    view = sb.per_element(net, 1)
    params = net.init_params(0)
    X = np.arange(1.0, 10.0).reshape(1, 1, 3, 3) / 10
    Y = np.array([[0.5]])
    scalar = sb.compile(view.network).gradient(view.params(params), *view.data(X.reshape(1, -1), Y))
    per_element = view.gradient_arrays(scalar)
    matrix = sb.compile(net).gradient(params, X, Y)
    for name, expected in matrix.items():
        np.testing.assert_allclose(per_element[name], expected, rtol=1e-10, err_msg=name)


def test_one_kernel_weight_collects_every_output_position_it_touched():
    view = sb.per_element(tiny(), 1)
    weight = view.entries["K1"][0, 0]  # the kernel's top-left weight
    step = next(s for s in view.derivation.steps
                if s.stage is Stage.GRADIENT and s.node == weight)  # fmt: skip
    terms = sp.Add.make_args(sp.expand(step.rhs))
    deltas = {d for term in terms for d in term.free_symbols if str(d).startswith("dL_dz1_")}
    assert len(terms) == 4 and len(deltas) == 4  # the 2x2 outputs it slid over
    inputs = {str(x) for term in terms for x in term.free_symbols if str(x).startswith("x")}
    assert inputs == {"x1", "x2", "x4", "x5"}  # the input each output position showed it


def test_the_derivation_names_the_flipped_kernel_full_convolution_and_the_correlation():
    net = sb.sequential((1, 5, 5), head([sb.Conv2d(2, 2), "relu", sb.Conv2d(1, 2, padding=1),
                                         sb.MaxPool2d(2), sb.AvgPool2d(1)]))  # fmt: skip
    d = sb.derive(net)
    text, latex = d.to_text(), d.to_latex()
    assert "⋆full rot180(K⁽²⁾)" in text
    assert r"\operatorname{rot}_{180}\left(K^{(2)}\right)" in latex and r"\text{full}" in latex
    for rule in (sb.Rule.CONV_INPUT_GRADIENT, sb.Rule.CONV_KERNEL_GRADIENT, sb.Rule.CONV_BIAS_SUM,
                 sb.Rule.MAX_POOL_ROUTE, sb.Rule.AVG_POOL_SPREAD):  # fmt: skip
        assert RULE_WORDS[rule] in text, rule
    assert "flipped 180°" in RULE_WORDS[sb.Rule.CONV_INPUT_GRADIENT]
    assert sb.Rule.CONV_KERNEL_GRADIENT in d.gradient_step("0.weight").rules


# --- from_torch -----------------------------------------------------------------------------------
def test_from_torch_round_trip_keeps_outputs_and_gradients():
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=(1, 2), padding=1), nn.ReLU(), nn.MaxPool2d(2, padding=1),
        nn.Conv2d(3, 2, (2, 1)), nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(8, 3),
        nn.Softmax(dim=1),
    ).double()  # fmt: skip
    net, params = sb.from_torch(model, input_shape=(2, 6, 7))
    X, Y = data(net, 4, 2)
    inputs = torch.tensor(X)
    out = model(inputs)
    np.testing.assert_allclose(sb.compile(net).forward(params, X), out.detach().numpy(), rtol=1e-12)
    (-(torch.tensor(Y) * torch.log(out)).sum(dim=1).mean()).backward()
    grad = sb.compile(net).gradient(params, X, Y)
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(grad[name], parameter.grad.numpy(), rtol=1e-9, atol=1e-14)
    net1, _ = sb.from_torch(nn.Sequential(nn.Conv1d(2, 2, 3), nn.AvgPool1d(2), nn.Flatten()),
                            "half_sse", input_shape=(2, 8))  # fmt: skip
    assert net1.output_shape == (6,)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("Conv2d(1, 2, 3, groups=1, dilation=2)", "dilation"),
        ("Conv2d(2, 2, 3, groups=2)", "groups 2"),
        ("Conv2d(1, 2, 3, padding='same')", "padding 'same'"),
        ("Conv2d(1, 2, 3, padding=1, padding_mode='reflect')", "padding_mode 'reflect'"),
        ("MaxPool2d(2, ceil_mode=True)", "ceil_mode"),
        ("MaxPool2d(2, dilation=2)", "dilation"),
        ("AvgPool2d(2, count_include_pad=False)", "count_include_pad"),
        ("AvgPool2d(2, divisor_override=3)", "divisor_override"),
        ("Flatten(start_dim=2)", "start_dim 2"),
    ],
)
def test_from_torch_refuses_settings_it_cannot_match(module, message):
    layer = eval(f"torch.nn.{module}")  # noqa: S307 (a fixed table of test modules)
    channels = 2 if "groups=2" in module else 1
    with pytest.raises(sb.SymbackpropError, match=message):
        sb.from_torch(torch.nn.Sequential(layer), input_shape=(channels, 6, 6))


def test_from_torch_asks_for_the_input_shape_of_a_convolution():
    with pytest.raises(sb.SymbackpropError, match="pass input_shape"):
        sb.from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)))


# --- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: sb.sequential((1, 3, 3), [sb.Conv2d(1, 4)]),
            "4x4 window but its input map is 3x3",
        ),
        (lambda: sb.sequential((1, 5), [sb.Conv1d(1, 2), sb.Conv1d(1, 5)]), "window"),
        (lambda: sb.Conv2d(0, 3), "out_channels 0"),
        (lambda: sb.Conv2d(2, (3, 0)), "kernel_size of conv2d"),
        (lambda: sb.Conv2d(2, 3, stride=0), "stride of conv2d"),
        (lambda: sb.Conv1d(2, (3, 3)), "must be an integer >= 1"),
        (lambda: sb.MaxPool2d(2, padding=2), "more than half its window"),
        (lambda: sb.AvgPool1d(3, padding=-1), "padding of avg_pool1d"),
        (lambda: sb.sequential(9, [sb.Conv2d(1, 2)]), "needs each sample to be a"),
        (lambda: sb.sequential((1, 9), [sb.MaxPool2d(2)]), "gets shape (1x9)"),
    ],
)
def test_nonsense_sizes_are_refused_in_one_line(build, message):
    with pytest.raises(sb.SpecError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        build()
    assert "\n" not in str(info.value)


def test_gradcheck_calls_a_max_pool_winner_that_changes_a_kink_not_a_wrong_gradient():
    # Two positions tie exactly (0.5 x 1 = 0.5 x 1): nudging either kernel weight changes which
    # one wins, so the difference quotient straddles the max's corner.
    net = sb.sequential((2, 1, 2), [sb.Conv2d(1, 1, bias=False), sb.MaxPool2d((1, 2)),
                                    sb.Flatten(), sb.Dense(1)], loss="mse")  # fmt: skip
    params = {"0.weight": np.full((1, 2, 1, 1), 0.5), "3.weight": np.ones((1, 1)),
              "3.bias": np.zeros(1)}  # fmt: skip
    X = np.array([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    result = sb.gradcheck(net, params, X, np.array([[2.0]]))
    rows = {row.name: row for row in result.rows}
    assert rows["0.weight[0, 0, 0, 0]"].verdict is sb.Verdict.KINK
    assert result.ok


def test_images_of_the_wrong_size_are_refused_naming_both_accepted_shapes():
    net = sb.sequential((1, 4, 4), [sb.Flatten(), sb.Dense(2), "softmax"])
    with pytest.raises(sb.ShapeError, match=r"\(batch, 16\) or \(batch, 1, 4, 4\)$"):
        sb.compile(net).gradient(net.init_params(), np.ones((2, 1, 5, 5)), np.eye(2))
