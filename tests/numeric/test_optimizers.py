"""Optimisers in the update stage: each equals torch.optim in float64 over 20 steps."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derivation.steps import Stage
from symbackprop.model.errors import SpecError, UnknownNameError
from symbackprop.model.rulebook import Rule

torch = pytest.importorskip("torch", reason="torch.optim in float64 is the oracle of these tests")

RTOL_TORCH = 1e-12  # the same float64 arithmetic, in torch's order of operations
ATOL_TORCH = 1e-14
STEPS = 20
SIZES = (3, 4, 2)
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 0.01, "adam": 0.01}


def torch_optimizer(name: str, settings: dict[str, float], groups: list, lr: float):
    """The torch.optim counterpart of a registered optimiser, with the same settings."""
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            groups, lr=lr, momentum=settings["momentum"], nesterov=name == "nesterov"
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=settings["rho"], eps=settings["epsilon"])
    assert name == "adam"
    betas = (settings["beta1"], settings["beta2"])
    return torch.optim.Adam(groups, lr=lr, betas=betas, eps=settings["epsilon"])


def _case(seed: int):
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, 0.8, (SIZES[i + 1], SIZES[i])) for i in range(2)]
    b = [rng.normal(0, 0.3, SIZES[i + 1]) for i in range(2)]
    X = rng.normal(0, 1, (6, SIZES[0]))
    Y = rng.uniform(0, 1, (6, SIZES[-1]))
    return W, b, X, Y


def torch_training(name, settings, W, b, X, Y, lr, weight_decay=0.0):
    """Return (losses before and after each step, final W, final b) from torch.optim."""
    weights = [torch.tensor(w, requires_grad=True) for w in W]
    biases = [torch.tensor(v, requires_grad=True) for v in b]
    # torch's weight_decay adds lambda w to the gradient: our penalty (lambda/2) sum w^2.
    groups = [{"params": weights, "weight_decay": weight_decay}, {"params": biases}]
    optimizer = torch_optimizer(name, settings, groups, lr)
    losses = []
    for step in range(STEPS + 1):
        optimizer.zero_grad()
        hidden = torch.tanh(torch.tensor(X) @ weights[0].T + biases[0])
        out = torch.sigmoid(hidden @ weights[1].T + biases[1])
        data = 0.5 * ((out - torch.tensor(Y)) ** 2).sum() / len(X)
        penalty = weight_decay / 2 * sum(float((w.detach() ** 2).sum()) for w in weights)
        losses.append(float(data.detach()) + penalty)
        if step < STEPS:
            data.backward()
            optimizer.step()
    return losses, [w.detach().numpy() for w in weights], [v.detach().numpy() for v in biases]


@pytest.mark.parametrize("name", sorted(sb.OPTIMIZERS))
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_optimizer_equals_torch_optim_over_twenty_steps(name, weight_decay):
    if name not in LEARNING_RATES:
        pytest.skip(f"no torch.optim counterpart known for {name!r}")
    optimizer = sb.get_optimizer(name)
    settings = dict(optimizer.settings)
    W, b, X, Y = _case(seed=len(name))
    lr = LEARNING_RATES[name]
    net = sb.mlp(SIZES, ["tanh", "sigmoid"], "half_sse", weight_decay=weight_decay)
    params = {"W1": W[0], "b1": b[0], "W2": W[1], "b2": b[1]}
    result = sb.train(net, params, X, Y, lr, STEPS, optimizer=name)
    losses, W_torch, b_torch = torch_training(name, settings, W, b, X, Y, lr, weight_decay)
    np.testing.assert_allclose(result.losses, losses, rtol=RTOL_TORCH)
    for layer in (1, 2):
        got_w, got_b = result.params[f"W{layer}"], result.params[f"b{layer}"]
        np.testing.assert_allclose(got_w, W_torch[layer - 1], RTOL_TORCH, ATOL_TORCH)
        np.testing.assert_allclose(got_b, b_torch[layer - 1], RTOL_TORCH, ATOL_TORCH)
    assert result.optimizer == name


def test_configured_adam_on_a_custom_program_equals_torch():
    x, y, w, c, h = sp.symbols("x y w c h")
    net = sb.Network.from_expressions([(h, sp.tanh(w * x + c))], (h - y) ** 2 / 2, [w, c], [x], [y])
    adam = sb.get_optimizer("adam").configured(beta1=0.8, beta2=0.99, epsilon=1e-6)
    X, Y = np.array([[0.5], [-1.0], [2.0]]), np.array([[0.2], [-0.4], [0.9]])
    result = sb.train(net, {"w": 0.3, "c": -0.1}, X, Y, 0.05, STEPS, optimizer=adam)
    wt = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    ct = torch.tensor(-0.1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([wt, ct], lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = ((torch.tanh(wt * torch.tensor(X[:, 0]) + ct) - torch.tensor(Y[:, 0])) ** 2) / 2
        loss.mean().backward()
        optimizer.step()
    assert result.params["w"] == pytest.approx(float(wt.detach()), rel=RTOL_TORCH)
    assert result.params["c"] == pytest.approx(float(ct.detach()), rel=RTOL_TORCH)


def test_the_update_stage_shows_the_optimizer_with_its_state_and_rules():
    net = sb.mlp([2, 1], "sigmoid")
    d = sb.derive(net, optimizer="adam")
    names = [s.lhs.name for s in d.stage(Stage.UPDATE) if s.node == sp.Symbol("w1_1_1")]
    assert names == ["m_w1_1_1_new", "s_w1_1_1_new", "w1_1_1_new"]
    assert [s.rules for s in d.stage(Stage.UPDATE)][:3] == [
        (Rule.GRADIENT_AVERAGE,),
        (Rule.SQUARED_GRADIENT_AVERAGE,),
        (Rule.ADAM_STEP,),
    ]
    momentum = sb.derive(net, optimizer="momentum")
    assert momentum.step("w1_1_1_new").rhs == sp.Symbol("w1_1_1") - sp.Symbol("eta") * sp.Symbol(
        "v_w1_1_1_new"
    )


def test_one_step_with_numbers_equals_the_first_step_of_training():
    net = sb.mlp([2, 2, 1], "sigmoid")
    params = net.init_params(seed=3)
    x, y = [0.4, -0.7], [0.8]
    for name in sorted(sb.OPTIMIZERS):
        d = sb.derive(net, optimizer=name)
        ev = d.evaluate(params, x, y, learning_rate=0.1)
        trained = sb.train(net, params, [x], [y], 0.1, 1, optimizer=name)
        for key, value in trained.params.items():
            assert ev[f"{key}_new"] == pytest.approx(value, rel=1e-12, abs=1e-15), (name, key)
        if d.optimizer.state:
            assert ev["t"] == 1.0


def test_derivation_text_names_the_optimizer_and_the_state_it_carries():
    net = sb.mlp([2, 1], "sigmoid")
    d = sb.derive(net, optimizer="rmsprop")
    text = d.to_text(d.evaluate(net.init_params(0), [0.1, 0.2], [1.0], learning_rate=0.01))
    assert "Update (rmsprop uses what backpropagation computed)" in text
    assert "ρ = 0.99" in text and "carried to the next step" in text


def test_unknown_optimizer_and_bad_settings_are_refused():
    with pytest.raises(UnknownNameError, match="did you mean 'adam'"):
        sb.get_optimizer("adma")
    with pytest.raises(SpecError, match="give 0 <= beta2 < 1"):
        sb.get_optimizer("adam").configured(beta2=1.5)
    with pytest.raises(UnknownNameError, match="setting of optimizer 'sgd'"):
        sb.get_optimizer("sgd").configured(momentum=0.9)


def test_a_program_name_that_is_an_optimizer_symbol_is_refused():
    x, mu, y = sp.symbols("x mu y")
    net = sb.Network.from_expressions([], (mu * x - y) ** 2, [mu], [x], [y])
    with pytest.raises(SpecError, match="'mu' is a symbol of the momentum optimiser"):
        sb.derive(net, optimizer="momentum")


SPEC = """\
[network]
sizes = [2, 2, 1]

