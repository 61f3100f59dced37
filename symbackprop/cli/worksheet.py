"""The worksheet verbs of the command line: worksheet generate|key|stress|feedback, grade and more.

Interface layer. :func:`add_commands` adds the verbs to the `symbackprop` parser; each verb
raises SymbackpropError for bad input (the CLI prints it as one line and exits 2) and writes
per-line messages for roster or answer rows it skipped while it goes on with the rest. The
course verbs (export, gradebook, nbgrader, selfcheck) are added by :func:`add_course_commands`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from symbackprop.model.errors import SymbackpropError

SALT_VARIABLE = "SYMBACKPROP_COURSE_SALT"
PROGRESS_WIDTH = 30
MAX_STRESS = 100_000  # `worksheet stress --n`: about an hour for a two-hidden-layer family
EXAMPLE_SPEC = "examples/worksheets/week5.toml"
EXAMPLE_ROSTER = "examples/worksheets/roster.csv"


def counted(count: int, word: str, plural: str | None = None) -> str:
    """Return "1 student" or "3 students" (``plural`` for irregular words)."""
    return f"{count} {word if count == 1 else (plural or word + 's')}"


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
        sys.stderr.write(f"symbackprop: warning: {message}\n")


def _output_folder(path: str, flag: str = "-o") -> None:
    """Refuse an output folder that cannot be made, before any work is done.

    Raises SymbackpropError when the path or one of its parents is an existing file; any other
    problem (no permission, read-only disk) surfaces later as an OSError naming the path.
    """
    if not path:
        raise SymbackpropError(f"{flag} is empty; give a folder name, e.g. {flag} week5")
    target = Path(path)
    for place in (target, *target.parents):
        if place.exists():
            if not place.is_dir():
                raise SymbackpropError(
                    f"{flag} {path!r}: {str(place)!r} is a file, not a folder; pass a folder "
                    "path that does not run through a file"
                )
            return


def _generate(args: argparse.Namespace, parts: tuple[str, ...]) -> int:
    from symbackprop.worksheets.build import require_parts
    from symbackprop.worksheets.generate import worksheet

    _output_folder(args.output)
    require_parts(not args.no_pdf)  # before any variant is drawn
    ws = worksheet(args.spec, args.roster, _salt(args), progress=_progress("variants"))
    _messages(ws.messages)
    ws.write(args.output, parts=parts, pdf=not args.no_pdf, jobs=args.jobs,
             progress=_progress("PDFs"), pdf_each_key=getattr(args, "each", False))  # fmt: skip
    who = counted(len(ws.variants), "student")
    print(f"wrote the {' and '.join(parts)} files of {who} to {args.output}")
    return 0


def _stress(args: argparse.Namespace) -> int:
    from symbackprop.worksheets.spec import load_worksheet_spec
    from symbackprop.worksheets.variants import draw_variant, violated_predicates

    if not 1 <= args.n <= MAX_STRESS:
        raise SymbackpropError(
            f"--n {args.n} is out of range; draw 1 to {MAX_STRESS:,} variants, e.g. --n 1000"
        )
    spec = load_worksheet_spec(args.spec)
    salt = args.salt or "stress"
    rejected: dict[str, int] = {}
    relaxed: dict[str, int] = {}
    draws = violations = 0
    ranges: dict[str, list[float]] = {}
    progress = _progress("variants")
    for i in range(args.n):
        variant = draw_variant(spec, salt, f"stress-{i}")
        draws += variant.skipped + (0 if variant.relaxed else 1)  # a relaxed one: all drawn
        for name, count in variant.rejected.items():
            rejected[name] = rejected.get(name, 0) + count
        for name in variant.relaxed:
            relaxed[name] = relaxed.get(name, 0) + 1
        violations += bool(set(violated_predicates(variant)) - set(variant.relaxed))
        _answer_ranges(variant, ranges)
        if progress is not None:
            progress(i + 1, args.n)
    _stress_report(args.n, draws, rejected, relaxed, violations, ranges)
    return 1 if violations else 0


def _answer_ranges(variant: Any, ranges: dict[str, list[float]]) -> None:
    for blank in variant.blanks:
        if blank.type == "numeric":
            low_high = ranges.setdefault(blank.id, [float("inf"), float("-inf")])
            low_high[0] = min(low_high[0], float(blank.answer))
            low_high[1] = max(low_high[1], float(blank.answer))


def _stress_report(n: int, draws: int, rejected: dict[str, int], relaxed: dict[str, int],
                   violations: int, ranges: dict[str, list[float]]) -> None:  # fmt: skip
    """Print the rejection rates, the relaxed variants and each blank's range of answers."""
    from symbackprop.worksheets.variants import MAX_ATTEMPTS, PREDICATE_ADVICE

    print(f"{counted(n, 'variant')} from {counted(draws, 'draw')}: "
          f"rejection rate {1 - n / draws:.1%}")  # fmt: skip
    for name, count in sorted(rejected.items(), key=lambda kv: -kv[1]):
        print(f"  rejected by {name}: {counted(count, 'draw')} ({count / draws:.1%} of draws)")
    for name, count in sorted(relaxed.items(), key=lambda kv: -kv[1]):
        print(f"  relaxed {name} for {counted(count, 'variant')} ({count / n:.1%}): no draw "
              f"of {MAX_ATTEMPTS} met it; to avoid that, {PREDICATE_ADVICE[name]}")  # fmt: skip
    print(f"predicate violations in accepted variants (not relaxed): {violations}")
    for blank_id, (low, high) in ranges.items():
        print(f"  {blank_id}: answers from {low:.6g} to {high:.6g}")


