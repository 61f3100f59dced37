"""Benchmark: generate a class's worksheets (variants, verified keys, files, PDFs), then grade.

Run: python bench/bench_worksheet.py [N ...] [--no-pdf]   (default: 40, then 300 students, each
in a fresh interpreter)

Prints, per class size, the wall time and the CPU time (this process and its pdflatex
children) of each phase, and the machine's load average before the run, for the README.

Where the time goes: the known-mistake catalogue of each network of the family (SymPy: the
formulas the gradient checker would try, collected in one pass over the catalogue and cached
per network, so every student drawing that network reuses it), then per student a few ms
to draw and verify the variant, ~60 ms to render the sheet, the key (the worked solution's
formulas, LaTeX and MathML) and the notebooks, and one pdflatex run for the student's sheet
(~0.15 s of CPU). The compiles run two at a time in background threads while the main
thread renders the next students.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from symbackprop.worksheets.generate import worksheet
from symbackprop.worksheets.grading import grade

SPEC = Path(__file__).parent.parent / "examples" / "worksheets" / "week5.toml"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (pdflatex), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(n: int, pdf: bool) -> None:
    roster = [f"s{i:04d}" for i in range(n)]
    load = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), cpu_seconds()
    ws = worksheet(SPEC, roster, f"bench-salt-{n}")
    drawn = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        ws.write(folder, jobs=2, pdf=pdf)
        written, cpu_written = time.perf_counter(), cpu_seconds()
        pdfs = len(list(Path(folder).rglob("*.pdf")))
        graded_start = time.perf_counter()
        grades = grade(folder, _answers(ws.manifests))
        graded = time.perf_counter()
    print(f"students: {n} (load average {load:.2f} before the run)")
    print(f"  variants drawn and keys verified: {drawn - start:.1f} s")
    print(f"  files written ({pdfs} PDFs, 2 compiles at a time): {written - drawn:.1f} s")
    print(f"  total generation: {written - start:.1f} s wall, "
          f"{cpu_written - cpu_start:.1f} s CPU")  # fmt: skip
    print(f"  grading {len(grades.students)} submissions: {graded - graded_start:.1f} s")


def _answers(manifests: tuple[dict[str, object], ...]) -> dict[str, dict[str, str]]:
    rng = np.random.default_rng(0)
    answers = {}
    for manifest in manifests:
        row = {}
        for blank in manifest["blanks"]:  # type: ignore[attr-defined]
            if blank["type"] == "numeric":
                row[blank["id"]] = f"{blank['answer'] + rng.choice([0, 0, 0.05]):.4f}"
            else:
                row[blank["id"]] = str(blank["answer"])
        answers[str(manifest["student_id"])] = row
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("students", nargs="*", type=int, default=[40, 300])
    parser.add_argument("--no-pdf", action="store_true", help="write .tex only")
    args = parser.parse_args()
    if len(args.students) == 1:
        run(args.students[0], not args.no_pdf)
        return
    for n in args.students:  # each in a fresh interpreter: no catalogue cached from the last
        flags = ["--no-pdf"] if args.no_pdf else []
        subprocess.run([sys.executable, __file__, str(n), *flags], check=True)


if __name__ == "__main__":
    main()
