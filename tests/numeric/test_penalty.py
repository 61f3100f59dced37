"""L2 and L1 weight penalties: a loss term of their own, compiled, trained and checked."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derivation.steps import Stage
from symbackprop.model.errors import SpecError
from symbackprop.model.rulebook import Rule
from tests.oracles import central_differences, sympy_program_gradients

RTOL_TORCH = 1e-12  # the same float64 arithmetic in another order
ATOL_TORCH = 1e-14
RTOL_SYMPY = 1e-12  # float64 compiled code vs SymPy at 30 digits
RTOL_FD = 1e-6  # central differences, h = 1e-6 (relative step), float64
STEPS = 20
SIZES = (3, 4, 2)


def _case(seed: int = 0):
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, 0.8, (SIZES[i + 1], SIZES[i])) for i in range(2)]
    b = [rng.normal(0, 0.3, SIZES[i + 1]) for i in range(2)]
    X = rng.normal(0, 1, (5, SIZES[0]))
    Y = rng.normal(0, 1, (5, SIZES[-1]))
    return W, b, X, Y


def _torch_penalized(torch, W, b, X, Y, weight_decay, l1):
    """Return (loss, W tensors, b tensors): tanh then identity, half_sse, plus the penalty."""
    weights = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in W]
    biases = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in b]
    hidden = torch.tanh(torch.tensor(X) @ weights[0].T + biases[0])
    out = hidden @ weights[1].T + biases[1]
    data = 0.5 * ((out - torch.tensor(Y)) ** 2).sum() / X.shape[0]
    squares = sum((w**2).sum() for w in weights)
    sizes = sum(w.abs().sum() for w in weights)
    return data + weight_decay / 2 * squares + l1 * sizes, weights, biases


@pytest.mark.parametrize("view", ["layers", "scalar"])
@pytest.mark.parametrize(("weight_decay", "l1"), [(0.1, 0.0), (0.0, 0.03), (0.05, 0.02)])
def test_penalised_loss_and_gradient_match_pytorch(view, weight_decay, l1):
    torch = pytest.importorskip("torch", reason="PyTorch float64 is the oracle of this test")
    W, b, X, Y = _case()
    net = sb.mlp(SIZES, ["tanh", "identity"], "half_sse", weight_decay=weight_decay, l1=l1)
    params = {"W1": W[0], "b1": b[0], "W2": W[1], "b2": b[1]}
    got_loss, got = sb.compile(net, view=view).loss_and_gradient(params, X, Y)
    loss, weights, biases = _torch_penalized(torch, W, b, X, Y, weight_decay, l1)
    loss.backward()
    assert got_loss == pytest.approx(float(loss.detach()), rel=RTOL_TORCH)
    for layer in (1, 2):
        expected_w = weights[layer - 1].grad.numpy()
        np.testing.assert_allclose(got[f"W{layer}"], expected_w, RTOL_TORCH, ATOL_TORCH)
        expected_b = biases[layer - 1].grad.numpy()  # biases are not penalised
        np.testing.assert_allclose(got[f"b{layer}"], expected_b, RTOL_TORCH, ATOL_TORCH)


def test_weight_decay_training_matches_torch_sgd_over_twenty_steps():
    torch = pytest.importorskip("torch", reason="PyTorch float64 is the oracle of this test")
    W, b, X, Y = _case(1)
    eta, weight_decay = 0.1, 0.05
    net = sb.mlp(SIZES, ["tanh", "identity"], "half_sse")
    params = {"W1": W[0], "b1": b[0], "W2": W[1], "b2": b[1]}
    result = sb.train(net, params, X, Y, eta, STEPS, weight_decay=weight_decay)
    weights = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in W]
    biases = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in b]
    # torch's weight_decay adds lambda w to the gradient: the gradient of (lambda/2) w^2.
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": weight_decay}, {"params": biases}], lr=eta
    )
    losses = []
    for step in range(STEPS + 1):
        optimizer.zero_grad()
        hidden = torch.tanh(torch.tensor(X) @ weights[0].T + biases[0])
        data = 0.5 * ((hidden @ weights[1].T + biases[1] - torch.tensor(Y)) ** 2).sum() / len(X)
        squares = sum(float((w.detach() ** 2).sum()) for w in weights)
        losses.append(float(data.detach()) + weight_decay / 2 * squares)
        if step < STEPS:
            data.backward()
            optimizer.step()
    np.testing.assert_allclose(result.losses, losses, rtol=RTOL_TORCH)
    for layer in (1, 2):
        expected = weights[layer - 1].detach().numpy()
        np.testing.assert_allclose(result.params[f"W{layer}"], expected, RTOL_TORCH, ATOL_TORCH)
        expected_b = biases[layer - 1].detach().numpy()
        np.testing.assert_allclose(result.params[f"b{layer}"], expected_b, RTOL_TORCH, ATOL_TORCH)


def test_the_penalty_is_a_loss_term_with_its_own_gradient_path():
    net = sb.mlp([2, 2, 1], "sigmoid", weight_decay=0.01)
    d = sb.derive(net)
    assert [s.lhs.name for s in d.stage(Stage.LOSS)] == ["Omega", "L"]
    step = d.step("dL_dw2_1_1")
    assert [str(p.via) for p in step.paths] == ["z2_1", "Omega"]
    assert step.paths[1].local == sp.Rational(1, 100) * sp.Symbol("w2_1_1")
    assert Rule.L2_PENALTY in step.rules
    assert len(d.step("dL_db2_1").paths) == 1  # biases are not penalised
    assert "weight decay 0.01" in net.describe()


def test_a_penalised_program_matches_sympy_and_central_differences():
    x, y, w, c, h = sp.symbols("x y w c h")
    assignments = [(h, sp.tanh(w * x + c))]
    loss = (h - y) ** 2 / 2
    net = sb.Network.from_expressions(
        assignments, loss, [w, c], [x], [y], weight_decay=0.2, l1=0.05
    )
    params = {"w": 0.7, "c": -0.4}
    point = {**params, "x": 1.3, "y": 0.25}
    penalty = sp.Rational(1, 10) * (w**2 + c**2) + sp.Rational(1, 20) * (sp.Abs(w) + sp.Abs(c))
    _, expected = sympy_program_gradients(assignments, loss + penalty, point, ["w", "c"])
    compiled = sb.compile(net)
    got = compiled.gradient(params, [1.3], [0.25])
    fd = central_differences(lambda p: compiled.loss(p, [1.3], [0.25]), params)
    for name in params:
        assert got[name] == pytest.approx(expected[name], rel=RTOL_SYMPY), name
        assert got[name] == pytest.approx(fd[name], rel=RTOL_FD), name
    assert sb.gradcheck(net, params, [1.3], [0.25]).ok


def test_the_checker_names_a_forgotten_penalty_gradient():
    net = sb.mlp([2, 2, 1], "sigmoid", weight_decay=0.1)
    verdict = sb.check_gradient(net, "w2_1_1", "delta2_1*a1_1")
    assert not verdict.correct
    assert verdict.diagnosis.name == "penalty_gradient"
    assert "penalty's gradient is missing" in verdict.diagnosis.explanation
    assert sb.check_gradient(net, "w2_1_1", "delta2_1*a1_1 + 0.1*w2_1_1").correct
    halved = sb.check_gradient(net, "w1_1_1", "delta1_1*x1 + 0.05*w1_1_1")
    assert "halved" in halved.diagnosis.explanation
    l1_net = sb.mlp([2, 2, 1], "sigmoid", l1=0.1)
    assert sb.check_gradient(l1_net, "w2_1_1", "delta2_1*a1_1 + 0.1*sign(w2_1_1)").correct


def test_specs_read_the_penalty_and_refuse_a_negative_one(tmp_path):
    spec = tmp_path / "wd.toml"
    body = "[network]\nsizes = [2, 2, 1]\nweight_decay = 0.01\nl1 = 0.001\n\n[init]\nseed = 0\n"
    spec.write_text(body)
    assert sb.load_spec(spec).network.penalty == sb.Penalty(0.01, 0.001)
    spec.write_text(body.replace("0.01\n", "-0.01\n"))
    with pytest.raises(SpecError, match=r"wd\.toml:3:\d+: weight_decay -0\.01 is not a finite"):
        sb.load_spec(spec)


def test_train_keeps_the_callers_penalty_choice_apart_from_the_network():
    net = sb.mlp([2, 2, 1], "sigmoid")
    params = net.init_params(seed=0)
    X, Y = [[0.0, 1.0], [1.0, 0.0]], [[1.0], [0.0]]
    plain = sb.train(net, params, X, Y, 0.5, 3)
    decayed = sb.train(net, params, X, Y, 0.5, 3, weight_decay=0.1)
    assert decayed.losses[0] > plain.losses[0]  # the penalty is part of the loss reported
    assert net.penalty.is_zero
