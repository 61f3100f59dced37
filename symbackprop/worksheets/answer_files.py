"""Answer files in every layout a course hands over, read into {student: {blank: answer text}}.

Worksheets stage, read by :mod:`symbackprop.worksheets.grading`. A file is a CSV (wide: one row
per student, one column per blank; long: student, blank, answer; comma-, semicolon- or
tab-separated), a JSON mapping ``{student: {blank: answer}}`` or a list of records (flat,
``{"student_id": ..., "answers": {...}}`` or long), or one notebook. A folder holds notebooks:
``<student>.ipynb``, ``<student>/*.ipynb`` (the project's own ``students/<id>/``) or nbgrader's
``submitted/<student>/<assignment>/*.ipynb``; a folder with ``submitted/`` or ``students/`` in
it is read there. Whose a notebook is comes from where it lies, never from what it says.

What was read is described (:attr:`Submissions.layout`, :meth:`Submissions.summary`), and input
that matches nothing (an empty folder, a header-only CSV, ids of no student of the key, columns
that are no blank) is refused with one line rather than graded as zeros.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.inputs import read_input_text
from symbackprop.worksheets.notebook import notebook_answers

ID_COLUMNS = ("student_id", "student", "id", "username", "login", "user", "email")
BLANK_COLUMNS = ("blank", "blank_id", "question", "item")
ANSWER_COLUMNS = ("answer", "response", "value")
COURSE_FOLDERS = ("submitted", "students")  # nbgrader's, and what `worksheet generate` writes
DELIMITERS = (",", ";", "\t")
SHOWN_IDS = 8  # ids quoted in a message before "..."

# (student id, where it came from, {blank: answer text})
Row = tuple[str, str, dict[str, Any]]


class AnswerError(SymbackpropError):
    """An answers file cannot be read at all (encoding, format), or matches nothing."""


@dataclass(frozen=True, slots=True)
class Submissions:
    """Every student's answers as read, the layout they were read in, and what was skipped."""

    table: Mapping[str, Mapping[str, Any]]
    layout: str
    messages: tuple[str, ...] = ()

    @property
    def answer_count(self) -> int:
        return sum(1 for cells in self.table.values() for text in cells.values() if _given(text))

    def summary(self) -> str:
        """Return e.g. "read CSV (wide, ','-separated) answers.csv: 3 students, 21 answers"."""
        students = len(self.table)
        answers = self.answer_count
        return (f"read {self.layout}: {students} student{'s' * (students != 1)}, "
                f"{answers} answer{'s' * (answers != 1)}")  # fmt: skip


def _given(text: Any) -> bool:
    return text is not None and str(text).strip() != ""


def read_answers(
    answers: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]],
    manifests: Mapping[str, Mapping[str, Any]],
) -> Submissions:
    """Read answers in any layout; refuse (AnswerError) input in which nothing matches the key."""
    claims: list[str] = []
    if isinstance(answers, Mapping):
        layout = "answers given as a mapping {student: {blank: answer}}"
        rows = [(str(sid), f"student {sid!r}", _cells(cells, f"student {sid!r}", claims))
                for sid, cells in answers.items()]  # fmt: skip
    else:
        path = Path(answers)
        layout, rows = _rows_from(path, manifests, claims)
    source = layout if isinstance(answers, Mapping) else os.fspath(answers)
    table, messages = _checked_rows(rows, manifests, source)
    return Submissions(table, layout, tuple(claims + messages))


