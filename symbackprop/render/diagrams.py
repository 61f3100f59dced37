"""Pictures for reports: the network and computation-graph diagrams (Graphviz) and loss plots.

Rendering layer. Diagrams are written in Graphviz's DOT language and laid out by the ``dot``
binary (Debian/PyPI package ``graphviz``), called as a subprocess: SVG for HTML, PDF for
LaTeX. Plots come from matplotlib. Output is deterministic (no dates, stable ids), so reports
can be compared with golden files. Where ``dot`` is missing the functions return None and the
report says so in place.
"""

from __future__ import annotations

import io
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from symbackprop.model import notation
from symbackprop.model.errors import shorten
from symbackprop.model.network import Network
from symbackprop.model.printing import format_number
from symbackprop.render.tools import ToolError, run_tool

DOT_MISSING = (
    "diagram not drawn: the Graphviz 'dot' program is not installed "
    "(install the Debian package graphviz, or https://graphviz.org/download/)"
)
NEURONS_SHOWN = 4  # a wider layer is drawn as its first neurons, a "⋮" node and its last one
_EDGE_LABELS_UP_TO = 40  # more edges than this: weights are left off the drawing
_DOT_TIMEOUT = 60


def has_dot() -> bool:
    """Tell whether Graphviz's ``dot`` binary is on PATH."""
    return shutil.which("dot") is not None


def _short(value: float) -> str:
    return format_number(round(float(value), 4))


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"').replace("\n", "\\n") + '"'


def shown_neurons(n: int) -> list[int | None]:
    """Return the 1-based neurons a diagram draws for a layer of n (None marks the gap)."""
    if n <= NEURONS_SHOWN + 1:
        return list(range(1, n + 1))
    return [*range(1, NEURONS_SHOWN), None, n]


