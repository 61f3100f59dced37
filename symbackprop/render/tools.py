"""External programs (render stage): latexmk, pdflatex and dot, run with a time limit.

Each runs in its own process group (session), so that on a timeout or an interrupt the whole
group is killed: latexmk's pdflatex too, not only latexmk. A timeout is one
:class:`ToolError` line, never a ``TimeoutExpired`` traceback or an orphaned child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from symbackprop.model.errors import SymbackpropError


class ToolError(SymbackpropError):
    """An external program (pdflatex, latexmk, dot) failed or took too long."""


def run_tool(
    command: Sequence[str],
    what: str,
    timeout: float,
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command``; kill its process group and raise ToolError after ``timeout`` seconds."""
    process = subprocess.Popen(
        list(command), cwd=cwd, env=None if env is None else dict(env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise ToolError(
            f"{command[0]} took more than {timeout:g} s on {what} and was stopped; check the "
            "input, or that the program works on its own"
        ) from None
    except BaseException:
        _kill_group(process)  # an interrupt (Ctrl-C, SIGTERM) takes the tool down too
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already exited
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
