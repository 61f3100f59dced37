"""What reports say: the blame split, the sample worked through, program words, stated settings.

Each test reads a rendered report (Markdown or terminal text, which are quick to make) and
checks a sentence or a number a student relies on.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.render.report import render
from tests.conftest import MAZUR_ETA, MAZUR_X, MAZUR_Y

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PERCENT = re.compile(r"(-?\d+) %")


def _md(network: sb.Network, params: dict[str, float], X: object, Y: object, **options) -> str:
    return render(network, params, (X, Y), "md", **options)


# --- the blame split -----------------------------------------------------------------------------
def test_blame_split_says_the_paths_add_up_to_dl_da_and_shows_the_step_to_delta(
    mazur_mlp: sb.Network, mazur_mlp_params: dict[str, float]
) -> None:
    text = _md(mazur_mlp, mazur_mlp_params, MAZUR_X, MAZUR_Y, learning_rate=MAZUR_ETA)
    assert "add up to the delta" not in text
    assert "add up to ∂L/∂a" in text
    # the sum of the paths is dL/da1_1 = 0.055399425 - 0.019049118, and the delta row multiplies
    # it by sigma'(z) = 0.241300709 to Mazur's 0.008771355
    assert "0.036350306" in text
    assert re.search(r"0\.036350306 \\cdot 0\.241300709\$ = 0\.008771355", text), text


def _cancelling_network() -> tuple[sb.Network, dict[str, float]]:
    """A hidden neuron feeding two outputs along weights of opposite sign: its paths cancel."""
    net = sb.mlp([1, 1, 2], activation="sigmoid", loss="half_sse")
    params = {"w1_1_1": 0.5, "b1_1": 0.0, "w2_1_1": 3.0, "w2_2_1": 3.05, "b2_1": 0.0, "b2_2": 0.0}
    return net, params


def test_blame_shares_stay_readable_when_paths_cancel() -> None:
    net, params = _cancelling_network()
    text = sb.derive(net).to_text(sb.derive(net).evaluate(params, [1.0], [0.99, 0.01]))
    blame = next(line for line in text.splitlines() if "blame:" in line)
    shares = [int(value) for value in PERCENT.findall(blame)]
    assert len(shares) == 2 and all(-100 <= s <= 100 for s in shares), blame
    report = _md(net, params, [[1.0]], [[0.99, 0.01]], learning_rate=0.5)
    shares = [int(value) for value in PERCENT.findall(report)]
    assert shares and all(-100 <= s <= 100 for s in shares), shares


def _dead_relu() -> tuple[sb.Network, dict[str, float]]:
    """Hidden neuron 1 has z = -5 < 0: relu'(z) = 0, and it feeds two outputs."""
    net = sb.mlp([1, 2, 2], activation=["relu", "sigmoid"], loss="half_sse")
    params = dict.fromkeys(net.parameter_names(), 0.3)
    params["b1_1"] = -5.0
    return net, params


def test_a_dead_neuron_is_named_dead() -> None:
    net, params = _dead_relu()
    d = sb.derive(net)
    text = d.to_text(d.evaluate(params, [1.0], [0.0, 1.0]))
    delta = text[text.index("δ⁽¹⁾₁ =") : text.index("δ⁽¹⁾₂ =")]
    assert "dead neuron" in delta
    assert "dead neuron" not in text[text.index("δ⁽¹⁾₂ =") :]
    report = _md(net, params, [[1.0]], [[0.0, 1.0]], learning_rate=0.5)
    assert report.count("This neuron is dead for this sample") == 1


def test_a_dead_neuron_with_one_path_is_named_dead_too() -> None:
    net = sb.mlp([1, 2, 1], activation=["relu", "sigmoid"], loss="half_sse")
    params = dict.fromkeys(net.parameter_names(), 0.3)
    params["b1_2"] = -5.0
    report = _md(net, params, [[1.0]], [[1.0]], learning_rate=0.5)
    assert report.count("This neuron is dead for this sample") == 1


# --- the sample worked through -------------------------------------------------------------------
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


@pytest.fixture(scope="module")
def xor_zero_biases() -> tuple[sb.Network, dict[str, float]]:
    net = sb.mlp([2, 3, 1], activation=["tanh", "sigmoid"], loss="half_sse")
    params = net.init_params(seed=1, scheme="xavier")
    return net, {k: (0.0 if k.startswith("b") else v) for k, v in params.items()}


