"""The explorer's drawing: a network or gate circuit as boxes and wires, laid out in columns.

Rendering layer. Every value of the program is a box (inputs, parameters, targets, nodes, the
loss) and every use of a value is a wire, as in CS231n's circuits: a box shows the value it
sends forward and the gradient dL/d(value) it receives back; a wire out of a box that feeds
several nodes carries its own share of that gradient (its blame path). The layout is plain
data (positions and keys into the page's values); the template draws it as SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import LOSS, Stage, Step
from symbackprop.model import notation
from symbackprop.render.explorer_code import factor_key, path_key

BOX_WIDTH = 118
BOX_HEIGHT = 50
COLUMN_GAP = 178  # from one column's left edge to the next
ROW_GAP = 62
MARGIN = 12
MAX_PER_COLUMN = 12  # larger networks are drawn in part: at most this many boxes a column,
MAX_VALUES_PER_COLUMN = 6  # of which at most this many computed values (z, a, gates)
MAX_SHARE_LABELS = 3  # a value feeding more nodes than this has its wires' shares unlabelled


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose adjoint a step's blame paths are: the node, or the activation folded into it."""

    step: Step
    name: str


def path_owners(d: Derivation) -> dict[str, Owner]:
    """Return {value name: the step whose paths split its gradient}.

    An MLP's delta step dL/dz = dL/da * da/dz carries the paths of a (the activation has no
    adjoint of its own); any other adjoint or gradient step carries its own node's paths.
    """
    owners: dict[str, Owner] = {}
    for step in _sweep(d):
        owners[step.node.name] = Owner(step, step.node.name)  # type: ignore[union-attr]
    for step in _sweep(d):
        folded = folded_value(d, step)
        if folded is not None:
            owners[folded] = Owner(step, folded)
    return owners


def _sweep(d: Derivation) -> list[Step]:
    stages = (Stage.ADJOINT, Stage.GRADIENT)
    return [s for s in d.steps if s.stage in stages and s.node is not None]


def folded_value(d: Derivation, step: Step) -> str | None:
    """Return a's name when ``step`` is dL/dz = dL/da * da/dz and a has no step of its own."""
    chain = step.chain
    if chain is None or not isinstance(chain, sp.Mul) or step.node is None:
        return None
    if step.stage is not Stage.ADJOINT:
        return None
    first = [f for f in chain.args if isinstance(f, sp.Derivative) and f.expr == LOSS]
    if len(first) != 1 or len(first[0].variables) != 1:
        return None
    value = first[0].variables[0]
    if value == step.node or not isinstance(value, sp.Symbol):
        return None
    if any(other.node == value for other in _sweep(d)):
        return None
    return value.name


def gradient_keys(d: Derivation) -> dict[str, str]:
    """Return {value name: key of dL/d(value) in the page's values}."""
    keys: dict[str, str] = {}
    for step in _sweep(d):
        keys.setdefault(step.node.name, step.lhs.name)  # type: ignore[union-attr]
        folded = folded_value(d, step)
        if folded is not None and len(step.factors) > 1:
            keys.setdefault(folded, factor_key(step.lhs.name, 0))
    return keys


def _value_steps(d: Derivation) -> list[Step]:
    return [s for s in d.steps if s.stage in (Stage.FORWARD, Stage.LOSS)]


def _columns(d: Derivation, sources: Sequence[str]) -> dict[str, int]:
    """Column of each value: a node one right of what it uses; a source left of its user."""
    column: dict[str, int] = {}
    users: dict[str, list[str]] = {}
    for step in _value_steps(d):
        used = [s.name for s in step.rhs.free_symbols]
        column[step.lhs.name] = 1 + max((column.get(u, 0) for u in used), default=0)
        for name in used:
            users.setdefault(name, []).append(step.lhs.name)
    for name in sources:
        column[name] = min((column[u] for u in users.get(name, [])), default=1) - 1
    return column


