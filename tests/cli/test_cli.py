"""The `symbackprop` command: verbs, outputs, and bad input as one line with exit status 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symbackprop.checks.gradcheck import GradcheckResult, GradcheckRow, Verdict
from symbackprop.cli import main as cli
from symbackprop.cli import network as cli_network
from symbackprop.model.specs.spec import load_spec
from tests.conftest import XOR_SPEC

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MAZUR = str(EXAMPLES / "mazur.toml")
GOOD_OUTPUT = "# a good file from an earlier run\n"
VERBS = ("demo", "derive", "gradcheck", "train", "check", "report")


PROGRAM = """\
[program]
inputs = ["x1", "x2"]
targets = ["y"]
params = ["w1", "w2", "b"]
assign = ["h = sigmoid(w1*x1 + w2*x2 + b)"]
loss = "(h - y)**2 / 2"

[init]
seed = 0

[data]
X = [[1, 2]]
Y = [[1]]
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbackprop: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- verbs ---------------------------------------------------------------------------------------
def test_demo_prints_mazurs_derivation():
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert "δ⁽²⁾₁" in result.stdout and "0.138498562" in result.stdout
    assert "Check: every ∂L/∂θ above agrees" in result.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_help_of_each_verb_has_an_example(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([verb, "--help"])
    assert exit_.value.code == 0
    assert f"example: symbackprop {verb}" in capsys.readouterr().out


def test_derive_prints_the_numbers_of_the_first_sample(capsys):
    assert cli.main(["derive", MAZUR]) == 0
    out = capsys.readouterr().out
    assert "0.138498562" in out and "0.082167041" in out  # delta2_1, dL/dw2_1_1 (Mazur)


@pytest.mark.parametrize(("fmt", "marker"), [("md", "### "), ("tex", r"\begin{align*}")])
def test_derive_formats(fmt, marker, capsys):
    assert cli.main(["derive", MAZUR, "--format", fmt]) == 0
    assert marker in capsys.readouterr().out


def test_derive_json_has_steps_with_values(capsys):
    assert cli.main(["derive", MAZUR, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    steps = {step["lhs"]: step for step in document["steps"]}
    delta = steps["delta2_1"]
    assert delta["stage"] == "adjoint" and delta["layer"] == 2
    assert "sigmoid_identity" in delta["rules"] or delta["rules"]
    assert delta["value"] == pytest.approx(0.138498562, abs=1e-9)
    assert steps["dL_dw2_1_1"]["rhs"] == "a1_1*delta2_1"
    assert "b1_new" not in steps  # frozen biases get no update step


def test_derive_writes_a_file(tmp_path, capsys):
    out = tmp_path / "mazur.md"
    assert cli.main(["derive", MAZUR, "--format", "md", "-o", str(out)]) == 0
    assert out.read_text().startswith("**")
    assert f"wrote {out}" in capsys.readouterr().out


def test_gradcheck_prints_a_table_and_exit_0(capsys):
    assert cli.main(["gradcheck", MAZUR]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "parameter",
        "analytic",
        "numeric",
        "rel.",
        "error",
        "verdict",
    ]
    assert "w2_1_1" in out and out.splitlines()[-1].startswith("ok: every gradient")


def test_gradcheck_exits_1_when_a_gradient_disagrees(monkeypatch, capsys):
    wrong = GradcheckRow("w1_1_1", 1.0, 2.0, 0.5, Verdict.WRONG)
    # The verb imports gradcheck when it runs: replace it where it is defined.
    monkeypatch.setattr(
        "symbackprop.checks.gradcheck.gradcheck", lambda *a, **k: GradcheckResult((wrong,), 1e-6, 1)
    )
    assert cli.main(["gradcheck", MAZUR]) == 1
    assert "FAILED: 1 gradient(s) disagree" in capsys.readouterr().out


def test_train_writes_losses_and_a_spec_that_loads_back(tmp_path):
    result = run(
        "train", MAZUR, "--epochs", "50", "--losses", "losses.csv", "-o", "out.toml", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    rows = (tmp_path / "losses.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss" and len(rows) == 52
    assert float(rows[-1].split(",")[1]) < float(rows[1].split(",")[1])
    trained = load_spec(tmp_path / "out.toml")
    original = load_spec(MAZUR)
    assert trained.params["b1"] == original.params["b1"]  # frozen
    assert trained.params["w2_1_1"] != original.params["w2_1_1"]
    assert trained.training == original.training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losses.csv", "out.toml"]


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_train_on_another_backend_gives_numpys_losses(tmp_path, backend):
    pytest.importorskip(
        backend, reason=f"the {backend} backend needs pip install -e '.[{backend}]'"
    )
    runs = {}
    for engine in ("numpy", backend):
        result = run("train", MAZUR, "--epochs", "30", "--backend", engine,
                     "--losses", f"{engine}.csv", cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # no warnings either
        rows = (tmp_path / f"{engine}.csv").read_text().splitlines()[1:]
        runs[engine] = [float(row.split(",")[1]) for row in rows]
    assert f"· {backend} ·" in result.stdout
    assert runs[backend] == pytest.approx(runs["numpy"], rel=1e-12)


def test_the_train_backends_are_the_engines():
    from symbackprop.numeric.backends import BACKENDS

    assert cli_network.TRAIN_BACKENDS == BACKENDS


def test_a_custom_program_warns_about_an_unused_parameter_in_one_line(tmp_path):
    text = PROGRAM.replace('"w1", "w2", "b"]', '"w1", "w2", "b", "unused"]')
    (tmp_path / "spec.toml").write_text(text)
    result = run("gradcheck", "spec.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("symbackprop: warning: spec.toml:4:29:")
    assert "'unused' does not affect the loss" in lines[0]


# --- check and report ------------------------------------------------------------------------
def test_check_exit_status_says_correct_wrong_or_bad_input(tmp_path, capsys):
    assert cli.main(["check", MAZUR, "--wrt", "w2_1_1", "--expr", "delta2_1*a1_1"]) == 0
    assert cli.main(["check", MAZUR, "--wrt", "w2_1_1", "--expr", "delta2_1*a1_2"]) == 1
    assert "wrong" in capsys.readouterr().out
    marker = tmp_path / "MARKER"
    bad = run(
        "check", MAZUR, "--wrt", "w2_1_1", "--expr", f"__import__('os').system('touch {marker}')"
    )
    assert_one_line_error(bad)
    assert not marker.exists()


def test_report_writes_the_file(tmp_path):
    result = run("report", MAZUR, "-o", "mazur.md", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mazur.md").stat().st_size > 0


# --- bad input: one line, exit 2, no output file, an existing good one untouched -------------
BAD_SPECS = {
    "malformed TOML": (XOR_SPEC.replace("[2, 2, 1]", "[2, 2"), "spec.toml:3:1: invalid TOML"),
    "unknown key": (XOR_SPEC.replace("seed", "sede"), "spec.toml:6:1: unknown key 'sede'"),
    "unknown activation": (XOR_SPEC.replace('"sigmoid"', '"sigmod"'), "did you mean 'sigmoid'"),
    "unknown loss": (XOR_SPEC.replace("activation", 'loss = "mse2"\nactivation'), "unknown loss"),
    "wrong sizes": (XOR_SPEC.replace("[2, 2, 1]", "[2, -2, 1]"), "spec.toml:2:1: layer size -2"),
    "weights of the wrong shape": (
        XOR_SPEC.replace("[init]", "[params]\nW1 = [[1, 2, 3]]\n\n[init]"),
        "spec.toml:6:1: W1 has 1 entries but needs shape (2, 2)",
    ),
    "data of the wrong shape": (XOR_SPEC.replace("[0], [1], [1], [0]", "[0], [1]"), "X has 4 rows"),
    "NaN data": (XOR_SPEC.replace("[1, 1]]", "[1, nan]]"), "X row 4, column 2 is nan"),
    "non-numeric data": (XOR_SPEC.replace("[1, 1]]", '[1, "one"]]'), "is 'one', not a number"),
    "injection": (
        PROGRAM.replace("(h - y)**2 / 2", "__import__('os').system('touch MARKER')"),
        "spec.toml:6:",
    ),
    "expression bomb": (PROGRAM.replace("(h - y)**2 / 2", "9**9**9**9**9"), "spec.toml:6:"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_one_line_exit_2_and_leaves_outputs_alone(tmp_path, case):
    text, expected = BAD_SPECS[case]
    (tmp_path / "spec.toml").write_text(text)
    (tmp_path / "out.toml").write_text(GOOD_OUTPUT)
    result = run("train", "spec.toml", "-o", "out.toml", "--losses", "losses.csv", cwd=tmp_path)
    assert_one_line_error(result, expected)
    assert (tmp_path / "out.toml").read_text() == GOOD_OUTPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.toml", "spec.toml"]


def test_missing_spec_file_is_one_line(tmp_path):
    assert_one_line_error(run("derive", "nope.toml", cwd=tmp_path), "nope.toml: no such file")


def test_unwritable_output_is_one_line(tmp_path):
    result = run("derive", MAZUR, "-o", str(tmp_path / "no" / "dir" / "out.md"))
    assert_one_line_error(result, "cannot write", "out.md")


def test_training_that_diverges_is_one_line_and_writes_nothing(tmp_path):
    line = '[network]\nsizes = [1, 1]\nactivation = "identity"\nloss = "mse"\n'
    data = "[init]\nseed = 0\n[data]\nX = [[10.0]]\nY = [[1.0]]\n[training]\nlearning_rate = 1e3\n"
    (tmp_path / "spec.toml").write_text(line + data)
    result = run("train", "spec.toml", "-o", "out.toml", cwd=tmp_path)
    assert_one_line_error(result, "diverged")
    assert not (tmp_path / "out.toml").exists()


def test_gradcheck_without_data_is_one_line(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text(XOR_SPEC.split("[data]")[0])
    assert cli.main(["gradcheck", str(tmp_path / "spec.toml")]) == 2
    assert "has no [data], which gradcheck needs" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_is_drawn_only_on_a_terminal():
    terminal = _Terminal()
    with cli_network._progress(200, terminal) as draw:
        assert draw is not None
        for epoch in range(1, 201):
            draw(epoch, 0.5 / epoch)
    assert "epoch 200/200 loss 0.0025" in terminal.getvalue()
    assert terminal.getvalue().count("\r") <= 101  # redrawn at most once per percent
    with cli_network._progress(200, io.StringIO()) as draw:
        assert draw is None


@pytest.mark.parametrize("target", ["missing-folder/out.html", "a-folder.html"])
def test_report_to_an_unusable_path_is_one_line_and_exit_2(tmp_path, target):
    (tmp_path / "a-folder.html").mkdir()
    out = tmp_path / target
    done = subprocess.run(
        [sys.executable, "-m", "symbackprop", "report", str(EXAMPLES / "xor.toml"), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("symbackprop: error: cannot use")
    assert str(out) in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "symbackprop", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("symbackprop ")
