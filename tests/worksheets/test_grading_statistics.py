"""The class summary's statistics: difficulty, discrimination, named mistakes, whole-number axes."""

from __future__ import annotations

import math
import re

import pytest

from symbackprop.worksheets.grades import (
    BlankResult,
    Grades,
    StudentGrade,
    questions_csv,
    summary_html,
    summary_plots,
)
from symbackprop.worksheets.item_statistics import item_statistics

RTOL = 1e-12  # the same sums in another order, float64


def _student(student_id, marks, submitted=True):
    """marks: {blank: (points, max points, mistake title or "")}."""
    results = tuple(
        BlankResult(blank, "mistake" if title else ("correct" if points else "wrong"), points,
                    top, "", "", mistake=title.replace(" ", "_"), mistake_title=title)
        for blank, (points, top, title) in marks.items()
    )  # fmt: skip
    return StudentGrade(student_id, results, submitted)


def _class():
    """Five students; q1 is all-or-nothing, q2 gives partial credit, q3 everyone gets."""
    rows = [
        ("s1", (2, 0.5, 1)), ("s2", (2, 1.0, 1)), ("s3", (0, 0.5, 1)), ("s4", (0, 0.0, 1)),
        ("s5", (2, 0.0, 1)),
    ]  # fmt: skip
    students = []
    for sid, (q1, q2, q3) in rows:
        title = "sign error" if q1 == 0 else ""
        students.append(_student(sid, {"q1": (q1, 2, title), "q2": (q2, 1, ""),
                                       "q3": (q3, 1, "")}))  # fmt: skip
    return students


def _point_biserial(right, rest):
    """r_pb = (M1 - M0) / s * sqrt(p q), s the population standard deviation of ``rest``."""
    ones = [r for ok, r in zip(right, rest, strict=True) if ok]
    zeros = [r for ok, r in zip(right, rest, strict=True) if not ok]
    n = len(rest)
    mean = sum(rest) / n
    s = math.sqrt(sum((r - mean) ** 2 for r in rest) / n)
    p = len(ones) / n
    return (sum(ones) / len(ones) - sum(zeros) / len(zeros)) / s * math.sqrt(p * (1 - p))


def test_difficulty_is_the_mean_credit_and_discrimination_the_point_biserial():
    students = _class()
    q1, q2, q3 = item_statistics(students)
    assert q1.difficulty == pytest.approx(3 / 5) and q2.difficulty == pytest.approx(0.4)
    right = [g.results[0].points > 0 for g in students]
    rest = [g.score - g.results[0].points for g in students]
    assert q1.discrimination == pytest.approx(_point_biserial(right, rest), rel=RTOL)
    assert q1.mistakes == (("sign error", 2),)
    assert q3.difficulty == 1.0 and q3.discrimination is None  # no spread: undefined
    assert q3.remark() == "easy"
    assert item_statistics(students[:2])[0].discrimination is None  # too few students


def test_the_summary_shows_the_statistics_and_leaves_missing_students_out():
    students = [*_class(), _student("gone", {"q1": (0, 2, ""), "q2": (0, 1, ""),
                                             "q3": (0, 1, "")}, submitted=False)]  # fmt: skip
    page = summary_html(Grades(tuple(students)))
    assert "Over the 5 students counted" in page
    assert "<td><code>q1</code></td><td>60 %</td>" in page
    assert "sign error (2)" in page and "corrected item-total correlation" in page
    assert "No submission from 1 student, left out of these statistics" in page
    counted = summary_html(Grades(tuple(students), include_missing=True))
    assert "Over the 6 students counted" in counted and "counted as 0" in counted


def test_summary_plots_count_students_in_whole_numbers():
    few = _class()[:3]  # 1 or 2 students a bar: matplotlib's default ticks would be 0.25 apart
    for svg in summary_plots(Grades(tuple(few))):
        ticks = re.findall(r"<!-- (-?[\d.]+) -->", svg)
        assert ticks and all(re.fullmatch(r"-?\d+", t) for t in ticks), ticks


def test_questions_csv_holds_the_same_statistics():
    students = _class()
    rows = questions_csv(Grades(tuple(students))).splitlines()
    q1 = item_statistics(students)[0]
    assert rows[0] == "blank,students,difficulty,discrimination,mistakes"
    assert rows[1] == f"q1,5,0.600,{q1.discrimination:.3f},sign error (2)"
    assert rows[3] == "q3,5,1.000,,"
