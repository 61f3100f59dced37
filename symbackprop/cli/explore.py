"""The command line's explore verb: a spec's network as one interactive HTML page.

Command line. :func:`add_commands` adds ``explore SPEC -o FILE.html`` to the `symbackprop`
parser; the page itself is made by :func:`symbackprop.render.explorer.explore`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from symbackprop.model.errors import SpecError


def _explore(args: argparse.Namespace) -> int:
    from symbackprop.model.specs.spec import load_spec
    from symbackprop.render.explorer import explore

    if not args.output.lower().endswith((".html", ".htm")):
        raise SpecError(f"-o {args.output!r} is not an .html file; give e.g. -o explorer.html")
    spec = load_spec(args.spec)
    explore(spec, path=args.output, sample=args.sample)
    sys.stdout.write(f"wrote {args.output}\n")
    return 0


def add_commands(commands: Any) -> None:
    """Add explore to the parser's sub-commands."""
    command = commands.add_parser(
        "explore",
        help="write an interactive page that steps through backpropagation",
        description="Write one self-contained HTML page (no network needed, opens from a "
        "file) that draws the spec's network with every value and gradient, steps through "
        "the forward pass, the loss and the backward pass (arrow keys, space to play), shows "
        "each gradient's paths and blame split, recomputes every number as inputs, targets, "
        "weights or the learning rate are edited, trains (Update, Repeat) and checks the "
        "gradients by finite differences. MLPs and scalar programs (gates) are supported.",
        epilog="example: symbackprop explore examples/mazur.toml -o mazur-explorer.html",
    )
    command.add_argument("spec", metavar="SPEC", help="a TOML network spec (see examples/)")
    command.add_argument(
        "-o", "--output", metavar="FILE.html", required=True, help="the page to write"
    )
    command.add_argument(
        "--sample",
        type=int,
        default=1,
        metavar="N",
        help="the data row the stepper starts on (1-based; default 1)",
    )
    command.set_defaults(run=_explore)
