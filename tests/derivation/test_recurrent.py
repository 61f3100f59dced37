"""Recurrent layers (RNN, LSTM): BPTT equals PyTorch autograd, and the derivation teaches it."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.derivation.bptt import hidden_state_jacobians
from symbackprop.derivation.steps import Stage
from symbackprop.model.rulebook import Rule

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of the recurrent layers")

RTOL = 1e-7  # float64 on both sides; only the summation order differs
ATOL = 1e-12  # gradients that are exactly 0 in one, 1e-17 in the other


def _torch_loss_and_gradient(kind, params, X, Y, output, loss, truncate=None):
    """nn.RNN / nn.LSTM (batch_first) -> last step or every step -> Linear (-> softmax) -> loss.

    Truncated BPTT as PyTorch code does it: the state is detached every ``truncate`` steps.
    The loss sums over the steps of a sample and averages over the batch.
    """
    length, n = X.shape[1], X.shape[2]
    h = params["0.weight_hh_l0"].shape[1]
    module = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(
        n, h, batch_first=True, bias="0.bias_ih_l0" in params, dtype=torch.float64
    )
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    own = {k[2:]: v for k, v in P.items() if k.startswith("0.")}
    x, chunk, state, pieces = torch.tensor(X), truncate or length, None, []
    for start in range(0, length, chunk):
        if state is not None:
            state = tuple(s.detach() for s in state) if kind == "lstm" else state.detach()
        out, state = torch.func.functional_call(module, own, (x[:, start : start + chunk], state))
        pieces.append(out)
    H = torch.cat(pieces, 1)
    if output == "last":
        H = H[:, -1]
    Z = H @ P["1.weight"].T + P["1.bias"]
    y = torch.tensor(Y)
    if loss == "cross_entropy":
        per = -(y * torch.log(torch.softmax(Z, -1))).sum(-1)
    else:
        per = ((Z - y) ** 2).mean(-1)
    value = (per.sum(1) if output == "sequence" else per).mean()
    value.backward()
    return float(value.detach()), {k: v.grad.numpy() for k, v in P.items()}


def _network(kind, length, n, h, k, output, loss, truncate=None, bias=True):
    layer = (sb.RNN if kind == "rnn" else sb.LSTM)(h, output=output, truncate=truncate, bias=bias)
    tail = ["softmax"] if loss == "cross_entropy" else []
    return sb.sequential((length, n), [layer, sb.Dense(k), *tail], loss)


def _data(rng, B, length, n, k, output, loss):
    X = rng.normal(size=(B, length, n))
    shape = (B,) if output == "last" else (B, length)
    if loss == "cross_entropy":
        return X, np.eye(k)[rng.integers(0, k, shape)]
    return X, rng.normal(size=(*shape, k))


def _assert_equal_to_torch(net, kind, params, X, Y, output, loss, truncate=None):
    value, expected = _torch_loss_and_gradient(kind, params, X, Y, output, loss, truncate)
    got = sb.compile(net).gradient(params, X, Y)
    for name, array in expected.items():
        # One step (T = 1): W_hh multiplies H<0> = 0, the loss does not depend on it.
        mine = got.get(name, np.zeros_like(array)) if name == "0.weight_hh_l0" else got[name]
        np.testing.assert_allclose(mine, array, rtol=RTOL, atol=ATOL, err_msg=name)
    assert sb.derive(net).evaluate(params, X, Y).loss == pytest.approx(value, rel=RTOL)


@settings(max_examples=15, deadline=None)
@given(
    kind=st.sampled_from(["rnn", "lstm"]),
    output=st.sampled_from(["last", "sequence"]),
    loss=st.sampled_from(["cross_entropy", "mse"]),
    length=st.integers(1, 4),
    n=st.integers(1, 3),
    h=st.integers(1, 3),
    B=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_recurrent_gradients_equal_pytorch_autograd(kind, output, loss, length, n, h, B, seed):
    k = 2
    net = _network(kind, length, n, h, k, output, loss)
    rng = np.random.default_rng(seed)
    X, Y = _data(rng, B, length, n, k, output, loss)
    _assert_equal_to_torch(net, kind, net.init_params(seed), X, Y, output, loss)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_truncated_bptt_equals_pytorch_with_detach_at_the_chunk_boundaries(kind, output):
    length, n, h, k, B = 5, 2, 2, 2, 3
    rng = np.random.default_rng(4)
    X, Y = _data(rng, B, length, n, k, output, "mse")
    full = _network(kind, length, n, h, k, output, "mse")
    net = _network(kind, length, n, h, k, output, "mse", truncate=2)
    params = net.init_params(3)
    _assert_equal_to_torch(net, kind, params, X, Y, output, "mse", truncate=2)
    untruncated = sb.compile(full).gradient(params, X, Y)["0.weight_hh_l0"]
    assert not np.allclose(sb.compile(net).gradient(params, X, Y)["0.weight_hh_l0"], untruncated)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_layers_without_bias_equal_pytorch(kind):
    net = _network(kind, 3, 2, 2, 2, "sequence", "cross_entropy", bias=False)
    rng = np.random.default_rng(5)
    X, Y = _data(rng, 2, 3, 2, 2, "sequence", "cross_entropy")
    params = net.init_params(1)
    assert "0.bias_ih_l0" not in params
    _assert_equal_to_torch(net, kind, params, X, Y, "sequence", "cross_entropy")


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_gradients_pass_gradcheck(kind):
    # Full BPTT: a truncated gradient is by design not the loss's derivative.
    net = _network(kind, 3, 2, 2, 2, "sequence", "cross_entropy")
    rng = np.random.default_rng(6)
    X, Y = _data(rng, 3, 3, 2, 2, "sequence", "cross_entropy")
    assert sb.gradcheck(net, net.init_params(2), X, Y).ok


def test_init_is_uniform_within_one_over_sqrt_hidden_size():
    net = sb.sequential((2, 3), [sb.LSTM(4, output="last"), sb.Dense(1)], "mse")
    params = net.init_params(0)
    assert params["0.weight_ih_l0"].shape == (16, 3) and params["0.weight_hh_l0"].shape == (16, 4)
    for name in ("0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0", "0.bias_hh_l0"):
        assert np.abs(params[name]).max() <= 0.5  # 1/sqrt(4)


def test_the_per_element_view_of_a_3_step_rnn_gives_equal_gradients():
    net = sb.sequential((3, 1), [sb.RNN(2, output="last"), sb.Dense(1)], "mse")
    params = net.init_params(1)
    X, Y = np.array([[[1.0], [0.5], [-1.0]], [[0.0], [1.0], [0.5]]]), np.array([[0.5], [-0.5]])
    view = sb.per_element(net, 2)
    scalar = sb.compile(view.network).gradient(view.params(params), *view.data(X, Y))
    matrix = sb.compile(net).gradient(params, X, Y)
    for parameter in net.program.parameters:
        names = view.entries[str(parameter.symbol.name)]
        values = np.array([[scalar[str(s)] for s in row] for row in names.tolist()])
        np.testing.assert_allclose(
            values.reshape(parameter.state_shape), matrix[parameter.state_name], rtol=1e-9
        )


def _step(derivation, name):
    return next(step for step in derivation.steps if step.name == name)


def test_a_3_step_rnn_derivation_sums_the_paths_of_the_hidden_state_and_the_steps_of_w_hh():
    net = sb.sequential((3, 2), [sb.RNN(2), sb.Dense(2), "softmax"], "cross_entropy")
    d = sb.derive(net)
    hidden_adjoint = _step(d, "dH1t2")
    assert {str(path.via) for path in hidden_adjoint.paths} == {
        "Z1t3",
        "Z2t2",
    }  # next step + this output
    assert (
        Rule.HIDDEN_STATE_PATHS in hidden_adjoint.rules
        and Rule.SUM_OVER_PATHS in hidden_adjoint.rules
    )
    assert Rule.HIDDEN_STATE_PATHS not in _step(d, "dH1t3").rules  # the last step: one path
    grad = _step(d, "dL_dWhh1")
    assert grad.stage is Stage.GRADIENT and Rule.SUM_OVER_STEPS in grad.rules
    assert {str(path.via) for path in grad.paths} == {"Z1t2", "Z1t3"}  # step 1 has H<0> = 0
    text = d.to_text()
    assert "H̄⁽¹⁾⟨2⟩ = " in text and "its adjoint adds the blame of both paths" in text
    assert "its gradient sums over the steps" in text


def test_lstm_derivation_stacks_the_gate_deltas_and_sums_the_cell_state_paths():
    net = sb.sequential((2, 1), [sb.LSTM(2, output="last"), sb.Dense(1)], "mse")
    d = sb.derive(net)
    gate_deltas = _step(d, "Delta1t2")
    assert isinstance(gate_deltas.rhs, sb.model.tensor_ops.Stack)
    assert [str(o) for o in gate_deltas.rhs.operands] == [
        "Deltai1t2",
        "Deltaf1t2",
        "Deltag1t2",
        "Deltao1t2",
    ]
    assert Rule.CELL_STATE_PATHS in _step(d, "dC1t1").rules
    assert {str(path.via) for path in _step(d, "dC1t1").paths} == {"H1t1", "C1t2"}


def test_a_truncated_path_is_cited_where_the_state_is_detached():
    net = sb.sequential((3, 1), [sb.RNN(2, truncate=2), sb.Dense(1)], "mse")
    d = sb.derive(net)
    hidden_adjoint = _step(d, "dH1t2")
    assert Rule.TRUNCATED_PATH in hidden_adjoint.rules
    assert [str(path.via) for path in hidden_adjoint.paths] == ["Z2t2"]  # no path through step 3
    assert "the gradient stops there" in d.to_text()


def test_hidden_state_jacobians_equal_torch_autograd():
    length, n, h = 4, 2, 3
    net = sb.sequential((length, n), [sb.RNN(h), sb.Dense(1)], "mse")
    params = net.init_params(7)
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(2, length, n)), rng.normal(size=(2, length, 1))
    found = hidden_state_jacobians(sb.derive(net).evaluate(params, X, Y), level=1, sample=1)
    assert [j.step for j in found] == [3, 2, 1]
    W_ih, W_hh = (torch.tensor(params[f"0.weight_{w}_l0"]) for w in ("ih", "hh"))
    b = torch.tensor(params["0.bias_ih_l0"] + params["0.bias_hh_l0"])
    x = torch.tensor(X[1])

    def run(state, start):
        for t in range(start, length):
            state = torch.tanh(W_ih @ x[t] + W_hh @ state + b)
        return state

    state = torch.zeros(h, dtype=torch.float64)
    states = []
    for t in range(length):
        state = torch.tanh(W_ih @ x[t] + W_hh @ state + b)
        states.append(state)
    for found_step in found:
        t = found_step.step  # dH<T>/dH<t>: run steps t+1 .. T from H<t>
        expected = torch.autograd.functional.jacobian(lambda s, t=t: run(s, t), states[t - 1])
        np.testing.assert_allclose(found_step.jacobian, expected.numpy(), rtol=1e-10, atol=1e-14)
        assert found_step.norm == pytest.approx(np.linalg.norm(expected.numpy(), 2))


def test_hidden_state_jacobians_shrink_with_small_recurrent_weights():
    net = sb.sequential((6, 1), [sb.RNN(2, output="last"), sb.Dense(1)], "mse")
    params = dict(net.init_params(0))
    params["0.weight_hh_l0"] = 0.3 * np.eye(2)
    X, Y = np.ones((1, 6, 1)), np.zeros((1, 1))
    norms = [j.norm for j in hidden_state_jacobians(sb.derive(net).evaluate(params, X, Y))]
    assert all(later < earlier for earlier, later in zip(norms, norms[1:], strict=False))
    assert norms[-1] < 0.3**5 + 1e-12


def test_the_gate_and_recurrent_names_print_as_a_textbook_does():
    from symbackprop.model import notation

    assert notation.program_latex("Whh1") == "W_{hh}^{(1)}"
    # braced: a transpose after it must not read as a double superscript
    assert notation.program_latex("Deltaf1t2") == r"{\Delta^{(1)}_{f,\langle 2\rangle}}"
    assert notation.program_unicode("dH1t2") == "H̄⁽¹⁾⟨2⟩"
    assert sp.MatrixSymbol("Zi1t1", 2, 1).name == "Zi1t1"


def test_a_one_step_rnn_has_a_zero_recurrent_gradient_that_gradcheck_and_train_accept():
    # H<0> = 0: with one step W_hh is never used, so the loss does not depend on it.
    net = sb.sequential((1, 2), [sb.RNN(2, output="last"), sb.Dense(1)], loss="mse")
    params = net.init_params(0)
    X, Y = np.ones((3, 1, 2)), np.ones((3, 1))
    gradient = sb.compile(net).gradient(params, X, Y)
    assert list(gradient) == net.parameter_names()
    np.testing.assert_array_equal(gradient["0.weight_hh_l0"], np.zeros((2, 2)))
    assert sb.gradcheck(net, params, X, Y).ok
    assert sb.train(net, params, X, Y, learning_rate=0.1, epochs=2).params["0.weight_hh_l0"].shape
    decayed = sb.sequential((1, 2), [sb.RNN(2, output="last"), sb.Dense(1)], loss="mse",
                            weight_decay=0.1)  # fmt: skip
    penalised = sb.compile(decayed).gradient(params, X, Y)["0.weight_hh_l0"]
    np.testing.assert_allclose(penalised, 0.1 * params["0.weight_hh_l0"], rtol=1e-12)
    assert sb.gradcheck(decayed, params, X, Y).ok
