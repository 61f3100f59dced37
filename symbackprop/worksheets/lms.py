"""LMS exports: Moodle XML question banks and gradebook CSVs for Moodle and Canvas.

Worksheets stage. Every export is read from the manifests `worksheet generate` wrote, so it
holds exactly the variants, keys, tolerances and known mistakes that ``grade`` uses. A Moodle
export is one question category per worksheet and one Cloze (embedded answers) question per
student: numeric blanks are NUMERICAL answers with the grading tolerance, each known mistake a
further answer with its diagnosis as feedback; the key's worked solution is the general
feedback. QTI 2.1 packages (Canvas) are :mod:`symbackprop.worksheets.qti`.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.printing import format_number
from symbackprop.render.escape import csv_cell
from symbackprop.worksheets.manifest import network_of
from symbackprop.worksheets.render import evaluation, points_text, prompt, worked_html
from symbackprop.worksheets.variants import LETTERS, Variant

LMS_FORMATS = ("moodle", "qti")
GRADEBOOKS = ("moodle", "canvas")
FORMULA_NOTE = (
    "Formula blanks match the key's text exactly here; grade them with `symbackprop grade`, "
    "which checks formulas for equivalence."
)


# --- what every export shows ----------------------------------------------------------------
def variant_of(manifest: Mapping[str, Any]) -> Variant:
    """Return the variant a manifest records (network, shown values, rate), without its blanks."""
    return Variant(
        student_id=manifest["student_id"], seed=int(manifest["seed"], 16),
        skipped=manifest["skipped"], rejected=dict(manifest["rejected"]),
        network=network_of(manifest), shown=dict(manifest["shown"]), values={}, blanks=(),
        learning_rate=float(manifest["learning_rate"]), decimals=int(manifest["decimals"]),
    )  # fmt: skip


def blank_prompt(blank: Mapping[str, Any], variant: Variant) -> str:
    """Return the question of one blank as text with TeX math in \\( \\) (MathJax renders it)."""
    prose, tex = prompt(blank, variant)
    return f"{blank['id']} ({points_text(blank['points'])}). {prose} \\({tex}\\)"


def given_text(manifest: Mapping[str, Any], variant: Variant) -> str:
    """Return the sheet's preamble: the network, the given values and the rounding asked for."""
    values = ", ".join(f"{n} = {format_number(v)}" for n, v in manifest["shown"].items())
    return (f"{variant.network.describe()}. Given: {values}. Round every intermediate to "
            f"{manifest['decimals']} decimals; give formulas in ASCII names (a1_1, w2_1_1, "
            "delta2_1).")  # fmt: skip


def worked_solution(variant: Variant) -> str:
    """Return the worked solution of a variant as HTML with MathML (the key's last part)."""
    d, ev = evaluation(variant)
    return worked_html(d, ev)


