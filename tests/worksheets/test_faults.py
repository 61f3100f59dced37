"""Files and faults: outputs only inside -o, regular files only, all-or-nothing folders, no
temporary folder left behind, external tools time-limited, every written file loads back."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.render import tools
from symbackprop.render.tools import ToolError
from symbackprop.worksheets.generate import worksheet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEEK5 = EXAMPLES / "worksheets" / "week5.toml"
SAME_TMP_PATH = HealthCheck.function_scoped_fixture


def _one_line_exit_2(capsys, *argv: str) -> str:
    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbackprop: error: "), err
    return lines[0]


def _leftovers(folder: Path) -> list[str]:
    """Build folders beside the output, and our temporary folders in the system's."""
    beside = [p.name for p in folder.parent.glob(f".{folder.name}.*")]
    system = [p.name for p in Path(tempfile.gettempdir()).glob("symbackprop-worksheet-*")]
    return beside + system


# --- regular files only, only where the user said -----------------------------------------------
@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_output_onto_something_not_a_regular_file_is_refused(tmp_path, capsys, kind):
    target = tmp_path / "out.html"
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    mode = os.lstat(target).st_mode
    _one_line_exit_2(capsys, "report", str(EXAMPLES / "xor.toml"), "-o", str(target))
    assert os.lstat(target).st_mode == mode


@pytest.mark.parametrize("verb", ["report", "derive", "train"])
def test_an_empty_output_path_is_one_line(capsys, verb):
    line = _one_line_exit_2(capsys, verb, str(EXAMPLES / "xor.toml"), "-o", "")
    assert "empty" in line


@pytest.mark.parametrize("verb", ["generate", "grade"])
def test_an_empty_output_folder_is_one_line_before_any_work(tmp_path, capsys, verb):
    if verb == "generate":
        argv = ["worksheet", "generate", str(WEEK5), "--roster", str(tmp_path / "none.csv"),
                "--salt", "s", "-o", ""]  # fmt: skip
    else:
        argv = ["grade", str(tmp_path), str(tmp_path / "none.csv"), "-o", ""]
    assert "-o is empty" in _one_line_exit_2(capsys, *argv)


@pytest.fixture(scope="module")
def sheet():
    return worksheet(str(WEEK5), ["ann", "bob"], "salt")


entries = st.dictionaries(
    st.sampled_from(["students", "key", "notes.txt", "students2"]),
    st.sampled_from(["link-outside", "file", "folder"]),
    max_size=4,
)


@pytest.mark.slow
@given(existing=entries)
@settings(max_examples=8, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_writing_never_follows_links_out_of_the_folder(sheet, tmp_path, existing):
    out, outside = tmp_path / "out", tmp_path / "outside"
    for path in (out, outside):
        if path.exists():
            subprocess.run(["rm", "-rf", str(path)], check=True)
        path.mkdir()
    for name, kind in existing.items():
        if kind == "link-outside":
            (out / name).symlink_to(outside, target_is_directory=True)
        elif kind == "file":
            (out / name).write_text("mine\n")
        else:
            (out / name).mkdir()
    sheet.write(out, pdf=False)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in (out / "students").iterdir()) == ["ann", "bob"]
    assert not (out / "students").is_symlink() and not (out / "key").is_symlink()
    for name, kind in existing.items():  # what the run does not make is kept as it was
        if name not in ("students", "key"):
            assert (out / name).is_symlink() == (kind == "link-outside")
    assert _leftovers(out) == []


def test_grades_are_swapped_in_whole_and_never_written_through_links(sheet, tmp_path, capsys):
    from symbackprop.worksheets.grading import grade

    out, outside = tmp_path / "grades", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "feedback").symlink_to(outside, target_is_directory=True)
    (out / "my-notes.txt").write_text("keep me\n")
    key = {m["student_id"]: {b["id"]: b["answer"] for b in m["blanks"]} for m in sheet.manifests}
    grade(list(sheet.manifests), key).write(out)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["ann.html", "bob.html"]
    assert (out / "my-notes.txt").read_text() == "keep me\n"
    before = (out / "grades.csv").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3]")
    key_folder = tmp_path / "sheet"
    sheet.write(key_folder, parts=("key",), pdf=False)
    _one_line_exit_2(capsys, "grade", str(key_folder), str(bad), "-o", str(out))
    assert (out / "grades.csv").read_bytes() == before
    assert _leftovers(out) == []


