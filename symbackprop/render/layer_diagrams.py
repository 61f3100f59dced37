"""Diagrams of a network of layers: feature maps as grids, a recurrent layer unrolled in time.

Rendering layer. Both are Graphviz DOT, laid out by ``dot`` as the other diagrams are
(:mod:`symbackprop.render.diagrams`):

- :func:`maps_dot` draws the first sample's feature maps along the forward pass, each channel a
  small grid of numbers shaded by sign and size, with each kernel as a grid beside the map it
  makes (CS231n's way of drawing a convolution);
- :func:`unrolled_dot` draws a recurrent layer unrolled over its time steps: one column per
  step, the input x⟨t⟩ at the bottom, the state in the middle, the loss at the top, the
  recurrent edges labelled with the shared weight; with numbers, every node shows the first
  sample's value and its adjoint (the forward value and the gradient on every wire).

They read only the matrix program (node shapes, time steps, operands), so every layer kind that
records a sample shape or a time step is drawn without code of its own here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_derive import adjoint_name
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.model import notation
from symbackprop.model.matrix_program import INPUT_NAME, MatrixAssignment, MatrixProgram
from symbackprop.model.tensor_ops import Block
from symbackprop.render.matrix_sections import entry_text

CELLS_WITH_NUMBERS = 8  # a map wider or taller than this is drawn as shaded cells only
CHANNELS_DRAWN = 4  # a map with more channels shows its first ones and says how many
STEPS_DRAWN = 6  # an unrolled layer with more steps shows the first and last ones
_HEADER = [
    '  node [fontname="DejaVu Sans", fontsize=10, shape=box, style="rounded,filled",'
    ' fillcolor="#f5f5f5"];',
    '  edge [fontname="DejaVu Sans", fontsize=9, arrowsize=0.6, color="#555555"];',
]


def diagram_kind(program: MatrixProgram) -> str | None:
    """Return "unrolled", "maps" or None: which drawing suits the program."""
    if any(a.step is not None for a in program.assignments):
        return "unrolled"
    if program.input_shape and len(program.input_shape) > 1:
        return "maps"
    if any(len(a.sample_shape) > 1 for a in program.assignments):
        return "maps"
    return None


def layer_diagram_dot(d: MatrixDerivation, ev: MatrixEvaluation | None = None) -> str | None:
    """Return the drawing that suits the network (see :func:`diagram_kind`), or None."""
    kind = diagram_kind(d.program)
    if kind == "unrolled":
        return unrolled_dot(d, ev)
    if kind == "maps":
        return maps_dot(d, ev)
    return None


# --- feature maps ------------------------------------------------------------------------------
def _shade(value: float, scale: float) -> str:
    """A cell's colour: blue for positive, red for negative, stronger for larger magnitude."""
    strength = 0.0 if scale == 0 else min(abs(value) / scale, 1.0)
    fade = int(255 - 150 * strength)
    return f"#{fade:02x}{fade:02x}ff" if value >= 0 else f"#ff{fade:02x}{fade:02x}"


def _grid_table(grid: np.ndarray, scale: float) -> str:
    """An HTML-like Graphviz table: one cell per entry, numbers when the grid is small."""
    rows, cols = grid.shape
    numbers = rows <= CELLS_WITH_NUMBERS and cols <= CELLS_WITH_NUMBERS
    size = ' WIDTH="34" HEIGHT="20"' if numbers else ' WIDTH="8" HEIGHT="8"'
    out = ['<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="1">']
    for i in range(rows):
        cells = []
        for j in range(cols):
            value = float(grid[i, j])
            # Graphviz refuses an empty <FONT>: a cell without a number is only its colour.
            text = (
                f'<FONT POINT-SIZE="8">{html.escape(entry_text(value))}</FONT>' if numbers else " "
            )
            cells.append(f'<TD BGCOLOR="{_shade(value, scale)}"{size}>{text}</TD>')
        out.append("<TR>" + "".join(cells) + "</TR>")
    out.append("</TABLE>")
    return "".join(out)


