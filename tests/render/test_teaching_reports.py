"""The teaching instances of convolution and backpropagation through time, as reports.

examples/layers/conv_tiny.toml (a 3x3 map and a 2x2 kernel inside a two-convolution network)
and examples/layers/rnn_per_step.toml (a 3-step RNN with a loss at every step) are what a
student reads: every number printed must be the compiled gradient's, the hard steps must be
named, and the PDF must compile with nothing cut at the margin.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.derivation.bptt import hidden_state_jacobians
from symbackprop.derivation.steps import Stage
from symbackprop.model import notation
from symbackprop.model.losses import get_loss
from symbackprop.model.specs.spec import load_spec
from symbackprop.render.matrix_sections import entry_latex, entry_text
from symbackprop.render.text import RULE_WORDS
from tests.render.test_matrix_report import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    NEEDS_LATEX,
    OVERFULL_TOLERANCE_PT,
    _visible_text,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "layers"
TEACHING = ["conv_tiny", "rnn_3step", "rnn_per_step", "lstm"]


def _spec(name: str):  # noqa: ANN202 (a Spec)
    return load_spec(EXAMPLES / f"{name}.toml")


@pytest.mark.parametrize("name", TEACHING)
def test_every_gradient_in_the_report_is_the_compiled_gradient(name: str, tmp_path: Path) -> None:
    spec = _spec(name)
    net, params, (X, Y) = spec.network, dict(spec.params), spec.data
    d = sb.derive(net)
    ev = d.evaluate(params, X, Y, learning_rate=0.5)
    compiled = sb.compile(net).gradient(params, X, Y)
    text = sb.report(net, params, (X, Y), tmp_path / "r.md").read_text(encoding="utf-8")
    for step in d.stage(Stage.GRADIENT):
        shown = np.reshape(ev.values[step.name], net.parameter_shapes()[step.state_name])
        np.testing.assert_allclose(shown, compiled[step.state_name], rtol=1e-12, atol=1e-15)
        for value in np.ravel(shown):
            assert entry_latex(float(value)) in text, f"{step.name}: {value} is not printed"


def test_the_convolution_report_names_the_three_hard_steps() -> None:
    spec = _spec("conv_tiny")
    d = sb.derive(spec.network)
    text = d.to_text(d.evaluate(dict(spec.params), *spec.data))
    adjoint = notation.program_unicode("dA1")
    assert f"{adjoint} = Δ⁽²⁾ ⋆full rot180(K⁽²⁾)" in text  # the input's gradient: flipped, full
    assert "∂L/∂K⁽²⁾ = (1/B) A⁽¹⁾ ⋆ Δ⁽²⁾" in text  # the kernel's: a correlation with Δ
    assert "Z⁽²⁾ = A⁽¹⁾ ⋆ K⁽²⁾" in text  # the forward: a correlation
    for rule in (sb.Rule.CONV_INPUT_GRADIENT, sb.Rule.CONV_KERNEL_GRADIENT):
        assert RULE_WORDS[rule] in text
    assert "sample 1, channel 1:" in text  # maps as grids, not as 9-row columns


def test_the_input_gradient_is_the_full_convolution_worked_by_hand() -> None:
    spec = _spec("conv_tiny")
    d = sb.derive(spec.network)
    ev = d.evaluate(dict(spec.params), *spec.data)
    delta = ev.values["Delta2"][:, 0].reshape(2, 2)
    kernel = np.asarray(spec.params["2.weight"]).reshape(2, 2)
    flipped = kernel[::-1, ::-1]
    padded = np.pad(delta, 1)
    expected = np.array([[np.sum(padded[i : i + 2, j : j + 2] * flipped) for j in range(3)]
                         for i in range(3)])  # fmt: skip
    np.testing.assert_allclose(ev.values["dA1"][:, 0].reshape(3, 3), expected, rtol=1e-12)


def test_bptt_shows_each_hidden_state_as_the_sum_of_its_two_paths() -> None:
    d = sb.derive(_spec("rnn_per_step").network)
    for t in (1, 2):
        step = d.step(f"dH1t{t}")
        assert {str(p.via.name) for p in step.paths} == {f"Z2t{t}", f"Z1t{t + 1}"}
        assert sb.Rule.HIDDEN_STATE_PATHS in step.rules
    last = d.step("dH1t3")  # the last state has only its own step's output
    assert [str(p.via.name) for p in last.paths] == ["Z2t3"]
    recurrent = d.gradient_step("0.weight_hh_l0")
    assert sorted(str(p.via.name) for p in recurrent.paths) == ["Z1t2", "Z1t3"]
    assert sb.Rule.SUM_OVER_STEPS in recurrent.rules


def test_each_step_of_a_softmax_sequence_gets_its_own_fused_delta() -> None:
    net = _spec("rnn_per_step").network
    d = sb.derive(net)
    for t in (1, 2, 3):
        step = d.step(f"Delta2t{t}")
        assert step.rules == (get_loss("cross_entropy").fused_rule("softmax"),)
        assert str(step.rhs) == f"-Block(Y, ({2 * t - 2}, {2 * t}, {t})) + A2t{t}"
    # A stack that the per-step layer after it reads step by step is not computed at all.
    assert "Z2" not in {str(a.lhs.name) for a in net.program.assignments}


def test_the_recurrent_report_shows_the_jacobian_products_in_numbers(tmp_path: Path) -> None:
    spec = _spec("rnn_3step")
    net, params, (X, Y) = spec.network, dict(spec.params), spec.data
    ev = sb.derive(net).evaluate(params, X, Y)
    products = hidden_state_jacobians(ev, 1, 0)
    text = sb.report(net, params, (X, Y), tmp_path / "r.md").read_text(encoding="utf-8")
    assert "Vanishing or exploding gradients (layer 1)" in text
    for product in products:
        assert f"| {product.step} | {3 - product.step} | {entry_text(product.norm)} |" in text


@NEEDS_LATEX
@pytest.mark.parametrize("name", ["conv_tiny", "rnn_per_step"])
def test_the_teaching_pdfs_compile_with_nothing_cut(name: str, tmp_path: Path) -> None:
    spec = _spec(name)
    tex = sb.report(spec.network, dict(spec.params), spec.data, tmp_path / "r.tex")
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error",
                           tex.name], cwd=tmp_path, capture_output=True, timeout=180)  # fmt: skip
    log = (tmp_path / "r.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, f"pdflatex failed: {errors[:3]}"
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide", log)]
    assert all(width <= OVERFULL_TOLERANCE_PT for width in overfull), f"cut lines: {overfull}"
    assert "Missing character" not in log


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_chromium_renders_the_convolution_report_with_its_drawing(tmp_path: Path) -> None:
    spec = _spec("conv_tiny")
    page = sb.report(spec.network, dict(spec.params), spec.data, tmp_path / "r.html")
    profile = tmp_path / "profile"
    profile.mkdir()
    dom = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    text = _visible_text(dom)
    for raw in (r"\frac", r"\star", r"\operatorname", r"\begin", "$"):
        assert raw not in text, f"{raw!r} reached the rendered page"
    assert "<svg" in dom and "kernel K" in text and "X (sample 1)" in text


SHAPED = {
    "conv2d": sb.sequential(
        (2, 6, 6),
        [
            sb.Conv2d(2, 3, stride=2, padding=1),
            "relu",
            sb.MaxPool2d(2),
            sb.AvgPool2d(1),
            sb.Flatten(),
            sb.Dense(2),
            "softmax",
        ],
    ),  # fmt: skip
    "conv1d": sb.sequential(
        (2, 7),
        [
            sb.Conv1d(2, 3, stride=2, padding=1),
            "tanh",
            sb.MaxPool1d(2),
            sb.AvgPool1d(2),
            sb.Flatten(),
            sb.Dense(2),
            "softmax",
        ],
    ),  # fmt: skip
    "lstm": sb.sequential((3, 2), [sb.LSTM(2, truncate=2), sb.Dense(2), "softmax"]),
    "rnn": sb.sequential((3, 2), [sb.RNN(2, output="last", truncate=1), sb.Dense(2), "softmax"]),
}


@pytest.mark.parametrize("kind", list(SHAPED))
def test_every_step_of_maps_and_sequences_converts_to_mathml(kind: str) -> None:
    from symbackprop.model.printing import to_latex
    from symbackprop.render.templating import mathml

    for step in sb.derive(SHAPED[kind]).steps:
        for expr in (step.lhs, step.rhs):
            assert "<math" in mathml(to_latex(expr, matrix=True)), step.name
