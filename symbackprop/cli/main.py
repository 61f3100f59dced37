"""The `symbackprop` command: its parser, and one-line errors with exit status 2 on bad input.

The verbs live in :mod:`symbackprop.cli.network` (on one network spec) and
:mod:`symbackprop.cli.worksheet` (worksheets and grading).

Exit status: 0 success; 1 a check that ran and failed (gradcheck disagrees, a hand-derived
gradient is wrong); 2 bad input (a spec, an expression, a file), printed as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from symbackprop import __version__
from symbackprop.cli import explore as cli_explore
from symbackprop.cli import network as cli_network
from symbackprop.cli import worksheet as cli_worksheet
from symbackprop.model.errors import SymbackpropError, SymbackpropWarning
from symbackprop.render.escape import terminal_text


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if issubclass(category, SymbackpropWarning):
        sys.stderr.write(f"symbackprop: warning: {message}\n")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


# --- the parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbackprop",
        description="Backpropagation made visible: symbolic derivations, compiled and checked.",
        epilog="example: symbackprop derive examples/mazur.toml",
    )
    parser.add_argument("--version", action="version", version=f"symbackprop {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cli_network.add_commands(commands)
    cli_explore.add_commands(commands)
    cli_worksheet.add_commands(commands)
    return parser


def _os_error_text(error: OSError) -> str:
    where = f" {error.filename!r}" if error.filename else ""
    reason = (error.strerror or str(error)).lower()
    return f"cannot use{where}: {reason}; check that the path exists and is a writable folder/file"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input is one line on stderr and exit status 2."""
    with warnings.catch_warnings(), _terminal_safe(), _stopped_cleanly():
        args = build_parser().parse_args(argv)
        warnings.simplefilter("always", SymbackpropWarning)
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args))
        except SymbackpropError as error:
            _error_line(str(error))
            return 2
        except BrokenPipeError:
            # The reader (e.g. `| head`) left early: not an error of ours; silence the flush.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except OSError as error:
            # A path the user gave cannot be read or written (missing folder, a file where a
            # folder should be, no permission): bad input, not a bug.
            _error_line(_os_error_text(error))
            return 2


# An error is one line; one that quotes a long value is cut here, whatever built it.
_ERROR_LENGTH = 400


def _error_line(message: str) -> None:
    flat = " ".join(message.split())
    if len(flat) > _ERROR_LENGTH:
        flat = flat[: _ERROR_LENGTH - 3] + "..."
    sys.stderr.write(f"symbackprop: error: {flat}\n")


class _TerminalStream:
    """A text stream that shows control characters as visible escapes (``\\x1b``)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_text(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _stopped_cleanly() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit, so that temporary folders are removed.

    By default these signals end the process at once, leaving a half-made build folder.
    """

    def stop(number: int, frame: object) -> None:
        raise SystemExit(128 + number)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (e.g. the command run from a test)
        return
    saved = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _terminal_safe() -> Iterator[None]:
    """Filter what the command prints, so that text from files cannot drive a terminal."""
    saved = sys.stdout, sys.stderr
    sys.stdout = _TerminalStream(saved[0])  # type: ignore[assignment]
    sys.stderr = _TerminalStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
