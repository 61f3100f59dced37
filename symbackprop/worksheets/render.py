"""Worksheet sheets: one student's exam-class LaTeX and HTML page, for the sheet or the key.

Worksheets stage. One plain-data context per student feeds the templates
``worksheet.tex.j2`` and ``worksheet.html.j2``; the key is the same source with
``\\printanswers`` and the worked solution of the student's own variant. Formulas reach HTML
as MathML converted once per formula (:func:`for_html`). Files on disk and PDFs are
:mod:`symbackprop.worksheets.build`, notebooks :mod:`symbackprop.worksheets.notebook`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Stage
from symbackprop.model import notation
from symbackprop.model.printing import format_number, to_latex
from symbackprop.render.sections import derivation_sections
from symbackprop.render.templating import RAW_KEYS, for_format, mathml, template_environment
from symbackprop.render.text import sections
from symbackprop.worksheets.step_program import program_for
from symbackprop.worksheets.variants import LETTERS, Variant


# --- the context ----------------------------------------------------------------
def prompt(blank: Mapping[str, Any], variant: Variant) -> tuple[str, str]:
    """Return (prose, LaTeX) asking for one blank."""
    kind, of = blank["kind"], blank["of"]
    name_tex = notation.latex_name(of)
    eta = format_number(variant.learning_rate)
    if kind == "forward":
        return "Compute", name_tex
    if kind == "loss":
        return "Compute the loss", r"\mathcal{L}"
    if kind == "delta":
        z = notation.latex_name("z" + of.removeprefix("delta"))
        return "Compute", f"{name_tex} = \\partial \\mathcal{{L}} / \\partial {z}"
    if kind == "gradient":
        return "Compute", f"\\partial \\mathcal{{L}} / \\partial {name_tex}"
    if kind == "update":
        return f"After one gradient-descent step with η = {eta}, compute the new", name_tex
    if kind in ("symbolic_delta", "symbolic_gradient"):
        target = (
            name_tex
            if kind == "symbolic_delta"
            else (f"\\partial \\mathcal{{L}} / \\partial {name_tex}")
        )
        return ("Write a formula, in ASCII names of the named quantities (e.g. a1_1, z1_1, "
                "w2_1_1, delta2_1, y1), for", target)  # fmt: skip
    step = program_for(variant.network).derivation.step(blank["step"])
    step_tex = f"{to_latex(step.lhs)} = {to_latex(step.rhs)}"
    return "Which of these rules does this step use?", step_tex


def _shown_answer(blank: Mapping[str, Any], variant: Variant) -> tuple[str, str]:
    """Return the key's answer as (text, LaTeX of a formula)."""
    if blank["type"] == "numeric":
        return f"{blank['answer']:.{variant.decimals}f}", ""
    if blank["type"] == "choice":
        index = LETTERS.index(blank["answer"])
        return f"({blank['answer']}) {blank['options'][index]}", ""
    step = program_for(variant.network).derivation.step(blank["step"])
    return str(blank["answer"]), to_latex(step.rhs)


def points_text(points: float) -> str:
    """Return "1 point", "2 points" or "0.5 points" for a blank's points."""
    return f"{points:g} point" + ("" if points == 1 else "s")


# The loss and bias settings in words (the spec's identifiers are for files, not for students).
LOSS_WORDS = {
    "half_sse": "half the sum of squared errors",
    "mse": "the mean squared error over the outputs",
    "bce": "binary cross-entropy",
    "cross_entropy": "cross-entropy (the targets are one-hot: one class)",
}
BIAS_WORDS = {
    "per_neuron": "every neuron has its own bias",
    "shared": "the neurons of a layer share one bias",
    "none": "there are no biases",
}


def network_words(variant: Variant) -> str:
    """Describe a worksheet's network in words, e.g. "2 inputs, a hidden layer of 2 tanh ..."."""
    arch = variant.network.architecture
    assert arch is not None  # worksheets draw layered networks only
    layers = [f"{arch.sizes[0]} {'input' if arch.sizes[0] == 1 else 'inputs'}"]
    pairs = zip(arch.sizes[1:], arch.activations, strict=True)
    for number, (size, activation) in enumerate(pairs, start=1):
        last = number == len(arch.sizes) - 1
        where = "an output layer" if last else "a hidden layer"
        layers.append(f"{where} of {size} {activation} {'neuron' if size == 1 else 'neurons'}")
    loss = LOSS_WORDS.get(arch.loss, arch.loss.replace("_", " "))
    bias = BIAS_WORDS.get(arch.bias, arch.bias.replace("_", " "))
    return f"{', '.join(layers)}; the loss is {loss}; {bias}"


def _answer_parts(text: str) -> list[str]:
    """Split an answer after each operator, so a long formula can break across lines."""
    return [part for part in re.split(r"(?<=[*+/ -])", text) if part]


