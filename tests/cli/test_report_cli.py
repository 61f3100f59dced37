"""`symbackprop report`: the sample it derives, its title, its words on the data, progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbackprop.cli import main as cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _report(tmp_path: Path, spec: str, *options: str) -> str:
    out = tmp_path / "report.md"
    assert cli.main(["report", str(EXAMPLES / spec), "-o", str(out), *options]) == 0
    return out.read_text(encoding="utf-8")


def test_report_works_through_the_sample_asked_for(tmp_path: Path) -> None:
    assert "for sample 2 (as asked)" in _report(tmp_path, "xor.toml", "--sample", "2")


def test_report_of_a_bad_sample_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["report", str(EXAMPLES / "xor.toml"), "-o", str(tmp_path / "r.md"),
                     "--sample", "0"])  # fmt: skip
    assert code == 2
    assert (
        "sample 0 is out of range: the data has 4 samples; pass 1 to 4" in capsys.readouterr().err
    )


def test_report_title_is_the_specs_name_and_description(tmp_path: Path) -> None:
    text = _report(tmp_path, "custom.toml")
    assert text.startswith("# custom: A gated unit written as a custom program")


def test_iris_report_names_features_and_classes_says_standardised_and_gives_accuracy(
    tmp_path: Path,
) -> None:
    text = _report(tmp_path, "iris.toml")
    for word in ("sepal\\_length", "petal\\_width", "setosa", "virginica", "standardised"):
        assert word in text, word
    assert "Accuracy on these samples" in text


def test_report_draws_a_progress_bar_while_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _report(tmp_path, "xor.toml", "--progress")
    assert "epoch 1000/1000" in capsys.readouterr().err