def test_dot_ids_are_refused(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\n.\n..\n.hidden\nann\n")
    ws = worksheet(str(WEEK5), roster, "salt")
    assert [v.student_id for v in ws.variants] == ["ann"]
    assert len(ws.messages) == 3


# --- all or nothing, under kills -----------------------------------------------------------------
def _generate(out: Path, roster: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "symbackprop", "worksheet", "generate", str(WEEK5), "--roster",
         str(roster), "--salt", "s", "--no-pdf", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _students(out: Path) -> tuple[set[str], set[str]]:
    return ({p.name for p in (out / "students").iterdir()},
            {p.name for p in (out / "key").iterdir() if p.is_dir()})  # fmt: skip


@pytest.mark.slow
@given(delay=st.floats(0.2, 4.0), how=st.sampled_from([signal.SIGTERM, signal.SIGKILL]))
@settings(max_examples=3, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_a_killed_generate_leaves_the_old_folder_or_the_new_one(tmp_path, delay, how):
    out = tmp_path / "week5"
    old_roster, new_roster = tmp_path / "old.csv", tmp_path / "new.csv"
    old_roster.write_text("student_id\nann\nbob\n")
    new_roster.write_text("student_id\nann\nbob\ncat\ndan\n")
    if not out.exists():
        assert _generate(out, old_roster).wait(timeout=300) == 0
    before = _students(out)
    process = _generate(out, new_roster)
    time.sleep(delay)
    process.send_signal(how)
    process.wait(timeout=120)
    after = _students(out)
    assert after[0] == after[1] and after[0] in ({"ann", "bob"}, {"ann", "bob", "cat", "dan"})
    if after[0] == before[0] and how == signal.SIGTERM and process.returncode != 0:
        assert _leftovers(out) == []  # SIGTERM cleans up at once
    done = _generate(out, old_roster)  # a rerun removes what a SIGKILL left
    assert done.wait(timeout=300) == 0
    assert _students(out) == ({"ann", "bob"}, {"ann", "bob"})
    assert _leftovers(out) == []


@pytest.mark.slow
@given(delay=st.floats(0.1, 3.0), how=st.sampled_from([signal.SIGTERM, signal.SIGKILL]))
@settings(max_examples=4, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_a_killed_report_leaves_the_old_file_or_the_new_one(tmp_path, capsys, delay, how):
    out, reference = tmp_path / "out.html", tmp_path / "reference.html"
    if not reference.exists():
        assert cli.main(["report", str(EXAMPLES / "mazur.toml"), "-o", str(reference)]) == 0
    assert cli.main(["report", str(EXAMPLES / "xor.toml"), "-o", str(out)]) == 0
    old = out.read_bytes()
    process = subprocess.Popen(
        [sys.executable, "-m", "symbackprop", "report", str(EXAMPLES / "mazur.toml"), "-o",
         str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(delay)
    process.send_signal(how)
    process.wait(timeout=120)
    assert out.read_bytes() in (old, reference.read_bytes())
    assert cli.main(["report", str(EXAMPLES / "xor.toml"), "-o", str(out)]) == 0
    capsys.readouterr()
    assert [p.name for p in tmp_path.glob(".out.html*")] == []


# --- external tools are time-limited and killed with their children -----------------------------
def test_a_hanging_tool_is_one_error_and_leaves_no_child(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    with pytest.raises(ToolError, match=r"took more than 0.5 s on the test and was stopped"):
        tools.run_tool(["sh", "-c", script], "the test", 0.5)
    child = Path(f"/proc/{int(pid_file.read_text())}/stat")
    time.sleep(0.2)
    # Gone, or a zombie waiting for init to reap it: either way it no longer runs.
    assert not child.exists() or child.read_text().split(")")[-1].split()[0] in ("Z", "X")


def test_a_hanging_latexmk_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("latexmk", "pdflatex"):
        (fake / name).write_text("#!/bin/sh\nsleep 300\n")
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setattr("symbackprop.render.latex._LATEX_TIMEOUT", 1)
    target = tmp_path / "r.pdf"
    line = _one_line_exit_2(capsys, "report", str(EXAMPLES / "xor.toml"), "-o", str(target))
    assert "took more than 1 s" in line
    assert not target.exists() and _leftovers(target) == []


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


# --- what we write loads back --------------------------------------------------------------------
@given(name=st.text(min_size=1, max_size=20))
@settings(max_examples=25, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_a_trained_spec_loads_back_whatever_its_name(tmp_path, capsys, name):
    spec = tmp_path / "s.toml"
    spec.write_text(
        f"name = {_toml_string(name)}\n[network]\nsizes = [1, 1]\n[init]\n"
        "seed = 0\n[data]\nX = [[1]]\nY = [[0]]\n[training]\nepochs = 1\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.toml"
    assert cli.main(["train", str(spec), "-o", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    loaded = sb.load_spec(out)
    assert loaded.name == name
    assert np.isfinite(list(loaded.params.values())).all()
