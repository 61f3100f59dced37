"""Time start-up: `import symbackprop`, the engine's first use, `symbackprop --version`, and
Mazur's report end to end (derivation, 10,000 training epochs, loss plot, HTML).

Each command runs in a fresh interpreter RUNS times (after one warm-up run that is not counted);
the table gives the median wall time and the median CPU time (user + system) of the child. On a
shared machine the wall time grows with the load while the CPU time hardly does: the load
average is printed before and after. Targets: `import symbackprop` under 0.8 s; `--version`
loads neither SymPy nor NumPy; `symbackprop report examples/mazur.toml` under 2 s.

Run: python bench/bench_startup.py [--runs 9] [--bytecode]

The children inherit the environment: where PYTHONDONTWRITEBYTECODE is set (as on the
development machine) the package's own modules are compiled from source at every start.
--bytecode times what an installed package sees instead: the children write and read bytecode
caches (in a temporary folder, not beside the sources).
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MAZUR = str(ROOT / "examples" / "mazur.toml")
REPORT = str(Path(tempfile.gettempdir()) / "bench-startup-mazur.html")

CASES = [
    ("python -c pass (the interpreter alone)", [PY, "-c", "pass"]),
    ("import sympy, numpy (the engine's floor)", [PY, "-c", "import sympy, numpy"]),
    ("import symbackprop", [PY, "-c", "import symbackprop"]),
    (
        "import symbackprop; sb.derive (first use)",
        [PY, "-c", "import symbackprop; symbackprop.derive"],
    ),
    ("symbackprop --version", [PY, "-m", "symbackprop", "--version"]),
    ("symbackprop --help", [PY, "-m", "symbackprop", "--help"]),
    ("symbackprop derive examples/mazur.toml", [PY, "-m", "symbackprop", "derive", MAZUR]),
    (
        "import symbackprop; sb.report (templates)",
        [PY, "-c", "import symbackprop; symbackprop.report"],
    ),
    (
        "symbackprop report examples/mazur.toml",
        [PY, "-m", "symbackprop", "report", MAZUR, "-o", REPORT],
    ),
]


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``command`` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each command")
    parser.add_argument("--bytecode", action="store_true", help="let the children cache bytecode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as cache:
        env = dict(os.environ)
        if args.bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        _table(args.runs, env)


def _table(runs: int, env: dict[str, str]) -> None:
    cached = "off" if env.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"{datetime.date.today()} · {os.cpu_count()} cores · load average {_load()} (before)")
    print(f"median of {runs} runs · bytecode caching {cached} · Python {sys.version.split()[0]}\n")
    print(f"| {'command':<44} | {'wall s':>7} | {'cpu s':>7} |")
    print(f"|{'-' * 46}|{'-' * 9}|{'-' * 9}|")
    for label, command in CASES:
        _run(command, env)  # warm-up: the file system's cache, bytecode where it is written
        times = [_run(command, env) for _ in range(runs)]
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        print(f"| {label:<44} | {wall:>7.3f} | {cpu:>7.3f} |")
    print(f"\nload average {_load()} (after)")


if __name__ == "__main__":
    main()
