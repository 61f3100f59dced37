"""Grades of a class and what is written from them: the CSV, feedback pages, the class summary.

Worksheets stage. :func:`symbackprop.worksheets.grading.grade` returns :class:`Grades`. Feedback
pages show each blank's marking (with the matched mistake and any error carried forward) and the
worked solution of the student's own variant; the summary plots the score histogram and the most
common mistakes with matplotlib.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from symbackprop.model.errors import SymbackpropError
from symbackprop.render.escape import csv_cell
from symbackprop.render.files import build_folder, carry_over, swap_in
from symbackprop.worksheets.item_statistics import item_statistics
from symbackprop.worksheets.manifest import network_of
from symbackprop.worksheets.render import points_text, template, worked_html
from symbackprop.worksheets.step_program import program_for

TOP_MISTAKES = 10

STATUSES = ("correct", "ecf", "mistake", "wrong", "invalid", "blank", "missing")


@dataclass(frozen=True, slots=True)
class BlankResult:
    """The marking of one blank: status, points, what was given and expected, and why."""

    blank: str
    status: str
    points: float
    max_points: float
    given: str
    expected: str
    message: str = ""
    mistake: str = ""  # catalogue name of the matched mistake
    mistake_title: str = ""
    assumed: str = ""  # how the answer was read, e.g. "read the decimal comma ... as a point"


@dataclass(frozen=True, slots=True)
class StudentGrade:
    """One student's markings; ``submitted`` is False when they handed nothing in."""

    student_id: str
    results: tuple[BlankResult, ...]
    submitted: bool = True

    @property
    def score(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_points for r in self.results)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    def result(self, blank: str) -> BlankResult:
        return next(r for r in self.results if r.blank == blank)


@dataclass(frozen=True)
class Grades:
    """Every graded student, and one message per answer row or cell that could not be used."""

    students: tuple[StudentGrade, ...]
    messages: tuple[str, ...] = ()
    manifests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    source: str = ""  # what was read, e.g. "read CSV answers.csv (wide ...): 3 students, ..."
    include_missing: bool = False  # count students with no submission in the statistics

    @property
    def missing(self) -> tuple[str, ...]:
        """The ids of the students who handed nothing in."""
        return tuple(g.student_id for g in self.students if not g.submitted)

    @property
    def counted(self) -> tuple[StudentGrade, ...]:
        """The students the class statistics count: those who submitted (all with the flag)."""
        return tuple(g for g in self.students if g.submitted or self.include_missing)

    @property
    def mean_percent(self) -> float:
        """The class mean of the students counted (0 when none is)."""
        counted = self.counted
        return sum(g.percent for g in counted) / len(counted) if counted else 0.0

    def student(self, student_id: str) -> StudentGrade:
        for grade in self.students:
            if grade.student_id == student_id:
                return grade
        raise SymbackpropError(f"no grades for student {student_id!r}")

    def to_csv(self) -> str:
        """One row per student, one column of points per blank, then total, max and percent.

        Ids and blank names are neutralised (:func:`~symbackprop.render.escape.csv_cell`): an id
        such as ``@SUM`` or ``-1-1`` is shown by spreadsheets as text, not run as a formula.
        """
        blanks = [r.blank for r in self.students[0].results] if self.students else []
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["student_id", *map(csv_cell, blanks), "total", "max", "percent"])
        for grade in self.students:
            if not grade.submitted:
                # no submission is no grade yet: empty cells, which gradebooks leave alone
                writer.writerow([csv_cell(grade.student_id), *[""] * len(grade.results), "",
                                 _points(grade.max_score), ""])  # fmt: skip
                continue
            points = [_points(r.points) for r in grade.results]
            writer.writerow([csv_cell(grade.student_id), *points, _points(grade.score),
                             _points(grade.max_score), f"{grade.percent:.1f}"])  # fmt: skip
        return out.getvalue()

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write grades.csv, a feedback page per student and the class summary to ``folder``."""
        if not os.fspath(folder):
            raise SymbackpropError("the output folder is empty; give a folder name, e.g. grades")
        return write_grades(self, Path(folder))


def _points(value: float) -> str:
    return f"{value:g}"


def write_grades(grades: Grades, folder: Path) -> Path:
    """Write grades.csv, questions.csv, feedback/<id>.html, summary.html and its plots.

    The files are made in a new folder beside ``folder`` and swapped in as a whole, so a failed
    or killed run leaves the previous grades as they were; other files there are kept.
    """
    pages = {f"feedback/{g.student_id}.html": feedback_html(grades, g) for g in grades.students}
    histogram, mistakes = summary_plots(grades)
    files = {**pages, "scores.svg": histogram, "mistakes.svg": mistakes,
             "summary.html": summary_html(grades), "grades.csv": grades.to_csv(),
             "questions.csv": questions_csv(grades)}  # fmt: skip
    if grades.messages:
        files["messages.txt"] = "\n".join(grades.messages) + "\n"
    if folder.exists() and not folder.is_dir():
        raise SymbackpropError(f"{str(folder)!r} exists and is not a folder; give a folder path")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with build_folder(folder, "new") as new:
        (new / "feedback").mkdir()
        for relative, text in files.items():
            (new / relative).write_text(text, encoding="utf-8")
        carry_over(folder, new, GRADE_FILES)
        swap_in(new, folder)
    return folder


# What write_grades makes; anything else in the folder is the user's and is kept.
GRADE_FILES = {"feedback", "scores.svg", "mistakes.svg", "summary.html", "grades.csv",
               "messages.txt", "questions.csv"}  # fmt: skip


def questions_csv(grades: Grades) -> str:
    """One row per blank: students counted, difficulty, discrimination, named mistakes.

    Difficulty and discrimination are those of the summary (see
    :mod:`~symbackprop.worksheets.item_statistics`); an undefined discrimination is empty.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["blank", "students", "difficulty", "discrimination", "mistakes"])
    for item in item_statistics(grades.counted):
        r = "" if item.discrimination is None else f"{item.discrimination:.3f}"
        named = "; ".join(f"{title} ({n})" for title, n in item.mistakes)
        writer.writerow([csv_cell(item.blank), item.students, f"{item.difficulty:.3f}", r,
                         csv_cell(named)])  # fmt: skip
    return out.getvalue()