def context(
    variant: Variant, manifest: Mapping[str, Any], key: bool, name: str = ""
) -> dict[str, Any]:
    """Return the plain data the worksheet templates print (answers only when ``key``).

    ``name`` is the student's name from the roster, printed beside the id when given.
    """
    given = [dict(row) for row in _given(variant.network)]
    shown = [{"name_tex": notation.latex_name(n), "value": format_number(v)}
             for n, v in variant.shown.items()]  # fmt: skip
    questions = []
    for blank in manifest["blanks"]:
        prose, math = prompt(blank, variant)
        answer, answer_tex = _shown_answer(blank, variant) if key else ("", "")
        options = [{"letter": LETTERS[i], "text": text} for i, text in enumerate(blank["options"])]
        questions.append({"id": blank["id"], "points": f"{blank['points']:g}",
                          "points_text": points_text(blank["points"]),
                          "prose": prose, "prompt_tex": math, "options": options,
                          "answer": answer, "answer_parts": _answer_parts(answer),
                          "answer_tex": answer_tex, "type": blank["type"],
                          "display": blank["kind"] == "rule",
                          "symbolic": blank["type"] == "symbolic"})  # fmt: skip
    return {
        "title": manifest["title"],
        "student_id": variant.student_id,
        "student_name": name,
        "seed": manifest["seed"],
        "summary": network_words(variant),
        "given": given,
        "shown": shown,
        "decimals": str(variant.decimals),
        "eta": format_number(variant.learning_rate),
        "questions": questions,
        "key": key,
    }


@functools.lru_cache(maxsize=64)
def _given(network: Any) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The forward program and the loss of a network as LaTeX rows (the same for every student)."""
    d = program_for(network).derivation
    return tuple((("lhs_tex", to_latex(s.lhs)), ("rhs_tex", to_latex(s.rhs)))
                 for s in d.steps if s.stage in (Stage.FORWARD, Stage.LOSS))  # fmt: skip


@functools.lru_cache(maxsize=16)
def template(fmt: str, name: str) -> Any:
    """Return a compiled template of the worksheet files (compiled once per process)."""
    return template_environment(fmt).get_template(name)


@functools.lru_cache(maxsize=8192)
def _mathml(tex: str) -> Markup:
    """Convert one formula to MathML once: most recur in every sheet (names, the given rows)."""
    return Markup(mathml(tex))


def for_html(data: Any, key: str = "") -> Any:
    """Return a copy of a context with every non-empty ``*_tex`` string as MathML.

    The HTML side of :func:`symbackprop.render.templating.for_format`, with the conversion cached:
    prose stays text for the templates' autoescape, SVG and figures pass through as markup.
    """
    if isinstance(data, dict):
        return {k: for_html(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [for_html(v, key) for v in data]
    if isinstance(data, str) and key.endswith("_tex"):
        return _mathml(data) if data else data
    if isinstance(data, str) and key in RAW_KEYS:
        return Markup(data)
    return data


def tex_document(contexts: Sequence[Mapping[str, Any]], key: bool, title: str) -> str:
    """Return the exam-class LaTeX of one or more students' sheets (one after the other)."""
    return template("tex", "worksheet.tex.j2").render(
        sheets=contexts, key=key, title=for_format({"t": title}, "tex")["t"]
    )


def tex_sheet(ctx: dict[str, Any], worked: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a sheet's context for LaTeX, with the key's worked solution (empty: none).

    Blank ids print in typewriter type with the font's own underscore glyph (``\\char95``),
    not LaTeX's drawn rule: copied from the PDF, ``a1_1`` stays ``a1_1``.
    """
    sheet = for_format({**ctx, "worked": worked}, "tex")
    for question in sheet["questions"]:
        question["id_tt"] = question["id"].replace("\\_", "\\char95{}")
    sheet["student_id_tt"] = sheet["student_id"].replace("\\_", "\\char95{}")
    return sheet


def html_page(ctx: dict[str, Any], worked: str) -> str:
    page = for_html(ctx)
    page["worked"] = Markup(worked) if worked else ""
    return str(template("html", "worksheet.html.j2").render(**page))


def evaluation(variant: Variant) -> tuple[Derivation, Any]:
    network = variant.network
    d = program_for(network).derivation
    params = {n: variant.shown[n] for n in network.parameter_names()}
    x = [variant.shown[n] for n in network.input_names()]
    y = [variant.shown[n] for n in network.target_names()]
    return d, d.evaluate(params, x, y, variant.learning_rate)


def worked_latex(d: Derivation, ev: Any) -> list[dict[str, Any]]:
    """Return the worked solution of one variant as rows for the key's last pages.

    One row per formula, each on its own line (``indent`` for the continuation lines, "= ...")
    with the rule words under it: the template shrinks a row that is wider than the text to the
    text width, so nothing reaches past the margin, and rows break across pages freely.
    """
    out = []
    for section in sections(d, ev, to_latex):
        rows = []
        for line in section.lines:
            if not line.lhs:
                continue  # a note between the lines (the blame split): in the HTML key only
            for i, (formula, words) in enumerate(line.forms):
                lead = line.lhs if i == 0 else ""
                rows.append({"math_tex": f"{lead} = {formula}", "words": words, "indent": i > 0})
            tail = " = ".join(part for part in (line.numbers, line.value) if part)
            if tail:
                rows.append({"math_tex": f"= {tail}", "words": "", "indent": True})
        tag = f" ({section.tag})" if section.tag else ""
        out.append({"title": section.title + tag, "rows": rows})
    return out


def worked_html(d: Derivation, ev: Any) -> str:
    """Return the worked solution of one variant as HTML with MathML (key and feedback pages).

    The same page as :func:`symbackprop.render.report.derivation_html`, from a compiled template and
    the cached MathML.
    """
    ctx = {"sections": derivation_sections(d, ev), "summary": d.network.describe(),
           "equations": []}  # fmt: skip
    return str(template("html", "derivation.html.j2").render(**for_html(ctx)))
