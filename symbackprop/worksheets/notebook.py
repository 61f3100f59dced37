"""Worksheet notebooks: nbgrader-compatible release and source notebooks, and reading them back.

Worksheets stage. Each blank becomes a locked question cell, a solution cell for
the answer and a graded, locked test cell (nbgrader cell-metadata schema 3); cell ids are the
grade ids, so a regenerated notebook is byte-identical. Filled notebooks are read without
running any of their code.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from symbackprop.model.errors import SymbackpropError
from symbackprop.model.printing import format_number
from symbackprop.render.escape import markdown_text
from symbackprop.worksheets.render import points_text, prompt
from symbackprop.worksheets.variants import LETTERS, Variant

NOTEBOOK_SCHEMA_VERSION = 3  # nbgrader cell-metadata schema


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


def _header_cell(variant: Variant, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return _cell("markdown",
        f"# {markdown_text(manifest['title'])}\n\nStudent {markdown_text(variant.student_id)} · "
        f"variant `{manifest['seed']}`\n\n{markdown_text(variant.network.describe())}\n\n"
        "Given values: "
        + ", ".join(f"`{n} = {format_number(v)}`" for n, v in variant.shown.items())
        + f"\n\nRound every intermediate to {variant.decimals} decimals. Give formulas as "
        "strings, choices as one letter.", "header", locked=True)  # fmt: skip


def _blank_cells(blank: Mapping[str, Any], variant: Variant, release: bool) -> list[dict[str, Any]]:
    """Return the question, the answer cell and the graded test cell of one blank."""
    prose, math = prompt(blank, variant)
    options = "".join(f"\n- ({LETTERS[i]}) {markdown_text(t)}"
                      for i, t in enumerate(blank["options"]))  # fmt: skip
    question = (f"**{markdown_text(blank['id'])}** ({points_text(blank['points'])}). "
                f"{markdown_text(prose)} ${math}${options}")  # fmt: skip
    if release:
        body = f"answer_{blank['id']} = None  # YOUR ANSWER HERE"
    else:
        answer = f"answer_{blank['id']} = {_answer_literal(blank)}"
        body = f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION"
    test = f"assert answer_{blank['id']} is not None, 'answer {blank['id']} first'"
    if not release:
        test += ("\n### BEGIN HIDDEN TESTS\n"
                 f"# graded by `symbackprop grade` against the manifest: {blank['id']}\n"
                 "### END HIDDEN TESTS")  # fmt: skip
    return [
        _cell("markdown", question, f"question_{blank['id']}", locked=True),
        _cell("code", body, f"answer_{blank['id']}", solution=True),
        _cell("code", test, f"test_{blank['id']}", grade=True, locked=True,
              points=float(blank["points"])),
    ]  # fmt: skip


def render_notebook(variant: Variant, manifest: Mapping[str, Any], release: bool) -> str:
    """Return an nbgrader-style notebook: the release (blank answers) or the instructor source."""
    import nbformat

    cells = [_header_cell(variant, manifest)]
    for blank in manifest["blanks"]:
        cells += _blank_cells(blank, variant, release)
    notebook = nbformat.from_dict({
        "cells": cells, "nbformat": 4, "nbformat_minor": nbformat.v4.nbformat_minor,
        "metadata": {"symbackprop": {"student_id": variant.student_id,
                                     "worksheet_id": manifest["worksheet_id"]}},
    })  # fmt: skip
    nbformat.validate(notebook)
    return str(nbformat.writes(notebook)) + "\n"


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