def _cells(value: Any, where: str, messages: list[str]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    messages.append(f"{where}: {shorten(repr(value))} is not {{blank: answer}}; no answers read")
    return {}


# --- files and folders ----------------------------------------------------------------------
def _rows_from(
    path: Path, manifests: Mapping[str, Any], claims: list[str]
) -> tuple[str, list[Row]]:
    if path.is_dir():
        return _folder_rows(path, manifests, claims)
    data = read_input_text(path, "answers", AnswerError)
    if path.suffix.lower() == ".ipynb":
        return f"the notebook {path.name}", [_notebook_row(path, data, manifests, claims)]
    if path.suffix.lower() == ".json":
        return _json_rows(data, path.name)
    return _csv_rows(data, path.name)


def _folder_rows(
    folder: Path, manifests: Mapping[str, Any], claims: list[str]
) -> tuple[str, list[Row]]:
    """Read every notebook of a submissions folder, naming the layouts found."""
    base = next((folder / name for name in COURSE_FOLDERS if (folder / name).is_dir()), folder)
    found = {depth: _notebooks(base, depth) for depth in (1, 2, 3)}
    if not any(found.values()):
        raise AnswerError(
            f"no notebooks in {shorten(str(base), 80)!r}: expected <student>.ipynb, "
            "<student>/*.ipynb or nbgrader's submitted/<student>/<assignment>/*.ipynb; pass "
            "that folder, or a CSV or JSON answers file"
        )
    kinds = {1: "<student>.ipynb", 2: "<student>/*.ipynb",
             3: "<student>/<assignment>/*.ipynb (nbgrader)"}  # fmt: skip
    parts = [f"{len(paths)} as {kinds[depth]}" for depth, paths in found.items() if paths]
    layout = f"notebooks in {base}: {', '.join(parts)}"
    rows: list[Row] = []
    skipped: list[str] = []
    for depth, paths in found.items():
        for path in paths:
            owner = path.relative_to(base).parts[0] if depth == 3 else None
            row = _folder_notebook(path, owner, manifests, claims)
            if isinstance(row, str):
                skipped.append(row)
            else:
                rows.append(row)
    if skipped and not rows:
        more = f" (and {len(skipped) - 1} more notebooks)" if len(skipped) > 1 else ""
        raise AnswerError(f"no notebook in {shorten(str(base), 80)!r} could be used: "
                          f"{skipped[0]}{more}")  # fmt: skip
    claims.extend(skipped)
    return layout, rows


def _folder_notebook(path: Path, owner: str | None, manifests: Mapping[str, Any],
                     claims: list[str]) -> Row | str:  # fmt: skip
    """One notebook of a folder as a row, or why it was skipped: unreadable, another sheet's.

    One unreadable notebook is that notebook's problem, not the class's.
    """
    worksheets = sorted({str(m["worksheet_id"]) for m in manifests.values()})
    try:
        data = read_input_text(path, "answers", AnswerError)
        other = _other_worksheet(data, worksheets)
        if other is None:
            return _notebook_row(path, data, manifests, claims, owner)
    except SymbackpropError as error:
        return f"{error}; skipped"
    expected = " or ".join(map(repr, worksheets))
    return f"{_where(path)}: a notebook of worksheet {shorten(other)!r}, not {expected}; skipped"


def _other_worksheet(data: str, worksheets: Sequence[str]) -> str | None:
    """The worksheet id a notebook names when it is not one of the key's, else None.

    An nbgrader tree holds every assignment of a student; only this worksheet's count.
    """
    try:
        named = json.loads(data)["metadata"]["symbackprop"]["worksheet_id"]
    except (json.JSONDecodeError, RecursionError, KeyError, TypeError):
        return None  # read (and refused, if need be) by notebook_answers
    return None if str(named) in worksheets else str(named)


def _notebooks(base: Path, depth: int) -> list[Path]:
    """Notebooks exactly ``depth`` levels below ``base``, leaving out hidden folders.

    Jupyter's ``.ipynb_checkpoints/`` copies are older saves, never the submission.
    """
    pattern = "/".join(["*"] * (depth - 1) + ["*.ipynb"])
    return sorted(p for p in base.glob(pattern)
                  if p.is_file() and not any(part.startswith(".")
                                             for part in p.relative_to(base).parts))  # fmt: skip


def _notebook_row(path: Path, data: str, manifests: Mapping[str, Any], claims: list[str],
                  owner: str | None = None) -> Row:  # fmt: skip
    claimed, cells = notebook_answers(data, path.name)
    student_id = owner if owner is not None else submitter(path, manifests)
    if claimed != student_id:
        claims.append(f"{_where(path)}: the notebook says it is {shorten(claimed)!r}'s; "
                      f"its location says {shorten(student_id)!r}, which counts")  # fmt: skip
    return student_id, _where(path), cells


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


# --- JSON -----------------------------------------------------------------------------------
def _json_rows(data: str, name: str) -> tuple[str, list[Row]]:
    try:
        document = json.loads(data)
    except json.JSONDecodeError as error:
        raise AnswerError(f"{name}:{error.lineno}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise AnswerError(f"{name}: nested too deeply to be answers; fix the file") from None
    if isinstance(document, Mapping):
        rows = []
        for sid, value in document.items():
            if not isinstance(value, Mapping):
                raise AnswerError(
                    f"{name}: student {shorten(str(sid))!r} maps to {shorten(json.dumps(value))}, "
                    'not {blank: answer}; write {"alice": {"a1_1": "0.5"}}'
                )
            rows.append((str(sid), f"{name}: {sid!r}", {str(k): v for k, v in value.items()}))
        return f"JSON {name} (a mapping student -> answers)", rows
    if isinstance(document, list):
        return _record_rows(document, name)
    raise AnswerError(f"{name}: expected {{student: {{blank: answer}}}} or a list of records")


def _record_rows(records: list[Any], name: str) -> tuple[str, list[Row]]:
    """Read a list of records: flat, nested under "answers", or long (student, blank, answer)."""
    rows: list[Row] = []
    kinds = set()
    for i, item in enumerate(records, start=1):
        where = f"{name}: record {i}"
        id_key = _first_key(item, ID_COLUMNS) if isinstance(item, Mapping) else None
        if id_key is None or (isinstance(item, Mapping) and "answers" in item
                              and not isinstance(item["answers"], Mapping)):  # fmt: skip
            raise AnswerError(
                f"{name}: item {i} is {shorten(json.dumps(item))}, not a record with a "
                'student_id: write {"student_id": "alice", "a1_1": "0.5"} or '
                '{"student_id": ..., "answers": {blank: answer}}'
            )
        blank_key, answer_key = _first_key(item, BLANK_COLUMNS), _first_key(item, ANSWER_COLUMNS)
        student = str(item[id_key])
        if isinstance(item.get("answers"), Mapping):
            kinds.add("nested")
            cells = {str(k): v for k, v in item["answers"].items()}
        elif blank_key is not None and answer_key is not None and len(item) == 3:
            kinds.add("long")
            cells = {str(item[blank_key]): item[answer_key]}
        else:
            kinds.add("flat")
            cells = {str(k): v for k, v in item.items() if k != id_key}
        rows.append((student, where, cells))
    shape = ", ".join(sorted(kinds)) or "empty"
    return f"JSON {name} (a list of records: {shape})", _merge_long(rows, "long" in kinds)


def _first_key(item: Mapping[str, Any], names: Sequence[str]) -> str | None:
    keys = {str(k).strip().lower(): k for k in item}
    return next((keys[n] for n in names if n in keys), None)


def _merge_long(rows: list[Row], long: bool) -> list[Row]:
    """Merge the one-answer rows of a long table into one row per student."""
    if not long:
        return rows
    merged: dict[str, Row] = {}
    for student, where, cells in rows:
        if student not in merged:
            merged[student] = (student, where, {})
        own = merged[student][2]
        for blank, text in cells.items():
            own.setdefault(blank, text)
    return list(merged.values())


# --- CSV ------------------------------------------------------------------------------------
def _csv_rows(data: str, name: str) -> tuple[str, list[Row]]:
    first_line = data.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=lambda d: (first_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(data), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader, [])]
        lowered = [h.lower() for h in header]
        id_index = next((lowered.index(n) for n in ID_COLUMNS if n in lowered), None)
        if id_index is None:
            raise AnswerError(
                f"{name}:1: no student_id column in the header "
                f"{shorten(delimiter.join(header), 60)!r}; the first row names the columns: "
                "student_id, then one column per blank (or student_id,blank,answer)"
            )
        body = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as error:
        # e.g. a field over the csv module's 128 KiB: no answer is that long
        raise AnswerError(f"{name}:{reader.line_num}: not readable as CSV: {error}") from None
    if not body:
        raise AnswerError(
            f"{name} has a header but no rows of answers; add one row per student "
            "(`symbackprop worksheet answers-template` writes one with every id)"
        )
    shown = {",": "','", ";": "';'", "\t": "tab"}[delimiter]
    long = _long_columns(lowered, id_index)
    if long is not None:
        rows = [(_cell(row, id_index), f"{name}:{line}",
                 {_cell(row, long[0]): _cell(row, long[1])}) for line, row in body]  # fmt: skip
        return f"CSV {name} (long: student, blank, answer; {shown}-separated)", _merge_long(
            rows, True
        )
    rows = []
    for line, row in body:
        cells = {
            header[i]: c.strip() for i, c in enumerate(row) if i != id_index and i < len(header)
        }
        rows.append((_cell(row, id_index), f"{name}:{line}", cells))
    return f"CSV {name} (wide: a column per blank; {shown}-separated)", rows


def _cell(row: Sequence[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _long_columns(lowered: Sequence[str], id_index: int) -> tuple[int, int] | None:
    """The (blank, answer) columns of a long table, when the header has just those three."""
    if len(lowered) != 3:
        return None
    blank = next((i for i, h in enumerate(lowered) if h in BLANK_COLUMNS and i != id_index), None)
    answer = next((i for i, h in enumerate(lowered) if h in ANSWER_COLUMNS and i != id_index), None)
    return (blank, answer) if blank is not None and answer is not None else None


# --- matching the rows to the key -----------------------------------------------------------
def _checked_rows(
    rows: Iterable[Row], manifests: Mapping[str, Mapping[str, Any]], source: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Keep the rows of the key's students and their known blanks; refuse when none match."""
    table: dict[str, dict[str, Any]] = {}
    messages: list[str] = []
    unknown_ids: list[str] = []
    unknown_blanks: dict[str, list[str]] = {}
    known_blanks: set[str] = set()
    rows = list(rows)
    renamed: dict[str, str] = {}  # ids and blank names read regardless of case
    for given_id, where, given_cells in rows:
        student_id = _case_match(given_id, manifests, renamed)
        if student_id not in manifests:
            unknown_ids.append(student_id)
            messages.append(f"{where}: unknown student {shorten(student_id)!r}; row skipped")
            continue
        if student_id in table:
            messages.append(f"{where}: a second row for {student_id!r}; the first one counts")
            continue
        known = {b["id"] for b in manifests[student_id]["blanks"]}
        known_blanks |= known
        cells = {_case_match(k, known, renamed): v for k, v in given_cells.items()}
        for blank in sorted(set(cells) - known):
            unknown_blanks.setdefault(blank, []).append(where)
        table[student_id] = {k: v for k, v in cells.items() if k in known}
    if renamed:
        pairs = [f"{shorten(a)!r} as {shorten(b)!r}" for a, b in renamed.items()]
        shown = ", ".join(pairs[:SHOWN_IDS]) + (", ..." if len(pairs) > SHOWN_IDS else "")
        messages.append(f"{shorten(source, 80)}: read regardless of case: {shown}")
    for blank, places in unknown_blanks.items():
        more = f" (and {len(places) - 1} more)" if len(places) > 1 else ""
        messages.append(f"{places[0]}: unknown blank {shorten(blank)!r}{more}; known: "
                        f"{', '.join(sorted(known_blanks))}")  # fmt: skip
    _refuse_no_match(rows, table, unknown_ids, manifests, source)
    return table, messages


def _case_match(name: str, known: Iterable[str], renamed: dict[str, str]) -> str:
    """``name``, or the one known name it equals but for case and surrounding spaces."""
    if name in known:
        return name
    folded = name.strip().casefold()
    same = [k for k in known if k.casefold() == folded]
    if len(same) != 1:
        return name
    renamed[name] = same[0]
    return same[0]


def _refuse_no_match(rows: Sequence[Row], table: Mapping[str, Mapping[str, Any]],
                     unknown_ids: Sequence[str], manifests: Mapping[str, Any],
                     source: str) -> None:  # fmt: skip
    where = shorten(source, 80)
    if not rows:
        raise AnswerError(f"{where} holds no answers; give one entry per student")
    if not table:
        guess = difflib.get_close_matches(unknown_ids[0], list(manifests), n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        raise AnswerError(
            f"none of the {len(unknown_ids)} student ids in {where} is in the key "
            f"({_ids(unknown_ids)}){hint}; the key has {_ids(list(manifests))}"
        )
    if not any(cells for cells in table.values()):
        blanks = sorted({b["id"] for m in manifests.values() for b in m["blanks"]})
        raise AnswerError(
            f"no answer in {where} is for a blank of the worksheet; name the columns by the "
            f"blank ids: {', '.join(blanks)}"
        )


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(shorten(i, 20)) for i in ids[:SHOWN_IDS])
    return shown + (", ..." if len(ids) > SHOWN_IDS else "")


# --- an empty answers file ------------------------------------------------------------------
def answers_template(manifests: Mapping[str, Mapping[str, Any]], long: bool = False) -> str:
    """Return an answers CSV with every student and blank id of the key and no answers.

    Wide: ``student_id`` and a column per blank, in the sheet's order; ``long``: one
    ``student_id,blank,answer`` row per student and blank.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    blanks: list[str] = []
    for manifest in manifests.values():
        blanks += [b["id"] for b in manifest["blanks"] if b["id"] not in blanks]
    if long:
        writer.writerow(["student_id", "blank", "answer"])
        for student_id, manifest in manifests.items():
            writer.writerows([student_id, b["id"], ""] for b in manifest["blanks"])
        return out.getvalue()
    writer.writerow(["student_id", *blanks])
    writer.writerows([student_id, *[""] * len(blanks)] for student_id in manifests)
    return out.getvalue()
