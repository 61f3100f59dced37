"""Benchmark: how fast the safe parser refuses hostile input, against parsing an ordinary formula.

Run: python bench/bench_parser.py   (prints a table: the best of several runs of each input, and
its ratio to parsing a textbook formula measured in the same run, so the ratios mean something
on a shared, noisy machine even where the absolute times do not).

Target: every bomb refused within 0.25 s, and the nested functions of a 100-term sum parsed
within 0.25 s (SymPy alone takes seconds on them); the tests only guard against a hang.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symbackprop.model.errors import ParseError  # noqa: E402
from symbackprop.model.parsing.parser import parse  # noqa: E402
from tests.model.parser_bombs import BOMBS, NESTED_WIDE  # noqa: E402

ORDINARY = "sigmoid(w2_1_1*a1_1 + w2_1_2*a1_2 + b2_1)"
REPEATS = 5
TARGET_SECONDS = 0.25


def best_of(run: Callable[[], object], repeats: int = REPEATS) -> float:
    """Return the shortest wall time of ``repeats`` runs (the least disturbed by other jobs)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def refuse(text: str) -> None:
    try:
        parse(text)
    except ParseError:
        return
    raise AssertionError(f"{text[:40]!r} was not refused")


def main() -> int:
    baseline = best_of(lambda: parse(ORDINARY), repeats=50)
    rows = [("ordinary formula (baseline)", baseline)]
    rows.append(("nested functions of a 100-term sum", best_of(lambda: parse(NESTED_WIDE))))
    rows += [(f"bomb: {name}", best_of(lambda t=text: refuse(t))) for name, text in BOMBS.items()]
    print(f"{'input':<44} {'best s':>10} {'x baseline':>11}  target")
    failed = 0
    for name, seconds in rows:
        ok = seconds <= TARGET_SECONDS
        failed += not ok
        print(f"{name:<44} {seconds:>10.2e} {seconds / baseline:>11.1f}  {'ok' if ok else 'SLOW'}")
    print(f"{failed} of {len(rows)} over {TARGET_SECONDS} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
