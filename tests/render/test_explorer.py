"""The explorer page's data and generated code (the browser tests are in test_explorer_browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.derivation.steps import Stage
from symbackprop.model.functions import FUNCTIONS, Softmax
from symbackprop.render.explorer import MAX_PARAMETERS, explorer_model, render_explorer
from symbackprop.render.explorer_code import (
    elementary,
    javascript,
    per_sample_steps,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RTOL_REWRITE = 1e-12  # an elementary form and the stable NumPy form, float64, |z| <= 3
ASSIGNMENT = re.compile(r'^  v\["([^"]+)"\] = (.*);$')


def assignments(code: str) -> list[tuple[str, str]]:
    return [m.groups() for m in map(ASSIGNMENT.match, code.splitlines()) if m]


@pytest.fixture(scope="module")
def mazur() -> sb.Spec:
    return sb.load_spec(EXAMPLES / "mazur.toml")


def test_compute_is_the_derivation_printed_line_by_line(mazur):
    model = explorer_model(mazur.network, mazur.params, mazur.data, freeze=mazur.training.freeze)
    code = model["_code"].compute
    d = sb.derive(mazur.network, freeze=mazur.training.freeze)
    steps = per_sample_steps(d)
    lines = assignments(code)
    assert [name for name, _ in lines[: len(steps)]] == [s.lhs.name for s in steps]
    for (name, text), step in zip(lines, steps, strict=False):
        assert text == javascript(step.rhs), name
    assert code.startswith("function compute(v) {")
    # only generated arithmetic: the values object, numbers, operators and Math functions
    for _, text in lines:
        assert set(re.findall(r"[A-Za-z_]+(?=\()", text)) <= {"exp", "log", "max", "tanh", "pow"}


def test_every_registered_function_prints_as_javascript_and_keeps_its_values():
    z = sp.Symbol("z")
    for entry in FUNCTIONS.values():
        applied = entry.sympy_form(z)
        javascript(applied)  # raises if the printer cannot write it
        form = sp.lambdify(z, elementary(applied), "numpy")
        numpy_form = entry.numpy_form or getattr(np, entry.numpy_name.lower())
        for value in (-3.0, -0.5, 0.0, 0.25, 3.0):
            with np.errstate(all="ignore"):
                expected = float(numpy_form(np.array([value]))[0])
                got = float(np.broadcast_to(form(np.array([value])), (1,))[0])
            if not (np.isfinite(expected) and np.isfinite(got)):
                continue  # outside the domain (log 0, sqrt of a negative): NumPy's form clips
            assert got == pytest.approx(expected, rel=RTOL_REWRITE, abs=1e-15), (entry.name, value)


def test_softmax_prints_through_its_exponentials():
    z1, z2 = sp.symbols("z1 z2")
    text = javascript(Softmax(1, z1, z2))
    assert text == 'Math.exp(v["z1"])/(Math.exp(v["z1"]) + Math.exp(v["z2"]))'


def test_update_renews_every_parameter_but_the_frozen_ones(mazur):
    model = explorer_model(mazur.network, mazur.params, mazur.data, freeze=mazur.training.freeze)
    renewed = {name for name, _ in model["updated"]}
    assert renewed == set(mazur.params) - {"b1", "b2"}
    assert "function update(v)" in model["_code"].update


def test_stateful_optimisers_renew_their_state_too(mazur):
    model = explorer_model(mazur.network, mazur.params, mazur.data, optimizer="adam")
    renewed = {name for name, _ in model["updated"]}
    assert set(model["state"]) <= renewed
    assert model["step_number"] and model["settings"]


def test_steps_carry_rule_words_paths_and_their_nodes(mazur):
    model = explorer_model(mazur.network, mazur.params, mazur.data)
    stages = [s["stage"] for s in model["steps"]]
    assert stages == sorted(stages, key=["forward", "loss", "backward", "gradient"].index)
    delta = next(s for s in model["steps"] if s["name"] == "delta1_1")
    assert "σ′ = σ(1 − σ)" in delta["rules"]
    assert delta["node"] == "z1_1" and delta["also"] == "a1_1"
    assert [p["target"] for p in delta["paths"]] == ["z2_1", "z2_2"]
    boxes = {b["id"] for b in model["graph"]["boxes"]}
    assert {s["node"] for s in model["steps"]} <= boxes
    assert not model["graph"]["partial"]


def test_the_gate_circuit_is_drawn_gate_by_gate():
    spec = sb.load_spec(EXAMPLES / "cs231n_circuit.toml")
    model = explorer_model(spec.network, spec.params, spec.data)
    boxes = {b["id"]: b for b in model["graph"]["boxes"]}
    assert {"prod1", "prod2", "sum1", "f", "L"} <= set(boxes)
    assert boxes["w2"]["x"] > boxes["w0"]["x"]  # a source sits left of its first user
    assert model["blame"]["w0"] == "dL_dw0"
    assert model["gradients"] == {"w0": "dL_dw0", "w1": "dL_dw1", "w2": "dL_dw2"}


def test_a_large_network_is_drawn_in_part_and_says_so():
    net = sb.mlp([9, 2, 1])  # 9 inputs and 18 weights in the first column: more than 12
    model = explorer_model(net, net.init_params(seed=0), None)
    graph = model["graph"]
    assert graph["partial"] and graph["shown"] < graph["total"]
    drawn = {box["id"] for box in graph["boxes"]}
    assert {"z1_1", "z1_2", "a1_1", "z2_1", "L"} <= drawn  # every node of the small layers
    assert "Drawn in part" in render_explorer(model)


def test_the_page_is_self_contained(mazur):
    page = sb.explore(mazur)
    assert "<link" not in page and " src=" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"')]+", page)) <= {"http://www.w3.org/2000/svg"}
    data = page.split('<script type="application/json" id="model">')[1].split("</script>")[0]
    assert json.loads(data)["title"] == "mazur: backpropagation, step by step"


def test_networks_of_layers_are_explored_entry_by_entry():
    spec = sb.load_spec(EXAMPLES / "layers" / "classifier.toml")
    page = sb.explore(spec)
    view = sb.per_element(spec.network, 1)
    for name in view.network.parameter_names():
        assert f'v["dL_d{name}"] =' in page, name
    frozen = sb.explore(spec.network, spec.params, spec.data, freeze=["0.weight"])
    assert '"frozen": true' in frozen


def test_sample_coupled_layers_and_oversized_networks_are_refused_in_one_line():
    for example, kind in (("batch_norm", "batch_norm"), ("attention", "self_attention")):
        spec = sb.load_spec(EXAMPLES / "layers" / f"{example}.toml")
        with pytest.raises(sb.SymbackpropError, match=f"cannot show {kind} "):
            sb.explore(spec)
    with pytest.raises(sb.SpecError, match="learning_rate nan is not a finite number"):
        sb.explore(sb.mlp([2, 2, 1]), learning_rate=float("nan"))
    big = sb.mlp([60, 40, 2])
    assert len(big.params) > MAX_PARAMETERS
    with pytest.raises(sb.ShapeError, match="at most 2000"):
        sb.explore(big)


def test_explore_writes_the_page_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "mazur.html"
    assert cli.main(["explore", str(EXAMPLES / "mazur.toml"), "-o", str(out)]) == 0
    assert "function compute(v)" in out.read_text()
    assert cli.main(["explore", str(EXAMPLES / "mazur.toml"), "-o", str(tmp_path / "x.pdf")]) == 2
    assert "is not an .html file" in capsys.readouterr().err
    layers = EXAMPLES / "layers" / "dropout.toml"
    assert cli.main(["explore", str(layers), "-o", str(out)]) == 2


def test_explore_takes_a_sample_and_checks_it(mazur):
    xor = sb.load_spec(EXAMPLES / "xor.toml")
    model = explorer_model(xor.network, xor.params, xor.data, sample=3)
    assert model["sample"] == 2 and len(model["X"]) == 4
    with pytest.raises(sb.ShapeError, match="choose 1 to 4"):
        explorer_model(xor.network, xor.params, xor.data, sample=5)


def test_gradient_steps_are_keyed_by_their_parameter(mazur):
    d = sb.derive(mazur.network)
    model = explorer_model(mazur.network, mazur.params, mazur.data)
    assert model["gradients"] == {s.node.name: s.lhs.name for s in d.stage(Stage.GRADIENT)}
