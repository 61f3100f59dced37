"""Worksheet grading: answers against the manifests, with error carried forward and feedback.

Worksheets stage. Each blank is marked against the key first (numbers within the
tolerance the sheet's rounding allows; formulas by the checker's equivalence; choices by
letter). A wrong number is then re-marked against the value the derivation's steps give from
the student's own upstream answers (error carried forward, along ``Step.depends_on``), and the
better marking counts. A wrong answer that equals a known mistake's value gets that mistake's
feedback. Text that is not a number or a formula is "invalid", never "wrong".
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbackprop.derivation.steps import LEARNING_RATE
from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.inputs import read_input_text
from symbackprop.model.network import Network
from symbackprop.worksheets.answer_files import AnswerError, read_answers
from symbackprop.worksheets.grades import BlankResult, Grades, StudentGrade
from symbackprop.worksheets.manifest import network_of, validate_manifest
from symbackprop.worksheets.step_program import program_for
from symbackprop.worksheets.variants import LETTERS

MAX_ANSWER_CHARS = 400
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
_TIMES_TEN = re.compile(r"^(.+?)\s*(?:[x×*]|\\times)\s*10\s*(?:\^|\*\*)\s*\{?([+-]?\d{1,3})\}?$")
_FRACTION = re.compile(r"^([+-]?\d{1,12})\s*/\s*(\d{1,12})$")

__all__ = ["AnswerError", "grade", "grade_student", "load_manifests", "parse_number"]


# --- reading numbers ----------------------------------------------------------------
def parse_number(text: str) -> float:
    """Read a decimal, scientific notation (1.2e-3, 1.2 x 10^-3) or a fraction (3/8).

    Raises ValueError with the reason when the text is none of these.
    """
    raw = text.strip().replace("−", "-").replace("\u2009", "").replace(" ", "")
    if len(raw) > 60:
        raise ValueError(f"{shorten(text)!r} is too long for a number")
    try:
        value = _number(raw, text)
    except (OverflowError, ZeroDivisionError):
        value = math.inf
    if value is None:
        if re.fullmatch(r"[+-]?\d+,\d+", raw):
            raise ValueError(f"{shorten(text)!r} uses a decimal comma; write a point (0.25)")
        raise ValueError(
            f"{shorten(text)!r} is not a number; write a decimal (0.1234), scientific notation "
            "(1.2e-3) or a fraction (3/8)"
        )
    if not math.isfinite(value):
        raise ValueError(f"{shorten(text)!r} is out of range; give a finite number")
    return value


def _number(raw: str, text: str) -> float | None:
    """The value of a number in one of the accepted forms, or None."""
    if _DECIMAL.match(raw):
        return float(raw)
    times = _TIMES_TEN.match(raw)
    if times and _DECIMAL.match(times[1]):
        return float(times[1]) * 10.0 ** int(times[2])
    fraction = _FRACTION.match(raw)
    if fraction:
        if int(fraction[2]) == 0:
            raise ValueError(f"{shorten(text)!r} divides by zero")
        return float(Fraction(int(fraction[1]), int(fraction[2])))
    return None


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
    network = network_of(manifest)
    program = program_for(network)
    base = {**manifest["shown"], LEARNING_RATE.name: manifest["learning_rate"]}
    own: dict[str, float] = {}  # step name -> the student's valid numeric answer
    for blank in manifest["blanks"]:
        text = _text(answers.get(blank["id"]))
        if blank["type"] == "numeric" and text:
            try:
                own[blank["step"]] = parse_number(text)
            except ValueError:
                pass
    results = []
    for blank in manifest["blanks"]:
        text = _text(answers.get(blank["id"]))
        if not text:
            results.append(_result(blank, "blank", 0.0, text, "no answer"))
            continue
        try:
            results.append(_mark(manifest, blank, text, network, program, base, own))
        except (SymbackpropError, ArithmeticError, ValueError, RecursionError) as error:
            # One answer that cannot be marked (it overflows, it is too deep) is that blank's
            # "invalid"; the student's other blanks and the rest of the class are still graded.
            reason = shorten(str(error) or type(error).__name__, 120)
            results.append(_result(blank, "invalid", 0.0, shorten(text, 200),
                                   f"this answer could not be marked: {reason}"))  # fmt: skip
    return StudentGrade(manifest["student_id"], tuple(results))


def _mark(
    manifest: Mapping[str, Any],
    blank: Mapping[str, Any],
    text: str,
    network: Network,
    program: Any,
    base: Mapping[str, float],
    own: Mapping[str, float],
) -> BlankResult:
    if blank["type"] == "numeric":
        return _numeric(manifest, blank, text, program, base, own)
    if blank["type"] == "symbolic":
        return _symbolic(manifest, blank, text, network)
    return _choice(blank, text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _result(blank: Mapping[str, Any], status: str, points: float, given: str, message: str,
            mistake: Mapping[str, Any] | None = None) -> BlankResult:  # fmt: skip
    expected = blank["answer"]
    shown = f"{expected:.6g}" if isinstance(expected, float) else str(expected)
    return BlankResult(blank["id"], status, points, float(blank["points"]), given, shown,
                       message, mistake["name"] if mistake else "",
                       mistake["title"] if mistake else "")  # fmt: skip


def _numeric(
    manifest: Mapping[str, Any],
    blank: Mapping[str, Any],
    text: str,
    program: Any,
    base: Mapping[str, float],
    own: Mapping[str, float],
) -> BlankResult:
    try:
        given = parse_number(text)
    except ValueError as error:
        return _result(blank, "invalid", 0.0, text, str(error))
    points, atol = float(blank["points"]), float(blank["atol"])
    if abs(given - blank["answer"]) <= atol:
        return _result(blank, "correct", points, text, "")
    upstream = {s: own[s] for s in blank["upstream_steps"] if s in own}
    if upstream:
        carried = program.run(base, upstream)[blank["step"]]
        if abs(given - carried) <= atol:
            credit = points * float(manifest["ecf_credit"])
            return _result(blank, "ecf", credit, text,
                           "correct for your own earlier answers (error carried forward: "
                           f"from them it is {carried:.6g})")  # fmt: skip
    for mistake in blank["mistakes"]:
        if abs(given - mistake["value"]) <= atol:
            credit = points * float(manifest["mistake_credit"])
            return _result(blank, "mistake", credit, text,
                           f"{mistake['title']}: {mistake['explanation']}", mistake)  # fmt: skip
    return _result(blank, "wrong", 0.0, text, "")


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
    letter = text.strip().strip("()").upper()
    if letter not in LETTERS:
        return _result(blank, "invalid", 0.0, text, f"answer with one letter {', '.join(LETTERS)}")
    if letter == blank["answer"]:
        return _result(blank, "correct", float(blank["points"]), text, "")
    return _result(blank, "wrong", 0.0, text, "")
