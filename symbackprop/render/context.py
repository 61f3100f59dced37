"""What a report contains, as plain data: a network, its parameters and data -> a context.

Rendering layer. :func:`context` turns one network, its parameters and data into plain data
(str, int, float, lists, dicts) for the templates: the diagram, the notation, every step of the
derivation joined with its numbers (through
:func:`symbackprop.render.sections.derivation_sections`), the blame split, the layer-view
equations, the update, the gradient check and an optional training run. Math is LaTeX from the
one printer; :mod:`symbackprop.render.report` renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.checks.gradcheck import gradcheck
from symbackprop.derivation.derive import derive
from symbackprop.derivation.equations import layer_equations
from symbackprop.model import notation
from symbackprop.model.architecture import Architecture
from symbackprop.model.errors import ShapeError, SpecError, shorten
from symbackprop.model.network import Network
from symbackprop.model.optimizers import Optimizer
from symbackprop.model.printing import number_text, to_latex
from symbackprop.model.program import Program
from symbackprop.model.validate import data_arrays, params_by_name, require_network
from symbackprop.numeric.compiled import compile
from symbackprop.numeric.train import train
from symbackprop.render import diagrams
from symbackprop.render.blame import DEAD_NOTE
from symbackprop.render.latex import ReportEngineError as ReportEngineError  # tests import it here
from symbackprop.render.sample import choose_sample
from symbackprop.render.sections import derivation_sections

SCALAR_VIEW_UP_TO = 200  # parameters; larger networks get a representative scalar subnetwork
SUBSET_NEURONS = 3  # neurons per input/hidden layer kept in that subnetwork
OUTPUTS_KEPT = 10  # output neurons kept in full up to this many
DEFAULT_LEARNING_RATE = 0.5  # what a report's update uses when no learning rate is given
GRADCHECK_ROWS_SHOWN = 24
PARAMS_SHOWN = 40
ONE_COLUMN_UP_TO = 10  # rows; the PDF sets a longer table of final parameters in two columns


# --- the scalar view of a large network ------------------------------------------------------
@dataclass(frozen=True)
class _ScalarView:
    network: Network
    params: dict[str, float]
    x: Any
    y: Any
    note: str


def _scalar_view(network: Network, params: dict[str, float], x: Any, y: Any) -> _ScalarView:
    """Return the network itself, or for a large one the subnetwork of its first neurons."""
    arch = network.architecture
    if arch is None or len(params) <= SCALAR_VIEW_UP_TO:
        return _ScalarView(network, params, x, y, "")
    *inner, n_out = arch.sizes
    kept_out = n_out if n_out <= OUTPUTS_KEPT else SUBSET_NEURONS
    sizes = tuple(min(n, SUBSET_NEURONS) for n in inner) + (kept_out,)
    small_arch = Architecture(sizes, arch.activations, arch.bias, arch.loss, arch.penalty)
    small = Network(architecture=small_arch, loss_name=network.loss_name)
    sub_params = {name: params[name] for name in small.parameter_names()}
    full = "-".join(str(n) for n in arch.sizes)
    part = "-".join(str(n) for n in sizes)
    note = (
        f"This {full} network has {len(params):,} parameters, too many to derive neuron by "
        f"neuron. The per-neuron sections below derive the {part} subnetwork made of the first "
        f"neurons of each layer (its weights, inputs and targets copied from the full network), "
        "so every rule and every kind of step appears once with real numbers; those numbers "
        "are the subnetwork's, not the full network's. The matrix form (BP1-BP4) covers every "
        "neuron, and the loss, the gradient check and the update are of the full network."
    )
    x_small, y_small = np.asarray(x)[: sizes[0]], np.asarray(y)[:kept_out]
    return _ScalarView(small, sub_params, x_small, y_small, note)


# --- building the context ------------------------------------------------------------------
def context(
    network: Network,
    params: Mapping[str, Any],
    data: tuple[Any, Any],
    *,
    learning_rate: float | None = None,
    freeze: Iterable[str] = (),
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    title: str | None = None,
    optimizer: str | Optimizer = "sgd",
    sample: int | None = None,
    about_data: str = "",
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Return the report as plain data (str, int, float, lists, dicts); math is LaTeX (*_tex).

    ``sample`` (counted from 1) is the sample the derivation works through; by default the
    most informative one (:func:`symbackprop.render.sample.choose_sample`).
    """
    network = require_network(network, "report")
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ShapeError(
            f"data is {shorten(repr(data))}, not a pair; pass data=(X, Y) with X of shape "
            f"(batch, {network.n_inputs}) and Y of shape (batch, {network.n_outputs})"
        )
    if title is not None and not isinstance(title, str):
        raise SpecError(f"title {shorten(repr(title))} is not text; pass a str or None")
    values = params_by_name(network, params)
    X, Y = data_arrays(network, *data)
    eta_note = learning_rate_note(learning_rate)
    learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
    chosen = choose_sample(network, values, X, Y, sample)
    x0, y0 = X[chosen.index], Y[chosen.index]
    frozen = tuple(freeze)
    view = _scalar_view(network, values, x0, y0)
    view_frozen = [n for n in frozen if n in view.params]
    d = derive(view.network, freeze=view_frozen, optimizer=optimizer)
    ev = d.evaluate(view.params, view.x, view.y, learning_rate=learning_rate)
    compiled = compile(network)
    loss_before, gradient = compiled.loss_and_gradient(values, x0[None, :], y0[None, :])
    one_step = train(network, values, x0[None, :], y0[None, :], learning_rate, 1,
                     freeze=frozen, optimizer=optimizer)  # fmt: skip
    loss_after = one_step.final_loss
    batch_note = _batch_note(compiled, values, one_step.params, X, Y, chosen.index)
    return {
        "title": title or f"Backpropagation through a {_short_name(network)}",
        "summary": network.describe(),
        "learning_rate": number_text(learning_rate),
        "sample_note": " ".join(part for part in (about_data, chosen.note, eta_note) if part),
        "subset_note": view.note,
        "network": _network_part(network, ev, view),
        "notation": _notation_rows(network),
        "parameters": _parameter_rows(values, frozen),
        "data": _data_rows(network, x0, y0),
        "sections": explain_blame(derivation_sections(d, ev)),
        "equations": _equation_rows(network),
        "full_network": _full_network_rows(network, gradient, loss_before) if view.note else [],
        "update": {
            "loss_before": number_text(loss_before),
            "loss_after": number_text(loss_after),
            "frozen": ", ".join(frozen),
            "decreased": bool(loss_after < loss_before),
            "batch_note": batch_note,
        },
        "gradcheck": _gradcheck_part(network, values, x0, y0, seed),
        "training": _training_part(
            network,
            values,
            X,
            Y,
            learning_rate,
            epochs,
            batch_size,
            frozen,
            seed,
            optimizer,
            progress,
        ),  # fmt: skip
    }


