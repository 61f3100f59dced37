"""Worksheet notebooks: nbgrader-compatible release and source notebooks, and reading them back.

Worksheets stage. Each blank becomes a locked question cell, a solution cell for
the answer and a graded, locked test cell (nbgrader cell-metadata schema 3); cell ids are the
grade ids, so a regenerated notebook is byte-identical. Filled notebooks are read without
running any of their code.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from symbackprop.model.errors import SymbackpropError
from symbackprop.model.printing import format_number
from symbackprop.render.escape import markdown_text
from symbackprop.worksheets.render import network_words, points_text, prompt
from symbackprop.worksheets.variants import LETTERS, Variant

NOTEBOOK_SCHEMA_VERSION = 3  # nbgrader cell-metadata schema


class MissingPartError(SymbackpropError):
    """An optional Python package that a requested output needs is not installed."""


def require_nbformat() -> None:
    """Raise MissingPartError, naming the pip command, when nbformat cannot be imported.

    Called before any variant is drawn, so a missing package costs no work.
    """
    try:
        import nbformat  # noqa: F401
    except ImportError:
        raise MissingPartError(
            "worksheet notebooks need the nbformat package, which is not installed; run "
            "`pip install nbformat` (or reinstall symbackprop: `pip install -e .`)"
        ) from None


def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
              points: float | None = None) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"schema_version": NOTEBOOK_SCHEMA_VERSION, "grade": grade,
                            "solution": solution, "locked": locked,
                            "grade_id": grade_id}  # fmt: skip
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _cell(cell_type: str, source: str, grade_id: str, **flags: Any) -> dict[str, Any]:
    """Return one notebook cell; its id is its grade_id, so a regenerated notebook is identical.

    nbformat's ``new_*_cell`` draw random ids (and validate every cell on its own).
    """
    cell: dict[str, Any] = {"cell_type": cell_type, "id": grade_id,
                            "metadata": _nbgrader(grade_id, **flags), "source": source}  # fmt: skip
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _text_cell(source: str, cell_id: str) -> dict[str, Any]:
    """Return a markdown cell with no nbgrader metadata: autograding keeps its text as it is.

    (nbgrader would replace a locked cell's text by the class source's, which holds no
    student's numbers.)
    """
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def _header_cell(variant: Variant, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return _text_cell(
        f"# {markdown_text(manifest['title'])}\n\nStudent {markdown_text(variant.student_id)} · "
        f"variant `{manifest['seed']}`\n\n{markdown_text(network_words(variant))}.\n\n"
        "Given values: "
        + ", ".join(f"`{n} = {format_number(v)}`" for n, v in variant.shown.items())
        + f"\n\nRound every intermediate to {variant.decimals} decimals. Give formulas as "
        "strings, choices as one letter.", "header")  # fmt: skip


def _blank_cells(blank: Mapping[str, Any], variant: Variant, release: bool) -> list[dict[str, Any]]:
    """Return the question, the answer cell and (numbers, choices) the graded test cell.

    A formula's answer cell is itself the graded cell (an nbgrader "manually graded answer"):
    nbgrader cannot check formulas, ``symbackprop grade`` does.
    """
    prose, math = prompt(blank, variant)
    options = "".join(f"\n- ({LETTERS[i]}) {markdown_text(t)}"
                      for i, t in enumerate(blank["options"]))  # fmt: skip
    question = (f"**{markdown_text(blank['id'])}** ({points_text(blank['points'])}). "
                f"{markdown_text(prose)} ${math}${options}")  # fmt: skip
    keys = None if release else {variant.student_id: blank}
    return [_text_cell(question, f"question_{blank['id']}"), *answer_cells(blank, keys)]


def answer_cells(
    blank: Mapping[str, Any], keys: Mapping[str, Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Return the answer cell and test cell of a blank; ``keys`` ({student: blank}) if a source.

    The hidden tests of a source notebook hold each student's key; nbgrader removes them
    from the notebooks it releases and puts them back when it autogrades.
    """
    answer_id = f"answer_{blank['id']}"
    if keys is None:
        body = f"{answer_id} = None  # YOUR ANSWER HERE"
    else:
        first = next(iter(keys.values()))
        key = _answer_literal(first) if len(keys) == 1 else "None  # keys: the hidden test below"
        body = f"### BEGIN SOLUTION\n{answer_id} = {key}\n### END SOLUTION"
    points = float(blank["points"])
    if blank["type"] == "symbolic":
        return [_cell("code", body, answer_id, solution=True, grade=True, points=points)]
    test = f"assert {answer_id} is not None, 'answer {blank['id']} first'"
    if keys is not None:
        hidden = _hidden_test(answer_id, blank, keys)
        test += f"\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS"
    return [
        _cell("code", body, answer_id, solution=True),
        _cell("code", test, f"test_{blank['id']}", grade=True, locked=True, points=points),
    ]


def _hidden_test(answer_id: str, blank: Mapping[str, Any],
                 keys: Mapping[str, Mapping[str, Any]]) -> str:  # fmt: skip
    if blank["type"] == "numeric":
        table = {sid: (float(b["answer"]), float(b["atol"])) for sid, b in keys.items()}
        return f"_check_number({answer_id}, {table!r})"
    return f"_check_choice({answer_id}, {dict((sid, b['answer']) for sid, b in keys.items())!r})"


# The checks the hidden tests call. nbgrader runs a submission in
# submitted/<student>/<assignment>/, so the student is the folder above the notebook's: what
# the notebook says about itself is never trusted. Plain Python: the grading kernel needs
# nothing installed.
CHECKS_SOURCE = """\
# Checks of the answers: run this cell first (do not edit it).
import pathlib
from fractions import Fraction

STUDENT = pathlib.Path.cwd().parent.name


def _key(keys):
    assert STUDENT in keys, f"no key for student {STUDENT!r}: submit under submitted/<id>/"
    return keys[STUDENT]


def _check_number(answer, keys):
    value, atol = _key(keys)
    text = str(answer).strip().replace("\u2212", "-")
    given = float(Fraction(text)) if isinstance(answer, str) else float(answer)
    assert abs(given - value) <= atol, f"{answer!r} is not the right value"


def _check_choice(answer, keys):
    assert str(answer).strip().strip("()").upper() == _key(keys), f"{answer!r} is not right"
"""


def checks_cell() -> dict[str, Any]:
    """Return the locked cell that defines the hidden tests' checks (grade_id ``checks``)."""
    return _cell("code", CHECKS_SOURCE, "checks", locked=True)


def render_notebook(variant: Variant, manifest: Mapping[str, Any], release: bool) -> str:
    """Return an nbgrader-style notebook: the release (blank answers) or the instructor source."""
    cells = [_header_cell(variant, manifest), checks_cell()]
    for blank in manifest["blanks"]:
        cells += _blank_cells(blank, variant, release)
    return notebook_text(cells, {"student_id": variant.student_id,
                                 "worksheet_id": manifest["worksheet_id"]})  # fmt: skip


def notebook_text(cells: list[dict[str, Any]], about: Mapping[str, Any]) -> str:
    """Return a validated notebook of these cells, with ``about`` as its symbackprop metadata."""
    import nbformat

    notebook = nbformat.from_dict({
        "cells": cells, "nbformat": 4, "nbformat_minor": nbformat.v4.nbformat_minor,
        "metadata": {"symbackprop": dict(about)},
    })  # fmt: skip
    nbformat.validate(notebook)
    return str(nbformat.writes(notebook)) + "\n"


def course_source(manifests: Sequence[Mapping[str, Any]], notebook: str = "worksheet") -> str:
    """Return the class's nbgrader source notebook: every student's key in its hidden tests.

    Put it at ``source/<assignment>/<notebook>.ipynb`` of the nbgrader course and run
    ``nbgrader generate_assignment``; hand each student their own release notebook (their
    numbers, the same cell ids) instead of nbgrader's release. The text cells are plain
    (no nbgrader metadata), so autograding keeps each student's own questions.
    """
    if not manifests:
        raise SymbackpropError("no students to make an nbgrader source for")
    first = manifests[0]
    for manifest in manifests[1:]:
        if [b["id"] for b in manifest["blanks"]] != [b["id"] for b in first["blanks"]]:
            raise SymbackpropError(
                f"students {first['student_id']!r} and {manifest['student_id']!r} have different "
                "blanks; make one nbgrader source per worksheet"
            )
    title = markdown_text(first["title"])
    about = (f"# {title}\n\nEach student answers in their own notebook; the hidden tests "
             "hold every student's key.")  # fmt: skip
    cells = [_text_cell(about, "header"), checks_cell()]
    for i, blank in enumerate(first["blanks"]):
        keys = {m["student_id"]: m["blanks"][i] for m in manifests}
        cells.append(_text_cell(f"**{markdown_text(blank['id'])}**", f"question_{blank['id']}"))
        cells += answer_cells(blank, keys)
    return notebook_text(cells, {"worksheet_id": first["worksheet_id"], "notebook": notebook})


# literal_eval builds a tree many times the text's size; answers are short.
_LITERAL_CHARS = 1_000


def _answer_literal(blank: Mapping[str, Any]) -> str:
    return repr(blank["answer"])


def notebook_answers(text: str, name: str) -> tuple[str, dict[str, Any]]:
    """Read (student id, {blank: answer text}) from a filled notebook; never runs its code."""
    try:
        notebook = json.loads(text)
        student_id = str(notebook["metadata"]["symbackprop"]["student_id"])
        cells = notebook.get("cells", [])
        if not isinstance(cells, list):
            raise TypeError
    except (json.JSONDecodeError, RecursionError, KeyError, TypeError, AttributeError):
        raise SymbackpropError(f"{name}: not a worksheet notebook from symbackprop") from None
    answers: dict[str, Any] = {}
    for cell in cells:
        meta = _table(_table(cell).get("metadata")).get("nbgrader")
        grade_id = str(_table(meta).get("grade_id", ""))
        if not (_table(meta).get("solution") and grade_id.startswith("answer_")):
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SymbackpropError(f"{name}: cell {grade_id!r} has no text source; re-save it")
        answers[grade_id.removeprefix("answer_")] = _assigned_text(source)
    return student_id, answers


def _table(value: Any) -> dict[str, Any]:
    """A JSON object of a notebook, or {} for anything else (a hand-edited notebook)."""
    return value if isinstance(value, dict) else {}


def _assigned_text(source: str) -> str:
    """Return the right side of `answer_x = ...` as text: literals as their value."""
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or "=" not in lines[-1]:
        return ""
    right = lines[-1].split("=", 1)[1].split("#", 1)[0].strip()
    if len(right) > _LITERAL_CHARS:
        return right  # too long for any answer: graded as text (and refused), never parsed
    try:
        value = ast.literal_eval(right)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return right  # text such as 3/8 or a formula: graded as text, never run
    if isinstance(value, tuple):
        return right  # 0,7631 is a decimal comma to a student and a tuple to Python
    return "" if value is None else (repr(value) if isinstance(value, float) else str(value))
