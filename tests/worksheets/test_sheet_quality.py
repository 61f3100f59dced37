"""What the student sheet and the key print: ids, names, words, room to write, nothing cut."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from symbackprop.worksheets.generate import worksheet

ROOT = Path(__file__).resolve().parents[2]
HAVE_LATEX = all(shutil.which(tool) for tool in ("pdflatex", "pdftotext"))
MARGIN_PT = 2.2 / 2.54 * 72  # the template's geometry margin (2.2 cm) in PostScript points
SLACK_PT = 1.0  # pdftotext's boxes round glyph extents; one point of slack
BIG = {  # the largest hand-sized family (25 parameters) with the long formulas it asks for
    "worksheet": {"id": "big", "title": "Backpropagation, two hidden layers"},
    "network": {"sizes": [[2, 3, 3, 1]], "activations": ["tanh"], "losses": ["half_sse"]},
    "values": {"weights": [-1.0, 1.0, 0.1], "biases": [-0.5, 0.5, 0.1],
               "inputs": [-1.0, 1.0, 0.1], "targets": [0.0, 1.0, 0.1]},
    "questions": [{"kind": "forward", "of": "a1_1"}, {"kind": "delta", "of": "delta1_1"},
                  {"kind": "gradient", "of": "w1_1_1"}, {"kind": "rule", "of": "delta1_1"},
                  {"kind": "symbolic_delta", "of": "delta1_2"},
                  {"kind": "symbolic_gradient", "of": "w1_3_2"}],
}  # fmt: skip


@pytest.fixture(scope="module")
def roster(tmp_path_factory):
    path = tmp_path_factory.mktemp("roster") / "roster.csv"
    path.write_text("student_id,name\nalice,Alice Adams\nbob,\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory, roster):
    folder = tmp_path_factory.mktemp("big") / "out"
    sheet = worksheet(BIG, roster, "salt")
    sheet.write(folder, pdf=HAVE_LATEX, pdf_each_key=HAVE_LATEX)
    return sheet, folder


def test_the_sheet_prints_blank_ids_names_words_notation_and_room_to_write(written):
    sheet, folder = written
    tex = (folder / "students" / "alice" / "worksheet.tex").read_text(encoding="utf-8")
    for blank in sheet.manifest("alice")["blanks"]:
        escaped = blank["id"].replace("_", "\\char95{}")
        assert f"[\\texttt{{{escaped}}}]" in tex, blank["id"]
    assert "Alice Adams (\\texttt{alice})" in tex
    bob = (folder / "students" / "bob" / "worksheet.tex").read_text(encoding="utf-8")
    assert "Student \\texttt{bob}" in bob  # no name on the roster: the id alone
    assert "half the sum of squared errors" in tex and "its own bias" in tex
    assert "half\\_sse" not in tex and "per\\_neuron" not in tex
    assert "\\emph{from} neuron $k$ of layer $l-1$ \\emph{to} neuron $j$" in tex
    spaces = [float(cm) for cm in re.findall(r"\\begin\{solution\}\[([\d.]+)cm\]", tex)]
    assert spaces and min(spaces) >= 1.5 and max(spaces) >= 5.0, spaces
    assert "\\Needspace*{15\\baselineskip}" in tex  # options stay with their question


def _pages(pdf: Path) -> list[tuple[float, list[tuple[float, float, str]]]]:
    """Return per page its width and every word as (xMin, xMax, text), from pdftotext -bbox."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    pages = []
    for width, body in re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', html, re.S):
        words = re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>(.*?)</word>',
                           body)  # fmt: skip
        pages.append((float(width), [(float(a), float(b), t) for a, b, t in words]))
    return pages


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LATEX, reason="needs pdflatex and pdftotext (poppler-utils)")
def test_no_word_of_a_key_or_sheet_passes_the_right_margin(written):
    _, folder = written
    pdfs = [folder / "key" / "keys.pdf", folder / "key" / "alice" / "key.pdf",
            folder / "students" / "alice" / "worksheet.pdf"]  # fmt: skip
    for pdf in pdfs:
        for number, (width, words) in enumerate(_pages(pdf), start=1):
            right = width - MARGIN_PT + SLACK_PT
            beyond = [(text, round(x_max, 1)) for _, x_max, text in words if x_max > right]
            assert not beyond, f"{pdf.name} page {number}: past the margin ({right:.1f}): {beyond}"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LATEX, reason="needs pdflatex and pdftotext (poppler-utils)")
def test_the_student_pdf_prints_every_blank_id_and_keeps_options_with_their_question(written):
    sheet, folder = written
    pages = [" ".join(t for _, _, t in words)
             for _, words in _pages(folder / "students" / "alice" / "worksheet.pdf")]  # fmt: skip
    text = " ".join(pages)
    for blank in sheet.manifest("alice")["blanks"]:
        assert f"[{blank['id']}]" in text, blank["id"]
    page = next(p for p in pages if "[rule_delta1_1]" in p)
    after = page.split("[rule_delta1_1]", 1)[1]
    assert all(f"{letter}." in after.split() for letter in "ABCD"), after[:300]
    assert "Alice Adams" in text