def explain_blame(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the words under each section's first blame table; later ones say only "dead"."""
    for section in sections:
        lines = [line for line in section["lines"] if line["blame"]]
        for line in section["lines"]:
            if not (lines and line is lines[0]):
                line["blame_note"] = DEAD_NOTE if line.get("dead") else ""
    return sections


def _short_name(network: Network) -> str:
    arch = network.architecture
    if arch is None:
        return "program of SymPy assignments"
    return "-".join(str(n) for n in arch.sizes) + " network"


def _network_part(network: Network, ev: Any, view: _ScalarView) -> dict[str, Any]:
    values = {k: v for k, v in ev.values.items() if isinstance(v, float)}
    if view.note:
        values = {}  # the drawing is of the full network; the subnetwork's numbers are not its
    svg = diagrams.network_svg(network, values)
    layered = network.is_layered
    caption = (
        "Neurons in columns, layer 0 (the inputs) on the left; each neuron shows its activation "
        "a after the forward pass and each edge its weight."
        if layered
        else "The computation graph: each node shows its value after the forward pass and, "
        "after the backward pass, its adjoint ∂L/∂node: how much the loss changes per unit of "
        "that node."
    )
    if layered and view.note:
        caption = "Neurons in columns; a wide layer is drawn as its first neurons, ⋮ and its last."
    return {
        "svg": svg or "",
        "missing": "" if svg else diagrams.DOT_MISSING,
        "caption": caption,
        "values": values,
    }


def _node_meaning(program: Program, node: sp.Symbol) -> str:
    return "loss term (uses the targets)" if node in program.loss_nodes else "intermediate node"


def _notation_rows(network: Network) -> list[dict[str, str]]:
    if network.architecture is None:
        program = network.program
        rows = [{"symbol_tex": to_latex(s), "meaning": "input"} for s in program.inputs]
        rows += [{"symbol_tex": to_latex(s), "meaning": "parameter"} for s in program.params]
        rows += [{"symbol_tex": to_latex(s), "meaning": "target"} for s in program.targets]
        rows += [{"symbol_tex": to_latex(a.lhs), "meaning": _node_meaning(program, a.lhs)}
                 for a in program.assignments]  # fmt: skip
        rows.append({"symbol_tex": notation.latex_name("L"), "meaning": "one sample's loss"})
        rows.append(
            {
                "symbol_tex": notation.latex_name(notation.gradient_name("v")),
                "meaning": "the adjoint of node v: how much L changes per unit of v",
            }
        )
        return rows
    shared = network.architecture.bias == "shared"
    table = [
        ("x1", "input k (the activation of layer 0)"),
        ("y1", "target j"),
        ("w2_1_1", "weight from neuron k of layer l−1 to neuron j of layer l (here l=2, j=k=1)"),
        ("b2" if shared else "b2_1", "bias of layer l, shared by its neurons" if shared
         else "bias of neuron j in layer l"),
        ("z2_1", "weighted input of a neuron: z = Σ w a + b"),
        ("a2_1", "activation: a = f(z)"),
        ("delta2_1", "delta = ∂L/∂z, the neuron's share of the blame"),
        ("L", "one sample's loss"),
        (notation.gradient_name("w2_1_1"), "gradient: how much L changes per unit of the weight"),
        (notation.updated_name("w2_1_1"), "the weight after one step of gradient descent"),
        ("eta", "learning rate η"),
    ]  # fmt: skip
    return [{"symbol_tex": notation.latex_name(n), "meaning": m} for n, m in table]


def _parameter_rows(values: dict[str, float], frozen: tuple[str, ...]) -> dict[str, Any]:
    names = list(values)
    rows = [
        {"name_tex": notation.latex_name(n), "value": number_text(values[n]),
         "frozen": n in frozen}
        for n in names[:PARAMS_SHOWN]
    ]  # fmt: skip
    more = len(names) - len(rows)
    note = f"… and {more:,} more parameters (not listed)." if more > 0 else ""
    return {"rows": rows, "note": note, "count": len(names)}


def _data_rows(network: Network, x: Any, y: Any) -> dict[str, object]:
    def rows(names: list[str], array: Any) -> list[dict[str, str]]:
        return [{"name_tex": notation.latex_name(n), "value": number_text(v)}
                for n, v in list(zip(names, array, strict=True))[:PARAMS_SHOWN]]  # fmt: skip

    n_in, n_out = len(x), len(y)
    note = f"{n_in:,} inputs; the first {PARAMS_SHOWN} are listed." if n_in > PARAMS_SHOWN else ""
    return {"inputs": rows(network.input_names(), x), "targets": rows(network.target_names(), y),
            "note": note, "n_outputs": n_out}  # fmt: skip


def _equation_rows(network: Network) -> list[dict[str, str]]:
    if network.architecture is None:
        return []
    return [{"label": e.label, "layer": str(e.layer), "lhs_tex": to_latex(e.lhs),
             "rhs_tex": to_latex(e.rhs)} for e in layer_equations(network)]  # fmt: skip


def _full_network_rows(
    network: Network, gradient: dict[str, float], loss: float
) -> list[dict[str, str]]:
    """Per layer of the full network: the size of ∂L/∂W and its largest entry."""
    arch = network.architecture
    assert arch is not None
    rows = []
    for layer in range(1, arch.depth + 1):
        prefix = f"w{layer}_"
        entries = np.array([v for k, v in gradient.items() if k.startswith(prefix)])
        rows.append(
            {
                "matrix_tex": notation.latex_matrix_name(notation.weight_matrix_name(layer)),
                "shape": f"{arch.sizes[layer]} × {arch.sizes[layer - 1]}",
                "norm": number_text(float(np.linalg.norm(entries))),
                "largest": number_text(float(np.max(np.abs(entries)))),
            }
        )
    return rows


def _gradcheck_part(
    network: Network, values: dict[str, float], x: Any, y: Any, seed: int
) -> dict[str, Any]:
    names = _large_network_sample(network, list(values), seed)
    result = gradcheck(network, values, x[None, :], y[None, :], names=names, seed=seed)
    shown = result.rows[:GRADCHECK_ROWS_SHOWN]
    rows = [{"name_tex": notation.latex_name(notation.gradient_name(r.name)),
             "analytic": number_text(r.analytic), "numeric": number_text(r.numeric),
             "rel_error": number_text(r.rel_error, 2), "verdict": r.verdict.value, "ok": r.ok}
            for r in shown]  # fmt: skip
    notes = []
    if result.sampled:
        notes.append(f"{len(result.rows)} of the {result.n_parameters:,} parameters were checked: "
                     "a seeded sample of weights and the first bias of every layer.")  # fmt: skip
    if len(result.rows) > len(shown):
        notes.append(f"The first {len(shown)} checked rows are listed.")
    verdict = "agrees" if result.ok else "DISAGREES"
    summary = (
        f"Every checked gradient {verdict} with central differences (step h = "
        f"{number_text(result.step)}); largest relative error "
        f"{number_text(result.max_rel_error, 2)}."
    )
    return {"rows": rows, "notes": " ".join(notes), "summary": summary, "ok": result.ok}


def _large_network_sample(network: Network, names: list[str], seed: int) -> list[str] | None:
    """Pick a few parameters of every layer of a large network to check (None: check all)."""
    arch = network.architecture
    if arch is None or len(names) <= SCALAR_VIEW_UP_TO:
        return None
    rng = np.random.default_rng(seed)
    picked = []
    for layer in range(1, arch.depth + 1):
        weights = [n for n in names if n.startswith(f"w{layer}_")]
        count = min(20, len(weights))
        picked += [weights[i] for i in sorted(rng.choice(len(weights), count, replace=False))]
        picked += arch.bias_names(layer)[:1]
    return picked


def _training_part(
    network: Network, values: dict[str, float], X: Any, Y: Any, learning_rate: float,
    epochs: int | None, batch_size: int | None, frozen: tuple[str, ...], seed: int,
    optimizer: str | Optimizer = "sgd",
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    if epochs is None:
        return {}
    result = train(network, values, X, Y, learning_rate, epochs, batch_size, frozen, seed,
                   optimizer=optimizer, progress=progress)  # fmt: skip
    how = "gradient descent" if result.optimizer == "sgd" else result.optimizer
    rows = [{"name_tex": notation.latex_name(n), "before": number_text(values[n]),
             "after": number_text(float(v))}
            for n, v in list(result.params.items())[:PARAMS_SHOWN]]  # fmt: skip
    more = len(result.params) - len(rows)
    batches = "full batch" if batch_size is None else f"mini-batches of {batch_size}"
    return {
        "epochs": epochs,
        "description": (
            f"{epochs:,} epochs of {how} "
            + (f"over all {X.shape[0]} samples " if X.shape[0] != 1 else "on the one sample ")
            + f"({batches}, η = {number_text(learning_rate)}, seed {seed})."
            + _accuracy_words(result.accuracies)
        ),
        "loss_first": number_text(result.losses[0]),
        "loss_last": number_text(result.losses[-1]),
        "losses": [float(v) for v in result.losses],
        "rows": rows,
        "columns": _columns(rows),
        "note": f"… and {more:,} more parameters." if more > 0 else "",
    }


def _batch_note(compiled: Any, before: dict[str, float], after: Mapping[str, Any], X: Any,
                Y: Any, index: int) -> str:  # fmt: skip
    """The whole batch's loss before and after the step taken on the derived sample."""
    if X.shape[0] == 1:
        return ""
    return (
        f"These are the losses of sample {index + 1}, the one derived above. On the whole batch "
        f"of {X.shape[0]} samples (the mean of the per-sample losses) the loss is "
        f"{number_text(compiled.loss(before, X, Y))} before this step and "
        f"{number_text(compiled.loss(dict(after), X, Y))} after it."
    )


def _accuracy_words(accuracies: tuple[float, ...]) -> str:
    """The share of samples classified right before and after training (one-hot targets)."""
    if not accuracies:
        return ""
    return (
        f" Accuracy on these samples (the largest output taken as the class): "
        f"{100 * accuracies[0]:.1f} % before, {100 * accuracies[-1]:.1f} % after."
    )


def learning_rate_note(learning_rate: float | None) -> str:
    """Say that η is the default when no learning rate was given (else nothing)."""
    if learning_rate is not None:
        return ""
    return (
        f"The update uses η = {number_text(DEFAULT_LEARNING_RATE)}, the default: no learning "
        "rate was given (pass learning_rate to choose one)."
    )


def _columns(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Split a table's rows into one column, or two of near-equal length when it is long."""
    if len(rows) <= ONE_COLUMN_UP_TO:
        return [rows]
    half = (len(rows) + 1) // 2
    return [rows[:half], rows[half:]]
