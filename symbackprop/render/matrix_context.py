"""What a report of a network of layers contains, as plain data (rendering layer).

:func:`matrix_context` turns a :class:`LayerNetwork`, its state_dict parameters and a batch into
plain data for the ``matrix_report.*`` templates: the layer table (kind, state_dict names and
shapes), the notation, the batch and parameters as matrices, and every step of the matrix
derivation with its shape, rules, paths and numbers (LaTeX from the one printer, ``*_tex``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from symbackprop.derivation.bptt import hidden_state_jacobians
from symbackprop.derivation.matrix_derivation import MatrixDerivation, derive_layers
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.model import notation
from symbackprop.model.errors import ShapeError
from symbackprop.model.printing import format_number, to_latex
from symbackprop.model.sequential import LayerNetwork
from symbackprop.render.context import DEFAULT_LEARNING_RATE, learning_rate_note
from symbackprop.render.diagrams import DOT_MISSING, svg_inline
from symbackprop.render.layer_diagrams import diagram_kind, layer_diagram_dot
from symbackprop.render.matrix_sections import (
    BAR_NOTE,
    SEQUENCE_NOTE,
    MatrixLine,
    entry_text,
    layer_kinds,
    matrix_sections,
    shape_text,
)
from symbackprop.render.matrix_text import value_latex
from symbackprop.render.sections import wrap_formula

_latex = partial(to_latex, matrix=True)

# What each kind of node is, by the role its layer gives it (model/layers.py).
ROLE_MEANINGS = {
    "affine": "a dense layer's output: W A + b 𝟏ᵀ (Z; Q, K, V, O in attention)",
    "activation": "an activation applied entry by entry: f(Z)",
    "softmax": "softmax of each column: each sample's outputs sum to 1",
    "mean": "mean of a normalisation (per sample in layer norm, per feature in batch norm)",
    "centred": "the input minus its mean",
    "variance": "variance (the mean of the centred input squared)",
    "inverse deviation": "1/√(σ² + ε), entry by entry",
    "normalised": "the centred input times the inverse deviation",
    "scaled and shifted": "γ ⊙ X̂ + β: the normalisation's output",
    "residual": "a residual block's output: its input plus the block's output",
    "dropout": "dropout: the input times a fixed 0/1 mask M, scaled by 1/(keep probability)",
    "scores": "attention scores Kᵀ Q / √d (keys × queries)",
    "attention weights": "softmax of each column of the scores",
    "attended values": "the values weighted by the attention weights: V P",
    "convolution": "a convolution's output: the kernel K slides over the (padded) input "
    "map, X ⋆ K (a cross-correlation, as PyTorch's Conv2d), plus each channel's bias",
    "max pooling": "the largest entry of each window of each channel",
    "average pooling": "the mean of each window of each channel",
    "pre-activation": "a recurrent step's pre-activation: W_ih x⟨t⟩ + W_hh H⟨t−1⟩ + biases",
    "pre-activation (H<0> = 0: no recurrent term)": "the first step's pre-activation: "
    "H⟨0⟩ = 0, so it has no recurrent term",
    "hidden state": "the hidden state after step t (tanh of the pre-activation; an LSTM's "
    "o ⊙ tanh(C))",
    "the hidden states of every step": "every step's hidden state, stacked (one sample's "
    "sequence in one column)",
    "affine, one step": "a dense layer applied to one step of a sequence",
    "softmax of one step": "softmax over one step's outputs",
    "the steps stacked": "every step's output, stacked (one sample's sequence in one column)",
    "gate pre-activations": "an LSTM step's four gate pre-activations stacked (i, f, g, o)",
    "gate pre-activations (H<0> = 0)": "the first step's gate pre-activations (H⟨0⟩ = 0)",
    "gate I pre-activation": "the input gate's pre-activation (its rows of the stack)",
    "gate F pre-activation": "the forget gate's pre-activation",
    "gate G pre-activation": "the candidate's pre-activation",
    "gate O pre-activation": "the output gate's pre-activation",
    "gate I": "the input gate σ(Z_i): how much of the candidate enters the cell",
    "gate F": "the forget gate σ(Z_f): how much of the old cell state is kept",
    "gate G": "the candidate tanh(Z_g): what may be written to the cell",
    "gate O": "the output gate σ(Z_o): how much of tanh(C) is shown as H",
    "cell state": "the LSTM cell state: C⟨t⟩ = F ⊙ C⟨t−1⟩ + I ⊙ G",
}
SYMBOL_MEANINGS = (
    ("X", "the batch's inputs: features × B, one column per sample"),
    ("Y", "the batch's targets, one column per sample"),
    ("L", "the mean over the batch of each sample's loss"),
    ("B", "the batch size (the number of columns)"),
    ("eta", "the learning rate η"),
)


def matrix_context(
    network: LayerNetwork,
    params: Mapping[str, Any],
    data: tuple[Any, Any],
    *,
    learning_rate: float | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Return the report of a network of layers as plain data; math is LaTeX (*_tex).

    Without ``learning_rate`` the update uses η = 0.5 and the report says it is the default.
    """
    eta_note = learning_rate_note(learning_rate)
    learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
    d = derive_layers(network)
    ev = d.evaluate(params, *data, learning_rate=learning_rate)
    after = d.evaluate({**params, **_updated_state(d, ev)}, *data)
    return {
        "title": title or f"Backpropagation through the {network.describe()}",
        "summary": network.describe(),
        "learning_rate": format_number(learning_rate),
        "batch": ev.batch,
        "bar_note": " ".join(
            part
            for part in (BAR_NOTE, SEQUENCE_NOTE if network.is_sequence else "", eta_note)
            if part
        ),
        "layers": layer_rows(d),
        "notation": notation_rows(d),
        "data": [
            _matrix_row("X", ev, network.sample_shape),
            _matrix_row("Y", ev, network.output_shape),
        ],  # fmt: skip
        "parameters": [_parameter_row(d, p.state_name, ev) for p in d.program.parameters],
        "sections": report_sections(d, ev),
        "diagram": diagram_part(d, ev),
        "recurrence": recurrence_parts(d, ev),
        "loss": entry_text(ev.loss),
        "loss_after": entry_text(after.loss),
        "decreased": bool(after.loss < ev.loss),
    }


