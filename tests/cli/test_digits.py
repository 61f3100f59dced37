"""examples/digits.toml from the command line: held-out accuracy, the losses file, the plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symbackprop.cli import main as cli

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits.toml"
CNN = DIGITS.with_name("cnn_digits.toml")
CHANCE = 0.1  # ten classes
SHORT_EPOCHS = "3"
SHORT_RUN_TEST_ACCURACY = 0.8  # three epochs of SGD already reach ~0.95; chance is 0.1
PROMISED_TEST_ACCURACY = 0.95  # README and digits.toml promise this after the spec's own epochs
CNN_PROMISED_TEST_ACCURACY = 0.97  # README: cnn_digits.toml reaches 98.6 % after its 20 epochs


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def _columns(path: Path) -> dict[str, list[float]]:
    header, *rows = path.read_text().splitlines()
    names = header.split(",")
    return {name: [float(row.split(",")[i]) for row in rows] for i, name in enumerate(names)}


def test_a_short_digits_run_learns_far_above_chance(tmp_path):
    result = run("train", str(DIGITS), "--epochs", SHORT_EPOCHS, "--losses", "curve.csv",
                 "--plot", "curve.png", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar: stderr is not a terminal
    assert "over 1438 samples (training)" in result.stdout
    assert "over 359 held-out samples" in result.stdout
    assert "accuracy: training " in result.stdout and ", test " in result.stdout
    curve = _columns(tmp_path / "curve.csv")
    assert list(curve) == ["epoch", "loss", "test_loss", "accuracy", "test_accuracy"]
    assert len(curve["epoch"]) == int(SHORT_EPOCHS) + 1
    assert curve["test_accuracy"][0] < 2 * CHANCE  # before training: a guess
    assert curve["test_accuracy"][-1] > SHORT_RUN_TEST_ACCURACY
    assert curve["test_loss"][-1] < curve["test_loss"][0]
    printed = f"test {100 * curve['test_accuracy'][-1]:.1f} %"
    assert printed in result.stdout
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_progress_can_be_forced_when_stderr_is_not_a_terminal(tmp_path):
    result = run("train", str(DIGITS), "--epochs", "2", "--progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2 loss" in result.stderr and result.stderr.count("epoch ") == 2


def test_a_plot_with_an_unknown_suffix_is_refused_before_training(tmp_path, capsys):
    assert cli.main(["train", str(DIGITS), "--plot", str(tmp_path / "curve.gif")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "--plot" in err and "end it in .png, .svg, .pdf" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_digits_reach_the_promised_test_accuracy(tmp_path):
    result = run("train", str(DIGITS), "--losses", "curve.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    test_accuracy = _columns(tmp_path / "curve.csv")["test_accuracy"][-1]
    assert test_accuracy >= PROMISED_TEST_ACCURACY, f"test accuracy {test_accuracy:.4f}"


def test_a_short_convolutional_run_on_the_digits_learns_far_above_chance(tmp_path):
    result = run("train", str(CNN), "--epochs", "2", "--losses", "curve.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "conv2d 8 3x3 padding 1" in result.stdout and "max_pool2d 2x2" in result.stdout
    assert _columns(tmp_path / "curve.csv")["test_accuracy"][-1] > SHORT_RUN_TEST_ACCURACY


@pytest.mark.slow
def test_the_convolutional_network_reaches_its_promised_test_accuracy(tmp_path):
    result = run("train", str(CNN), "--losses", "curve.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    test_accuracy = _columns(tmp_path / "curve.csv")["test_accuracy"][-1]
    assert test_accuracy >= CNN_PROMISED_TEST_ACCURACY, f"test accuracy {test_accuracy:.4f}"
