"""nbgrader notebooks: hidden tests with every student's key, autograded by nbgrader itself."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from symbackprop.cli.main import main
from symbackprop.model.errors import SymbackpropError
from symbackprop.worksheets.notebook import course_source, notebook_answers, render_notebook
from tests.worksheets.course_sheet import course_manifests, course_sheet, write_key

NBGRADER = "nbgrader==0.9.6"
INSTALL_TIMEOUT = 900  # seconds: nbgrader and Jupyter from the package index
RUN_TIMEOUT = 600
ASSIGNMENT = "week5"


def _answer_cells(notebook: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in notebook["cells"]
            if c["metadata"].get("nbgrader", {}).get("solution")}  # fmt: skip


def _filled(release: str, manifest, how: str) -> str:
    """A student's release notebook answered with the key, wrong numbers, or left blank."""
    notebook = json.loads(release)
    cells = _answer_cells(notebook)
    for blank in manifest["blanks"]:
        answer = blank["answer"]
        if how == "wrong" and blank["type"] == "numeric":
            answer = answer + 1.0
        elif how == "wrong" and blank["type"] == "choice":
            answer = "A" if answer != "A" else "B"
        if how != "blank":
            value = (
                f"{answer:.{manifest['decimals']}f}" if isinstance(answer, float) else repr(answer)
            )
            cells[f"answer_{blank['id']}"]["source"] = f"answer_{blank['id']} = {value}\n"
    return json.dumps(notebook)


def test_release_notebook_has_no_key_and_the_source_has_every_students():
    manifests = list(course_manifests().values())
    source = course_source(manifests)
    for manifest in manifests:
        numeric = next(b for b in manifest["blanks"] if b["type"] == "numeric")
        assert repr(numeric["answer"]) in source
    variant = course_sheet().variants[0]
    release = render_notebook(variant, manifests[0], True)
    assert "HIDDEN" not in release and repr(numeric["answer"]) not in release


def test_filled_release_notebook_reads_back_as_answers():
    sheet = course_sheet()
    manifest = sheet.manifests[0]
    release = render_notebook(sheet.variants[0], manifest, True)
    _, answers = notebook_answers(_filled(release, manifest, "key"), "w.ipynb")
    assert answers["rule_delta1_1"] == manifest["blanks"][6]["answer"]
    assert float(answers["a1_1"]) == pytest.approx(manifest["blanks"][0]["answer"], abs=1e-4)


def test_nbgrader_command_writes_the_source_and_each_students_notebook(tmp_path):
    course = tmp_path / "course"
    assert main(["worksheet", "nbgrader", str(write_key(tmp_path / "w")), "--assignment",
                 ASSIGNMENT, "-o", str(course)]) == 0  # fmt: skip
    source = (course / "source" / ASSIGNMENT / "worksheet.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" in source
    for student, manifest in course_manifests().items():
        release = course / "release-by-student" / student / ASSIGNMENT / "worksheet.ipynb"
        claimed, answers = notebook_answers(release.read_text(), "w.ipynb")
        assert claimed == student and set(answers) == {b["id"] for b in manifest["blanks"]}
    assert main(["worksheet", "nbgrader", str(tmp_path / "w"), "--assignment", "../x",
                 "-o", str(course)]) == 2  # fmt: skip


def test_course_source_refuses_students_with_different_blanks():
    manifests = list(course_manifests().values())
    other = dict(manifests[1], blanks=manifests[1]["blanks"][:2])
    with pytest.raises(SymbackpropError, match="different blanks"):
        course_source([manifests[0], other])


# --- nbgrader itself ----------------------------------------------------------------
@pytest.fixture(scope="module")
def nbgrader_bin(tmp_path_factory):
    """A throwaway venv with nbgrader 0.9.6 from the package index (skip when it cannot be had)."""
    home = tmp_path_factory.mktemp("nbgrader-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    try:
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", NBGRADER],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing {NBGRADER} took over {INSTALL_TIMEOUT} s")
    if done.returncode != 0:
        pytest.skip(f"cannot install {NBGRADER}: {done.stderr.strip().splitlines()[-1:]}")
    return home / "bin"


def _nbgrader(bin_dir: Path, course: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "JUPYTER_PLATFORM_DIRS": "1", "HOME": str(course.parent)}  # fmt: skip
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _scores(bin_dir: Path, course: Path) -> dict[str, tuple[float, float]]:
    _nbgrader(bin_dir, course, "export", "--to", "grades.csv")
    with open(course / "grades.csv", newline="") as file:
        return {r["student_id"]: (float(r["raw_score"]), float(r["max_score"]))
                for r in csv.DictReader(file)}  # fmt: skip


@pytest.mark.slow
def test_nbgrader_autogrades_correct_wrong_and_blank_submissions(nbgrader_bin, tmp_path):
    manifests = course_manifests()
    course = tmp_path / "course"
    assert main(["worksheet", "nbgrader", str(write_key(tmp_path / "week5")), "--assignment",
                 ASSIGNMENT, "-o", str(course)]) == 0  # fmt: skip
    own = {s: (course / "release-by-student" / s / ASSIGNMENT / "worksheet.ipynb").read_text()
           for s in manifests}  # fmt: skip
    log = [_nbgrader(nbgrader_bin, course, "generate_assignment", ASSIGNMENT, "--force")]
    released = (course / "release" / ASSIGNMENT / "worksheet.ipynb").read_text()
    assert "_check_number" not in released.split("def _check_number")[-1]  # no key released
    right, wrong = sorted(manifests)  # "1bob@uni.edu" < "alice"
    for student, how in ((right, "key"), (wrong, "wrong")):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "worksheet.ipynb").write_text(_filled(own[student], manifests[student], how))
    log.append(_nbgrader(nbgrader_bin, course, "autograde", ASSIGNMENT, "--force"))
    auto = sum(b["points"] for b in manifests[right]["blanks"] if b["type"] != "symbolic")
    scores = _scores(nbgrader_bin, course)
    total = sum(b["points"] for b in manifests[right]["blanks"])
    assert scores[right] == (auto, total), log[-1]
    assert scores[wrong] == (0.0, total), log[-1]
    # the same student again, now handing in the notebook as released to them
    (course / "submitted" / right / ASSIGNMENT / "worksheet.ipynb").write_text(
        _filled(own[right], manifests[right], "blank")
    )
    log.append(_nbgrader(nbgrader_bin, course, "autograde", ASSIGNMENT, "--force",
                         "--student", right))  # fmt: skip
    assert _scores(nbgrader_bin, course)[right] == (0.0, total), log[-1]
    (tmp_path / "nbgrader.log").write_text("\n".join(log))
    sys.stdout.write(f"\nnbgrader printed:\n{log[-2][-3000:]}\n")
