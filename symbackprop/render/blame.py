"""A neuron's blame split in words and numbers: the paths, their sum, the step to the delta.

Rendering layer. The paths of an adjoint (one per downstream use) add up to ∂L/∂a for a
neuron of a layered network, and the delta is that sum times f′(z); for a node of a program
they add up to the node's adjoint itself. :func:`blame_split` gathers those numbers once, with
each path's share of the total pull Σ|value| (which stays between −100 % and 100 % when paths
cancel), and says when a neuron is dead (f′(z) = 0). Reports and the terminal text print it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Step
from symbackprop.model import notation
from symbackprop.model.printing import format_number

if TYPE_CHECKING:
    from symbackprop.derivation.evaluation import Evaluation

SHARE_NOTE = (
    "Share: each path's part of the total pull (the sum of the absolute values); its sign "
    "says which way the path pulls."
)
DEAD_NOTE = (
    "This neuron is dead for this sample: f′(z) = 0, so its delta is 0 whatever blame reaches "
    "it, and none of it flows on to its weights or to earlier layers."
)


@dataclass(frozen=True)
class PathShare:
    via: sp.Symbol
    term: sp.Expr
    value: float
    pull: float | None  # value / Σ|value|, None when every path carries 0


@dataclass(frozen=True)
class BlameSplit:
    """The paths of one adjoint, their sum and (for a neuron) the step from it to the delta."""

    lhs: sp.Symbol
    paths: tuple[PathShare, ...]
    total: float  # Σ value: ∂L/∂a of a neuron, or the adjoint of a program's node
    total_name: str  # "dL_da1_1" for a neuron, else the adjoint's own name
    slope: float | None  # f′(z) of a neuron (the delta is total · slope), None for a program
    value: float  # the adjoint (the delta) itself

    @property
    def is_dead(self) -> bool:
        """Is this a neuron whose f′(z) is 0 here, so its delta is 0 whatever the paths carry?"""
        return self.slope == 0.0


def blame_split(d: Derivation, step: Step, ev: Evaluation) -> BlameSplit:
    """Gather a (single-sample) adjoint's paths with their values, their sum and the delta."""
    values = ev.path_values(step.lhs.name)
    pulled = sum(abs(v) for v in values)
    paths = tuple(
        PathShare(p.via, p.term, v, v / pulled if pulled else None)
        for p, v in zip(step.paths, values, strict=True)
    )
    total = float(sum(values))
    value = float(ev.values[step.lhs.name])
    slope = neuron_slope(d, step, ev)
    if slope is None:
        return BlameSplit(step.lhs, paths, total, step.lhs.name, None, value)
    total_name = notation.gradient_name(_activation_name(step))
    return BlameSplit(step.lhs, paths, total, total_name, slope, value)


def neuron_slope(d: Derivation, step: Step, ev: Evaluation) -> float | None:
    """f′(z) of a layered network's neuron: the product of the delta's factors after ∂L/∂a.

    None for a program's node, a batch, or a delta without that split (softmax outputs)."""
    if not d.network.is_layered or len(step.factors) < 2 or step.lhs.name not in ev.factors:
        return None
    if ev.batch_size != 1:
        return None
    slope = 1.0
    for factor in ev.factor_values(step.lhs.name)[1:]:
        slope *= float(factor)
    return slope


def _activation_name(step: Step) -> str:
    """a1_1 for delta1_1 (the neuron's activation, whose adjoint the paths add up to)."""
    return "a" + step.lhs.name[len("delta") :]


def percent(pull: float | None) -> str:
    return "—" if pull is None else f"{pull * 100:.0f} %"


def blame_words(split: BlameSplit) -> str:
    """Say what the paths add up to, the step to the delta, and whether the neuron is dead."""
    if split.slope is None:
        said = "The signed values of the paths add up to the adjoint (the last row)."
    else:
        said = (
            "The signed values of the paths add up to ∂L/∂a of the neuron (row: sum of the "
            "paths), not to its delta: the delta is that sum times f′(z) (last row)."
        )
    said += " " + SHARE_NOTE
    if split.is_dead:
        said = DEAD_NOTE + " " + said  # the first thing to say of this neuron
    return said


def text(split: BlameSplit, name: Callable[[str], str]) -> str:
    """One line for a terminal: the paths, their sum and the delta (``name`` prints names)."""
    parts = [f"via {name(p.via.name)} {format_number(p.value)} ({percent(p.pull)})"
             for p in split.paths]  # fmt: skip
    line = "blame: " + ", ".join(parts)
    line += f"; sum {name(split.total_name)} = {format_number(split.total)}"
    if split.slope is not None:
        line += (
            f"; {name(split.lhs.name)} = sum · f′(z) = {format_number(split.total)} · "
            f"{format_number(split.slope)} = {format_number(split.value)}"
        )
    if split.is_dead:
        line += " · dead neuron: f′(z) = 0 here"
    return line
