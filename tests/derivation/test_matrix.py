"""The matrix engine: networks of layers against PyTorch, hand NumPy and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.derivation.steps import Stage
from tests.layer_oracles import numpy_dense_backprop, torch_loss_and_gradient
from tests.oracles import central_differences

torch = pytest.importorskip("torch", reason="PyTorch is the second autodiff oracle (test extra)")

# Gradients are compared relative to the largest entry of the whole gradient: a parameter
# whose true gradient is 0 (a bias before batch norm, the key bias of attention) shows only
# rounding noise, which a per-entry relative error would magnify.
RTOL_TORCH = 1e-7  # float64 on both sides; the bar
RTOL_FD = 1e-5  # central differences with h ~ 6e-6 in float64


def describe(layers) -> list[tuple]:
    """Return the oracle's plain description of package layers."""
    out = []
    for layer in layers:
        if isinstance(layer, sb.Dense):
            out.append(("dense", layer.out_features))
        elif isinstance(layer, sb.Elementwise):
            out.append(("act", layer.activation))
        elif isinstance(layer, sb.Softmax):
            out.append(("softmax",))
        elif isinstance(layer, sb.LayerNorm):
            out.append(("layer_norm",))
        elif isinstance(layer, sb.BatchNorm):
            out.append(("batch_norm",))
        elif isinstance(layer, sb.Dropout):
            out.append(("dropout", layer.p))
        elif isinstance(layer, sb.Residual):
            out.append(("residual", describe(layer.layers)))
        elif isinstance(layer, sb.SelfAttention):
            out.append(("attention",))
    return out


def data(net: sb.LayerNetwork, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, net.n_inputs))
    if net.loss_name == "cross_entropy":
        Y = np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, batch)]
    else:
        Y = rng.uniform(0.1, 0.9, size=(batch, net.n_outputs))
    return X, Y


def jittered_params(net: sb.LayerNetwork, seed: int) -> dict[str, np.ndarray]:
    # Move gamma and beta off 1 and 0 so that their gradients are exercised in general position.
    rng = np.random.default_rng(seed + 100)
    return {k: v + 0.2 * rng.normal(size=v.shape) for k, v in net.init_params(seed).items()}


def masks_for_torch(net: sb.LayerNetwork, params, X, Y) -> dict[str, np.ndarray]:
    d = sb.derive(net)
    values = d.evaluate(params, X, Y).values
    masks = {}
    for assignment in net.program.assignments:
        if assignment.role == "dropout":
            mask = next(m for m in assignment.rhs.atoms(sp.MatrixSymbol) if m.name.startswith("M"))
            masks[assignment.layer] = values[mask.name].T
    return masks


def assert_matches_torch(net: sb.LayerNetwork, batch: int = 5, seed: int = 0) -> None:
    params = jittered_params(net, seed)
    X, Y = data(net, batch, seed)
    loss, grad = sb.compile(net).loss_and_gradient(params, X, Y)
    masks = masks_for_torch(net, params, X, Y)
    torch_loss, torch_grad = torch_loss_and_gradient(
        describe(net.layers), params, X, Y, net.loss_name, masks
    )
    assert loss == pytest.approx(torch_loss, rel=RTOL_TORCH, abs=1e-12)
    # Every gradient is 0 when a relu output layer is dead: then compare absolutely.
    scale = max(max(np.max(np.abs(g)) for g in torch_grad.values()), 1e-8)
    for name, expected in torch_grad.items():
        error = np.max(np.abs(grad[name] - expected)) / scale
        assert error < RTOL_TORCH, f"{name}: {grad[name]} vs torch {expected}"


