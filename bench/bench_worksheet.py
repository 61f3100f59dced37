"""Benchmark: 300 students' worksheets with PDFs (2 parallel compiles), then grade 300 answers.

Run: python bench/bench_worksheet.py [N]   (prints the figures for the README)

Where the time goes (cProfile, 300 students): one pdflatex run per student sheet (~0.13 s of
CPU each, with no other load) plus the class key (~3.7 s for 300 students), and ~60 ms of
rendering per student, most of it printing the worked solution's formulas (twice: LaTeX for
the key PDF, MathML for the key HTML). The compiles run in background threads while the main
thread renders the next students, so on an idle 2-core machine the run is bound by the
compiles. A single pdflatex run gives the same bytes as latexmk (the sheets use \nofiles and
no cross-references), without latexmk's ~0.1 s per file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from symbackprop.worksheets.generate import worksheet
from symbackprop.worksheets.grading import grade

SPEC = Path(__file__).parent.parent / "examples" / "worksheets" / "week5.toml"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    roster = [f"s{i:04d}" for i in range(n)]
    start = time.perf_counter()
    ws = worksheet(SPEC, roster, "bench-salt")
    drawn = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        ws.write(folder, jobs=2)
        written = time.perf_counter()
        pdfs = len(list(Path(folder).rglob("*.pdf")))
        rng = np.random.default_rng(0)
        answers = {}
        for manifest in ws.manifests:
            row = {}
            for blank in manifest["blanks"]:
                if blank["type"] == "numeric":
                    row[blank["id"]] = f"{blank['answer'] + rng.choice([0, 0, 0.05]):.4f}"
                else:
                    row[blank["id"]] = blank["answer"]
            answers[manifest["student_id"]] = row
        graded_start = time.perf_counter()
        grades = grade(folder, answers)
        graded = time.perf_counter()
    print(f"students: {n}")
    print(f"variants drawn and keys verified: {drawn - start:.1f} s")
    print(f"files written ({pdfs} PDFs, 2 compiles at a time): {written - drawn:.1f} s")
    print(f"total generation: {written - start:.1f} s")
    print(f"grading {len(grades.students)} submissions: {graded - graded_start:.1f} s")


if __name__ == "__main__":
    main()
