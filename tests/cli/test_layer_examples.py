"""Every spec in examples/layers/ works from the command line: loads, gradchecks, trains."""

from __future__ import annotations

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
         "self_attention"}  # fmt: skip


def _kinds(layers: tuple) -> set[str]:
    found = set()
    for layer in layers:
        found.add(layer.kind)
        found |= _kinds(getattr(layer, "layers", ()))
    return found


def test_every_layer_kind_has_an_example():
    names = {path.stem for path in SPECS}
    expected = {"classifier", "layer_norm", "batch_norm", "residual", "dropout", "attention"}
    assert expected | {"transformer_block"} <= names
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


@pytest.mark.parametrize("verb", ["derive", "check", "report"])
def test_verbs_without_layer_support_are_one_line_exit_2(verb, tmp_path, capsys):
    extra = {"check": ["--wrt", "0.weight", "--expr", "1"], "report": ["-o", "r.html"]}
    args = [verb, str(EXAMPLES / "classifier.toml"), *extra.get(verb, [])]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{verb} does not handle networks of layers yet" in err


def test_a_bad_layer_spec_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[network]\ninputs = 2\nlayers = [{dense = 2}, "sofmax"]\n')
    assert cli.main(["gradcheck", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "symbackprop: error: bad.toml:3:24: unknown layer 'sofmax'; known: activation, "
        "batch_norm, dense, dropout, identity, layer_norm, leaky_relu, relu, residual, "
        "self_attention, sigmoid, softmax, ... (2 more) (did you mean 'softmax')\n"
    )
