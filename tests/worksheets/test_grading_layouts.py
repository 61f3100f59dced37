"""Grading reads every layout a course hands it, says which, and refuses input matching nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from symbackprop.cli import main as cli
from symbackprop.worksheets.answer_files import AnswerError
from symbackprop.worksheets.grading import grade


def _key_answers(manifest):
    return {b["id"]: repr(b["answer"]) if b["type"] == "numeric" else b["answer"]
            for b in manifest["blanks"]}  # fmt: skip


def _class_of_three(sheet):
    """ann and bob as generated, and cy: a copy of ann's variant under another id."""
    cy = json.loads(json.dumps(sheet.manifest("ann")))
    cy["student_id"] = "cy"
    return [*sheet.manifests, cy]


def _source_notebook(folder, student):
    return folder / "key" / student / "source.ipynb"  # the key's notebook: filled correctly


# --- folders of notebooks ----------------------------------------------------------------------
def test_nbgrader_submitted_tree_is_read_by_its_student_folders(written, tmp_path):
    folder, sheet = written
    course = tmp_path / "course"
    for student in ("ann", "bob"):
        place = course / "submitted" / student / "week5"
        place.mkdir(parents=True)
        shutil.copy(_source_notebook(folder, student), place / "worksheet.ipynb")
        (place / "timestamp.txt").write_text("2026-11-30 10:00:00")
    stale = course / "submitted" / "ann" / "week5" / ".ipynb_checkpoints"
    stale.mkdir()
    (stale / "worksheet-checkpoint.ipynb").write_text("{}")  # an old save, never read
    for given in (course, course / "submitted"):
        grades = grade(list(sheet.manifests), given)
        assert grades.student("ann").percent == pytest.approx(100.0)
        assert grades.student("bob").percent == pytest.approx(100.0)
        assert "2 as <student>/<assignment>/*.ipynb (nbgrader)" in grades.source
        assert grades.source.endswith(": 2 students, 16 answers")


def test_the_projects_own_students_layout_is_read(written, tmp_path):
    folder, sheet = written
    for student in ("ann", "bob"):
        place = tmp_path / "students" / student
        place.mkdir(parents=True)
        shutil.copy(_source_notebook(folder, student), place / "worksheet.ipynb")
    grades = grade(folder, tmp_path)
    assert [g.percent for g in grades.students] == [pytest.approx(100.0)] * 2
    assert "2 as <student>/*.ipynb" in grades.source


def test_an_empty_folder_is_refused(written, tmp_path):
    folder, _ = written
    with pytest.raises(AnswerError, match="no notebooks in .*expected <student>.ipynb"):
        grade(folder, tmp_path)


# --- files ---------------------------------------------------------------------------------------
def test_header_only_csv_is_refused(written, tmp_path):
    folder, _ = written
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,a1_1,L\n\n")
    with pytest.raises(AnswerError, match="has a header but no rows of answers"):
        grade(folder, answers)


@pytest.mark.parametrize(
    ("name", "text"),
    [("a.csv", "student_id,a1_1\nAnnie,0.5\nBOBBY,0.1\n"), ("b.json", '{"annie": {"a1_1": "0.5"}}'),
     ("c.json", '[{"student_id": "x1", "a1_1": "0.5"}]')],
)  # fmt: skip
def test_ids_matching_no_student_are_refused(written, tmp_path, name, text):
    folder, _ = written
    answers = tmp_path / name
    answers.write_text(text)
    with pytest.raises(AnswerError, match="none of the .* student ids in .* is in the key"):
        grade(folder, answers)


def test_columns_that_are_no_blank_are_refused(written, tmp_path):
    folder, _ = written
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,Q1,Q2\nann,0.5,0.1\nbob,0.2,0.3\n")
    with pytest.raises(AnswerError, match="no answer in .* is for a blank of the worksheet"):
        grade(folder, answers)


def _layouts(ann):
    """The same answers of ann in every file layout: {file name: (text, layout words)}."""
    ids = list(ann)
    wide = "student_id," + ",".join(ids) + "\nann," + ",".join(f'"{ann[i]}"' for i in ids)
    semicolons = "student_id;" + ";".join(ids) + "\nann;" + ";".join(ann[i] for i in ids)
    long = "student_id,blank,answer\n" + "".join(f'ann,{i},"{ann[i]}"\n' for i in ids)
    return {
        "wide.csv": (wide, "wide: a column per blank; ','-separated"),
        "semi.csv": (semicolons, "';'-separated"),
        "long.csv": (long, "long: student, blank, answer"),
        "map.json": (json.dumps({"ann": ann}), "a mapping student -> answers"),
        "flat.json": (json.dumps([{"student_id": "ann", **ann}]), "list of records: flat"),
        "nested.json": (json.dumps([{"student_id": "ann", "answers": ann}]), "records: nested"),
        "long.json": (json.dumps([{"student": "ann", "blank": i, "answer": ann[i]} for i in ids]),
                      "records: long"),
    }  # fmt: skip


def test_every_file_layout_reads_the_same_answers(written, tmp_path):
    folder, sheet = written
    for name, (text, words) in _layouts(_key_answers(sheet.manifest("ann"))).items():
        answers = tmp_path / name
        answers.write_text(text)
        grades = grade(folder, answers)
        assert grades.student("ann").percent == pytest.approx(100.0), name
        assert words in grades.source, (name, grades.source)
        assert grades.source.endswith("1 student, 8 answers"), (name, grades.source)