def _grade(args: argparse.Namespace) -> int:
    from symbackprop.worksheets.grading import grade

    _output_folder(args.output)
    grades = grade(args.key, args.answers, include_missing=args.include_missing)
    sys.stderr.write(f"symbackprop: {grades.source}\n")
    _messages(grades.messages)
    if grades.missing:
        left = "counted as 0" if args.include_missing else "left out of the class statistics"
        _messages([f"no submission from {counted(len(grades.missing), 'student')} "
                   f"({', '.join(grades.missing[:8])}{', ...' if len(grades.missing) > 8 else ''}"
                   f"): marked missing, {left}"])  # fmt: skip
    grades.write(args.output)
    who = counted(len(grades.students) - len(grades.missing), "student")
    print(f"graded {who} (mean {grades.mean_percent:.1f} %); wrote {args.output}")
    return 0


def _answers_template(args: argparse.Namespace) -> int:
    from symbackprop.render.files import atomic_write
    from symbackprop.worksheets.answer_files import answers_template
    from symbackprop.worksheets.grading import load_manifests

    manifests = load_manifests(args.key)
    atomic_write(args.output, answers_template(manifests, long=args.long))
    blanks = len({b["id"] for m in manifests.values() for b in m["blanks"]})
    print(f"wrote an answers file for {counted(len(manifests), 'student')} and "
          f"{counted(blanks, 'blank')} to {args.output}; fill it in and run "
          f"`symbackprop grade {args.key} {args.output} -o results`")  # fmt: skip
    return 0


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("spec", metavar="SPEC", help="a worksheet spec (examples/worksheets/)")
    command.add_argument(
        "--roster", required=True, help="CSV whose first column is student_id (one student per row)"
    )
    command.add_argument("--salt", help=f"the course's secret salt (or set {SALT_VARIABLE})")
    command.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="the folder to write (made if missing; files in it are replaced)",
    )
    command.add_argument("--no-pdf", action="store_true", help="write .tex, skip compiling")
    command.add_argument("--jobs", type=int, default=2, help="PDF compiles at a time")


ANSWERS_HELP = (
    "CSV or JSON answers: a student_id column and one column per blank id (the ids printed on "
    "each sheet, e.g. delta1_1, and listed under blanks in DIR/key/<student>/manifest.json), "
    "or the long form student_id,blank,answer; JSON as {student: {blank: answer}} or a list "
    "of records; numbers as decimals (a decimal comma, ^ and arithmetic such as tanh(0.36) are "
    "read too, and the feedback says so), formulas in ASCII names, choice blanks as one letter "
    "A-D or the option's text. Or a filled notebook, or a folder of notebooks: "
    "<student>.ipynb, <student>/*.ipynb or nbgrader's submitted/<student>/<assignment>/*.ipynb"
)