def layout(d: Derivation, owners: dict[str, Owner]) -> dict[str, Any]:
    """Return the drawing as data: boxes (id, label, position, gradient key) and wires."""
    program = d.network.program
    sources = [s.name for s in (*program.inputs, *program.params, *program.targets)]
    kinds = {s.name: "input" for s in program.inputs}
    kinds |= {s.name: "param" for s in program.params}
    kinds |= {s.name: "target" for s in program.targets}
    column = _columns(d, sources)
    grads = gradient_keys(d)
    values = [s.lhs.name for s in _value_steps(d)]
    order = values + sources
    drawn = _drawn(d, values, sources, column)
    tallest = max(len(names) for names in drawn.values())
    boxes = []
    for c, names in sorted(drawn.items()):
        top = MARGIN + (tallest - len(names)) * ROW_GAP / 2
        for row, name in enumerate(names):
            boxes.append(
                {
                    "id": name,
                    "label": notation.unicode_name(name),
                    "kind": kinds.get(name, "loss" if name == LOSS.name else "node"),
                    "x": MARGIN + c * COLUMN_GAP,
                    "y": round(top + row * ROW_GAP, 1),
                    "text_x": MARGIN + c * COLUMN_GAP + 6,
                    "rows": [round(top + row * ROW_GAP + dy, 1) for dy in (15, 30, 44)],
                    "grad": grads.get(name, ""),
                    "one": name == LOSS.name,
                }
            )
    wires = _wires(d, {b["id"]: b for b in boxes}, owners)
    total = len(order)
    return {
        "boxes": boxes, "wires": wires, "width": MARGIN * 2 + max(column.values()) * COLUMN_GAP
        + BOX_WIDTH, "height": MARGIN * 2 + (tallest - 1) * ROW_GAP + BOX_HEIGHT,
        "box_width": BOX_WIDTH, "box_height": BOX_HEIGHT, "partial": len(boxes) < total,
        "shown": len(boxes), "total": total, "per_column": MAX_PER_COLUMN,
    }  # fmt: skip


def _drawn(
    d: Derivation, values: list[str], sources: list[str], column: dict[str, int]
) -> dict[int, list[str]]:
    """Return the names drawn in each column: all, or the first values and what feeds them.

    A column holds its computed values first, then its sources (inputs, parameters,
    targets) in the order of the first value each feeds; a large column keeps its first
    MAX_VALUES_PER_COLUMN values and fills up to MAX_PER_COLUMN with sources.
    """
    first_user: dict[str, int] = {}
    for index, step in enumerate(_value_steps(d)):
        for symbol in step.rhs.free_symbols:
            first_user.setdefault(symbol.name, index)
    ranked = sorted(sources, key=lambda n: first_user.get(n, len(values)))
    drawn: dict[int, list[str]] = {}
    for c in sorted(set(column.values())):
        own = [n for n in values if column[n] == c]
        fed = [n for n in ranked if column[n] == c]
        if len(own) + len(fed) > MAX_PER_COLUMN:
            own = own[:MAX_VALUES_PER_COLUMN] if fed else own[:MAX_PER_COLUMN]
            fed = fed[: MAX_PER_COLUMN - len(own)]
        drawn[c] = own + fed
    return drawn


def _wires(
    d: Derivation, boxes: dict[str, dict[str, Any]], owners: dict[str, Owner]
) -> list[dict[str, Any]]:
    uses: dict[str, int] = {}
    pairs = []
    for step in _value_steps(d):
        for symbol in sorted(step.rhs.free_symbols, key=lambda s: s.name):
            uses[symbol.name] = uses.get(symbol.name, 0) + 1
            pairs.append((symbol.name, step.lhs.name))
    wires = []
    for source, target in pairs:
        if source not in boxes or target not in boxes:
            continue
        share = ""
        owner = owners.get(source)
        # one label a wire where a value fans out to a few nodes; past that they would pile
        # up on each other, and the blame table lists them instead
        if owner is not None and 1 < uses[source] <= MAX_SHARE_LABELS:
            for i, path in enumerate(owner.step.paths):
                if path.via.name == target:
                    share = path_key(owner.step.lhs.name, i, "term")
        start, end = boxes[source], boxes[target]
        x1, y1 = start["x"] + BOX_WIDTH, start["y"] + BOX_HEIGHT / 2
        x2, y2 = end["x"], end["y"] + BOX_HEIGHT / 2
        bend = (x2 - x1) / 2
        wires.append(
            {"source": source, "target": target, "share": share,
             "d": f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}",
             # a share is written where the wires out of one box have parted (t = 0.3 on
             # the curve: x moves 0.3 of the way, y 0.216 = 3t^2 - 2t^3)
             "label_x": round(x1 + 0.3 * (x2 - x1), 1),
             "label_y": round(y1 + 0.216 * (y2 - y1) - 3, 1)}
        )  # fmt: skip
    return wires
