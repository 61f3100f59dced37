"""Worksheet grading: answers against the manifests, with error carried forward and feedback.

Worksheets stage. Each blank is marked against the key first (numbers within the
tolerance the sheet's rounding allows; formulas by the checker's equivalence; choices by
letter). A wrong number is then re-marked against the value the derivation's steps give from
the student's own upstream answers (error carried forward, along ``Step.depends_on``), and the
better marking counts. A wrong answer that equals a known mistake's value gets that mistake's
feedback. Text that is not a number or a formula is "invalid", never "wrong".

Answers are read by :mod:`~symbackprop.worksheets.answer_reading` (decimal commas, ``^``,
arithmetic, an option's text, each recorded as assumed) from files in any layout
(:mod:`~symbackprop.worksheets.answer_files`). :func:`mark_blank` marks one answer against one
blank of a manifest, for anything that marks a single answer (a practice page).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from symbackprop.derivation.steps import LEARNING_RATE
from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.inputs import read_input_text
from symbackprop.model.network import Network
from symbackprop.worksheets.answer_files import AnswerError, read_answers
from symbackprop.worksheets.answer_reading import Reading, parse_number, read_choice, read_number
from symbackprop.worksheets.grades import BlankResult, Grades, StudentGrade
from symbackprop.worksheets.manifest import network_of, validate_manifest
from symbackprop.worksheets.step_program import program_for

MAX_ANSWER_CHARS = 400

__all__ = ["AnswerError", "grade", "grade_student", "load_manifests", "mark_blank",
           "parse_number"]  # fmt: skip


# --- grading ----------------------------------------------------------------
def load_manifests(
    key: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
) -> dict[str, Any]:
    """Return {student id: manifest} from a worksheet folder, a manifest file or dicts."""
    if isinstance(key, Mapping):
        items: list[Any] = [key]
    elif not isinstance(key, (str, os.PathLike, list, tuple)):
        raise SymbackpropError(
            f"key {shorten(repr(key))} is not a worksheet folder, a manifest file or manifests; "
            "pass the folder that `worksheet generate` wrote"
        )
    elif isinstance(key, (str, os.PathLike)):
        path = Path(key)
        if path.is_dir():
            files = sorted(path.glob("key/*/manifest.json")) or sorted(path.glob("*/manifest.json"))
            if not files:
                raise SymbackpropError(
                    f"no key/*/manifest.json in {str(path)!r}; pass the folder that "
                    "`worksheet generate` "
                    "wrote"
                )
            items = [_manifest_json(f) for f in files]
        else:
            items = [_manifest_json(path)]
    else:
        items = list(key)
    for item in items:
        validate_manifest(item)
    return {item["student_id"]: item for item in items}


def _manifest_json(path: Path) -> Any:
    text = read_input_text(path, "manifest")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise SymbackpropError(
            f"{shorten(str(path), 80)} is not valid JSON (cut short?); regenerate the key with "
            "`symbackprop worksheet generate`"
        ) from None


def grade(
    key: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
    answers: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]],
    include_missing: bool = False,
) -> Grades:
    """Grade answers (CSV, JSON, notebooks, or {student: {blank: text}}) against the key.

    A student of the key with no submission is "missing" (not "blank"); the class statistics
    leave them out unless ``include_missing`` counts them as zero.
    """
    if not isinstance(answers, (str, os.PathLike, Mapping)):
        raise AnswerError(
            f"answers {shorten(repr(answers))} is not a path or a dict; pass a CSV, JSON or "
            "notebook file, a folder of notebooks, or {student: {blank: answer}}"
        )
    manifests = load_manifests(key)
    submissions = read_answers(answers, manifests)
    students = []
    for student_id, manifest in manifests.items():
        if student_id in submissions.table:
            students.append(grade_student(manifest, submissions.table[student_id]))
        else:
            students.append(missing_student(manifest))
    return Grades(tuple(students), submissions.messages, manifests,
                  source=submissions.summary(), include_missing=include_missing)  # fmt: skip


def missing_student(manifest: Mapping[str, Any]) -> StudentGrade:
    """Return the grade of a student who handed nothing in: every blank "missing"."""
    results = tuple(
        _result(blank, "missing", 0.0, "", "no submission") for blank in manifest["blanks"]
    )
    return StudentGrade(manifest["student_id"], results, submitted=False)


def grade_student(manifest: Mapping[str, Any], answers: Mapping[str, Any]) -> StudentGrade:
    """Mark every blank of one student's variant; ECF uses their own upstream numbers."""
    own = _own_numbers(manifest, answers)  # read once, for every blank's ECF
    results = tuple(_mark(manifest, blank, _text(answers.get(blank["id"])), own)
                    for blank in manifest["blanks"])  # fmt: skip
    return StudentGrade(manifest["student_id"], results)