def _grading(command: argparse.ArgumentParser) -> None:
    command.add_argument("key", metavar="DIR",
                         help="the folder `worksheet generate` or `worksheet key` wrote (its "
                         "key/<student>/manifest.json files)")  # fmt: skip
    command.add_argument("answers", metavar="ANSWERS", help=ANSWERS_HELP)
    command.add_argument("-o", "--output", required=True, metavar="RESULTS",
                         help="the folder for grades.csv, feedback/<student>.html and "
                         "summary.html (made if missing)")  # fmt: skip
    command.add_argument("--include-missing", action="store_true",
                         help="count students with no submission as 0 in the class statistics "
                         "(by default they are marked missing and left out)")  # fmt: skip
    command.set_defaults(run=_grade)


def _verb(verbs: Any, name: str, summary: str, description: str, example: str) -> Any:
    # raw text keeps the sample CSV's lines; prose paragraphs are wrapped here instead
    description = "\n\n".join(
        part if "\n" in part else textwrap.fill(part, 79) for part in description.split("\n\n")
    )
    return verbs.add_parser(name, help=summary, description=description,
                            epilog=f"example: {example}",
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip


def add_commands(commands: Any) -> None:
    """Add `worksheet generate|key|stress|feedback` and `grade` to the CLI's subparsers."""
    sheet = commands.add_parser(
        "worksheet", help="per-student backprop worksheets, keys and feedback",
        description="Per-student worksheet variants with verified keys.",
        epilog=f"example: symbackprop worksheet generate {EXAMPLE_SPEC} "
        f"--roster {EXAMPLE_ROSTER} --salt SECRET -o out",
    )  # fmt: skip
    verbs = sheet.add_subparsers(dest="verb", metavar="VERB", required=True)
    generate = _verb(
        verbs, "generate", "write student PDFs, HTML, notebooks, keys and manifests",
        "Draw each roster student's own variant of the worksheet, check every key against "
        "central differences and write DIR/students/<id>/ (worksheet PDF, HTML, notebook) and "
        "DIR/key/<id>/ (key, manifest.json for grading) plus DIR/key/keys.pdf.",
        f"symbackprop worksheet generate {EXAMPLE_SPEC} --roster {EXAMPLE_ROSTER} "
        "--salt SECRET -o week5",
    )  # fmt: skip
    _common(generate)
    generate.set_defaults(run=lambda a: _generate(a, ("student", "key")))
    key = _verb(
        verbs, "key", "write the keys and manifests only",
        "Like generate, but write only DIR/key/ (keys, manifest.json per student, keys.pdf); "
        "the same salt gives the same variants as generate.",
        f"symbackprop worksheet key {EXAMPLE_SPEC} --roster {EXAMPLE_ROSTER} --salt SECRET "
        "-o week5 --no-pdf",
    )  # fmt: skip
    _common(key)
    key.add_argument("--each", action="store_true", help="compile one key PDF per student too")
    key.set_defaults(run=lambda a: _generate(a, ("key",)))
    stress = _verb(
        verbs, "stress", "draw many variants: rejection rate, answer ranges",
        "Draw N variants of a spec and report how often each predicate rejected a draw, any "
        "predicate violated by an accepted variant (exit status 1) and each blank's range of "
        "answers. Nothing is written.",
        f"symbackprop worksheet stress {EXAMPLE_SPEC} --n 1000",
    )  # fmt: skip
    stress.add_argument("spec", metavar="SPEC", help="a worksheet spec (examples/worksheets/)")
    stress.add_argument("--n", type=int, default=1000, metavar="N",
                        help=f"variants to draw, 1 to {MAX_STRESS:,} (default 1000)")  # fmt: skip
    stress.add_argument("--salt", help="salt of the draws (default: a fixed test salt)")
    stress.set_defaults(run=_stress)
    template = _verb(
        verbs, "answers-template", "write an empty answers CSV with every student and blank id",
        "Write the answers file `symbackprop grade` reads, with no answers yet: a student_id "
        "column with every student of the key and a column per blank id (--long: one "
        "student_id,blank,answer row per student and blank).",
        "symbackprop worksheet answers-template week5 -o answers.csv",
    )  # fmt: skip
    template.add_argument(
        "key", metavar="DIR", help="the folder `worksheet generate` or `worksheet key` wrote"
    )
    template.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the CSV to write (replaced if it exists)",
    )
    template.add_argument(
        "--long",
        action="store_true",
        help="one row per student and blank instead of a column per blank",
    )
    template.set_defaults(run=_answers_template)
    feedback = _verb(
        verbs, "feedback", "the same as `symbackprop grade` (grades, feedback pages, summary)",
        "The same command as `symbackprop grade`, under the worksheet verbs: grade the answers "
        "and write grades.csv, one feedback page per student and the class summary.",
        "symbackprop worksheet feedback week5 answers.csv -o results",
    )  # fmt: skip
    _grading(feedback)
    add_course_commands(verbs)
    grade = _verb(
        commands, "grade", "grade answers against the manifests (grades.csv, feedback, summary)",
        "Grade answers with tolerances from the sheet's rounding, error carried forward and "
        "targeted feedback; write grades.csv, feedback/<student>.html and summary.html.\n\n"
        "answers.csv looks like:\n"
        "  student_id,a1_1,L,delta2_1,rule_delta1_1,expr_delta1_2\n"
        "  alice,0.5498,0.0412,-0.0523,B,delta2_1*w2_1_2*a1_2*(1-a1_2)",
        "symbackprop grade week5 answers.csv -o results",
    )  # fmt: skip
    _grading(grade)


