"""Grading under hostile answers: one bad answer is one blank's "invalid", files give one line."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop.cli import main as cli
from symbackprop.worksheets.grades import STATUSES
from symbackprop.worksheets.grading import grade

SAME_TMP_PATH = HealthCheck.function_scoped_fixture


def _key_answers(manifest):
    return {b["id"]: repr(b["answer"]) if b["type"] == "numeric" else b["answer"]
            for b in manifest["blanks"]}  # fmt: skip


# --- one student's bad answer ---------------------------------------------------------------
def _nested(depth: int, inner: str = "a1_1") -> str:
    return "exp(" * depth + inner + ")" * depth


hostile_answer = st.one_of(
    st.sampled_from([_nested(6), _nested(12, "w1_1_1*1e300"), "1x10^999", "1e999", "-1e400",
                     "10**10**10", "9" * 59, "(" * 200 + "1" + ")" * 200, "1/0", "0/0",
                     "__import__('os').system('true')", "a1_1" * 300, "nan", "inf", "\x00",
                     "exp(1e308)", "log(0)", "1e-400", "A", "(z)", "ZZ"]),
    st.builds(_nested, st.integers(1, 30)),
    st.text(max_size=300),
)  # fmt: skip


@given(blank=st.integers(0, 50), answer=hostile_answer)
@settings(max_examples=40, deadline=None)
def test_a_bad_answer_marks_only_its_blank_and_the_class_is_graded(written, blank, answer):
    _, sheet = written
    ann, bob = sheet.manifest("ann"), sheet.manifest("bob")
    target = ann["blanks"][blank % len(ann["blanks"])]
    answers = {"ann": {**_key_answers(ann), target["id"]: answer}, "bob": _key_answers(bob)}
    grades = grade(list(sheet.manifests), answers)
    marked = grades.student("ann").result(target["id"])
    assert marked.status in STATUSES
    assert "\n" not in marked.message
    others = [r for r in grades.student("ann").results if r.blank != target["id"]]
    assert all(r.status in ("correct", "ecf") for r in others), others
    assert grades.student("bob").percent == pytest.approx(100.0)


def test_overflowing_answers_are_invalid_with_a_reason(written):
    _, sheet = written
    ann = sheet.manifest("ann")
    numeric = next(b for b in ann["blanks"] if b["type"] == "numeric")
    result = grade(ann, {"ann": {numeric["id"]: "1x10^999"}}).student("ann")
    assert result.result(numeric["id"]).status == "invalid"
    assert "out of range" in result.result(numeric["id"]).message


# --- malformed files: one line, exit 2, nothing written ----------------------------------------
def _notebook(written, student: str, claimed: str | None = None) -> dict:
    folder, _ = written
    notebook = json.loads((folder / "key" / student / "source.ipynb").read_text())
    if claimed is not None:
        notebook["metadata"]["symbackprop"]["student_id"] = claimed
    return notebook


MALFORMED = {
    "a.json": lambda nb: "[1, 2, 3]",
    "b.json": lambda nb: '[{"student_id": "ann", "answers": 5}]',
    "c.json": lambda nb: "[" * 100_000,
    "d.ipynb": lambda nb: json.dumps({**nb, "cells": 7}),
    "e.ipynb": lambda nb: json.dumps({**nb, "cells": [3, "x"]}),
    "f.ipynb": lambda nb: json.dumps(
        {
            **nb,
            "cells": [
                {"metadata": {"nbgrader": {"solution": True, "grade_id": "answer_x"}}, "source": 5}
            ],
        }
    ),  # fmt: skip
    "g.ipynb": lambda nb: json.dumps(nb)[: len(json.dumps(nb)) // 2],
    "h.csv": lambda nb: "student_id,a1_1\nann," + "9" * 140_000 + "\n",
    "i.csv": lambda nb: 'student_id,a1_1\nann,"unterminated\n',
    "j.ipynb": lambda nb: json.dumps(["not", "a", "notebook"]),
}


@given(name=st.sampled_from(sorted(MALFORMED)))
@settings(max_examples=20, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_malformed_answer_files_are_one_line_exit_2(written, tmp_path, capsys, name):
    folder, _ = written
    answers = tmp_path / name
    answers.write_text(MALFORMED[name](_notebook(written, "ann")), encoding="utf-8")
    out = tmp_path / f"out-{name}"
    status = cli.main(["grade", str(folder), str(answers), "-o", str(out)])
    captured = capsys.readouterr()
    if status == 0:  # read fine (e.g. the CSV's long field is one invalid answer)
        assert (out / "grades.csv").exists()
        return
    assert status == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbackprop: error: "), captured.err
    assert not (out / "grades.csv").exists()


def test_truncated_manifest_is_one_line(written, tmp_path, capsys):
    folder, _ = written
    manifest = tmp_path / "manifest.json"
    text = (folder / "key" / "ann" / "manifest.json").read_text()
    manifest.write_text(text[: len(text) // 3])
    status = cli.main(["grade", str(manifest), str(tmp_path / "none.csv"), "-o", str(tmp_path)])
    assert status == 2
    assert "is not valid JSON (cut short?)" in capsys.readouterr().err


# --- identity: where a submission lies decides whose it is ------------------------------------
def test_a_notebook_claiming_another_student_counts_for_its_own_name(written, tmp_path):
    _, sheet = written
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "bob.ipynb").write_text(json.dumps(_notebook(written, "bob")))
    forged = _notebook(written, "ann", claimed="bob")
    for cell in forged["cells"]:
        if cell["id"].startswith("answer_"):
            cell["source"] = cell["id"] + " = 0.0"
    (submitted / "aaa_ann.ipynb").write_text(json.dumps(forged))
    (submitted / "ann").mkdir()
    (submitted / "ann" / "worksheet.ipynb").write_text(json.dumps(forged))
    grades = grade(list(sheet.manifests), submitted)
    assert grades.student("bob").percent == pytest.approx(100.0)
    assert grades.student("ann").percent < 50
    assert any("says it is 'bob'" in m and "'ann', which counts" in m for m in grades.messages)
    assert any("aaa_ann.ipynb: unknown student 'aaa_ann'" in m for m in grades.messages)