LAYER_KINDS = {
    "dense+sigmoid": sb.sequential(3, [sb.Dense(4), "sigmoid", sb.Dense(2), "sigmoid"], "half_sse"),
    "dense+softmax": sb.sequential(3, [sb.Dense(4), "tanh", sb.Dense(3), "softmax"]),
    "every activation": sb.sequential(
        3,
        [
            sb.Dense(4),
            "relu",
            sb.Dense(4),
            "leaky_relu",
            sb.Dense(4),
            "softplus",
            sb.Dense(3),
            "identity",
            sb.Dense(2),
            "sigmoid",
        ],
        "bce",
    ),  # fmt: skip
    "layer norm": sb.sequential(3, [sb.Dense(4), sb.LayerNorm(), "tanh", sb.Dense(2), "softmax"]),
    "batch norm": sb.sequential(3, [sb.Dense(4), sb.BatchNorm(), "relu", sb.Dense(2)], "mse"),
    "residual": sb.sequential(
        3, [sb.Dense(4), sb.Residual([sb.Dense(4), "tanh"]), sb.Dense(2), "softmax"]
    ),  # fmt: skip
    "dropout": sb.sequential(
        3, [sb.Dense(6), "relu", sb.Dropout(0.5, seed=3), sb.Dense(2), "softmax"]
    ),  # fmt: skip
    "attention": sb.sequential(4, [sb.SelfAttention(2), sb.Dense(3), "softmax"]),
    "transformer block": sb.sequential(
        4,
        [
            sb.Residual([sb.SelfAttention()]),
            sb.LayerNorm(),
            sb.Residual([sb.Dense(8), "relu", sb.Dense(4)]),
            sb.LayerNorm(),
            sb.Dense(3),
            "softmax",
        ],
    ),  # fmt: skip
}


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_every_layer_kind_matches_torch_autograd(kind: str) -> None:
    assert_matches_torch(LAYER_KINDS[kind], batch=6, seed=1)


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_every_layer_kind_passes_gradcheck(kind: str) -> None:
    net = LAYER_KINDS[kind]
    X, Y = data(net, 4, 2)
    result = sb.gradcheck(net, jittered_params(net, 2), X, Y)
    assert result.ok, [r for r in result.rows if not r.ok][:3]


def test_gradient_matches_central_differences_written_in_the_tests() -> None:
    net = LAYER_KINDS["transformer block"]
    params = jittered_params(net, 3)
    X, Y = data(net, 5, 3)
    compiled = sb.compile(net)
    grad = compiled.gradient(params, X, Y)
    for name in ("0.body.0.q.weight", "1.weight", "2.body.0.bias", "4.weight"):
        shape = params[name].shape
        entries = {str(i): float(params[name][i]) for i in np.ndindex(shape)}

        def loss_of(moved: dict[str, float], name: str = name, shape: tuple = shape) -> float:
            array = np.array([moved[str(i)] for i in np.ndindex(shape)]).reshape(shape)
            return compiled.loss({**params, name: array}, X, Y)

        numeric = central_differences(loss_of, entries)
        expected = np.array([numeric[str(i)] for i in np.ndindex(shape)]).reshape(shape)
        assert np.allclose(grad[name], expected, rtol=RTOL_FD, atol=1e-8), name


def test_mlp_gradient_matches_hand_written_numpy_backprop() -> None:
    net = sb.sequential(3, [sb.Dense(5), "sigmoid", sb.Dense(4), "tanh", sb.Dense(3), "softmax"])
    params = net.init_params(4)
    X, Y = data(net, 7, 4)
    grad = sb.compile(net).gradient(params, X, Y)
    weights = [params[f"{i}.weight"] for i in (0, 2, 4)]
    biases = [params[f"{i}.bias"] for i in (0, 2, 4)]
    dW, db = numpy_dense_backprop(weights, biases, ["sigmoid", "tanh"], X, Y)
    for index, layer in enumerate((0, 2, 4)):
        assert np.allclose(grad[f"{layer}.weight"], dW[index], rtol=1e-12, atol=1e-15)
        assert np.allclose(grad[f"{layer}.bias"], db[index], rtol=1e-12, atol=1e-15)


