"""The `symbackprop` command: its parser, and one-line errors with exit status 2 on bad input.

The verbs live in :mod:`symbackprop.cli.network` (on one network spec) and
:mod:`symbackprop.cli.worksheet` (worksheets and grading).

Exit status: 0 success; 1 a check that ran and failed (gradcheck disagrees, a hand-derived
gradient is wrong); 2 bad input (a spec, an expression, a file), printed as one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from symbackprop import __version__
from symbackprop.cli import network as cli_network
from symbackprop.cli import worksheet as cli_worksheet
from symbackprop.model.errors import SymbackpropError, SymbackpropWarning


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
    cli_worksheet.add_commands(commands)
    return parser


def _os_error_text(error: OSError) -> str:
    where = f" {error.filename!r}" if error.filename else ""
    reason = (error.strerror or str(error)).lower()
    return f"cannot use{where}: {reason}; check that the path exists and is a writable folder/file"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input is one line on stderr and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", SymbackpropWarning)
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args))
        except SymbackpropError as error:
            sys.stderr.write(f"symbackprop: error: {error}\n")
            return 2
        except OSError as error:
            # A path the user gave cannot be read or written (missing folder, a file where a
            # folder should be, no permission): bad input, not a bug.
            sys.stderr.write(f"symbackprop: error: {_os_error_text(error)}\n")
            return 2
        except BrokenPipeError:
            # The reader (e.g. `| head`) left early: not an error of ours; silence the flush.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
