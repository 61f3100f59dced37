"""The README's Python snippets run as written (from a folder holding the examples)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_snippet_runs(index, tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)  # noqa: S102
    assert namespace, "the snippet defined nothing"
    if "sb.report(" in BLOCKS[index]:
        assert (tmp_path / "report.html").stat().st_size > 10_000
    for code, shown in _printed_expressions(BLOCKS[index]):
        printed = str(eval(code, namespace))  # noqa: S307 (the README's own code)
        assert printed == shown, f"README shows {shown!r} for {code} but it prints {printed!r}"


# a line whose comment shows what a derivation prints: code  # a1_1*delta2_1 : words
_SHOWN = re.compile(
    r"^(?:print\()?(\S.*?(?:\.gradient\(\"[^\"]+\"\)|\.rhs))\)?\s+#\s+(.+?)(?:\s{2,}|\s:|$)"
)


def _printed_expressions(block: str) -> list[tuple[str, str]]:
    """The (code, comment) pairs where a comment shows a derivation's printed expression."""
    found = []
    for line in block.splitlines():
        match = _SHOWN.match(line)
        if match and not match[1].startswith("f.") and "*" in match[2]:
            found.append((match[1], match[2].strip()))
    return found


def test_readme_shows_printed_expressions_in_several_snippets():
    assert sum(len(_printed_expressions(block)) for block in BLOCKS) >= 4


def test_readme_first_screen_has_exactly_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    lines = [ln for ln in first_block.group(1).splitlines() if ln.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("pip install -e . && symbackprop report")
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1].split("#")[0].strip() in ci


def _readme_commands(*verbs: str) -> list[str]:
    """The README's command lines that start with one of ``verbs`` (continuations joined)."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith(verbs):
                commands.append(" ".join(command.split()))
    return commands


WORKSHEET_VERBS = ("symbackprop worksheet", "symbackprop grade")


def test_readme_worksheet_commands_name_files_that_exist():
    import csv

    from symbackprop.worksheets.spec import load_worksheet_spec

    commands = _readme_commands(*WORKSHEET_VERBS)
    assert [c.split()[1:3] for c in commands] == [
        ["worksheet", "generate"], ["worksheet", "answers-template"], ["grade", "week5"]
    ]  # fmt: skip
    answers_file = commands[-1].split()[3]
    rows = list(csv.reader((ROOT / answers_file).read_text().splitlines()))
    spec = load_worksheet_spec(ROOT / "examples/worksheets/week5.toml")
    assert rows[0] == ["student_id", *[q.id for q in spec.questions]]
    roster = list(csv.reader((ROOT / "examples/worksheets/roster.csv").read_text().splitlines()))
    assert [r[0] for r in rows[1:]] == [r[0] for r in roster[1:]]


@pytest.mark.slow
def test_readme_worksheet_commands_run_as_written(tmp_path):
    import shlex
    import subprocess
    import sys

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for command in _readme_commands(*WORKSHEET_VERBS):
        argv = [sys.executable, "-m", "symbackprop", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (command, done.stderr)
        assert "warning" not in done.stderr, (command, done.stderr)
    assert (tmp_path / "answers.csv").read_text().startswith("student_id,a1_1,")
    grades = (tmp_path / "results" / "grades.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in grades[1:]] == ["alice", "bob", "carol"]
    assert grades[1].endswith(",100.0")  # alice's answers are her key, rounded as told