# --- random architectures ----------------------------------------------------------------
ELEMENTWISE = [name for name, entry in sb.ACTIVATIONS.items() if not entry.is_layerwise]


@st.composite
def layer_networks(draw: st.DrawFn) -> sb.LayerNetwork:
    n_inputs = draw(st.integers(1, 4))
    width = n_inputs
    layers: list = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["dense", "dense", "norm", "residual", "dropout"]))
        if kind == "dense":
            width = draw(st.integers(2, 4))
            layers += [sb.Dense(width), draw(st.sampled_from(ELEMENTWISE))]
        elif kind == "norm" and width >= 2:
            layers.append(draw(st.sampled_from([sb.LayerNorm(), sb.BatchNorm()])))
        elif kind == "residual":
            layers.append(sb.Residual([sb.Dense(width), draw(st.sampled_from(ELEMENTWISE))]))
        elif kind == "dropout":
            p = draw(st.sampled_from([0.25, 0.5]))
            layers.append(sb.Dropout(p, seed=draw(st.integers(0, 9))))
    loss = draw(st.sampled_from(sorted(sb.LOSSES)))
    outputs = draw(st.integers(2, 3))
    if loss == "cross_entropy":
        layers += [sb.Dense(outputs), "softmax"]
    elif loss == "bce":
        layers += [sb.Dense(outputs), "sigmoid"]
    else:
        layers += [sb.Dense(outputs), draw(st.sampled_from(ELEMENTWISE))]
    return sb.sequential(n_inputs, layers, loss)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=layer_networks(), seed=st.integers(0, 1000))
def test_random_layer_networks_match_torch(net: sb.LayerNetwork, seed: int) -> None:
    assert_matches_torch(net, batch=4, seed=seed)


# --- the matrix view of an MLP is BP1-BP4 ----------------------------------------------------
def test_mlp_matrix_view_is_bp1_to_bp4() -> None:
    net = sb.sequential(2, [sb.Dense(3), "sigmoid", sb.Dense(2), "softmax"])
    d = sb.derive(net)
    program = net.program
    batch = sp.Symbol("B", integer=True, positive=True)
    W2 = program.parameter("2.weight").symbol
    Z1, A1, A2 = (program.assignment(n).lhs for n in ("Z1", "A1", "A2"))
    Delta1, Delta2, dA1 = (d.step(n).lhs for n in ("Delta1", "Delta2", "dA1"))
    assert d.step("Delta2").rhs == A2 - program.target  # BP1: softmax with cross-entropy
    assert d.step("dA1").rhs == W2.T * Delta2
    prime = d.step("Delta1").rhs.args[1]
    assert d.step("Delta1").rhs == sp.HadamardProduct(dA1, prime)
    assert prime.expr == Z1 and "Derivative(Sigmoid(t), t)" in str(prime.function)
    bp2 = d.step("Delta1").rhs.subs(dA1, W2.T * Delta2)
    assert bp2 == sp.HadamardProduct(W2.T * Delta2, prime)  # BP2
    assert d.gradient("0.bias") == Delta1 * sp.OneMatrix(batch, 1) / batch  # BP3, batch mean
    assert d.gradient("2.weight") == Delta2 * A1.T / batch  # BP4, batch mean


def test_mlp_matrix_deltas_equal_the_per_neuron_derivation() -> None:
    layer_net = sb.sequential(2, [sb.Dense(3), "sigmoid", sb.Dense(2), "softmax"])
    mlp = sb.mlp([2, 3, 2], activation=["sigmoid", "softmax"], loss="cross_entropy")
    params = layer_net.init_params(5)
    scalar_params = {}
    for layer, prefix in ((1, "0"), (2, "2")):
        W, b = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
        for j in range(W.shape[0]):
            scalar_params[f"b{layer}_{j + 1}"] = b[j]
            for k in range(W.shape[1]):
                scalar_params[f"w{layer}_{j + 1}_{k + 1}"] = W[j, k]
    x, y = np.array([0.3, -0.7]), np.array([0.0, 1.0])
    matrix = sb.derive(layer_net).evaluate(params, x, y)
    scalar = sb.derive(mlp).evaluate(scalar_params, x, y)
    for layer in (1, 2):
        for j in range(matrix.values[f"Delta{layer}"].shape[0]):
            expected = scalar.values[f"delta{layer}_{j + 1}"]
            assert matrix.values[f"Delta{layer}"][j, 0] == pytest.approx(expected, rel=1e-12)


