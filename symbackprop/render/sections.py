"""A derivation and its numbers as the rows templates print: formulas as LaTeX, long ones wrapped.

Rendering layer. :func:`derivation_sections` joins each step with its numbers (symbolic, then
substituted, then the value, with the rules named) and breaks long formulas into rows (render.wrap);
:func:`symbolic_sections` gives the steps alone. Reports and worksheets print these rows.
"""

from __future__ import annotations

from typing import Any

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Stage
from symbackprop.model import notation
from symbackprop.model.printing import number_latex, number_text, to_latex
from symbackprop.render.blame import DEAD_NOTE, BlameSplit, blame_split, blame_words, percent
from symbackprop.render.text import Line, latex_dots, sections
from symbackprop.render.wrap import WRAP_AT, WRAP_WITH_NOTE_AT, wrap_latex

_tex = latex_dots  # text.sections joins factors with a Unicode dot


def wrap_formula(tex: str) -> list[str]:
    """Split a long formula into rows that fit a printed line; the later rows start indented."""
    return wrap_latex(tex)


def _line_rows(line: Line) -> list[dict[str, str]]:
    rows = []
    for i, (formula, words) in enumerate(line.forms):
        parts = wrap_latex("= " + _tex(formula), WRAP_WITH_NOTE_AT if words else WRAP_AT)
        for part, text in enumerate(parts):
            first = i == 0 and part == 0
            rows.append({"lhs_tex": _tex(line.lhs) if first else "", "rhs_tex": text,
                         "words": words if part == len(parts) - 1 else ""})  # fmt: skip
    tail = " = ".join(part for part in (line.numbers, line.value) if part)
    if tail:
        rows += [{"lhs_tex": "", "rhs_tex": text, "words": ""}
                 for text in wrap_latex("= " + _tex(tail))]  # fmt: skip
    return rows


_INTROS = {
    Stage.FORWARD: "Each neuron weighs its inputs, adds its bias and applies its activation: "
    "symbolic, then the numbers, then the value.",
    Stage.LOSS: "How far the outputs are from the targets.",
    Stage.ADJOINT: "From the output back: each delta is the blame the loss puts on a neuron's "
    "weighted input, found with the chain rule from the deltas of the layer after it.",
    Stage.GRADIENT: "A weight's gradient is the delta of the neuron it feeds times the input it "
    "carries (BP4); a bias's is the delta itself (BP3).",
    Stage.UPDATE: "Gradient descent: every parameter moves against its gradient, θ⁺ = θ − η ∂L/∂θ.",
}


# A program of assignments has nodes, not neurons and layers: its own words.
_PROGRAM_INTROS = {
    Stage.FORWARD: "Each node is computed from the inputs, the parameters and the nodes above "
    "it: symbolic, then the numbers, then the value.",
    Stage.LOSS: "The loss the program computes.",
    Stage.ADJOINT: "From the loss back: each adjoint ∂L/∂v says how much the loss changes per "
    "unit of node v. The chain rule finds it from the adjoints of the nodes that use v, each "
    "times its local derivative; a node used twice adds both paths.",
    Stage.GRADIENT: "A parameter's gradient: the adjoint of each node that uses it, times that "
    "node's local derivative with respect to the parameter.",
    Stage.UPDATE: _INTROS[Stage.UPDATE],
}


def derivation_sections(d: Derivation, ev: Any) -> list[dict[str, Any]]:
    adjoints = iter(d.stage(Stage.ADJOINT))
    out = []
    for number, section in enumerate(sections(d, ev, to_latex), start=1):
        stage = _stage_of(section.title)
        lines: list[dict[str, Any]] = []
        for line in section.lines:
            if not line.lhs:
                lines.append({"rows": [], "note": line.note, "blame": []})
                continue
            blame, split = (
                _blame_rows(d, next(adjoints), ev) if stage is Stage.ADJOINT else ([], None)
            )
            note = line.note if stage is Stage.LOSS else ""
            if stage is Stage.ADJOINT and not split and line.note.startswith("dead neuron"):
                note = DEAD_NOTE
            lines.append({"rows": _line_rows(line), "note": note, "blame": blame,
                          "blame_note": blame_words(split) if split else "",
                          "dead": bool(split and split.is_dead)})  # fmt: skip
        intro = (_INTROS if d.network.is_layered else _PROGRAM_INTROS)[stage]
        if stage is Stage.UPDATE and d.optimizer.name != "sgd":
            intro = f"The {d.optimizer.name} optimiser: {d.optimizer.summary}."
        out.append({"number": number + 1, "title": section.title, "tag": section.tag,
                    "intro": intro, "lines": lines,
                    "is_gradients": stage is Stage.GRADIENT})  # fmt: skip
    return out


def symbolic_sections(d: Derivation) -> list[dict[str, Any]]:
    """Return the sections of a derivation without numbers (Derivation._repr_html_)."""
    out = []
    for number, section in enumerate(sections(d, None, to_latex), start=1):
        lines = [{"rows": _line_rows(line), "note": line.note if not line.lhs else "",
                  "blame": []} for line in section.lines]  # fmt: skip
        out.append({"number": number, "title": section.title, "tag": section.tag,
                    "intro": "", "lines": lines, "is_gradients": False})  # fmt: skip
    return out


def _stage_of(title: str) -> Stage:
    for prefix, stage in (("Forward", Stage.FORWARD), ("Error", Stage.LOSS),
                          ("Backward", Stage.ADJOINT), ("Gradients", Stage.GRADIENT)):  # fmt: skip
        if title.startswith(prefix):
            return stage
    return Stage.UPDATE


def _blame_rows(
    d: Derivation, step: Any, ev: Any
) -> tuple[list[dict[str, str]], BlameSplit | None]:
    """The blame table: one row per path, then their sum, then (a neuron) the step to delta."""
    if len(step.paths) < 2 or ev.batch_size != 1:
        return [], None
    split = blame_split(d, step, ev)
    rows = [{"via_tex": to_latex(path.via), "term_tex": _tex(to_latex(path.term)),
             "value": number_text(path.value), "share": percent(path.pull)}
            for path in split.paths]  # fmt: skip
    total_tex = notation.latex_name(split.total_name)
    rows.append({"via_tex": r"\text{sum of the paths}", "term_tex": total_tex,
                 "value": number_text(split.total), "share": ""})  # fmt: skip
    if split.slope is not None:
        slope_tex = _tex(_factor_tex(step.factors[1:]))
        rows.append({"via_tex": r"\text{delta}",
                     "term_tex": rf"{to_latex(split.lhs)} = {total_tex} \cdot {slope_tex} "
                     rf"= {number_latex(split.total)} \cdot {_signed(split.slope)}",
                     "value": number_text(split.value), "share": ""})  # fmt: skip
    return rows, split


def _factor_tex(factors: tuple[Any, ...]) -> str:
    return r" \cdot ".join(to_latex(f) for f in factors)


def _signed(value: float) -> str:
    text = number_latex(value)
    return f"({text})" if text.startswith("-") else text
