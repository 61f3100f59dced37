"""A loss written as named assignments (Mazur's E_o1, E_o2, E_total): every command works on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derivation.steps import Stage
from symbackprop.model.functions import Sigmoid
from symbackprop.model.specs.spec import load_spec
from tests.conftest import MAZUR_TO_MLP
from tests.derivation.test_mazur import PUBLISHED, PUBLISHED_ATOL
from tests.oracles import (
    MAZUR,
    central_differences,
    gradients_named,
    sympy_program_gradients,
    torch_backprop,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RTOL_SYMPY = 1e-12  # float64 compiled code vs SymPy at 30 digits
RTOL_TORCH = 1e-12  # the same float64 arithmetic in another order
RTOL_FD = 1e-6  # central differences, h = 1e-6 (relative step), float64
# Parallel updates, biases frozen (reference-values.md): E after 10,000 and after 9,999 updates.
E_AFTER_10000 = 3.510187783e-05
E_AFTER_9999 = 3.510854812e-05
TRAINED_RTOL = 1e-8  # the reference values are printed to 10 significant digits


@pytest.fixture(scope="module")
def spec():
    return load_spec(EXAMPLES / "mazur_program.toml")


def test_the_assignments_that_use_targets_are_the_loss_side(spec):
    program = spec.network.program
    assert [s.name for s in program.loss_nodes] == ["E_o1", "E_o2", "E_total"]
    assert [s.name for s in program.outputs()] == ["out_o1", "out_o2"]
    d = sb.derive(spec.network)
    assert [s.lhs.name for s in d.stage(Stage.LOSS)] == ["E_o1", "E_o2", "E_total", "L"]
    assert "E_o1" not in {s.lhs.name for s in d.stage(Stage.FORWARD)}


def test_the_adjoint_of_an_output_is_its_error_terms_derivative(spec):
    d = sb.derive(spec.network)
    step = d.step("dL_dout_o1")
    out_o1, t1, e_o1 = sp.symbols("out_o1 t1 E_o1")
    assert step.chain == sp.Derivative(e_o1, out_o1, evaluate=False)
    assert sp.expand(step.rhs - (out_o1 - t1)) == 0
    # No line of its own for dL/dE_o1 = 1: it is folded into the paths that use it.
    assert "dL_dE_o1" not in {s.lhs.name for s in d.steps}


def test_every_published_number_in_mazurs_own_names(spec):
    d = sb.derive(spec.network, freeze=spec.training.freeze)
    ev = d.evaluate(spec.params, *spec.data, learning_rate=spec.training.learning_rate)
    blame = d.blame("dL_dout_h1", ev)
    got = {
        "net_h1": ev["net_h1"],
        "out_h1": ev["out_h1"],
        "out_h2": ev["out_h2"],
        "net_o1": ev["net_o1"],
        "out_o1": ev["out_o1"],
        "out_o2": ev["out_o2"],
        "E_o1": ev["E_o1"],
        "E_o2": ev["E_o2"],
        "E_total": ev["E_total"],
        "dE_dout_o1": ev["dL_dout_o1"],
        "dout_o1_dnet_o1": ev.factor_values("dL_dnet_o1")[1],
        "dnet_o1_dw5": ev.factor_values("dL_dw5")[1],
        "dE_dw5": ev["dL_dw5"],
        "delta_o1": ev["dL_dnet_o1"],
        "dnet_o1_dout_h1": ev[str(d.step("dL_dout_h1").paths[0].local)],
        "dE_o1_dout_h1": blame[0].value,
        "dE_o2_dout_h1": blame[1].value,
        "dE_dout_h1": ev["dL_dout_h1"],
        "dout_h1_dnet_h1": ev.factor_values("dL_dnet_h1")[1],
        "dnet_h1_dw1": ev.factor_values("dL_dw1")[1],
        "dE_dw1": ev["dL_dw1"],
    }
    got |= {f"w{i}+": ev[f"w{i}_new"] for i in range(1, 9)}
    assert set(got) == set(PUBLISHED)
    for key, published in PUBLISHED.items():
        assert got[key] == pytest.approx(published, abs=PUBLISHED_ATOL), key
    assert ev["L"] == ev["E_total"]
    assert "b1_new" not in ev and "b2_new" not in ev


def _program_pairs(spec):
    return [(a.lhs, a.rhs) for a in spec.network.program.assignments]


def test_compiled_gradient_matches_sympy_and_central_differences(spec):
    compiled = sb.compile(spec.network)
    X, Y = spec.data
    loss, grads = compiled.loss_and_gradient(spec.params, X, Y)
    point = {**spec.params, "i1": X[0, 0], "i2": X[0, 1], "t1": Y[0, 0], "t2": Y[0, 1]}
    program = spec.network.program
    sympy_loss, sympy_grads = sympy_program_gradients(
        _program_pairs(spec), program.loss, point, list(spec.params)
    )
    assert loss == pytest.approx(sympy_loss, rel=RTOL_SYMPY)
    fd = central_differences(lambda p: compiled.loss(p, X, Y), spec.params)
    for name in spec.params:
        assert grads[name] == pytest.approx(sympy_grads[name], rel=RTOL_SYMPY, abs=1e-15), name
        assert grads[name] == pytest.approx(fd[name], rel=RTOL_FD, abs=1e-10), name


def test_forward_returns_the_outputs_not_the_loss_terms(spec):
    outputs = sb.compile(spec.network).forward(spec.params, spec.data[0])
    np.testing.assert_allclose(outputs, [[0.7513650695523157, 0.7729284653214625]], rtol=1e-15)


@pytest.mark.slow
def test_gradcheck_and_ten_thousand_steps_as_the_mlp(spec):
    assert sb.gradcheck(spec.network, spec.params, *spec.data).ok
    result = sb.train(
        spec.network,
        spec.params,
        *spec.data,
        learning_rate=spec.training.learning_rate,
        epochs=10_000,
        freeze=spec.training.freeze,
    )
    assert result.final_loss == pytest.approx(E_AFTER_10000, rel=TRAINED_RTOL)
    assert result.losses[9_999] == pytest.approx(E_AFTER_9999, rel=TRAINED_RTOL)
    assert result.params["b1"] == 0.35


def test_the_checker_speaks_in_the_programs_names(spec):
    right = sb.check_gradient(spec.network, "w5", "(out_o1 - t1)*out_o1*(1 - out_o1)*out_h1")
    assert right.correct
    wrong = sb.check_gradient(spec.network, "w5", "(out_o1 - t1)*out_h1")
    assert not wrong.correct
    assert "net_o1" in wrong.diagnosis.explanation


def test_report_shows_the_loss_terms_under_error(spec, tmp_path):
    path = tmp_path / "mazur_program.md"
    sb.report(spec.network, params=spec.params, data=spec.data, path=path)
    text = path.read_text()
    error = text[text.index("Error") :]
    assert "E_{o1} = " in error and "0.274811083" in error


def test_a_loss_term_with_a_non_constant_adjoint_gets_its_own_step():
    x, y, w, h, e = sp.symbols("x y w h e")
    net = sb.Network.from_expressions(
        [(h, Sigmoid(w * x)), (e, (h - y) ** 2)],
        loss=sp.log(1 + e),
        params=[w],
        inputs=[x],
        targets=[y],
    )
    d = sb.derive(net)
    assert d.step("dL_de").stage is Stage.ADJOINT
    point = {"w": 0.7, "x": -1.3, "y": 0.2}
    _, expected = sympy_program_gradients(
        [(h, Sigmoid(w * x)), (e, (h - y) ** 2)], sp.log(1 + e), point, ["w"]
    )
    got = sb.compile(net).gradient({"w": 0.7}, [-1.3], [0.2])
    assert got["w"] == pytest.approx(expected["w"], rel=RTOL_SYMPY)


def test_gradient_matches_pytorch_float64(spec):
    pytest.importorskip("torch", reason="PyTorch is the float64 oracle of this test")
    X, Y = spec.data
    loss, dW, db = torch_backprop(
        MAZUR.weights(), MAZUR.biases(), MAZUR.activations, MAZUR.loss, X, Y, MAZUR.bias
    )
    expected = {
        mazur: gradients_named(dW, db, MAZUR.bias)[book] for mazur, book in MAZUR_TO_MLP.items()
    }
    got_loss, got = sb.compile(spec.network).loss_and_gradient(spec.params, X, Y)
    assert got_loss == pytest.approx(loss, rel=RTOL_TORCH)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=RTOL_TORCH, abs=1e-16), name
