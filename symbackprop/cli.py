"""The `symbackprop` command (interface layer): one-line errors, exit status 2 on bad input."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from symbackprop.derive import derive
from symbackprop.errors import SymbackpropError
from symbackprop.gradcheck import gradcheck
from symbackprop.network import mlp

# Mazur's worked example with per-neuron biases (b^(1) = 0.35, b^(2) = 0.60 in every neuron),
# so that every delta equals the published one.
DEMO_PARAMS = {
    "w1_1_1": 0.15, "w1_1_2": 0.20, "w1_2_1": 0.25, "w1_2_2": 0.30, "b1_1": 0.35, "b1_2": 0.35,
    "w2_1_1": 0.40, "w2_1_2": 0.45, "w2_2_1": 0.50, "w2_2_2": 0.55, "b2_1": 0.60, "b2_2": 0.60,
}  # fmt: skip
DEMO_X = (0.05, 0.10)
DEMO_Y = (0.01, 0.99)
DEMO_LEARNING_RATE = 0.5


def _demo(args: argparse.Namespace) -> int:
    network = mlp([2, 2, 2], activation="sigmoid", loss="half_sse")
    derivation = derive(network)
    evaluation = derivation.evaluate(DEMO_PARAMS, DEMO_X, DEMO_Y, DEMO_LEARNING_RATE)
    sys.stdout.write(f"Network 2-2-2 · η = {DEMO_LEARNING_RATE} · x = {DEMO_X} · y = {DEMO_Y}\n")
    sys.stdout.write(derivation.to_text(evaluation))
    check = gradcheck(network, DEMO_PARAMS, DEMO_X, DEMO_Y)
    verdict = "agrees" if check.ok else "DISAGREES"
    sys.stdout.write(
        f"\nCheck: every ∂L/∂θ above {verdict} with central differences "
        f"(largest relative error {check.max_rel_error:.1e})\n"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbackprop",
        description="Backpropagation made visible: symbolic derivations, compiled and checked.",
        epilog="example: symbackprop demo",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="print the full derivation of a 2-2-2 sigmoid network with the numbers",
        description="Print the full derivation of Mazur's 2-2-2 sigmoid network, numbers "
        "plugged in: forward pass, loss, every delta, every gradient, one update step.",
        epilog="example: symbackprop demo",
    )
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input is one line on stderr and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except SymbackpropError as error:
        sys.stderr.write(f"symbackprop: error: {error}\n")
        return 2