# --- derivation data --------------------------------------------------------------------------
def test_every_adjoint_cites_its_rule() -> None:
    d = sb.derive(LAYER_KINDS["transformer block"])
    rules = {step.name: step.rules for step in d.stage(Stage.ADJOINT)}
    assert sb.Rule.RESIDUAL_PATHS in rules["dN2"] or any(
        sb.Rule.RESIDUAL_PATHS in r for r in rules.values()
    )
    assert any(sb.Rule.NORM_MEAN_PATH in r for r in rules.values())
    assert any(sb.Rule.NORM_VARIANCE_PATH in r for r in rules.values())
    assert any(sb.Rule.SOFTMAX_COLUMNS in r for r in rules.values())
    assert sb.Rule.BATCH_SUM in d.gradient_step("4.bias").rules
    assert sb.Rule.TRANSPOSE_PRODUCT in d.gradient_step("4.weight").rules


def test_evaluation_gives_every_matrix_with_its_shape() -> None:
    net = LAYER_KINDS["layer norm"]
    X, Y = data(net, 5, 0)
    d = sb.derive(net)
    evaluation = d.evaluate(net.init_params(0), X, Y, learning_rate=0.1)
    for step in d.steps:
        if step.stage in (Stage.FORWARD, Stage.ADJOINT, Stage.GRADIENT):
            rows, cols = step.shape
            value = evaluation.values[step.name]
            assert value.shape == (
                int(rows),
                5 if cols == sp.Symbol("B", integer=True, positive=True) else int(cols),
            )
    assert evaluation.loss == pytest.approx(sb.compile(net).loss(net.init_params(0), X, Y))
    assert set(evaluation.updated) == {s.name for s in d.stage(Stage.UPDATE)}


def test_training_a_layer_network_lowers_the_loss_and_keeps_the_input() -> None:
    net = LAYER_KINDS["batch norm"]
    params = net.init_params(0)
    before = {k: v.copy() for k, v in params.items()}
    X, Y = data(net, 16, 0)
    result = sb.train(net, params, X, Y, learning_rate=0.1, epochs=50)
    assert result.final_loss < result.losses[0]
    assert all(np.array_equal(before[k], params[k]) for k in params)
    assert set(result.params) == set(params)


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: sb.sequential(3, [sb.Dense(2)], "cross_entropy"),
            "end the network with a softmax",
        ),
        (lambda: sb.sequential(3, [sb.Residual([sb.Dense(2)])], "mse"), "maps 3 features to 2"),
        (lambda: sb.sequential(0, [sb.Dense(2)], "mse"), "not a positive integer"),
        (lambda: sb.sequential(3, [], "mse"), "non-empty list of layers"),
        (lambda: sb.sequential(3, ["sigmod"], "mse"), "did you mean 'sigmoid'"),
        (lambda: sb.sequential(3, [5], "mse"), "is not a layer"),
        (lambda: sb.Dropout(1.5), "must be a number in \\[0, 1\\)"),
        (lambda: sb.Dense(0), "not a positive integer"),
    ],
)
def test_bad_networks_are_refused_with_a_clear_message(build, message: str) -> None:
    with pytest.raises(sb.SymbackpropError, match=message):
        build()