def require_manifests(manifests: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return the manifests of one worksheet in student order; refuse none or several sheets."""
    if not manifests:
        raise SymbackpropError("no student manifests to export; run `worksheet generate` first")
    sheets = sorted({m["worksheet_id"] for m in manifests.values()})
    if len(sheets) > 1:
        raise SymbackpropError(
            f"the key holds {len(sheets)} worksheets ({', '.join(map(repr, sheets))}); export "
            "one worksheet folder at a time"
        )
    return [manifests[sid] for sid in sorted(manifests)]


# --- Moodle XML ----------------------------------------------------------------
_CLOZE_SPECIAL = '\\}#~/"'  # the characters Moodle's Cloze syntax gives a meaning


def cloze_escape(text: str) -> str:
    """Escape text for a Cloze answer or feedback: Moodle reads \\ + the character literally."""
    return "".join("\\" + c if c in _CLOZE_SPECIAL else c for c in text)


def cloze_number(value: float) -> str:
    """Write a number for a Cloze NUMERICAL answer: plain decimal or e-notation, no spaces."""
    return f"{value:.12g}"


def cloze_blank(blank: Mapping[str, Any], mistake_credit: float) -> str:
    """Return one blank as a Cloze subquestion ``{points:TYPE:answers}``.

    Numeric: the key with the grading tolerance first, then each known mistake (credit
    ``mistake_credit``, its diagnosis as feedback), so Moodle picks what ``grade`` picks.
    """
    points = max(1, round(float(blank["points"])))
    if blank["type"] == "numeric":
        atol = cloze_number(float(blank["atol"]))
        answers = [f"={cloze_number(float(blank['answer']))}:{atol}#correct"]
        percent = round(100 * mistake_credit)
        for mistake in blank["mistakes"]:
            note = cloze_escape(f"{mistake['title']}: {mistake['explanation']}")
            answers.append(f"%{percent}%{cloze_number(float(mistake['value']))}:{atol}#{note}")
        return f"{{{points}:NUMERICAL:{'~'.join(answers)}}}"
    if blank["type"] == "choice":
        options = [("=" if LETTERS[i] == blank["answer"] else "") + cloze_escape(text)
                   for i, text in enumerate(blank["options"])]  # fmt: skip
        return f"{{{points}:MULTICHOICE_V:{'~'.join(options)}}}"
    return f"{{{points}:SHORTANSWER:={cloze_escape(str(blank['answer']))}}}"


def _text_element(parent: ET.Element, tag: str, text: str, html: bool = False) -> ET.Element:
    element = ET.SubElement(parent, tag, {"format": "html"} if html else {})
    ET.SubElement(element, "text").text = text
    return element


def _html(tag: str, text: str) -> str:
    """Return one HTML element holding text, escaped by ElementTree (never by hand)."""
    element = ET.Element(tag)
    element.text = text
    return ET.tostring(element, encoding="unicode", method="html")


def moodle_question(manifest: Mapping[str, Any], quiz: ET.Element) -> None:
    """Append one student's Cloze question to a Moodle ``<quiz>``."""
    variant = variant_of(manifest)
    parts = [_html("p", f"Student {manifest['student_id']} · variant {manifest['seed']}"),
             _html("p", given_text(manifest, variant))]  # fmt: skip
    for blank in manifest["blanks"]:
        # The Cloze marker is text in the HTML that Moodle parses: ElementTree escapes it.
        marker = cloze_blank(blank, float(manifest["mistake_credit"]))
        parts.append(_html("p", f"{blank_prompt(blank, variant)} {marker}"))
    if any(b["type"] == "symbolic" for b in manifest["blanks"]):
        parts.append(_html("p", FORMULA_NOTE))
    question = ET.SubElement(quiz, "question", {"type": "cloze"})
    _text_element(question, "name", f"{manifest['title']}: {manifest['student_id']}")
    _text_element(question, "questiontext", "\n".join(parts), html=True)
    _text_element(question, "generalfeedback", worked_solution(variant), html=True)
    ET.SubElement(question, "penalty").text = "0"
    ET.SubElement(question, "hidden").text = "0"
    idnumber = f"{manifest['worksheet_id']}:{manifest['student_id']}"
    ET.SubElement(question, "idnumber").text = idnumber


def moodle_xml(manifests: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Return a Moodle XML question bank: one category per worksheet, one question per student."""
    sheets = require_manifests(manifests)
    quiz = ET.Element("quiz")
    category = ET.SubElement(quiz, "question", {"type": "category"})
    first = sheets[0]
    path = f"$course$/top/{first['title'].replace('/', '//')} ({first['worksheet_id']})"
    _text_element(category, "category", path)
    about = f"One question per student of {first['worksheet_id']}, named after the student."
    _text_element(category, "info", _html("p", about), html=True)
    for manifest in sheets:
        moodle_question(manifest, quiz)
    ET.indent(quiz)
    return ET.tostring(quiz, encoding="utf-8", xml_declaration=True) + b"\n"


# --- gradebooks ----------------------------------------------------------------
def read_grades_csv(text: str, name: str) -> list[tuple[str, float, float]]:
    """Read (student id, points, max points) per row of the grades.csv `grade` wrote."""
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or ())
    if not {"student_id", "total", "max"} <= fields:
        raise SymbackpropError(
            f"{name}: expected the grades.csv `symbackprop grade` writes (columns student_id, "
            f"..., total, max), got {shorten(', '.join(reader.fieldnames or ['nothing']))}"
        )
    rows = []
    for row in reader:
        student = str(row["student_id"]).lstrip("'")  # csv_cell's guard against formulas
        try:
            rows.append((student, float(row["total"]), float(row["max"])))
        except (TypeError, ValueError):
            raise SymbackpropError(
                f"{name}:{reader.line_num}: total {shorten(str(row['total']))!r} or max "
                f"{shorten(str(row['max']))!r} is not a number; regenerate it with `grade`"
            ) from None
    if not rows:
        raise SymbackpropError(f"{name}: no student rows; grade some answers first")
    return rows


def gradebook_csv(rows: Sequence[tuple[str, float, float]], lms: str, title: str) -> str:
    """Return a gradebook CSV for Moodle's or Canvas's grade import.

    Moodle ("Import grades from CSV"): map "ID number" to the users' ID number and the
    worksheet column to a grade item. Canvas ("Import" in Gradebook): students are matched by
    "SIS User ID"; the "Points Possible" row sets the new assignment's points.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    maximum = max(r[2] for r in rows)
    if lms == "moodle":
        writer.writerow(["ID number", csv_cell(title)])
        for student, points, _ in rows:
            writer.writerow([csv_cell(student), f"{points:g}"])
    elif lms == "canvas":
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                         csv_cell(title)])  # fmt: skip
        writer.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
        for student, points, _ in rows:
            writer.writerow([csv_cell(student), "", csv_cell(student), "", "", f"{points:g}"])
    else:
        raise SymbackpropError(f"unknown gradebook {lms!r}; choose one of {', '.join(GRADEBOOKS)}")
    return out.getvalue()
