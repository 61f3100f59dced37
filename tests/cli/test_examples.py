"""Every file in examples/ works from the command line: loads, derives, gradchecks, trains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.cli import network as cli_network
from symbackprop.model.specs.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Examples on real data (1,438 training images) take a minute each to derive in every format
# and gradcheck entry by entry: they run with the slow tests (CI runs those too).
LARGE = {"digits", "cnn_digits"}
SPECS = sorted(EXAMPLES.glob("*.toml"))
CHECKED = [pytest.param(p, marks=pytest.mark.slow) if p.stem in LARGE else p for p in SPECS]
XOR_TARGET_LOSS = 0.01  # xor.toml promises a loss below this after its own [training] epochs
QUICK_EPOCHS = "20"  # enough to see the loss move; the full runs are the examples' own business
# CS231n's published gradients (two decimals) of f at w = [2, -3, -3], x = [-1, -2].
CS231N_DW = {"w0": -0.20, "w1": -0.39, "w2": 0.20}
CS231N_TOLERANCE = 0.01  # the notes round to two decimals


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_the_examples_are_there():
    names = {path.name for path in SPECS}
    expected = {"mazur.toml", "xor.toml", "iris.toml", "custom.toml", "cs231n_neuron.toml"}
    assert expected <= names
    assert any(load_spec(p).network.describe().count("tanh") for p in SPECS)
    assert len((EXAMPLES / "iris.csv").read_text().splitlines()) == 151  # header + 150 rows


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem)
def test_example_derives_in_every_format(path, capsys):
    for fmt in cli_network.FORMATS:
        assert cli.main(["derive", str(path), "--format", fmt]) == 0, fmt
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem)
def test_example_gradchecks_and_trains_from_the_command_line(path, tmp_path, capsys):
    assert cli.main(["gradcheck", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ok: every gradient")
    if load_spec(path).data is None:
        return
    out = tmp_path / f"{path.stem}-trained.toml"
    trained = run("train", str(path), "--epochs", QUICK_EPOCHS, "-o", str(out))
    assert trained.returncode == 0, trained.stderr
    assert trained.stderr == ""
    again = load_spec(out)
    assert set(again.params) == set(load_spec(path).params)


def test_xor_trains_below_its_target_loss(tmp_path):
    result = run("train", str(EXAMPLES / "xor.toml"), "--losses", "losses.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    final = float((tmp_path / "losses.csv").read_text().splitlines()[-1].split(",")[1])
    assert final < XOR_TARGET_LOSS, f"xor ended at loss {final}, expected < {XOR_TARGET_LOSS}"


def test_cs231n_neuron_has_the_published_gradients(capsys):
    spec = load_spec(EXAMPLES / "cs231n_neuron.toml")
    assert spec.data is not None
    gradient = sb.compile(spec.network).gradient(spec.params, *spec.data)
    for name, expected in CS231N_DW.items():
        assert gradient[name] == pytest.approx(expected, abs=CS231N_TOLERANCE), name


def test_mazur_trains_to_his_published_error():
    spec = load_spec(EXAMPLES / "mazur.toml")
    assert spec.data is not None
    result = sb.train(
        spec.network,
        spec.params,
        *spec.data,
        learning_rate=spec.training.learning_rate,
        epochs=spec.training.epochs,
        freeze=spec.training.freeze,
    )
    assert result.final_loss == pytest.approx(0.0000351085, rel=0.01)


def test_library_example_runs():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "use_library.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "gradcheck ok: True" in result.stdout