def mark_blank(
    manifest: Mapping[str, Any],
    blank: Mapping[str, Any] | str,
    text: str,
    answers: Mapping[str, str] | None = None,
) -> BlankResult:
    """Mark one answer to one blank: its status, credit, what was assumed and why.

    ``blank`` is a manifest blank or its id; ``answers`` holds the student's other answers
    {blank id: text}, from which error carried forward recomputes this blank.
    """
    entry = _blank_entry(manifest, blank) if isinstance(blank, str) else blank
    return _mark(manifest, entry, _text(text), _own_numbers(manifest, answers or {}))


def _mark(manifest: Mapping[str, Any], entry: Mapping[str, Any], text: str,
          own: Mapping[str, float]) -> BlankResult:  # fmt: skip
    if not text:
        return _result(entry, "blank", 0.0, text, "no answer")
    try:
        if entry["type"] == "numeric":
            return _numeric(manifest, entry, text, own)
        if entry["type"] == "symbolic":
            return _symbolic(manifest, entry, text, network_of(manifest))
        return _choice(entry, text)
    except (SymbackpropError, ArithmeticError, ValueError, RecursionError) as error:
        # One answer that cannot be marked (it overflows, it is too deep) is that blank's
        # "invalid"; the student's other blanks and the rest of the class are still graded.
        reason = shorten(str(error) or type(error).__name__, 120)
        return _result(entry, "invalid", 0.0, shorten(text, 200),
                       f"this answer could not be marked: {reason}")  # fmt: skip


def _blank_entry(manifest: Mapping[str, Any], blank_id: str) -> Mapping[str, Any]:
    for blank in manifest["blanks"]:
        if blank["id"] == blank_id:
            return blank  # type: ignore[no-any-return]
    known = ", ".join(b["id"] for b in manifest["blanks"])
    raise SymbackpropError(f"no blank {shorten(blank_id)!r} in this worksheet; known: {known}")


def _own_numbers(manifest: Mapping[str, Any], answers: Mapping[str, Any]) -> dict[str, float]:
    """{step name: the student's readable numeric answer}, for error carried forward."""
    own: dict[str, float] = {}
    for blank in manifest["blanks"]:
        text = _text(answers.get(blank["id"]))
        if blank["type"] == "numeric" and text:
            try:
                own[blank["step"]] = read_number(text).value
            except ValueError:
                pass
    return own


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _result(blank: Mapping[str, Any], status: str, points: float, given: str, message: str,
            mistake: Mapping[str, Any] | None = None,
            assumed: Sequence[str] = ()) -> BlankResult:  # fmt: skip
    expected = blank["answer"]
    shown = f"{expected:.6g}" if isinstance(expected, float) else str(expected)
    return BlankResult(blank["id"], status, points, float(blank["points"]), given, shown,
                       message, mistake["name"] if mistake else "",
                       mistake["title"] if mistake else "", "; ".join(assumed))  # fmt: skip