# --- where courses live: LMS exports, gradebooks, self-check pages ----------------------------
EXPORT_SUFFIXES = {"moodle": ".xml", "qti": ".zip"}


def _export(args: argparse.Namespace) -> int:
    from symbackprop.render.files import atomic_write, output_path
    from symbackprop.worksheets.grading import load_manifests
    from symbackprop.worksheets.lms import moodle_xml
    from symbackprop.worksheets.qti import qti_package

    target = output_path(args.output)
    manifests = load_manifests(args.key)
    data = moodle_xml(manifests) if args.format == "moodle" else qti_package(manifests)
    atomic_write(target, data)
    print(f"wrote {args.format} export of {counted(len(manifests), 'student')} to {target}")
    return 0


def _gradebook(args: argparse.Namespace) -> int:
    from symbackprop.model.inputs import read_input_text
    from symbackprop.render.files import atomic_write, output_path
    from symbackprop.worksheets.lms import gradebook_csv, read_grades_csv

    target = output_path(args.output)
    source = Path(args.grades)
    if source.is_dir():
        source = source / "grades.csv"
    rows = read_grades_csv(read_input_text(source, "grades"), source.name)
    atomic_write(target, gradebook_csv(rows, args.lms, args.title))
    print(f"wrote the {args.lms} gradebook of {counted(len(rows), 'student')} to {target}")
    return 0


def _selfcheck(args: argparse.Namespace) -> int:
    from symbackprop.render.files import atomic_write
    from symbackprop.worksheets.grading import load_manifests
    from symbackprop.worksheets.selfcheck import selfcheck_html

    _output_folder(args.output)
    manifests = load_manifests(args.key)
    students = args.student or sorted(manifests)
    for student in students:
        if student not in manifests:
            raise SymbackpropError(f"no student {student!r} in {args.key!r}; known: "
                                   f"{', '.join(sorted(manifests)[:10])}")  # fmt: skip
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    for student in students:
        atomic_write(folder / f"{student}.html", selfcheck_html(manifests[student]))
    print(f"wrote the self-check pages of {counted(len(students), 'student')} to {folder}")
    return 0


def _nbgrader(args: argparse.Namespace) -> int:
    from symbackprop.render.files import atomic_write
    from symbackprop.worksheets.grading import load_manifests
    from symbackprop.worksheets.lms import require_manifests, variant_of
    from symbackprop.worksheets.notebook import course_source, render_notebook

    _output_folder(args.output)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", args.assignment):
        raise SymbackpropError(f"--assignment {args.assignment!r} is not a plain name; use "
                               "letters, digits, _ and -, e.g. week5")  # fmt: skip
    manifests = require_manifests(load_manifests(args.key))
    course = Path(args.output)
    source = course / "source" / args.assignment / "worksheet.ipynb"
    source.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(source, course_source(manifests))
    for manifest in manifests:
        release = course / "release-by-student" / manifest["student_id"] / args.assignment
        release.mkdir(parents=True, exist_ok=True)
        notebook = render_notebook(variant_of(manifest), manifest, True)
        atomic_write(release / "worksheet.ipynb", notebook)
    print(f"wrote {source} (every key in hidden tests) and the release notebooks of "
          f"{counted(len(manifests), 'student')} under {course / 'release-by-student'}; run "
          f"`nbgrader generate_assignment {args.assignment}` in {course}, hand out each "
          "student's own notebook, collect them in submitted/<student>/"
          f"{args.assignment}/ and run `nbgrader autograde {args.assignment}`")  # fmt: skip
    return 0


