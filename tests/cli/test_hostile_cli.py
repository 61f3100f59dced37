"""Hostile input to the command: exit 2, one line, no traceback, nothing that drives a terminal."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop.cli import main as cli
from symbackprop.render.escape import csv_cell, terminal_text
from symbackprop.worksheets.grades import BlankResult, Grades, StudentGrade

SAME_TMP_PATH = HealthCheck.function_scoped_fixture  # each example writes its own file names
# What a terminal obeys: C0 controls but tab, line feed, carriage return; DEL; C1; bidi overrides.
RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
control_text = st.text(
    st.one_of(st.characters(max_codepoint=0x9F), st.sampled_from("\u202e\u2066\u061c")),
    min_size=1, max_size=30,
).filter(lambda s: s.strip())  # fmt: skip


def _toml_string(text: str) -> str:
    return json.dumps(text)  # JSON's escapes are TOML's (and \u007f is valid in both)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _assert_one_line_error(status: int, err: str) -> str:
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbackprop: error: "), err
    return lines[0]


# --- terminal ----------------------------------------------------------------------------------
@given(control_text)
@settings(max_examples=200, deadline=None)
def test_terminal_text_leaves_no_control_character(text):
    shown = terminal_text(text)
    assert not RAW_CONTROL.search(shown), repr(shown)
    assert terminal_text("plain · text\n\tη = 0.5\r") == "plain · text\n\tη = 0.5\r"


@given(name=control_text)
@settings(max_examples=25, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_spec_name_with_control_characters_is_shown_escaped(tmp_path, capsys, name):
    spec = tmp_path / "s.toml"
    spec.write_text(
        f"name = {_toml_string(name)}\n[network]\nsizes = [1, 1]\n[data]\nX = [[1]]\nY = [[0]]\n"
        "[init]\nseed = 0\n[training]\nepochs = 1\n",
        encoding="utf-8",
    )
    status, out, err = _cli(capsys, "train", str(spec))
    assert status == 0, err
    assert not RAW_CONTROL.search(out + err), repr(out + err)


# --- error messages quote a short, sanitised excerpt of a file ---------------------------------
@given(header=st.text(min_size=1, max_size=3000).filter(lambda s: s.strip() and "\n" not in s))
@settings(max_examples=40, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_error_quoting_a_csv_header_is_one_short_clean_line(tmp_path, capsys, header):
    (tmp_path / "data.csv").write_text(header + "\n1,2\n", encoding="utf-8", newline="")
    spec = tmp_path / "s.toml"
    spec.write_text(
        '[network]\nsizes = [1, 1]\n[data]\ncsv = "data.csv"\ninputs = ["no such column"]\n'
        'targets = ["nor this"]\n',
        encoding="utf-8",
    )
    status, _, err = _cli(capsys, "derive", str(spec))
    line = _assert_one_line_error(status, err)
    assert not RAW_CONTROL.search(line), repr(line)
    assert len(line) <= 450, len(line)
    if len(header) > 200:
        assert header not in line


def test_etc_passwd_as_data_shows_no_more_than_a_short_excerpt(tmp_path, capsys):
    secret = "root:x:0:0:root:/root:/bin/bash:" + "s3cr3t" * 20
    (tmp_path / "passwd").write_text(secret + "\n", encoding="utf-8")
    spec = tmp_path / "s.toml"
    spec.write_text('[network]\nsizes = [1, 1]\n[data]\ncsv = "passwd"\ninputs = ["x"]\n'
                    'targets = ["y"]\n', encoding="utf-8")  # fmt: skip
    line = _assert_one_line_error(*_cli(capsys, "derive", str(spec))[::2])
    assert "s3cr3t" * 2 not in line


# --- CSV: no cell is a formula -------------------------------------------------------------------
FORMULA_START = ("=", "+", "-", "@")


@given(st.text(max_size=20))
@settings(max_examples=200)
def test_csv_cell_never_starts_a_formula(text):
    cell = csv_cell(text)
    assert not cell.lstrip().startswith(FORMULA_START)
    assert not re.search(r"[\x00-\x1f]", cell)
    flat = re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", text)
    assert cell in (flat, "'" + flat)


@given(st.lists(st.text(st.sampled_from("=+-@\t\r1aA_.|!() "), min_size=1, max_size=8),
                min_size=1, max_size=5, unique=True))  # fmt: skip
@settings(max_examples=50)
def test_grades_csv_has_no_formula_cells(ids):
    result = BlankResult("-1-1", "correct", 1.0, 1.0, "1", "1")
    grades = Grades(tuple(StudentGrade(sid, (result,)) for sid in ids))
    rows = list(csv.reader(io.StringIO(grades.to_csv(), newline="")))
    for row in rows:
        for cell in row:
            safe = not cell.lstrip().startswith(FORMULA_START)
            assert safe or re.fullmatch(r"-?[\d.]+", cell), row