# --- DOT sources ---------------------------------------------------------------------------
def network_dot(network: Network, values: Mapping[str, Any] | None = None) -> str:
    """Write a layered network as DOT: neurons in columns, weights on edges, values inside.

    Neurons are pinned in their columns (neato with fixed positions), so neuron 1 is on top;
    each weight is written a third of the way along its edge, where edges do not yet cross.
    """
    arch = network.architecture
    if arch is None:
        return computation_graph_dot(network, values)
    values = values or {}
    lines = [
        "digraph network {",
        "  layout=neato; splines=line; outputorder=edgesfirst;",
        '  node [shape=circle, fontname="DejaVu Sans", fontsize=10, width=0.95, fixedsize=true];',
        '  edge [fontname="DejaVu Sans", fontsize=9, arrowsize=0.6, color="#555555"];',
    ]
    columns: list[list[tuple[str, float, float]]] = []
    tallest = max(len(shown_neurons(n)) for n in arch.sizes)
    column_gap = _column_gap(tallest, len(arch.sizes))
    for layer, size in enumerate(arch.sizes):
        shown = shown_neurons(size)
        column = []
        for row, j in enumerate(shown):
            node_id = f"n{layer}_{j or 'gap'}"
            x, y = layer * column_gap, ((len(shown) - 1) / 2 - row) * _ROW_GAP
            column.append((node_id, x, y))
            attributes = _neuron_attributes(network, layer, j, values)
            lines.append(f'  {node_id} [{attributes}, pos="{x:.2f},{y:.2f}!"];')
        columns.append(column)
        if layer > 0 and arch.bias == "shared":
            name = notation.bias_name(layer)
            label = notation.unicode_name(name) + _value_text(values, name)
            top = (tallest - 1) / 2 * _ROW_GAP + _ROW_GAP
            lines.append(f"  bias{layer} [shape=box, width=0.9, height=0.4, label={_quote(label)},"
                         f' style=dashed, pos="{x - 0.9:.2f},{top:.2f}!"];')  # fmt: skip
    n_edges = sum(len(a) * len(b) for a, b in zip(columns, columns[1:], strict=False))
    placed = [_Box(x, y, _NODE_SIZE, _NODE_SIZE) for column in columns for _, x, y in column]
    for layer in range(1, len(columns)):
        for target, tx, ty in columns[layer]:
            for source, sx, sy in columns[layer - 1]:
                if source.endswith("gap") or target.endswith("gap"):
                    continue  # the gap stands for neurons not drawn, and so for their edges
                lines.append(f"  {source} -> {target};")
                label = _edge_label(source, target, values, n_edges)
                if label:
                    box = _label_box(label, (sx, sy), (tx, ty), placed)
                    placed.append(box)
                    lines.append(
                        f"  w_{source}_{target} [shape=box, style=filled, fillcolor=white, "
                        f'color=white, fixedsize=false, width=0, height=0, margin="0.02,0.01", '
                        f'fontsize=9, fontcolor="#1f5fbf", label={_quote(label)}, '
                        f'pos="{box.x:.2f},{box.y:.2f}!"];'
                    )
            if arch.bias == "shared" and not target.endswith("gap"):
                lines.append(f'  bias{layer} -> {target} [style=dashed, color="#999999"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


_COLUMN_GAP = 2.6  # inches between layers, at least
_ROW_GAP = 1.35  # inches between neurons of a layer
_NODE_SIZE = 0.95  # a neuron's diameter, inches
_ASPECT = 1.8  # width / height a report gives its diagram: wide, so that the PDF fills its width
# Where along an edge its weight may be written, best first: a third of the way, where edges
# do not yet cross, else a little before or after, until the label clears every other.
_LABEL_AT = (0.3, 0.22, 0.38, 0.46, 0.16, 0.54, 0.62, 0.7)
_CHAR_WIDTH, _LABEL_HEIGHT = 0.075, 0.2  # inches, for 9 pt DejaVu Sans with the box's margin


def _column_gap(tallest: int, n_layers: int) -> float:
    """Spread the layers of a tall network so that the drawing fills a page's width."""
    height = (tallest - 1) * _ROW_GAP + _NODE_SIZE
    wanted = (_ASPECT * height - _NODE_SIZE) / max(n_layers - 1, 1)
    return min(max(_COLUMN_GAP, wanted), 2 * _COLUMN_GAP)


@dataclass(frozen=True)
class _Box:
    """A rectangle on the drawing: its centre and size, inches."""

    x: float
    y: float
    width: float
    height: float

    def overlap(self, other: _Box) -> float:
        across = min(self.x + self.width / 2, other.x + other.width / 2) - max(
            self.x - self.width / 2, other.x - other.width / 2
        )
        up = min(self.y + self.height / 2, other.y + other.height / 2) - max(
            self.y - self.height / 2, other.y - other.height / 2
        )
        return max(across, 0.0) * max(up, 0.0)


def _label_box(
    label: str, source: tuple[float, float], target: tuple[float, float], placed: list[_Box]
) -> _Box:
    """Place a weight on its edge where it covers no neuron and no other weight (or least)."""
    width = _CHAR_WIDTH * len(label) + 0.06
    candidates = [
        _Box(source[0] + (target[0] - source[0]) * t, source[1] + (target[1] - source[1]) * t,
             width, _LABEL_HEIGHT)
        for t in _LABEL_AT
    ]  # fmt: skip
    return min(candidates, key=lambda box: sum(box.overlap(other) for other in placed))


def _neuron_attributes(
    network: Network, layer: int, j: int | None, values: Mapping[str, Any]
) -> str:
    if j is None:
        return 'label="⋮", shape=plaintext, fontsize=18'
    if layer == 0:
        name = notation.input_name(j)
        return f"label={_quote(notation.unicode_name(name) + _value_text(values, name))}"
    name = notation.a_name(layer, j)
    label = notation.unicode_name(name) + _value_text(values, name)
    arch = network.architecture
    if arch is not None and arch.bias == "per_neuron":
        bias = notation.bias_name(layer, j)
        if isinstance(values.get(bias), float):
            label += f"\nb = {_short(values[bias])}"
    color = "#e8f0fe" if arch is not None and layer == arch.depth else "#f5f5f5"
    return f'label={_quote(label)}, style=filled, fillcolor="{color}"'


def _value_text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    return f"\n= {_short(value)}" if isinstance(value, float) else ""


def _edge_label(source: str, target: str, values: Mapping[str, Any], n_edges: int) -> str:
    if n_edges > _EDGE_LABELS_UP_TO or source.endswith("gap") or target.endswith("gap"):
        return ""
    layer, j = target[1:].split("_")
    k = source.split("_")[1]
    value = values.get(notation.weight_name(int(layer), int(j), int(k)))
    return _short(value) if isinstance(value, float) else ""


def computation_graph_dot(network: Network, values: Mapping[str, Any] | None = None) -> str:
    """Write a program as DOT: one node per symbol, with its value and its adjoint dL/d(node)."""
    values = values or {}
    program = network.program
    lines = [
        "digraph program {",
        "  rankdir=LR; nodesep=0.3; ranksep=0.7;",
        '  node [fontname="DejaVu Sans", fontsize=10, shape=box, style="rounded,filled",'
        ' fillcolor="#f5f5f5"];',
        '  edge [arrowsize=0.6, color="#555555"];',
    ]
    leaves = [*program.inputs, *program.params, *program.targets]
    for symbol in leaves:
        fill = "#fff4e0" if symbol in program.params else "#ffffff"
        lines.append(f"  {symbol.name} [label={_quote(_node_label(symbol.name, values))}, "
                     f'fillcolor="{fill}"];')  # fmt: skip
    for assignment in program.assignments:
        name = assignment.lhs.name
        lines.append(f"  {name} [label={_quote(_node_label(name, values))}];")
    loss_label = "L" + (f"\n= {_short(values['L'])}" if isinstance(values.get("L"), float) else "")
    lines.append(f'  L [label={_quote(loss_label)}, fillcolor="#e8f0fe"];')
    used = set(leaves) | {a.lhs for a in program.assignments}
    for assignment in program.assignments:
        for symbol in sorted(assignment.rhs.free_symbols & used, key=lambda s: s.name):
            lines.append(f"  {symbol.name} -> {assignment.lhs.name};")
    for symbol in sorted(program.loss.free_symbols & used, key=lambda s: s.name):
        lines.append(f"  {symbol.name} -> L;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_label(name: str, values: Mapping[str, Any]) -> str:
    label = notation.unicode_name(name)
    if isinstance(values.get(name), float):
        label += f"\n= {_short(values[name])}"
    adjoint = values.get(notation.gradient_name(name))
    if isinstance(adjoint, float):
        label += f"\n{notation.unicode_name(notation.gradient_name(name))} = {_short(adjoint)}"
    return label


# --- running dot -------------------------------------------------------------------------
def run_dot(source: str, fmt: str) -> bytes | None:
    """Lay a DOT source out with ``dot -T<fmt>``; None where ``dot`` is not installed."""
    executable = shutil.which("dot")
    if executable is None:
        return None
    done = run_tool([executable, f"-T{fmt}"], "the diagram", _DOT_TIMEOUT, stdin=source.encode())
    if done.returncode != 0:
        problem = done.stderr.decode(errors="replace").strip()
        raise ToolError(f"dot could not draw the diagram: {shorten(problem, 120)}")
    return done.stdout


def svg_inline(source: str, prefix: str) -> str | None:
    """Return dot's SVG ready to inline in HTML: no XML prolog or comments, ids prefixed."""
    raw = run_dot(source, "svg")
    if raw is None:
        return None
    svg = raw.decode("utf-8")
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
    return svg.replace("<title>%3</title>", "").strip()


def network_svg(network: Network, values: Mapping[str, Any] | None = None) -> str | None:
    """Return the network (or computation graph) as inline SVG; None without ``dot``."""
    return svg_inline(network_dot(network, values), "network")


# --- plots -------------------------------------------------------------------------------
def loss_plot(losses: Sequence[float], fmt: str, title: str = "training loss") -> bytes:
    """Plot the loss per epoch (log scale where it spans decades) as SVG or PDF bytes."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no backend, no global figure state

    with matplotlib.rc_context({"svg.hashsalt": "symbackprop", "svg.fonttype": "none",
                                "font.size": 9}):  # fmt: skip
        figure = Figure(figsize=(5.5, 3.0))
        axes = figure.subplots()
        axes.plot(*_thinned(losses), color="#1f5fbf", linewidth=1.5)
        _scale_for(axes, losses)
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss L (mean over the data)")
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        # Fixed margins that fit the labels at this size: measuring every tick label's box
        # (tight_layout) took most of a report's plotting time.
        figure.subplots_adjust(left=0.14, right=0.97, bottom=0.16, top=0.9)
        buffer = io.BytesIO()
        metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"CreationDate": None}
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


PLOT_FORMATS = ("png", "svg", "pdf")
_TRAIN_COLOUR, _TEST_COLOUR = "#1f5fbf", "#d0661b"


def learning_curve_plot(
    losses: Sequence[float],
    test_losses: Sequence[float] = (),
    accuracies: Sequence[float] = (),
    test_accuracies: Sequence[float] = (),
    fmt: str = "png",
    title: str = "learning curve",
) -> bytes:
    """Plot loss (and accuracy, where given) per epoch on the training and test data.

    Every sequence holds the value before training, then after each epoch; empty ones are left
    out. ``fmt`` is png, svg or pdf.
    """
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no backend, no global figure state

    panels = 2 if accuracies else 1
    with matplotlib.rc_context({"svg.hashsalt": "symbackprop", "svg.fonttype": "none",
                                "font.size": 9}):  # fmt: skip
        figure = Figure(figsize=(5.0 * panels, 3.2))
        axes = figure.subplots(1, panels, squeeze=False)
        _curves(axes[0][0], losses, test_losses, "loss L (mean over the data)")
        if accuracies:
            _curves(axes[0][1], [100 * a for a in accuracies],
                    [100 * a for a in test_accuracies], "accuracy (%)")  # fmt: skip
        figure.suptitle(title)
        figure.tight_layout()
        buffer = io.BytesIO()
        metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
        figure.savefig(buffer, format=fmt, metadata=metadata, dpi=120)
    return buffer.getvalue()


POINTS_DRAWN = 1000  # a longer curve is drawn through this many of its epochs


def _thinned(values: Sequence[float]) -> tuple[list[int], list[float]]:
    """Return (epochs, values) of a curve, at most POINTS_DRAWN of them, first and last kept.

    A plot is a few hundred pixels wide: 10,000 epochs drawn one by one only cost time and an
    SVG of 10,000 points inlined in the report."""
    count = len(values)
    if count <= POINTS_DRAWN:
        return list(range(count)), list(values)
    epochs = sorted({round(i * (count - 1) / (POINTS_DRAWN - 1)) for i in range(POINTS_DRAWN)})
    return epochs, [values[i] for i in epochs]


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _scale_for(axes: Any, values: Sequence[float]) -> None:
    """A log scale where the values span decades, its ticks labelled 10⁻³ in plain text.

    Matplotlib's own labels of a log axis are mathtext, whose first parse took most of a
    small report's plotting time."""
    if not (all(v > 0 for v in values) and max(values) > 20 * min(values)):
        return
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    axes.yaxis.set_minor_formatter(NullFormatter())


def _power_of_ten(value: float, _position: object) -> str:
    exponent = round(math.log10(value)) if value > 0 else 0
    if value > 0 and math.isclose(value, 10.0**exponent, rel_tol=1e-9):
        return "10" + str(exponent).translate(_SUPERSCRIPTS)
    return f"{value:g}"


def _curves(axes: Any, train: Sequence[float], test: Sequence[float], label: str) -> None:
    axes.plot(*_thinned(train), color=_TRAIN_COLOUR, linewidth=1.5, label="training")
    if test:
        axes.plot(*_thinned(test), color=_TEST_COLOUR, linewidth=1.5, label="test")
        axes.legend()
    _scale_for(axes, [*train, *test])
    axes.set_xlabel("epoch")
    axes.set_ylabel(label)
    axes.grid(True, alpha=0.3)


def loss_svg(losses: Sequence[float]) -> str:
    """Return the loss plot as SVG text to inline in HTML."""
    svg = loss_plot(losses, "svg").decode("utf-8")
    svg = svg[svg.index("<svg") :]
    return re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S).strip()
