"""The worksheet verbs of the command line: worksheet generate|key|stress|feedback, and grade.

Interface layer. :func:`add_commands` adds the verbs to the `symbackprop` parser; each verb
raises SymbackpropError for bad input (the CLI prints it as one line and exits 2) and writes
per-line messages for roster or answer rows it skipped while it goes on with the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from symbackprop.errors import SymbackpropError

SALT_VARIABLE = "SYMBACKPROP_COURSE_SALT"
PROGRESS_WIDTH = 30


def _progress(label: str) -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def draw(done: int, total: int) -> None:
        filled = PROGRESS_WIDTH * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'-' * (PROGRESS_WIDTH - filled)}] "
                         f"{done}/{total}")  # fmt: skip
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return draw


def _salt(args: argparse.Namespace) -> str:
    salt = args.salt or os.environ.get(SALT_VARIABLE, "")
    if not salt:
        raise SymbackpropError(
            f"no course salt; pass --salt SECRET or set {SALT_VARIABLE} (keep it private: "
            "with it anyone can rebuild the keys)"
        )
    return str(salt)


def _messages(messages: Any) -> None:
    for message in messages:
        sys.stderr.write(f"symbackprop: {message}\n")


def _generate(args: argparse.Namespace, parts: tuple[str, ...]) -> int:
    from symbackprop.worksheet import worksheet

    ws = worksheet(args.spec, args.roster, _salt(args), progress=_progress("variants"))
    _messages(ws.messages)
    ws.write(args.output, parts=parts, pdf=not args.no_pdf, jobs=args.jobs,
             progress=_progress("PDFs"), pdf_each_key=getattr(args, "each", False))  # fmt: skip
    print(f"wrote {len(ws.variants)} students' {' and '.join(parts)} files to {args.output}")
    return 0


def _stress(args: argparse.Namespace) -> int:
    from symbackprop.variants import draw_variant, violated_predicates
    from symbackprop.worksheet_spec import load_worksheet_spec

    spec = load_worksheet_spec(args.spec)
    salt = args.salt or "stress"
    rejected: dict[str, int] = {}
    draws = violations = 0
    ranges: dict[str, list[float]] = {}
    progress = _progress("variants")
    for i in range(args.n):
        variant = draw_variant(spec, salt, f"stress-{i}")
        draws += variant.skipped + 1
        for name, count in variant.rejected.items():
            rejected[name] = rejected.get(name, 0) + count
        violations += bool(violated_predicates(variant))
        for blank in variant.blanks:
            if blank.type == "numeric":
                low_high = ranges.setdefault(blank.id, [float("inf"), float("-inf")])
                low_high[0] = min(low_high[0], float(blank.answer))
                low_high[1] = max(low_high[1], float(blank.answer))
        if progress is not None:
            progress(i + 1, args.n)
    print(f"{args.n} variants from {draws} draws: rejection rate {1 - args.n / draws:.1%}")
    for name, count in sorted(rejected.items(), key=lambda kv: -kv[1]):
        print(f"  rejected by {name}: {count}")
    print(f"predicate violations in accepted variants: {violations}")
    for blank_id, (low, high) in ranges.items():
        print(f"  {blank_id}: answers from {low:.6g} to {high:.6g}")
    return 1 if violations else 0


def _grade(args: argparse.Namespace) -> int:
    from symbackprop.grading import grade

    grades = grade(args.key, args.answers)
    _messages(grades.messages)
    grades.write(args.output)
    mean = sum(g.percent for g in grades.students) / max(len(grades.students), 1)
    print(f"graded {len(grades.students)} students (mean {mean:.1f} %); wrote {args.output}")
    return 0


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("spec", metavar="SPEC", help="a worksheet spec (examples/worksheets/)")
    command.add_argument("--roster", required=True, help="CSV with a student_id column")
    command.add_argument("--salt", help=f"the course's secret salt (or set {SALT_VARIABLE})")
    command.add_argument("-o", "--output", required=True, metavar="DIR")
    command.add_argument("--no-pdf", action="store_true", help="write .tex, skip compiling")
    command.add_argument("--jobs", type=int, default=2, help="PDF compiles at a time")


def _grading(command: argparse.ArgumentParser) -> None:
    command.add_argument("key", metavar="DIR", help="the folder `worksheet generate` wrote")
    command.add_argument("answers", metavar="ANSWERS",
                         help="CSV or JSON (one row per student, one column per blank), "
                         "a notebook or a folder of notebooks")  # fmt: skip
    command.add_argument("-o", "--output", required=True, metavar="RESULTS")
    command.set_defaults(run=_grade)


def add_commands(commands: Any) -> None:
    """Add `worksheet generate|key|stress|feedback` and `grade` to the CLI's subparsers."""
    sheet = commands.add_parser(
        "worksheet", help="per-student backprop worksheets, keys and feedback",
        description="Per-student worksheet variants with verified keys.",
        epilog="example: symbackprop worksheet generate examples/worksheets/week5.toml "
        "--roster examples/worksheets/roster.csv --salt SECRET -o out",
    )  # fmt: skip
    verbs = sheet.add_subparsers(dest="verb", metavar="VERB", required=True)
    generate = verbs.add_parser("generate", help="write student PDFs, HTML, notebooks, manifests")
    _common(generate)
    generate.set_defaults(run=lambda a: _generate(a, ("student", "key")))
    key = verbs.add_parser("key", help="write the keys and manifests only")
    _common(key)
    key.add_argument("--each", action="store_true", help="compile one key PDF per student too")
    key.set_defaults(run=lambda a: _generate(a, ("key",)))
    stress = verbs.add_parser("stress", help="draw many variants: rejection rate, answer ranges")
    stress.add_argument("spec", metavar="SPEC")
    stress.add_argument("--n", type=int, default=1000)
    stress.add_argument("--salt")
    stress.set_defaults(run=_stress)
    feedback = verbs.add_parser("feedback", help="grade and write feedback pages and summary")
    _grading(feedback)
    grade = commands.add_parser(
        "grade", help="grade answers against the manifests (grades.csv, feedback, summary)",
        description="Grade answers with tolerances from the sheet's rounding, error carried "
        "forward and targeted feedback.",
        epilog="example: symbackprop grade out answers.csv -o results",
    )  # fmt: skip
    _grading(grade)
