"""Per-question statistics of a graded class: difficulty, discrimination, the common mistakes.

Worksheets stage, read by the class summary (:mod:`symbackprop.worksheets.grades`). For each
blank, over the students the statistics count (those who submitted, unless missing students are
counted as zero):

- difficulty p = mean share of the blank's points earned (1 = everyone right);
- discrimination r = the corrected item-total correlation: Pearson's r between the share earned
  on the blank and the points on the rest of the sheet (the blank left out, so it does not
  correlate with itself); for an all-or-nothing blank this is the point-biserial correlation.
  It is None when it is undefined: fewer than MIN_STUDENTS students, or no spread in either;
- the named mistakes matched on the blank, most common first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Marked(Protocol):
    """What is read of one blank's marking (a ``grades.BlankResult``)."""

    @property
    def blank(self) -> str: ...
    @property
    def points(self) -> float: ...
    @property
    def max_points(self) -> float: ...
    @property
    def mistake_title(self) -> str: ...


class GradedStudent(Protocol):
    """What is read of one student's grade (a ``grades.StudentGrade``, which imports this)."""

    @property
    def results(self) -> Sequence[Marked]: ...
    @property
    def score(self) -> float: ...


MIN_STUDENTS = 3  # a correlation of two points is always +-1
TOP_PER_BLANK = 3  # named mistakes listed per blank
HARD, EASY = 0.3, 0.9  # difficulty below HARD: few got it; above EASY: nearly all did
WEAK = 0.2  # discrimination below this: the blank tells strong and weak students apart poorly


@dataclass(frozen=True, slots=True)
class ItemStatistics:
    """One blank's difficulty, discrimination and most common named mistakes."""

    blank: str
    students: int
    difficulty: float
    discrimination: float | None
    mistakes: tuple[tuple[str, int], ...]

    def remark(self) -> str:
        """A word on what the numbers suggest: "hard", "easy", "weak discrimination"."""
        words = []
        if self.difficulty < HARD:
            words.append("hard")
        elif self.difficulty > EASY:
            words.append("easy")
        if self.discrimination is not None and self.discrimination < WEAK:
            words.append("weak discrimination")
        return ", ".join(words)


def item_statistics(students: Sequence[GradedStudent]) -> tuple[ItemStatistics, ...]:
    """Return the statistics of every blank, in the sheet's order, over ``students``."""
    if not students:
        return ()
    out = []
    for index, first in enumerate(students[0].results):
        shares = [_share(g, index) for g in students]
        rest = [g.score - g.results[index].points for g in students]
        named = Counter(g.results[index].mistake_title for g in students
                        if g.results[index].mistake_title)  # fmt: skip
        out.append(ItemStatistics(first.blank, len(students), sum(shares) / len(shares),
                                  _correlation(shares, rest),
                                  tuple(named.most_common(TOP_PER_BLANK))))  # fmt: skip
    return tuple(out)


def _share(grade: GradedStudent, index: int) -> float:
    result = grade.results[index]
    return result.points / result.max_points if result.max_points else 0.0


def _correlation(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or None when there are too few points or no spread."""
    n = len(x)
    if n < MIN_STUDENTS:
        return None
    mean_x, mean_y = sum(x) / n, sum(y) / n
    sxx = sum((a - mean_x) ** 2 for a in x)
    syy = sum((b - mean_y) ** 2 for b in y)
    if sxx <= 1e-12 or syy <= 1e-12:  # float noise around a constant column
        return None
    sxy = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True))
    return sxy / math.sqrt(sxx * syy)