DIAGRAM_CAPTIONS = {
    "maps": "The first sample's feature maps along the forward pass, one small grid per channel "
    "(blue positive, red negative, darker for larger values); each kernel is drawn beside the "
    "map it makes (dashed arrow).",
    "unrolled": "The recurrent layer unrolled in time: one column per step, the input x⟨t⟩ at "
    "the bottom. Every node shows the first sample's value and, below it, its adjoint (the "
    "gradient on that wire); the blue edges are the recurrence, which uses the same weight at "
    "every step.",
}


def diagram_part(d: MatrixDerivation, ev: MatrixEvaluation) -> dict[str, str] | None:
    """Return the drawing of feature maps or of the unrolled recurrence, or None."""
    kind = diagram_kind(d.program)
    if kind is None:
        return None
    source = layer_diagram_dot(d, ev)
    svg = svg_inline(source, "layers") if source else None
    return {"dot": source or "", "svg": svg or "", "missing": "" if svg else DOT_MISSING,
            "caption": DIAGRAM_CAPTIONS[kind]}  # fmt: skip


def recurrence_parts(d: MatrixDerivation, ev: MatrixEvaluation) -> list[dict[str, Any]]:
    """Return, per vanilla RNN layer, the Jacobian products dH<T>/dH<t> of sample 1 in numbers."""
    out = []
    for level in sorted({a.level for a in d.program.assignments if a.step is not None}):
        try:
            products = hidden_state_jacobians(ev, level, 0)
        except ShapeError:
            continue  # an LSTM: its cell state carries the blame by another road
        if not products:
            continue
        last = max(a.step for a in d.program.assignments if a.level == level and a.step)
        rows, previous = [], 1.0
        for product in products:
            factor = product.norm / previous if previous else float("nan")
            rows.append({"step": product.step, "steps_back": last - product.step,
                         "norm": entry_text(product.norm),
                         "ratio": entry_text(factor)})  # fmt: skip
            previous = product.norm
        trend = "shrinks" if products[-1].norm < products[0].norm else "grows"
        out.append({
            "level": level,
            "last": last,
            "formula_tex": rf"\frac{{\partial H^{{({level})}}_{{\langle {last}\rangle}}}}"
            rf"{{\partial H^{{({level})}}_{{\langle t\rangle}}}} = \prod_{{k=t+1}}^{{{last}}}"
            rf"\operatorname{{diag}}\left(1 - \left(H^{{({level})}}_{{\langle k\rangle}}"
            rf"\right)^{{\circ\,2}}\right) W^{{({level})}}_{{hh}}",
            "rows": rows,
            "summary": f"Going back from step {last}, the norm {trend} from "
            f"{entry_text(products[0].norm)} to {entry_text(products[-1].norm)}: each step back "
            "multiplies the blame by one more factor diag(1 − H²) W_hh. Factors below 1 make "
            "early steps' gradients vanish; above 1 they can explode.",
        })  # fmt: skip
    return out


def _updated_state(d: MatrixDerivation, ev: MatrixEvaluation) -> dict[str, Any]:
    """Return the updated parameters as state_dict arrays (a bias back to a vector)."""
    out = {}
    for parameter in d.program.parameters:
        name = notation.updated_name(str(parameter.symbol.name))
        if name in ev.updated:
            out[parameter.state_name] = ev.updated[name].reshape(parameter.state_shape)
    return out


def layer_rows(d: MatrixDerivation) -> list[dict[str, Any]]:
    """Return one row per layer (nested ones too): prefix, kind and its parameters."""
    kinds = layer_kinds(d.network)
    owned: dict[str, list[dict[str, str]]] = {prefix: [] for prefix in kinds}
    for parameter in d.program.parameters:
        owner = parameter.state_name.rsplit(".", 1)[0]
        while owner not in owned and "." in owner:
            owner = owner.rsplit(".", 1)[0]
        owned[owner].append(
            {
                "state_name": parameter.state_name,
                "shape": str(parameter.state_shape),
                "symbol_tex": _latex(parameter.symbol),
            }  # fmt: skip
        )
    return [{"prefix": prefix, "kind": kinds[prefix], "parameters": owned[prefix]}
            for prefix in kinds]  # fmt: skip