def _numeric(
    manifest: Mapping[str, Any], blank: Mapping[str, Any], text: str, own: Mapping[str, float]
) -> BlankResult:
    try:
        reading = read_number(text)
    except ValueError as error:
        return _result(blank, "invalid", 0.0, text, str(error))
    given, assumed = reading.value, reading.assumed
    points, atol = float(blank["points"]), float(blank["atol"])
    if abs(given - blank["answer"]) <= atol:
        return _result(blank, "correct", points, text, "", assumed=assumed)
    upstream = {s: own[s] for s in blank["upstream_steps"] if s in own}
    if upstream:
        base = {**manifest["shown"], LEARNING_RATE.name: manifest["learning_rate"]}
        carried = program_for(network_of(manifest)).run(base, upstream)[blank["step"]]
        if abs(given - carried) <= atol:
            credit = points * float(manifest["ecf_credit"])
            return _result(blank, "ecf", credit, text,
                           "correct for your own earlier answers (error carried forward: "
                           f"from them it is {carried:.6g})", assumed=assumed)  # fmt: skip
    for mistake in blank["mistakes"]:
        if abs(given - mistake["value"]) <= atol:
            credit = points * float(manifest["mistake_credit"])
            return _result(blank, "mistake", credit, text,
                           f"{mistake['title']}: {mistake['explanation']}", mistake,
                           assumed)  # fmt: skip
    hint = _precision_hint(manifest, blank, reading)
    return _result(blank, "wrong", 0.0, text, hint, None, assumed)


def _precision_hint(manifest: Mapping[str, Any], blank: Mapping[str, Any], reading: Reading) -> str:
    """A hint when the answer is the key rounded to fewer decimals than the sheet asks for."""
    asked = int(blank.get("decimals", manifest["decimals"]))
    written = reading.decimals
    if written is None or written >= asked:
        return ""
    if abs(reading.value - blank["answer"]) > 0.5 * 10.0**-written + float(blank["atol"]):
        return ""
    places = f"{written} decimal{'s' * (written != 1)}"
    key = f"{blank['answer']:.{asked}f}"
    return f"too few decimals: this is the key rounded to {places}; give {asked} ({key})"


def _symbolic(manifest: Mapping[str, Any], blank: Mapping[str, Any], text: str,
              network: Network) -> BlankResult:  # fmt: skip
    from symbackprop.checks.checker import check_gradient

    if len(text) > MAX_ANSWER_CHARS:
        return _result(blank, "invalid", 0.0, shorten(text), "the formula is too long")
    wrt = blank["wrt"]
    # A delta is checked through its bias gradient (dL/db = delta): neither the delta nor that
    # gradient may then appear in the answer, both being the quantity asked for.
    asked = (blank["of"], notation.gradient_name(wrt)) if blank["kind"] == "symbolic_delta" else ()
    try:
        verdict = check_gradient(network, wrt, text, source=blank["id"], forbidden=asked,
                                 learning_rate=float(manifest["learning_rate"]))  # fmt: skip
    except SymbackpropError as error:
        return _result(blank, "invalid", 0.0, text, str(error))
    points = float(blank["points"])
    if verdict.correct:
        return _result(blank, "correct", points, text, "")
    if verdict.diagnosis is not None:
        diagnosis = verdict.diagnosis
        found = {"name": diagnosis.name, "title": diagnosis.title}
        return _result(blank, "mistake", points * float(manifest["mistake_credit"]), text,
                       f"{diagnosis.title}: {diagnosis.explanation}", found)  # fmt: skip
    return _result(blank, "wrong", 0.0, text, "")


def _choice(blank: Mapping[str, Any], text: str) -> BlankResult:
    try:
        letter, assumed = read_choice(text, blank["options"])
    except ValueError as error:
        return _result(blank, "invalid", 0.0, text, str(error))
    if letter == blank["answer"]:
        return _result(blank, "correct", float(blank["points"]), text, "", assumed=assumed)
    return _result(blank, "wrong", 0.0, text, "", assumed=assumed)
