"""The explorer page in real Chromium (Playwright): keys, clicks and edits give Python's numbers.

The system Chromium is driven (never a downloaded browser); every request the page makes is
recorded, and any that is not the page's own file fails the test, as does a console error.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.derivation.steps import Stage

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright==1.65.2)"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian chromium)"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RTOL_PAGE = 1e-12  # the page's generated JavaScript against Python's NumPy, float64
RTOL_TRAINED = 1e-9  # after tens of steps rounding differences grow a little
RTOL_FD = 1e-5  # central differences with h = 1e-6 in the page, float64
NARROW = 800  # px: the page must stay usable (no sideways scrolling) this wide


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-quic"]
        )
        yield chromium
        chromium.close()


class Page:
    """One explorer page opened from file://, with its requests and console errors recorded."""

    def __init__(self, browser: Any, path: Path, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.url = path.as_uri()
        self.page.goto(self.url)

    def _route(self, route: Any) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def values(self) -> dict[str, float]:
        return self.page.evaluate("() => window.sbExplorer.values()")  # type: ignore[no-any-return]

    def call(self, name: str) -> Any:
        return self.page.evaluate(f"() => window.sbExplorer.{name}()")

    def edit(self, key: str, value: float) -> None:
        self.page.fill(f'input[data-edit="{key}"]', str(value))

    def close(self) -> None:
        assert self.foreign == [], f"the page asked the network for {self.foreign}"
        assert self.errors == [], f"console errors: {self.errors}"
        self.context.close()


@pytest.fixture(scope="module")
def mazur_spec() -> sb.Spec:
    return sb.load_spec(EXAMPLES / "mazur.toml")


@pytest.fixture()
def mazur(browser: Any, mazur_spec: sb.Spec, tmp_path: Path) -> Iterator[Page]:
    path = tmp_path / "mazur.html"
    sb.explore(mazur_spec, path=path)
    page = Page(browser, path)
    yield page
    page.close()


def assert_same(page_values: dict[str, float], python: dict[str, float], rtol: float) -> None:
    for name, expected in python.items():
        assert page_values[name] == pytest.approx(expected, rel=rtol, abs=rtol), name


def python_values(spec: sb.Spec, params: dict[str, float], x: Any, y: Any) -> dict[str, float]:
    d = sb.derive(spec.network, freeze=spec.training.freeze)
    ev = d.evaluate(params, x, y)
    names = [s.lhs.name for s in d.steps if s.stage is not Stage.UPDATE]
    out = {name: float(ev[name]) for name in names}
    for name, values in ev.factors.items():
        out |= {f"factor:{name}:{i}": float(v) for i, v in enumerate(values)}
    return out


def test_the_page_computes_what_python_computes(mazur, mazur_spec):
    X, Y = mazur_spec.data
    expected = python_values(mazur_spec, dict(mazur_spec.params), X[0], Y[0])
    assert_same(mazur.values(), expected, RTOL_PAGE)
    assert mazur.page.text_content('.box[data-id="L"] .v') == "0.298371109"  # Mazur's E_total


def test_arrow_keys_and_space_step_through_and_highlight_each_node(mazur):
    steps = mazur.page.evaluate("() => JSON.parse(document.getElementById('model').textContent)")
    steps = steps["steps"]
    for _ in range(3):
        mazur.page.keyboard.press("ArrowRight")
    assert mazur.call("step") == 2
    assert mazur.page.get_attribute(".box.now", "data-id") == steps[2]["node"]
    mazur.page.keyboard.press("End")
    last = steps[-1]
    assert mazur.call("step") == len(steps) - 1
    text = mazur.page.text_content("#step")
    assert last["lhs"] in text and last["rules"] in text
    mazur.page.keyboard.press("ArrowLeft")
    assert mazur.call("step") == len(steps) - 2
    delta = next(i for i, s in enumerate(steps) if s["name"] == "delta1_1")
    mazur.page.keyboard.press("Home")
    for _ in range(delta + 1):
        mazur.page.keyboard.press("ArrowRight")
    text = mazur.page.text_content("#step")
    # local derivative x upstream gradient, symbolic then numbers, and the rule's words
    assert "local w⁽²⁾₁₁ × upstream δ⁽²⁾₁ = 0.4 × 0.138498562 = 0.0553994247" in text
    assert "σ′ = σ(1 − σ)" in text and "0.00877135469" in text
    mazur.page.keyboard.press(" ")
    assert mazur.page.text_content("#play") == "⏸ pause"
    mazur.page.keyboard.press(" ")
    assert mazur.page.text_content("#play") == "▶ play"


def test_clicking_a_weight_lights_its_paths_and_shows_its_blame(mazur, mazur_spec):
    mazur.page.click('.box[data-id="w1_1_1"]')
    lit = mazur.page.eval_on_selector_all(
        ".wire.lit", "ws => ws.map(w => w.dataset.source + '>' + w.dataset.target)"
    )
    assert {"w1_1_1>z1_1", "z1_1>a1_1", "a1_1>z2_1", "a1_1>z2_2", "a2_2>L"} <= set(lit)
    assert "x1>z1_1" not in lit
    assert "0.000438567734" in mazur.page.text_content("#blame")
    mazur.page.click('.box[data-id="a1_1"]')
    blame = mazur.page.text_content("#blame")
    assert "0.0553994247" in blame and "−0.0190491183" in blame
    assert "add up to ∂L/∂a⁽¹⁾₁ = 0.0363503064" in blame


def test_edits_recompute_every_number(mazur, mazur_spec):
    mazur.edit("p:w2_1_1", 0.7)
    mazur.edit("x:0", 0.2)
    mazur.edit("y:1", 0.5)
    params = dict(mazur_spec.params) | {"w2_1_1": 0.7}
    expected = python_values(mazur_spec, params, [0.2, 0.1], [0.01, 0.5])
    assert_same(mazur.values(), expected, RTOL_PAGE)
    shown = mazur.page.text_content('.box[data-id="L"] .v')
    assert float(shown) == pytest.approx(expected["L"], rel=1e-8)
    mazur.edit("p:w1_1_1", "nonsense")  # type: ignore[arg-type]
    assert "invalid" in mazur.page.get_attribute('input[data-edit="p:w1_1_1"]', "class")
    assert_same(mazur.values(), expected, RTOL_PAGE)


def test_update_and_repeat_train_as_python_does(mazur, mazur_spec):
    X, Y = mazur_spec.data
    freeze = mazur_spec.training.freeze
    mazur.edit("eta", 0.3)
    mazur.page.click("#update")
    trained = sb.train(mazur_spec.network, mazur_spec.params, X, Y, 0.3, 1, freeze=freeze)
    assert_same(mazur.call("params"), dict(trained.params), RTOL_PAGE)
    mazur.page.fill("#epochs", "20")
    mazur.page.click("#repeat")
    trained = sb.train(mazur_spec.network, mazur_spec.params, X, Y, 0.3, 21, freeze=freeze)
    assert_same(mazur.call("params"), dict(trained.params), RTOL_TRAINED)
    losses = mazur.call("losses")
    assert losses == pytest.approx(list(trained.losses), rel=RTOL_TRAINED)
    assert mazur.page.is_visible("#curve path")
    assert float(mazur.page.input_value('input[data-edit="p:w2_1_1"]')) == pytest.approx(
        trained.params["w2_1_1"], rel=RTOL_TRAINED
    )


def test_finite_differences_agree_with_every_gradient(mazur, mazur_spec):
    mazur.page.click("#fdcheck")
    fd = mazur.call("fd")
    X, Y = mazur_spec.data
    gradient = sb.compile(mazur_spec.network).gradient(mazur_spec.params, X, Y)
    for name, value in gradient.items():
        assert fd[name] == pytest.approx(value, rel=RTOL_FD, abs=1e-9), name
    marks = mazur.page.eval_on_selector_all("[data-fd]", "cells => cells.map(c => c.className)")
    assert marks and all("ok" in mark for mark in marks)


@pytest.mark.parametrize("example", ["mazur", "cs231n_circuit", "xor", "iris", "mazur_program"])
def test_the_page_fits_800_px_and_runs_cleanly(browser, tmp_path, example):
    path = tmp_path / f"{example}.html"
    sb.explore(sb.load_spec(EXAMPLES / f"{example}.toml"), path=path)
    page = Page(browser, path, width=NARROW)
    page.page.keyboard.press("End")
    page.page.click(".box >> nth=0")
    overflow = page.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{example}: the page is {overflow} px wider than {NARROW}"
    page.close()


def test_the_gate_circuit_gives_cs231n_numbers(browser, tmp_path):
    spec = sb.load_spec(EXAMPLES / "cs231n_circuit.toml")
    path = tmp_path / "circuit.html"
    sb.explore(spec, path=path)
    page = Page(browser, path)
    X = spec.data[0]
    expected = python_values(spec, dict(spec.params), X[0], np.zeros(0))
    assert_same(page.values(), expected, RTOL_PAGE)
    got = page.values()
    assert [round(got[f"dL_dw{i}"], 2) for i in range(3)] == [-0.2, -0.39, 0.2]
    page.page.click('.box[data-id="w0"]')
    assert "−0.196611933" in page.page.text_content("#blame")
    page.close()


def test_a_batch_trains_with_the_spec_optimiser(browser, tmp_path):
    spec = sb.load_spec(EXAMPLES / "xor.toml")
    X, Y = spec.data
    path = tmp_path / "xor.html"
    sb.explore(spec, path=path, optimizer="adam", learning_rate=0.05, sample=2)
    page = Page(browser, path)
    assert_same(page.values(), python_values(spec, dict(spec.params), X[1], Y[1]), RTOL_PAGE)
    page.page.fill("#epochs", "5")
    page.page.click("#repeat")
    trained = sb.train(spec.network, spec.params, X, Y, 0.05, 5, optimizer="adam")
    assert_same(page.call("params"), dict(trained.params), RTOL_TRAINED)
    page.page.select_option("#sample", "3")
    expected = python_values(spec, dict(trained.params), X[3], Y[3])
    assert_same(page.values(), expected, RTOL_TRAINED)
    page.close()


def test_the_sample_explorer_in_examples_is_current(browser, mazur_spec):
    page = Page(browser, EXAMPLES / "reports" / "mazur-explorer.html")
    X, Y = mazur_spec.data
    expected = python_values(mazur_spec, dict(mazur_spec.params), X[0], Y[0])
    assert_same(page.values(), expected, RTOL_PAGE)
    page.close()


@pytest.mark.parametrize("example", ["classifier", "conv_tiny", "rnn_3step", "layer_norm"])
def test_a_network_of_layers_gives_the_matrix_gradients(browser, tmp_path, example):
    spec = sb.load_spec(EXAMPLES / "layers" / f"{example}.toml")
    net = spec.network
    path = tmp_path / f"{example}.html"
    sb.explore(spec, path=path, learning_rate=0.1)
    page = Page(browser, path)
    X, Y = spec.data
    view = sb.per_element(net, 1)
    names = view.network.parameter_names()
    values = page.values()
    arrays = view.gradient_arrays({name: values[f"dL_d{name}"] for name in names})
    for key, expected in sb.compile(net).gradient(spec.params, X[:1], Y[:1]).items():
        np.testing.assert_allclose(arrays[key], expected, rtol=RTOL_PAGE, atol=RTOL_PAGE)
    page.page.click("#update")  # one step on the whole batch: the mean of the samples' gradients
    trained = sb.train(net, spec.params, X, Y, 0.1, 1)
    expected_params = view.params(trained.params)
    assert_same(page.call("params"), expected_params, RTOL_PAGE)
    page.close()


def _registry_networks() -> list[Any]:
    """One small MLP per registered activation (hidden layer) and per loss (its output)."""
    cases = []
    for name, loss in sb.LOSSES.items():
        output = loss.outputs[0] if loss.outputs else "sigmoid"
        for hidden in sb.ACTIVATIONS:
            if hidden != "softmax":
                cases.append(pytest.param(hidden, output, name, id=f"{hidden}-{name}"))
    return cases


@pytest.mark.parametrize(("hidden", "output", "loss"), _registry_networks())
def test_every_activation_and_loss_computes_as_python_does(browser, tmp_path, hidden, output, loss):
    net = sb.mlp([2, 3, 2], activation=[hidden, output], loss=loss, weight_decay=0.01)
    params = net.init_params(seed=1, scheme="normal")
    x, y = np.array([0.3, -0.7]), np.array([1.0, 0.0])
    path = tmp_path / "net.html"
    sb.explore(net, params, (x, y), path=path)
    page = Page(browser, path)
    d = sb.derive(net)
    ev = d.evaluate(params, x, y)
    expected = {s.lhs.name: float(ev[s.lhs.name]) for s in d.steps if s.stage is not Stage.UPDATE}
    assert_same(page.values(), expected, RTOL_PAGE)
    page.close()