def notation_rows(d: MatrixDerivation) -> list[dict[str, str]]:
    """Return the legend: the batch, one example of each kind of node, adjoints, operations."""
    rows = [{"symbol_tex": notation.program_latex(name), "meaning": meaning}
            for name, meaning in SYMBOL_MEANINGS]  # fmt: skip
    seen: set[str] = set()
    for assignment in d.program.assignments:
        if assignment.role in seen:
            continue
        seen.add(assignment.role)
        meaning = ROLE_MEANINGS.get(assignment.role, assignment.role)
        rows.append({"symbol_tex": _latex(assignment.lhs), "meaning": meaning})
    example = d.program.assignments[0].lhs.name
    rows += [
        {"symbol_tex": r"\Delta^{(l)}",
         "meaning": "the adjoint of the pre-activation Z of layer l"},
        {"symbol_tex": notation.program_latex(notation.ADJOINT_PREFIX + example),
         "meaning": "a bar marks an adjoint: ∂(B·L)/∂ of the node, of the batch's total loss, "
         "one column per sample"},
        {"symbol_tex": notation.program_latex(notation.gradient_name("W1")),
         "meaning": "a gradient of the mean loss L; stored under the parameter's state_dict name"},
        {"symbol_tex": notation.program_latex(notation.updated_name("W1")),
         "meaning": "a parameter after one step of gradient descent"},
        {"symbol_tex": r"\mathbf{1},\ \mathbf{1}^{\top}", "meaning": "a column and a row of "
         "ones: b 𝟏ᵀ copies b into every column, Δ 𝟏 sums the columns"},
        {"symbol_tex": r"A \odot B", "meaning": "the elementwise (Hadamard) product"},
        {"symbol_tex": r"\left(A\right)^{\circ\,2}", "meaning": "an elementwise power"},
        {"symbol_tex": r"A^{\top}", "meaning": "the transpose"},
    ]  # fmt: skip
    return rows


def _matrix_row(name: str, ev: MatrixEvaluation, shape: tuple[int, ...]) -> dict[str, str]:
    value = ev.values[name]
    name_tex = notation.program_latex(name)
    shown = MatrixLine(name, name_tex, "", "", value=value, sample_shape=shape)
    if len(shape) < 2:
        shown.sample_shape = ()
    return {
        "shape": shape_text(value.shape),
        "value_tex": f"{name_tex} = {_stacked(value_latex(shown))}",
    }


def _parameter_row(d: MatrixDerivation, state_name: str, ev: MatrixEvaluation) -> dict[str, str]:
    parameter = d.program.parameter(state_name)
    value = ev.values[str(parameter.symbol.name)]
    shape = parameter.state_shape if len(parameter.state_shape) > 2 else ()
    shown = MatrixLine(state_name, "", "", "", value=value, sample_shape=shape, per_sample=False)
    value_tex = f"{_latex(parameter.symbol)} = {_stacked(value_latex(shown))}"
    return {"state_name": state_name, "shape": str(parameter.state_shape), "value_tex": value_tex}


def _stacked(rows: list[str]) -> str:
    """One LaTeX row as it is; several (a map's samples) one under another."""
    if len(rows) == 1:
        return rows[0]
    return r"\begin{array}{l} " + r" \\ ".join(rows) + r" \end{array}"


def report_sections(
    d: MatrixDerivation, ev: MatrixEvaluation | None, first: int = 2
) -> list[dict[str, Any]]:
    """Return the sections as the templates print them: rows of LaTeX, words, numbers.

    ``first`` numbers the first section (a report's section 1 is the network)."""
    out = []
    for number, section in enumerate(matrix_sections(d, ev, _latex), start=first):
        groups = [{"title": group.title, "lines": [_line_part(line) for line in group.lines]}
                  for group in section.groups]  # fmt: skip
        out.append({"number": number, "title": section.title, "intro": section.intro,
                    "groups": groups})  # fmt: skip
    return out


def _line_part(line: MatrixLine) -> dict[str, Any]:
    pieces = wrap_formula("= " + line.rhs)
    rows = [{"lhs_tex": line.lhs if i == 0 else "", "rhs_tex": piece}
            for i, piece in enumerate(pieces)]  # fmt: skip
    value_tex = ""
    if line.value is not None:
        value_tex = f"{line.lhs} = {_stacked(value_latex(line))}"
    return {
        "rows": rows,
        "shape": line.shape,
        "state_name": line.state_name,
        "state_shape": line.state_shape,
        "words": line.words,
        "paths": [{"via_tex": p.via, "term_tex": p.term, "words": p.words} for p in line.paths],
        "value_tex": value_tex,
    }