def test_the_default_sample_is_an_informative_one_and_the_report_says_why(
    xor_zero_biases: tuple[sb.Network, dict[str, float]],
) -> None:
    net, params = xor_zero_biases
    text = _md(net, params, XOR_X, XOR_Y, learning_rate=2.0)
    # (0, 0) with zero biases makes most gradients 0: the report must not work through it
    assert "for the first sample" not in text
    chosen = re.search(r"for sample (\d)", text)
    assert chosen is not None and chosen.group(1) != "1", text[:2000]
    assert "fewest zero gradients" in text and "--sample" in text


def test_the_sample_can_be_chosen(xor_zero_biases: tuple[sb.Network, dict[str, float]]) -> None:
    net, params = xor_zero_biases
    text = _md(net, params, XOR_X, XOR_Y, learning_rate=2.0, sample=1)
    assert "for sample 1 (as asked)" in text
    with pytest.raises(sb.SymbackpropError, match="sample 5 is out of range: the data has 4"):
        _md(net, params, XOR_X, XOR_Y, sample=5)


# --- stated settings -----------------------------------------------------------------------------
def test_a_report_says_when_the_learning_rate_is_the_default(
    mazur_mlp: sb.Network, mazur_mlp_params: dict[str, float]
) -> None:
    default = _md(mazur_mlp, mazur_mlp_params, MAZUR_X, MAZUR_Y)
    assert "The update uses η = 0.5, the default: no learning rate was given" in default
    chosen = _md(mazur_mlp, mazur_mlp_params, MAZUR_X, MAZUR_Y, learning_rate=0.5)
    assert "the default" not in chosen


# --- programs get program words ------------------------------------------------------------------
@pytest.fixture(scope="module")
def gated() -> tuple[sb.Spec, str]:
    spec = sb.load_spec(EXAMPLES / "custom.toml")
    X, Y = spec.data
    return spec, _md(spec.network, dict(spec.params), X, Y, learning_rate=0.5)


def test_a_program_report_speaks_of_nodes_not_neurons_and_layers(
    gated: tuple[sb.Spec, str],
) -> None:
    spec, text = gated
    for phrase in ("Each neuron weighs", "the deltas of the layer after it", "BP3", "BP4"):
        assert phrase not in text, phrase
    assert "BP3" not in sb.derive(spec.network).to_text()


def test_multi_letter_names_do_not_run_together(gated: tuple[sb.Spec, str]) -> None:
    _, text = gated
    assert r"g \mathrm{gate}" not in text and r"\mathrm{gate} v" not in text
    assert r"g \cdot \mathrm{gate} \cdot" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz dot (Debian graphviz)")
def test_graph_nodes_name_their_adjoint(gated: tuple[sb.Spec, str]) -> None:
    spec, _ = gated
    X, Y = spec.data
    page = render(spec.network, dict(spec.params), (X, Y), "html", learning_rate=0.5)
    assert "∂L/∂gate = " in page and "∂L/∂·" not in page


# --- what the loss and the update say ------------------------------------------------------------
def test_mse_on_two_outputs_does_not_read_as_half_sse() -> None:
    net = sb.mlp([2, 2], loss="mse")
    d = sb.derive(net)
    text = d.to_text(d.evaluate(net.init_params(seed=0), [0.1, 0.2], [0.0, 1.0]))
    assert "[sum rule; ½ cancels the 2" not in text
    assert "mse's mean over 2 outputs is ½ Σ, so its ½ cancels the 2" in text


def test_a_batch_report_gives_the_batch_loss_beside_the_samples() -> None:
    net = sb.mlp([6, 4, 3], activation=["tanh", "softmax"], loss="cross_entropy")
    rng = np.random.default_rng(0)
    X, Y = rng.random((3, 6)), np.eye(3)[[0, 2, 1]]
    text = _md(net, net.init_params(seed=0), X, Y, learning_rate=0.5)
    assert re.search(
        r"On the whole batch of 3 samples .* the loss is [\d.]+ before this step", text
    )


def test_a_layer_report_works_on_the_sample_asked_for() -> None:
    net = sb.sequential(3, [sb.Dense(2), "softmax"], loss="cross_entropy")
    X, Y = np.random.default_rng(0).normal(size=(4, 3)), np.eye(2)[[0, 1, 1, 0]]
    text = render(net, net.init_params(seed=0), (X, Y), "md", learning_rate=0.5, sample=3)
    assert "batch of $B = 1$ samples" in text
    with pytest.raises(sb.SymbackpropError, match="sample 9 is out of range: the data has 4"):
        render(net, net.init_params(seed=0), (X, Y), "md", sample=9)
