"""Every spec in examples/layers/ works from the command line: loads, gradchecks, trains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.model.specs.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "layers"
SPECS = sorted(EXAMPLES.glob("*.toml"))
QUICK_EPOCHS = "20"  # enough to see the loss fall; the full runs are the examples' own business
MAX_SAMPLES = 6  # the examples keep their data tiny so that reports stay readable
TOL = 1e-12  # arrays written with repr() read back exactly
KINDS = {"dense", "activation", "softmax", "layer_norm", "batch_norm", "dropout", "residual",
         "self_attention", "conv2d", "max_pool2d", "flatten", "rnn", "lstm"}  # fmt: skip


def _kinds(layers: tuple) -> set[str]:
    found = set()
    for layer in layers:
        found.add(layer.kind)
        found |= _kinds(getattr(layer, "layers", ()))
    return found


def test_every_layer_kind_has_an_example():
    names = {path.stem for path in SPECS}
    expected = {"classifier", "layer_norm", "batch_norm", "residual", "dropout", "attention"}
    assert expected | {"transformer_block", "conv_tiny", "conv_pool", "rnn_3step", "rnn_per_step",
                        "lstm"} <= names  # fmt: skip
    covered = set().union(*(_kinds(load_spec(path).network.layers) for path in SPECS))
    assert covered == KINDS


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_layer_example_is_small_and_gradchecks(path, capsys):
    spec = load_spec(path)
    assert isinstance(spec.network, sb.LayerNetwork)
    assert spec.data is not None and 2 <= spec.data[0].shape[0] <= MAX_SAMPLES
    assert cli.main(["gradcheck", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ok: every gradient")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_layer_example_trains_with_a_falling_loss_and_writes_a_spec(path, tmp_path, capsys):
    out = tmp_path / "trained.toml"
    losses = tmp_path / "losses.csv"
    args = ["train", str(path), "--epochs", QUICK_EPOCHS, "--losses", str(losses), "-o", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    match = re.search(r"loss (\S+) -> (\S+) over", printed.out)
    assert match is not None, printed.out
    assert float(match[2]) < float(match[1])
    history = [float(line.split(",")[1]) for line in losses.read_text().splitlines()[1:]]
    assert history[-1] < history[0]
    spec, again = load_spec(path), load_spec(out)
    assert again.network == spec.network
    assert spec.data is not None
    trained = sb.train(spec.network, spec.params, *spec.data, epochs=int(QUICK_EPOCHS),
                       learning_rate=spec.training.learning_rate)  # fmt: skip
    for name, array in trained.params.items():
        np.testing.assert_allclose(again.params[name], array, rtol=0, atol=TOL, err_msg=name)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_layer_example_derives_in_matrix_form_with_shapes_and_numbers(path, capsys):
    assert cli.main(["derive", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Forward pass" in out and "Backward pass" in out
    assert "×B]" in out  # every matrix step states its shape, e.g. [4×B]
    assert f"batch of B = {load_spec(path).data[0].shape[0]} samples" in out


def test_derive_json_of_a_layer_network_gives_every_matrix(capsys):
    spec = load_spec(EXAMPLES / "classifier.toml")
    assert cli.main(["derive", str(EXAMPLES / "classifier.toml"), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    steps = {step["lhs"]: step for step in document["steps"]}
    evaluation = sb.derive(spec.network).evaluate(spec.params, *spec.data)
    assert steps["dL_dW2"]["parameter"] == "2.weight"
    np.testing.assert_allclose(steps["dL_dW2"]["value"], evaluation.values["dL_dW2"], rtol=1e-12)
    assert steps["Delta2"]["shape"] == ["2", "B"] or steps["Delta2"]["shape"][1] == "B"


def test_derive_one_sample_of_a_layer_network(capsys):
    assert cli.main(["derive", str(EXAMPLES / "classifier.toml"), "--sample", "2"]) == 0
    assert "batch of B = 1 sample" in capsys.readouterr().out


def test_check_of_a_layer_network_gives_the_verdict_and_names_the_mistake(capsys):
    path = str(EXAMPLES / "classifier.toml")
    right = ["check", path, "--wrt", "2.weight", "--expr", "Delta2 @ A1.T / B"]
    assert cli.main(right) == 0
    assert "correct" in capsys.readouterr().out
    wrong = ["check", path, "--wrt", "2.weight", "--expr", "Delta2 @ A1.T"]
    assert cli.main(wrong) == 1
    out = capsys.readouterr().out
    assert "wrong" in out and "1/B" in out


def test_check_with_a_shape_mismatch_explains_the_shapes(capsys):
    args = ["check", str(EXAMPLES / "classifier.toml"), "--wrt", "2.weight", "--expr",
            "Delta2 @ A1 / B"]  # fmt: skip
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "(2×B) by (3×B)" in out and "did you mean Delta2 @ A1.T" in out


@pytest.mark.parametrize("suffix", [".html", ".md"])
def test_report_of_a_layer_network(suffix, tmp_path, capsys):
    out = tmp_path / f"report{suffix}"
    assert cli.main(["report", str(EXAMPLES / "transformer_block.toml"), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "2.body.0.weight" in text and "layer norm" in text.lower()


def test_a_bad_layer_spec_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[network]\ninputs = 2\nlayers = [{dense = 2}, "sofmax"]\n')
    assert cli.main(["gradcheck", str(path)]) == 2
    err = capsys.readouterr().err
    # The list of known kinds grows with the layer kinds; its form and the suggestion do not.
    assert err.startswith("symbackprop: error: bad.toml:3:24: unknown layer 'sofmax'; known: ")
    assert err.endswith(" (did you mean 'softmax')\n") and err.count("\n") == 1
    assert "activation, " in err and "batch_norm, " in err and "dense, dropout" in err


@pytest.mark.parametrize("name", ["classifier", "layer_norm", "attention", "conv_tiny"])
def test_derive_per_element_writes_the_batch_out_and_agrees_with_the_matrices(name, capsys):
    assert cli.main(["derive", str(EXAMPLES / f"{name}.toml"), "--per-element"]) == 0
    out = capsys.readouterr().out
    assert "Forward pass" in out and "Backward pass" in out
    match = re.search(r"gradients equal the matrix derivation's \(largest difference (\S+)\)", out)
    assert match is not None, out[-400:]
    assert float(match[1]) < 1e-9