def add_course_commands(verbs: Any) -> None:
    """Add `worksheet export`, `gradebook` and `selfcheck` to the worksheet verbs."""
    export = _verb(
        verbs, "export", "a Moodle XML question bank or a QTI 2.1 package (Canvas)",
        "Export every student's variant from the folder `worksheet generate` wrote. moodle: one "
        "question category, one Cloze question per student (numeric blanks with the grading "
        "tolerance and each known mistake's feedback; the worked solution as general "
        "feedback). qti: a zip of QTI 2.1 items, one per student, in an IMS content package "
        "that Canvas imports (Import Course Content > QTI .zip file).",
        "symbackprop worksheet export week5 --format moodle -o week5-moodle.xml",
    )  # fmt: skip
    export.add_argument("key", metavar="DIR", help="the folder `worksheet generate` wrote")
    export.add_argument("--format", required=True, choices=("moodle", "qti"))
    export.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the file to write (.xml for moodle, .zip for qti)")  # fmt: skip
    export.set_defaults(run=_export)
    gradebook = _verb(
        verbs, "gradebook", "grades as a CSV for Moodle's or Canvas's grade import",
        "Turn the grades.csv `symbackprop grade` wrote into the CSV a gradebook imports. "
        "moodle: columns 'ID number' and the worksheet (map them in Import grades > CSV). "
        "canvas: Canvas's gradebook columns with the roster id as SIS User ID and a Points "
        "Possible row.",
        "symbackprop worksheet gradebook results --lms canvas --title 'Week 5' -o canvas.csv",
    )  # fmt: skip
    gradebook.add_argument("grades", metavar="RESULTS",
                           help="grades.csv, or the folder `grade -o` wrote")  # fmt: skip
    gradebook.add_argument("--lms", required=True, choices=("moodle", "canvas"))
    gradebook.add_argument("--title", default="Worksheet", help="the grade column's name")
    gradebook.add_argument("-o", "--output", required=True, metavar="FILE")
    gradebook.set_defaults(run=_gradebook)
    selfcheck = _verb(
        verbs, "selfcheck", "offline practice pages with instant feedback (they hold the key)",
        "Write DIR/<student>.html: the student's own worksheet as a self-contained page that "
        "checks each answer as it is typed, with the grader's tolerance and mistake diagnoses. "
        "The key is inside the page, which says so: give it out for practice, never for an "
        "exam.",
        "symbackprop worksheet selfcheck week5 -o practice",
    )  # fmt: skip
    selfcheck.add_argument("key", metavar="DIR", help="the folder `worksheet generate` wrote")
    selfcheck.add_argument("-o", "--output", required=True, metavar="OUT",
                           help="the folder for <student>.html (made if missing)")  # fmt: skip
    selfcheck.add_argument("--student", action="append", metavar="ID",
                           help="only this student (repeat for more)")  # fmt: skip
    selfcheck.set_defaults(run=_selfcheck)
    nbgrader = _verb(
        verbs, "nbgrader", "an nbgrader course: the source with every key, one notebook each",
        "Write COURSE/source/ASSIGNMENT/worksheet.ipynb, whose hidden tests hold every "
        "student's key (nbgrader finds the student from the submission's folder, "
        "submitted/<student>/ASSIGNMENT/), and COURSE/release-by-student/<student>/"
        "ASSIGNMENT/worksheet.ipynb with each student's own numbers. nbgrader autogrades numbers "
        "and choices right or wrong; formulas are manually graded cells (or grade the "
        "submitted/ folder with `symbackprop grade`, with error carried forward).",
        "symbackprop worksheet nbgrader week5 --assignment week5 -o course",
    )  # fmt: skip
    nbgrader.add_argument("key", metavar="DIR", help="the folder `worksheet generate` wrote")
    nbgrader.add_argument("--assignment", required=True, help="the nbgrader assignment name")
    nbgrader.add_argument("-o", "--output", required=True, metavar="COURSE",
                          help="the nbgrader course folder (made if missing)")  # fmt: skip
    nbgrader.set_defaults(run=_nbgrader)
