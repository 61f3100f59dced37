"""Answers as students write them: decimal commas, ^, arithmetic, an option's text; spec keys."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomllib

from symbackprop.model.errors import SpecError
from symbackprop.worksheets import manifest as manifest_module
from symbackprop.worksheets.answer_reading import read_choice, read_number
from symbackprop.worksheets.grades import feedback_html
from symbackprop.worksheets.grading import grade, mark_blank
from symbackprop.worksheets.spec import load_worksheet_spec

WEEK5 = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "week5.toml"
OPTIONS = ("tanh′ = 1 − tanh²", "d eᵘ = eᵘ du", "σ′ = σ(1 − σ)", "leaky relu′ = 1 for z > 0")


# --- reading one answer ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value", "assumed"),
    [("0,7631", 0.7631, "decimal comma"), ("-0,05", -0.05, "decimal comma"),
     ("2^-3", 0.125, "^ as a power"), ("tanh(0.3600)", math.tanh(0.36), "evaluated tanh(0.3600)"),
     ("1/(1+exp(-0.3))", 1 / (1 + math.exp(-0.3)), "= 0.574443"), ("0.7631", 0.7631, None)],
)  # fmt: skip
def test_numbers_are_read_with_what_was_assumed(text, value, assumed):
    reading = read_number(text)
    assert reading.value == pytest.approx(value, rel=1e-12)
    if assumed is None:
        assert reading.assumed == ()
    else:
        assert any(assumed in words for words in reading.assumed), reading.assumed


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,234", "could be 1.234 (a decimal comma) or 1234"), ("a1_1*2", "without names"),
     ("log(-1)", "not a real number"), ("__import__('os')", "is not a number")],
)  # fmt: skip
def test_ambiguous_or_named_numbers_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_number(text)


@pytest.mark.parametrize(
    ("text", "letter", "assumed"),
    [("c", "C", False), ("(C)", "C", False), ("C) σ′ = σ(1 − σ)", "C", False),
     ("σ′ = σ(1 − σ)", "C", True), ("sigma' = sigma(1 - sigma)", "C", True),
     ("d e^u = e^u du", "B", True)],
)  # fmt: skip
def test_an_option_is_chosen_by_letter_or_by_its_text(text, letter, assumed):
    chosen, words = read_choice(text, OPTIONS)
    assert chosen == letter
    assert bool(words) == assumed and (not words or f"as option {letter}" in words[0])


@pytest.mark.parametrize("text", ["B) σ′ = σ(1 − σ)", "E", "1 −", "the chain rule"])
def test_unclear_choices_are_refused(text):
    with pytest.raises(ValueError, match="one letter"):
        read_choice(text, OPTIONS)


# --- marking with the key ----------------------------------------------------------------------
def _blank(manifest, kind):
    return next(b for b in manifest["blanks"] if b["kind"] == kind)


def _a1_1_as_arithmetic(manifest):
    shown = manifest["shown"]
    z = shown["w1_1_1"] * shown["x1"] + shown["w1_1_2"] * shown["x2"] + shown["b1_1"]
    if manifest["network"]["activations"][0] == "tanh":
        return f"tanh({z:.6f})"
    return f"1/(1+exp({-z:.6f}))"


def test_forms_students_write_are_marked_correct_and_the_feedback_says_how_they_were_read(written):
    _, sheet = written
    ann = sheet.manifest("ann")
    forward, rule = _blank(ann, "forward"), _blank(ann, "rule")
    loss = _blank(ann, "loss")
    option = rule["options"]["ABCD".index(rule["answer"])]
    answers = {forward["id"]: _a1_1_as_arithmetic(ann), rule["id"]: option,
               loss["id"]: f"{loss['answer']:.4f}".replace(".", ",")}  # fmt: skip
    grades = grade(list(sheet.manifests), {"ann": answers})
    marked = {blank: grades.student("ann").result(blank) for blank in answers}
    assert {m.status for m in marked.values()} == {"correct"}, marked
    assert marked[forward["id"]].assumed.startswith("evaluated ")
    assert (
        marked[rule["id"]].assumed.startswith("read ") and "as option" in marked[rule["id"]].assumed
    )
    assert "decimal comma" in marked[loss["id"]].assumed
    page = feedback_html(grades, grades.student("ann"))
    assert "Assumed: read the decimal comma of" in page


def test_a_short_answer_gets_a_hint_about_precision(written):
    _, sheet = written
    ann = sheet.manifest("ann")
    forward = _blank(ann, "forward")
    short = f"{forward['answer']:.1f}"
    assert abs(float(short) - forward["answer"]) > forward["atol"]  # the hint's premise
    result = mark_blank(ann, forward["id"], short)
    assert result.status == "wrong"
    assert result.message.startswith(
        "too few decimals: this is the key rounded to 1 decimal; give 4"
    )
    two = json.loads(json.dumps(ann))
    _blank(two, "forward")["decimals"] = 2  # a question that asks for 2 decimals
    assert "give 2" in mark_blank(two, forward["id"], short).message


def test_mark_blank_is_one_answer_against_one_key_entry(written):
    _, sheet = written
    ann = sheet.manifest("ann")
    delta = _blank(ann, "delta")
    result = mark_blank(ann, delta, repr(delta["answer"]))
    assert (result.status, result.points, result.assumed) == ("correct", delta["points"], "")
    mistake = delta["mistakes"][0]
    result = mark_blank(ann, delta["id"], repr(mistake["value"]))
    assert result.status == "mistake" and result.mistake == mistake["name"]


# --- the spec: tolerance and decimals per question, unknown keys -------------------------------
def _document(**changes):
    document = tomllib.loads(WEEK5.read_text())
    for path, value in changes.items():
        table, key = path.split("__")
        place = document["questions"][int(table[1:])] if table.startswith("q") else document[table]
        place[key] = value
    return document


def test_tolerance_and_decimals_are_set_per_question():
    spec = load_worksheet_spec(_document(q0__tolerance=0.01, q2__decimals=2))
    assert (spec.questions[0].tolerance, spec.questions[0].decimals) == (0.01, None)
    assert (spec.questions[2].tolerance, spec.questions[2].decimals) == (None, 2)
    variant = SimpleNamespace(decimals=4)
    drawn = 1e-4 * (1 + 0.5)  # 10^-d (1 + spread), as drawn for the sheet's 4 decimals

    def marking(index):
        blank = SimpleNamespace(id=spec.questions[index].id, type="numeric", atol=drawn)
        return manifest_module._marking(spec, variant, blank)

    assert marking(0) == {"atol": 0.01, "decimals": 4}
    assert marking(2) == {"atol": pytest.approx(1e-2 + 0.5e-4), "decimals": 2}
    assert marking(1) == {"atol": drawn, "decimals": 4}


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"worksheet__mistake_credt": 0.5}, "unknown key 'mistake_credt' in [worksheet] (did you "
      "mean 'mistake_credit'?)"),
     ({"worksheet__tolerance": 0.01}, "'tolerance' belongs in each [[questions]] table"),
     ({"q1__ecf_credit": 0.5}, "unknown key 'ecf_credit' in question 2; 'ecf_credit' belongs in "
      "[worksheet]"),
     ({"network__size": [[2, 2, 1]]}, "(did you mean 'sizes'?)"),
     ({"q6__tolerance": 0.01}, "question 7 (rule) sets tolerance or decimals"),
     ({"q0__tolerance": -1}, "use a number above 0"), ({"q0__decimals": 12}, "from 1 to 8")],
)  # fmt: skip
def test_unknown_or_misplaced_spec_keys_are_errors_with_a_suggestion(changes, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        load_worksheet_spec(_document(**changes))


def test_an_unknown_table_lists_the_known_ones():
    document = _document()
    document["grading"] = {"tolerance": 0.1}
    with pytest.raises(SpecError, match=re.escape("unknown key 'grading' in the top level; known")):
        load_worksheet_spec(document)


def test_a_decimal_comma_in_a_notebook_cell_is_read_as_written(written, tmp_path):
    folder, sheet = written
    forward = _blank(sheet.manifest("ann"), "forward")
    notebook = json.loads((folder / "key" / "ann" / "source.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if c["id"] == f"answer_{forward['id']}")
    cell["source"] = f"answer_{forward['id']} = " + f"{forward['answer']:.4f}".replace(".", ",")
    (tmp_path / "ann.ipynb").write_text(json.dumps(notebook))
    marked = grade(list(sheet.manifests), tmp_path).student("ann").result(forward["id"])
    assert marked.status == "correct" and "decimal comma" in marked.assumed