[init]
seed = 0

[data]
X = [[0, 0], [0, 1], [1, 0], [1, 1]]
Y = [[0], [1], [1], [0]]

[training]
learning_rate = 0.05
epochs = 5
optimizer = "adam"
beta2 = 0.99
"""


def test_a_spec_chooses_the_optimizer_and_its_settings(tmp_path):
    path = tmp_path / "adam.toml"
    path.write_text(SPEC)
    spec = sb.load_spec(path)
    assert spec.training.optimizer.name == "adam"
    assert dict(spec.training.optimizer.settings)["beta2"] == 0.99
    path.write_text(SPEC.replace("beta2 = 0.99", "momentum = 0.9"))
    with pytest.raises(UnknownNameError, match=r"adam\.toml:15:1: unknown setting of optimizer"):
        sb.load_spec(path)


def test_the_command_line_trains_and_derives_with_the_chosen_optimizer(tmp_path, capsys):
    from symbackprop.cli import main as cli

    path = tmp_path / "adam.toml"
    path.write_text(SPEC)
    assert cli.main(["train", str(path)]) == 0
    assert "· adam · η = 0.05" in capsys.readouterr().out
    assert cli.main(["derive", str(path), "--optimizer", "nesterov"]) == 0
    assert "Update (nesterov uses what backpropagation computed)" in capsys.readouterr().out