def _channel_grids(sample: np.ndarray, shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    item: Any = sample.reshape(shape)
    if item.ndim == 2:  # (C, L): one row per channel
        return [("", item)]
    return [(f"channel {c + 1}", item[c]) for c in range(item.shape[0])]


def _map_label(title: str, grids: list[tuple[str, np.ndarray]], note: str = "") -> str:
    scale = max((float(np.max(np.abs(g))) for _, g in grids), default=0.0)
    shown = grids[:CHANNELS_DRAWN]
    cells = []
    for caption, grid in shown:
        head = (
            f'<TR><TD><FONT POINT-SIZE="8">{html.escape(caption)}</FONT></TD></TR>'
            if caption
            else ""
        )
        cells.append(
            f'<TD><TABLE BORDER="0" CELLSPACING="0">{head}'
            f"<TR><TD>{_grid_table(grid, scale)}</TD></TR></TABLE></TD>"
        )
    more = len(grids) - len(shown)
    if more > 0:
        cells.append(f'<TD><FONT POINT-SIZE="9">… {more} more</FONT></TD>')
    extra = (
        f'<TR><TD COLSPAN="{len(cells)}"><FONT POINT-SIZE="8">{html.escape(note)}</FONT></TD></TR>'
        if note
        else ""
    )
    return (
        f'<<TABLE BORDER="0" CELLSPACING="4"><TR><TD COLSPAN="{len(cells)}"><B>'
        f"{html.escape(title)}</B></TD></TR><TR>{''.join(cells)}</TR>{extra}</TABLE>>"
    )


def maps_dot(d: MatrixDerivation, ev: MatrixEvaluation | None = None) -> str:
    """Draw the first sample's maps along the forward pass, kernels beside the maps they make."""
    program = d.program
    lines = ["digraph maps {", "  rankdir=LR; nodesep=0.25; ranksep=0.35;", *_HEADER]
    lines[-2] = lines[-2].replace('style="rounded,filled"', 'style="rounded"')
    drawn: dict[str, str] = {}

    def node(name: str, title: str, shape: tuple[int, ...], note: str = "") -> None:
        if ev is None or name not in ev.values:
            lines.append(f"  {name} [label={_dot_string(title)}];")
        else:
            grids = _channel_grids(np.asarray(ev.values[name])[:, 0], shape)
            lines.append(f"  {name} [label={_map_label(title, grids, note)}];")
        drawn[name] = title

    x_shape = program.sample_shape(INPUT_NAME)
    node(INPUT_NAME, "X (sample 1)" if ev is not None else "X", x_shape, _shape_note(x_shape))
    kernels = {str(p.symbol.name): p for p in program.parameters if len(p.state_shape) > 2}
    previous = INPUT_NAME
    for assignment in program.assignments:
        shape = assignment.sample_shape
        name = str(assignment.lhs.name)
        if len(shape) < 2 and assignment is not program.assignments[-1]:
            continue
        title = f"{notation.program_unicode(name)}  {assignment.role}"
        node(name, title, shape if len(shape) > 1 else (1, int(assignment.lhs.shape[0])),
             _shape_note(shape))  # fmt: skip
        sources = [
            str(s.name) for s in assignment.rhs.atoms(sp.MatrixSymbol) if str(s.name) in drawn
        ]
        lines.append(f"  {sources[0] if sources else previous} -> {name};")
        for kernel_name in sorted(str(s.name) for s in assignment.rhs.atoms(sp.MatrixSymbol)):
            if kernel_name in kernels:
                _kernel_node(lines, kernel_name, kernels[kernel_name].state_shape, ev)
                lines.append(f"  {kernel_name} -> {name} [style=dashed];")
        previous = name
    lines.append("}")
    return "\n".join(lines) + "\n"


def _kernel_node(
    lines: list[str], name: str, shape: tuple[int, ...], ev: MatrixEvaluation | None
) -> None:
    title = f"kernel {notation.program_unicode(name)}"
    if ev is None or name not in ev.values:
        lines.append(f"  {name} [label={_dot_string(title)}, shape=note];")
        return
    kernel: Any = np.asarray(ev.values[name]).reshape(shape)
    grids = [(f"out {o + 1}, in {i + 1}", kernel[o, i].reshape(kernel.shape[2], -1))
             for o in range(kernel.shape[0]) for i in range(kernel.shape[1])]  # fmt: skip
    lines.append(f"  {name} [label={_map_label(title, grids, 'x'.join(map(str, shape)))}];")


def _shape_note(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return f"{shape[0]} channel{'s' if shape[0] != 1 else ''} of {shape[1]}x{shape[2]}"
    if len(shape) == 2:
        return f"{shape[0]} x {shape[1]}"
    return f"{shape[0]} features" if shape else ""


# --- a recurrent layer unrolled in time ----------------------------------------------------------
def unrolled_dot(d: MatrixDerivation, ev: MatrixEvaluation | None = None) -> str:
    """Draw the nodes that have a time step, one column per step, with the loss on top."""
    program = d.program
    every = [a for a in program.assignments if a.step is not None]
    timed = _states_only(every)
    steps = sorted({int(a.step) for a in timed if a.step is not None})
    shown_steps = _shown_steps(steps)
    by_name = {str(a.lhs.name): a for a in program.assignments}
    lines = ["digraph unrolled {", "  rankdir=BT; nodesep=0.35; ranksep=0.45; newrank=true;",
             *_HEADER]  # fmt: skip
    drawn: set[str] = set()
    rows: dict[str, list[str]] = {}
    for step in steps:
        if step not in shown_steps:
            continue
        members = [a for a in timed if a.step == step]
        x_names = []
        for assignment in (a for a in every if a.step == step):
            for block in _input_blocks(assignment):
                x_name = f"x_t{step}"
                if x_name not in drawn:
                    value = _column(ev, INPUT_NAME, block)
                    label = f"x⟨{step}⟩" + (f"\n= {value}" if value else "")
                    lines.append(f'  {x_name} [label={_dot_string(label)}, fillcolor="#ffffff"];')
                    drawn.add(x_name)
                    x_names.append(x_name)
        for assignment in members:
            name = str(assignment.lhs.name)
            lines.append(f"  {name} [label={_dot_string(_timed_label(name, ev))}];")
            drawn.add(name)
            rows.setdefault(_row_key(assignment), []).append(name)
        rows.setdefault("x", []).extend(x_names)
    # One row per kind of node (x at the bottom, then Z, H, ...), one column per step.
    for names in rows.values():
        lines.append("  { rank=same; " + " ".join(names) + " }")
        # Invisible edges within a row keep the steps in order, left to right.
        lines += [f"  {a} -> {b} [style=invis];" for a, b in zip(names, names[1:], strict=False)]
    skipped = [s for s in steps if s not in shown_steps]
    if skipped:
        lines.append(f'  gap [label="… steps {skipped[0]} to {skipped[-1]} …", shape=plaintext];')
    if len(timed) < len(every):
        lines.append('  note [shape=plaintext, fillcolor="#ffffff", label="the gates are left '
                     'out: a dashed edge passes through them (see the derivation)"];')  # fmt: skip
    shown = {str(a.lhs.name) for a in timed}
    for assignment in timed:
        name = str(assignment.lhs.name)
        if name not in drawn:
            continue
        for source, label, direct in _drawn_sources(assignment, by_name, shown):
            if source not in drawn:
                continue
            # An edge from an earlier step (the recurrence) does not set the rows.
            earlier = source in by_name and by_name[source].step not in (None, assignment.step)
            style = ', constraint=false, color="#1a56b0"' if earlier else ""
            style += "" if direct else ", style=dashed"
            lines.append(f"  {source} -> {name}{_edge_label(label, style)};")
    _loss_nodes(lines, program, drawn, ev)
    lines.append("}")
    return "\n".join(lines) + "\n"


KINDS_DRAWN = 4  # more kinds of node per step (an LSTM's gates): only the states are drawn


def _states_only(timed: list[MatrixAssignment]) -> list[MatrixAssignment]:
    """Every timed node, or only the states (hidden, cell) when a step has too many kinds."""
    if len({_row_key(a) for a in timed}) <= KINDS_DRAWN:
        return timed
    states = [a for a in timed if "state" in a.role]
    return states or timed


def _drawn_sources(
    assignment: MatrixAssignment, by_name: dict[str, MatrixAssignment], shown: set[str]
) -> list[tuple[str, str, bool]]:
    """Return (source, weight label, direct) of a drawn node: its operands that are drawn, and
    through the nodes left out (gates), the drawn nodes and inputs x<t> they come from."""
    out: list[tuple[str, str, bool]] = []
    if _input_blocks(assignment):
        out.append((f"x_t{assignment.step}", _weight_of_input(assignment), True))
    pending = [(source, label, True) for source, label in _sources(assignment, by_name)]
    seen: set[str] = set()
    while pending:
        name, label, direct = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in shown or by_name[name].step is None:
            out.append((name, label, direct))
            continue
        hidden = by_name[name]
        if _input_blocks(hidden):
            out.append((f"x_t{hidden.step}", "", False))
        pending += [(source, "", False) for source, _ in _sources(hidden, by_name)]
    return list(dict.fromkeys(out))


def _shown_steps(steps: list[int]) -> list[int]:
    if len(steps) <= STEPS_DRAWN:
        return steps
    half = STEPS_DRAWN // 2
    return steps[:half] + steps[-half:]


def _input_blocks(assignment: MatrixAssignment) -> list[Block]:
    return [b for b in assignment.rhs.atoms(Block) if str(b.operands[0].name) == INPUT_NAME]


def _sources(
    assignment: MatrixAssignment, by_name: dict[str, MatrixAssignment]
) -> Iterator[tuple[str, str]]:
    """Yield (operand node, the weight it is multiplied by, if any) of an assignment."""
    weights = _multipliers(assignment.rhs)
    for symbol in sorted(assignment.rhs.atoms(sp.MatrixSymbol), key=lambda s: str(s.name)):
        name = str(symbol.name)
        if name in by_name:
            yield name, weights.get(name, "")


def _multipliers(rhs: sp.Basic) -> dict[str, str]:
    """Map each operand X of a product W X in ``rhs`` to W's printed name."""
    out: dict[str, str] = {}
    for product in rhs.atoms(sp.MatMul):
        _, factors = product.as_coeff_matrices()
        for left, right in zip(factors, factors[1:], strict=False):
            if isinstance(left, sp.MatrixSymbol) and isinstance(right, sp.MatrixSymbol):
                out[str(right.name)] = notation.program_unicode(str(left.name))
    return out


def _weight_of_input(assignment: MatrixAssignment) -> str:
    for product in assignment.rhs.atoms(sp.MatMul):
        _, factors = product.as_coeff_matrices()
        for left, right in zip(factors, factors[1:], strict=False):
            if isinstance(right, Block) and isinstance(left, sp.MatrixSymbol):
                return notation.program_unicode(str(left.name))
    return ""


def _edge_label(text: str, style: str = "") -> str:
    if not text and not style:
        return ""
    label = f"label={_dot_string(text)}" if text else ""
    return f" [{label}{style if label else style.lstrip(', ')}]"


def _row_key(assignment: MatrixAssignment) -> str:
    """The kind of a timed node: its name's leading letters (Z, H, C, ...)."""
    name = str(assignment.lhs.name)
    match = re.match(r"[A-Za-z]+", name)
    return match[0] if match else name


def _timed_label(name: str, ev: MatrixEvaluation | None) -> str:
    label = notation.program_unicode(name)
    value = _column(ev, name)
    if value:
        label += f"\n= {value}"
    adjoint = _column(ev, adjoint_name(name))
    if adjoint:
        label += f"\n{notation.program_unicode(adjoint_name(name))} = {adjoint}"
    return label


def _column(ev: MatrixEvaluation | None, name: str, block: Block | None = None) -> str:
    """The first sample's value of a node (rows of a block of it) as a short vector."""
    if ev is None or name not in ev.values:
        return ""
    value = np.asarray(ev.values[name])
    column = value[:, 0] if value.ndim == 2 else value.reshape(-1)
    if block is not None:
        column = column[block.start : block.stop]
    if column.size > 4:
        return "[" + ", ".join(entry_text(v) for v in column[:3]) + f", … ({column.size})]"
    return "[" + ", ".join(entry_text(v) for v in column) + "]"


def _loss_nodes(
    lines: list[str], program: MatrixProgram, drawn: set[str], ev: MatrixEvaluation | None
) -> None:
    """The loss on top, fed by the output (or by the drawn nodes the output is made of)."""
    loss = "L" + (f"\n= {entry_text(ev.loss)}" if ev is not None else "")
    lines.append(f'  L [label={_dot_string(loss)}, fillcolor="#e8f0fe"];')
    output = str(program.output.name)
    if output in drawn:
        lines.append(f"  {output} -> L;")
        return
    frontier = [output]
    by_name = {str(a.lhs.name): a for a in program.assignments}
    seen: set[str] = set()
    while frontier:
        name = frontier.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        for symbol in by_name[name].rhs.atoms(sp.MatrixSymbol):
            source = str(symbol.name)
            if source in drawn:
                lines.append(f"  {source} -> L [style=dashed];")
            else:
                frontier.append(source)


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