def test_wrong_parameter_shapes_are_refused() -> None:
    net = LAYER_KINDS["dense+softmax"]
    params = net.init_params(0)
    X, Y = data(net, 3, 0)
    with pytest.raises(sb.ShapeError, match="'0.weight' has shape \\(3, 4\\)"):
        sb.compile(net).gradient({**params, "0.weight": params["0.weight"].T}, X, Y)
    with pytest.raises(sb.ShapeError, match="miss 2.bias"):
        sb.compile(net).gradient({k: v for k, v in params.items() if k != "2.bias"}, X, Y)


def test_parameters_with_nan_are_refused() -> None:
    net = LAYER_KINDS["dense+softmax"]
    params = net.init_params(0)
    params["2.bias"] = np.array([0.0, np.nan, 0.0])
    X, Y = data(net, 3, 0)
    with pytest.raises(sb.NumericError, match="'2.bias' holds NaN"):
        sb.compile(net).loss(params, X, Y)


# --- a weight penalty and the optimisers ------------------------------------------------------
def test_weight_penalty_matches_torch_and_shows_in_the_derivation() -> None:
    net = sb.sequential(3, [sb.Dense(4), sb.LayerNorm(), "tanh", sb.Dense(2), "softmax"],
                        weight_decay=0.01, l1=0.002)  # fmt: skip
    params = jittered_params(net, 7)
    X, Y = data(net, 5, 7)
    loss, grad = sb.compile(net).loss_and_gradient(params, X, Y)
    torch_loss, torch_grad = torch_loss_and_gradient(describe(net.layers), params, X, Y,
                                                     net.loss_name)  # fmt: skip
    weights = ("0.weight", "3.weight")  # the penalty skips biases and layer norm's gamma, beta
    penalty = sum(0.01 / 2 * np.sum(params[w] ** 2) + 0.002 * np.sum(np.abs(params[w]))
                  for w in weights)  # fmt: skip
    assert loss == pytest.approx(torch_loss + penalty, rel=1e-12)
    for name, expected in torch_grad.items():
        if name in weights:
            expected = expected + 0.01 * params[name] + 0.002 * np.sign(params[name])
        np.testing.assert_allclose(grad[name], expected, rtol=1e-10, atol=1e-14, err_msg=name)
    d = sb.derive(net)
    assert sb.Rule.L2_PENALTY in d.gradient_step("0.weight").rules
    assert sb.Rule.L2_PENALTY not in d.gradient_step("0.bias").rules
    assert sb.gradcheck(net, params, X, Y).ok


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_layer_networks_train_with_every_optimiser_as_torch_optim(optimizer: str) -> None:
    net = LAYER_KINDS["layer norm"]
    params = jittered_params(net, 1)
    X, Y = data(net, 6, 1)
    result = sb.train(net, params, X, Y, learning_rate=0.05, epochs=20, optimizer=optimizer)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    # The package's default settings are torch.optim's own (momentum 0.9 is its usual choice).
    settings = {"momentum": (torch.optim.SGD, {"momentum": 0.9}), "adam": (torch.optim.Adam, {})}
    cls, options = settings[optimizer]
    opt = cls(tensors.values(), lr=0.05, **options)
    for _ in range(20):
        opt.zero_grad()
        _, grads = torch_loss_and_gradient(describe(net.layers), {k: t.detach().numpy() for k, t
                                           in tensors.items()}, X, Y, net.loss_name)  # fmt: skip
        for name, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[name])
        opt.step()
    for name, tensor in tensors.items():
        np.testing.assert_allclose(result.params[name], tensor.detach().numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=name)  # fmt: skip


def test_mini_batches_that_would_split_an_attention_sequence_are_refused() -> None:
    net = LAYER_KINDS["attention"]
    X, Y = data(net, 6, 0)
    with pytest.raises(sb.SymbackpropError, match="batch_size 2 would split the sequence"):
        sb.train(net, net.init_params(0), X, Y, learning_rate=0.1, epochs=1, batch_size=2)
    assert sb.train(net, net.init_params(0), X, Y, learning_rate=0.1, epochs=1, batch_size=6)