# --- missing is not blank ----------------------------------------------------------------------
def test_a_student_with_no_submission_is_missing_and_left_out_of_the_statistics(written):
    _, sheet = written
    manifests = _class_of_three(sheet)
    answers = {"ann": _key_answers(sheet.manifest("ann")), "bob": {"a1_1": ""}}
    grades = grade(manifests, answers)
    cy = grades.student("cy")
    assert not cy.submitted and {r.status for r in cy.results} == {"missing"}
    assert {r.status for r in grades.student("bob").results} == {"blank"}
    assert grades.missing == ("cy",)
    assert grades.mean_percent == pytest.approx(50.0)  # ann 100, bob 0; cy not counted
    assert grades.to_csv().splitlines()[3].startswith("cy,,")
    assert grade(manifests, answers, include_missing=True).mean_percent == pytest.approx(100 / 3)


def test_cli_says_what_it_read_and_who_is_missing(written, tmp_path, capsys):
    folder, sheet = written
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"ann": _key_answers(sheet.manifest("ann"))}))
    assert cli.main(["grade", str(folder), str(answers), "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert (
        "symbackprop: read JSON answers.json (a mapping student -> answers): 1 student, 8 answers"
        in captured.err
    )
    assert "no submission from 1 student (bob): marked missing, left out" in captured.err
    assert "graded 1 student (mean 100.0 %)" in captured.out
    summary = (tmp_path / "out" / "summary.html").read_text()
    assert "No submission from 1 student, left out of these statistics" in summary


def test_cli_refuses_an_empty_folder_in_one_line(written, tmp_path, capsys):
    folder, _ = written
    (tmp_path / "empty").mkdir()
    status = cli.main(["grade", str(folder), str(tmp_path / "empty"), "-o", str(tmp_path / "o")])
    lines = capsys.readouterr().err.splitlines()
    assert status == 2 and len(lines) == 1 and "no notebooks in" in lines[0]
    assert not (tmp_path / "o").exists()


# --- an answers file to fill in ------------------------------------------------------------------
def test_answers_template_lists_every_student_and_blank_and_grades_as_blank(written, tmp_path):
    folder, sheet = written
    template = tmp_path / "answers.csv"
    assert cli.main(["worksheet", "answers-template", str(folder), "-o", str(template)]) == 0
    ids = [b["id"] for b in sheet.manifest("ann")["blanks"]]
    assert template.read_text().splitlines() == [
        ",".join(["student_id", *ids]), "ann" + "," * len(ids), "bob" + "," * len(ids)
    ]  # fmt: skip
    grades = grade(folder, template)
    assert {r.status for g in grades.students for r in g.results} == {"blank"}
    long = tmp_path / "long.csv"
    assert cli.main(["worksheet", "answers-template", str(folder), "-o", str(long), "--long"]) == 0
    assert long.read_text().splitlines()[:2] == ["student_id,blank,answer", f"ann,{ids[0]},"]


def test_other_assignments_and_unreadable_notebooks_are_skipped_with_a_message(written, tmp_path):
    folder, sheet = written
    submitted = tmp_path / "submitted"
    for student in ("ann", "bob"):
        place = submitted / student / "week5"
        place.mkdir(parents=True)
        shutil.copy(_source_notebook(folder, student), place / "worksheet.ipynb")
    other = json.loads(_source_notebook(folder, "ann").read_text())
    other["metadata"]["symbackprop"]["worksheet_id"] = "week4-backprop"
    for cell in other["cells"]:
        if cell["id"].startswith("answer_"):
            cell["source"] = cell["id"] + " = 0.0"
    (submitted / "ann" / "week4").mkdir()
    (submitted / "ann" / "week4" / "worksheet.ipynb").write_text(json.dumps(other))
    (submitted / "bob" / "week4").mkdir()
    (submitted / "bob" / "week4" / "broken.ipynb").write_text("{not json")
    grades = grade(list(sheet.manifests), tmp_path)
    assert [g.percent for g in grades.students] == [pytest.approx(100.0)] * 2
    assert any("a notebook of worksheet 'week4-backprop'" in m for m in grades.messages)
    assert any("broken.ipynb: not a worksheet notebook" in m for m in grades.messages)
    shutil.rmtree(submitted / "ann" / "week5")
    shutil.rmtree(submitted / "bob" / "week5")
    with pytest.raises(AnswerError, match="no notebook in .* could be used: .*and 1 more"):
        grade(list(sheet.manifests), tmp_path)


def test_ids_and_blank_names_differing_only_in_case_are_matched_with_a_message(written, tmp_path):
    folder, sheet = written
    key = _key_answers(sheet.manifest("ann"))
    answers = tmp_path / "answers.csv"
    answers.write_text(f"Student_ID,A1_1,l\n Ann ,{key['a1_1']},{key['L']}\n")
    grades = grade(folder, answers)
    assert grades.student("ann").result("a1_1").status == "correct"
    assert grades.student("ann").result("L").status == "correct"
    assert any("read regardless of case: 'Ann' as 'ann', 'A1_1' as 'a1_1', 'l' as 'L'" in m
               for m in grades.messages), grades.messages  # fmt: skip
