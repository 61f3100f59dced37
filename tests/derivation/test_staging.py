"""Staging a compound expression: CS231n's neuron as a circuit of gates, or as sigma(u)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model.errors import UnknownNameError
from symbackprop.model.functions import Sigmoid
from symbackprop.model.rulebook import Rule
from symbackprop.model.staging import stage
from tests.oracles import central_differences, sympy_program_gradients

# CS231n, "Modularity: sigmoid example": w = [2, -3, -3], x = [-1, -2]; the notes print
# dw = [-0.2, -0.39, 0.2] and dx = [0.39, -0.59]; the float64 values to 8 decimals:
CS231N_POINT = {"w0": 2.0, "w1": -3.0, "w2": -3.0, "x0": -1.0, "x1": -2.0}
CS231N_DF_DW0 = -0.19661193
CS231N_DF_DX0 = 0.39322387
CS231N_SIGMA_GATE = 0.19661193  # (1 - f) f at f = sigma(1)
ATOL_PRINTED = 5e-9  # the values above are rounded to 8 decimals
RTOL_SYMPY = 1e-12  # float64 compiled code vs SymPy at 30 digits
RTOL_FD = 1e-6  # central differences, h = 1e-6 (relative step), float64

w0, w1, w2, x0, x1, f = sp.symbols("w0 w1 w2 x0 x1 f")
NEURON = 1 / (1 + sp.exp(-(w0 * x0 + w1 * x1 + w2)))


def neuron(stages: str) -> sb.Network:
    """The neuron with L = f and x0, x1 as parameters too, so that df/dx is derived."""
    return sb.Network.from_expressions(
        [(f, NEURON)], loss=f, params=[w0, w1, w2, x0, x1], inputs=[], stages=stages
    )


def test_the_neuron_staged_into_gates_reads_as_cs231ns_circuit():
    staged = stage([(f, NEURON)], "gates", ["w0", "w1", "w2", "x0", "x1"])
    assert [(str(lhs), str(rhs)) for lhs, rhs in staged] == [
        ("prod1", "w0*x0"),
        ("prod2", "w1*x1"),
        ("sum1", "prod1 + prod2 + w2"),
        ("f", "Sigmoid(sum1)"),
    ]


@pytest.mark.parametrize("stages", ["gates", "functions"])
def test_the_staged_neuron_gives_cs231ns_gradients(stages):
    net = neuron(stages)
    d = sb.derive(net)
    ev = d.evaluate(CS231N_POINT, np.zeros((1, 0)), np.zeros((1, 0)))
    assert ev["dL_dw0"] == pytest.approx(CS231N_DF_DW0, abs=ATOL_PRINTED)
    assert ev["dL_dx0"] == pytest.approx(CS231N_DF_DX0, abs=ATOL_PRINTED)
    sigma_gate = d.step("dL_dsum1")
    assert sigma_gate.factors[-1] == f * (1 - f)  # the sigma gate's local gradient (1 - f) f
    assert Rule.SIGMOID_IDENTITY in sigma_gate.rules
    assert ev.factor_values("dL_dsum1")[-1] == pytest.approx(CS231N_SIGMA_GATE, abs=ATOL_PRINTED)


def test_every_view_gives_the_same_numbers_as_sympy_and_central_differences():
    point = dict(CS231N_POINT)
    _, expected = sympy_program_gradients([(f, NEURON)], f, point, list(point))
    for stages in ("as_written", "functions", "gates"):
        compiled = sb.compile(neuron(stages))
        got = compiled.gradient(point, np.zeros((1, 0)), np.zeros((1, 0)))
        fd = central_differences(
            lambda p, c=compiled: c.loss(p, np.zeros((1, 0)), np.zeros((1, 0))), point
        )
        for name in point:
            assert got[name] == pytest.approx(expected[name], rel=RTOL_SYMPY), (stages, name)
            assert got[name] == pytest.approx(fd[name], rel=RTOL_FD), (stages, name)


def test_generated_names_skip_the_users_own():
    prod1, sum1 = sp.symbols("prod1 sum1")
    staged = stage([(f, Sigmoid(w0 * x0 + prod1 * sum1))], "gates", ["w0", "x0", "prod1", "sum1"])
    names = [str(lhs) for lhs, _ in staged]
    assert names == ["prod2", "prod3", "sum2", "f"]


def test_softplus_and_relu_forms_are_recognised():
    g = sp.Symbol("g")
    staged = stage(
        [(g, sp.log(1 + sp.exp(w0 * x0)) + sp.Max(0, w1 * x1))], "functions", ["w0", "x0"]
    )
    calls = staged[-1][1].args
    assert {type(call).__name__ for call in calls} == {"Relu", "Softplus"}
    assert all(call.args[0].is_Symbol for call in calls)  # each argument a node of its own


def test_the_checker_reads_the_staged_program():
    net = sb.Network.from_expressions(
        [(f, NEURON)], loss=f, params=[w0, w1, w2], inputs=[x0, x1], stages="gates"
    )
    assert sb.check_gradient(net, "w0", "f*(1 - f)*x0").correct
    wrong = sb.check_gradient(net, "w0", "f*x0")
    # The diagnosis speaks in the program's own nodes: f and sum1, not a and z.
    assert not wrong.correct
    assert "∂L/∂sum₁ should be" in wrong.diagnosis.explanation and "∂L/∂a" not in str(wrong)


def test_a_spec_chooses_the_staging(tmp_path):
    text = (
        '[program]\ninputs = ["x0", "x1"]\nparams = ["w0", "w1", "w2"]\n'
        'assign = ["f = 1/(1 + exp(-(w0*x0 + w1*x1 + w2)))"]\nloss = "f"\nstages = "gates"\n\n'
        "[params]\nw0 = 2.0\nw1 = -3.0\nw2 = -3.0\n"
    )
    path = tmp_path / "neuron.toml"
    path.write_text(text)
    spec = sb.load_spec(path)
    assert [a.lhs.name for a in spec.network.program.assignments] == ["prod1", "prod2", "sum1", "f"]
    path.write_text(text.replace('"gates"', '"gate"'))
    with pytest.raises(UnknownNameError, match="did you mean 'gates'"):
        sb.load_spec(path)


def test_gates_cite_their_gate_rules():
    d = sb.derive(neuron("gates"))
    assert d.step("dL_dprod1").rules == (Rule.ADD_GATE,)  # the add gate passes the blame on
    a, b, y = sp.symbols("a b y")
    net = sb.Network.from_expressions(
        [(a, sp.tanh(w0 * x0)), (b, sp.exp(w1)), (f, a * b)], (f - y) ** 2 / 2, [w0, w1], [x0], [y]
    )
    assert Rule.MUL_GATE in sb.derive(net).step("dL_da").rules  # the mul gate swaps
