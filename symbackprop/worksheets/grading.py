"""Worksheet grading: answers against the manifests, with error carried forward and feedback.

Worksheets stage. Each blank is marked against the key first (numbers within the
tolerance the sheet's rounding allows; formulas by the checker's equivalence; choices by
letter). A wrong number is then re-marked against the value the derivation's steps give from
the student's own upstream answers (error carried forward, along ``Step.depends_on``), and the
better marking counts. A wrong answer that equals a known mistake's value gets that mistake's
feedback. Text that is not a number or a formula is "invalid", never "wrong".
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbackprop.derivation.steps import LEARNING_RATE
from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.inputs import read_input_text
from symbackprop.model.network import Network
from symbackprop.worksheets.grades import BlankResult, Grades, StudentGrade
from symbackprop.worksheets.manifest import network_of, validate_manifest
from symbackprop.worksheets.notebook import notebook_answers
from symbackprop.worksheets.step_program import program_for
from symbackprop.worksheets.variants import LETTERS

MAX_ANSWER_CHARS = 400
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
_TIMES_TEN = re.compile(r"^(.+?)\s*(?:[x×*]|\\times)\s*10\s*(?:\^|\*\*)\s*\{?([+-]?\d{1,3})\}?$")
_FRACTION = re.compile(r"^([+-]?\d{1,12})\s*/\s*(\d{1,12})$")
_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class AnswerError(SymbackpropError):
    """An answers file cannot be read at all (encoding, format)."""


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
) -> Grades:
    """Grade answers (CSV, JSON, notebooks, or {student: {blank: text}}) against the key."""
    if not isinstance(answers, (str, os.PathLike, Mapping)):
        raise AnswerError(
            f"answers {shorten(repr(answers))} is not a path or a dict; pass a CSV, JSON or "
            "notebook file, a folder of notebooks, or {student: {blank: answer}}"
        )
    manifests = load_manifests(key)
    table, messages = read_answers(answers, manifests)
    students = []
    for student_id, manifest in manifests.items():
        students.append(grade_student(manifest, table.get(student_id, {})))
    return Grades(tuple(students), tuple(messages), manifests)


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


# --- reading answers ----------------------------------------------------------------
def read_answers(
    answers: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]],
    manifests: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Return {student: {blank: text}} and one message per row or cell that was skipped."""
    claims: list[str] = []
    if isinstance(answers, Mapping):
        rows = [(f"student {sid!r}", sid, dict(cells)) for sid, cells in answers.items()]
    else:
        rows = _rows_from(Path(answers), manifests, claims)
    table, messages = _checked_rows(rows, manifests)
    return table, claims + messages


def _rows_from(
    path: Path, manifests: Mapping[str, Any], claims: list[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    if path.is_dir():
        rows = []
        # <student>.ipynb, or <student>/<any name>.ipynb (nbgrader's submitted/ layout)
        for notebook in sorted([*path.glob("*.ipynb"), *path.glob("*/*.ipynb")]):
            rows += _rows_from(notebook, manifests, claims)
        return rows
    data = read_input_text(path, "answers", AnswerError)
    if path.suffix == ".ipynb":
        claimed, cells = notebook_answers(data, path.name)
        student_id = submitter(path, manifests)
        if claimed != student_id:
            claims.append(f"{_where(path)}: the notebook says it is {shorten(claimed)!r}'s; "
                          f"its location says {shorten(student_id)!r}, which counts")  # fmt: skip
        return [(_where(path), student_id, cells)]
    if path.suffix == ".json":
        return _json_rows(data, path.name)
    return _csv_rows(data, path.name)


def submitter(path: Path, manifests: Mapping[str, Any]) -> str:
    """Whose notebook this is, from where it lies: ``<id>.ipynb``, else a ``<id>/`` folder.

    What the notebook says about itself (its metadata) is never trusted: a student could
    claim to be anyone.
    """
    if path.stem in manifests or path.parent.name not in manifests:
        return path.stem
    return path.parent.name


def _where(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _json_rows(data: str, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    try:
        document = json.loads(data)
    except json.JSONDecodeError as error:
        raise AnswerError(f"{name}:{error.lineno}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise AnswerError(f"{name}: nested too deeply to be answers; fix the file") from None
    if isinstance(document, Mapping):
        return [(f"{name}: {sid!r}", str(sid), dict(v) if isinstance(v, Mapping) else {})
                for sid, v in document.items()]  # fmt: skip
    if isinstance(document, list):
        for i, item in enumerate(document):
            if not (isinstance(item, Mapping) and isinstance(item.get("answers", {}), Mapping)):
                raise AnswerError(
                    f"{name}: item {i + 1} is {shorten(json.dumps(item))}, not an object "
                    '{"student_id": ..., "answers": {blank: answer}}; fix the item'
                )
        return [(f"{name}: item {i + 1}", str(item.get("student_id", "")),
                 dict(item.get("answers", {}))) for i, item in enumerate(document)]  # fmt: skip
    raise AnswerError(f"{name}: expected {{student: {{blank: answer}}}} or a list of objects")


def _csv_rows(data: str, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(data))
    try:
        header = next(reader, None)
        if not header or header[0].strip().lower() not in ("student_id", "student", "id"):
            raise AnswerError(
                f"{name}:1: the first column must be student_id, then one column per blank"
            )
        blanks = [h.strip() for h in header[1:]]
        rows = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = dict(zip(blanks, (c.strip() for c in row[1:]), strict=False))
            rows.append((f"{name}:{reader.line_num}", row[0].strip(), cells))
    except csv.Error as error:
        # e.g. a field over the csv module's 128 KiB: no answer is that long
        raise AnswerError(f"{name}:{reader.line_num}: not readable as CSV: {error}") from None
    return rows


def _checked_rows(
    rows: Iterable[tuple[str, str, dict[str, Any]]], manifests: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    table: dict[str, dict[str, Any]] = {}
    messages: list[str] = []
    for where, student_id, cells in rows:
        if student_id not in manifests:
            messages.append(f"{where}: unknown student {shorten(student_id)!r}; row skipped")
            continue
        if student_id in table:
            messages.append(f"{where}: a second row for {student_id!r}; the first one counts")
            continue
        known = {b["id"] for b in manifests[student_id]["blanks"]}
        for blank in sorted(set(cells) - known):
            messages.append(f"{where}: unknown blank {shorten(blank)!r}; known: "
                            f"{', '.join(sorted(known))}")  # fmt: skip
        table[student_id] = {k: v for k, v in cells.items() if k in known}
    return table, messages