def feedback_html(grades: Grades, grade: StudentGrade) -> str:
    """Return one student's feedback page: per blank marking, mistakes, the worked solution."""
    manifest = grades.manifests[grade.student_id]
    rows = [{"blank": r.blank, "status": r.status, "points": f"{r.points:g}",
             "max": f"{r.max_points:g}", "given": r.given, "expected": r.expected,
             "message": r.message, "assumed": r.assumed} for r in grade.results]  # fmt: skip
    page = template("html", "worksheet_feedback.html.j2")
    return page.render(title=manifest["title"], student_id=grade.student_id,
                       score=f"{grade.score:g}", max=f"{grade.max_score:g}",
                       max_text=points_text(grade.max_score),
                       percent=f"{grade.percent:.0f}", rows=rows,
                       worked=Markup(_worked(manifest)))  # fmt: skip


def _worked(manifest: Any) -> str:
    network = network_of(manifest)
    d = program_for(network).derivation
    shown = manifest["shown"]
    ev = d.evaluate(
        {n: shown[n] for n in network.parameter_names()},
        [shown[n] for n in network.input_names()],
        [shown[n] for n in network.target_names()],
        manifest["learning_rate"],
    )
    return worked_html(d, ev)


def mistake_counts(grades: Grades) -> Counter[str]:
    return Counter(r.mistake_title for g in grades.counted for r in g.results if r.mistake)


def summary_plots(grades: Grades) -> tuple[str, str]:
    """Return the score histogram and the most-common-mistakes bar chart as SVG text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "symbackprop"
    from matplotlib.ticker import MaxNLocator

    out = []
    figure, axes = plt.subplots(figsize=(6, 3.2))
    axes.hist([g.percent for g in grades.counted], bins=list(range(0, 101, 10)),
              color="#1f5fbf", edgecolor="white")  # fmt: skip
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # students come in whole numbers
    axes.set_xlabel("score (%)")
    axes.set_ylabel("students")
    axes.set_title("scores")
    out.append(_svg(figure, plt))
    figure, axes = plt.subplots(figsize=(6, 3.2))
    common = mistake_counts(grades).most_common(TOP_MISTAKES)
    axes.barh([name for name, _ in common][::-1], [n for _, n in common][::-1], color="#c0392b")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # so do the blanks counted
    axes.set_xlabel("blanks")
    axes.set_title("most common mistakes" if common else "no known mistake matched")
    out.append(_svg(figure, plt))
    return out[0], out[1]


def _svg(figure: Any, plt: Any) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    return buffer.getvalue()


def summary_html(grades: Grades) -> str:
    counts = Counter(r.status for g in grades.counted for r in g.results)
    students = [{"id": g.student_id, "score": f"{g.score:g}" if g.submitted else "missing",
                 "max": f"{g.max_score:g}", "percent": f"{g.percent:.0f}" if g.submitted else ""}
                for g in grades.students]  # fmt: skip
    page = template("html", "worksheet_summary.html.j2")
    return page.render(students=students, statuses=sorted(counts.items()),
                       mistakes=mistake_counts(grades).most_common(TOP_MISTAKES),
                       messages=list(grades.messages), missing=list(grades.missing),
                       missing_note=_missing_note(grades), source=grades.source,
                       items=_item_rows(grades), counted=len(grades.counted))  # fmt: skip


def _item_rows(grades: Grades) -> list[dict[str, str]]:
    """The per-blank statistics as text for the summary's table."""
    rows = []
    for item in item_statistics(grades.counted):
        r = "–" if item.discrimination is None else f"{item.discrimination:+.2f}"
        mistakes = "; ".join(f"{title} ({n})" for title, n in item.mistakes)
        difficulty = f"{100 * item.difficulty:.0f} %"
        rows.append({"blank": item.blank, "difficulty": difficulty, "discrimination": r,
                     "mistakes": mistakes, "remark": item.remark()})  # fmt: skip
    return rows


def _missing_note(grades: Grades) -> str:
    count = len(grades.missing)
    who = f"{count} student{'s' * (count != 1)}"
    if grades.include_missing:
        return f"No submission from {who}, counted as 0 in these statistics"
    return f"No submission from {who}, left out of these statistics"
