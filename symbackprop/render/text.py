"""Plain-text renderings of a Derivation: terminal text, Markdown and a LaTeX fragment.

Rendering layer. :func:`sections` joins the derivation's steps with their numbers into plain
data (titles, lines of formulas as strings, rule words); the three writers below only lay that
data out. The full reports (HTML/PDF, templates) build on the same sections.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Stage, Step
from symbackprop.model import notation
from symbackprop.model.functions import LeakyStep
from symbackprop.model.functions import Step as StepFunction
from symbackprop.model.printing import number_latex, number_text, to_latex, to_text
from symbackprop.model.rulebook import Rule
from symbackprop.render.blame import blame_split, neuron_slope
from symbackprop.render.blame import text as blame_text
from symbackprop.render.escape import latex_text
from symbackprop.render.wrap import WRAP_AT, WRAP_WITH_NOTE_AT, wrap_latex, wrap_text

if TYPE_CHECKING:
    from symbackprop.derivation.evaluation import Evaluation

RULE_WORDS: dict[Rule, str] = {
    Rule.CHAIN: "chain rule",
    Rule.SUM_OVER_PATHS: "sum over every node it feeds",
    Rule.SUM: "sum rule",
    Rule.PRODUCT: "product rule",
    Rule.QUOTIENT: "quotient rule",
    Rule.POWER: "power rule",
    Rule.CONSTANT_FACTOR: "constant factor",
    Rule.HALF_CANCELS_TWO: "½ cancels the 2",
    Rule.MEAN_OVER_OUTPUTS: "the mean over outputs brings 1/n",
    Rule.SIGMOID_IDENTITY: "σ′ = σ(1 − σ)",
    Rule.TANH_IDENTITY: "tanh′ = 1 − tanh²",
    Rule.RELU_STEP: "relu′ = 1[z > 0], taken as 0 at z = 0",
    Rule.LEAKY_RELU_STEP: "leaky relu′ = 1 for z > 0, else 0.01",
    Rule.SOFTPLUS_SIGMOID: "softplus′ = σ",
    Rule.IDENTITY: "the identity's derivative is 1",
    Rule.SOFTMAX_JACOBIAN: "∂softmaxᵢ/∂zₖ = aᵢ(δᵢₖ − aₖ)",
    Rule.SOFTMAX_CROSS_ENTROPY: "softmax with cross-entropy: δ = a − y (targets sum to 1)",
    Rule.SIGMOID_CROSS_ENTROPY: "σ with binary cross-entropy: δ = a − y",
    Rule.LOG_DERIVATIVE: "d log u = du/u",
    Rule.EXP_DERIVATIVE: "d eᵘ = eᵘ du",
    Rule.ELEMENTARY: "derivative of an elementary function",
    Rule.BIAS_IS_ONE: "a bias's input is 1",
    Rule.WEIGHT_PICKS_INPUT: "a weight picks up its input",
    Rule.WEIGHT_CARRIES_BLAME: "blame flows back along each weight",
    Rule.GRADIENT_DESCENT: "gradient descent",
    Rule.ADD_GATE: "add gate: passes the gradient on",
    Rule.MUL_GATE: "mul gate: swaps its inputs",
    Rule.MOMENTUM_VELOCITY: "momentum: v ← μv + g",
    Rule.MOMENTUM_STEP: "heavy ball: the step follows v",
    Rule.NESTEROV_STEP: "Nesterov: the step follows g + μv",
    Rule.GRADIENT_AVERAGE: "running average of g",
    Rule.SQUARED_GRADIENT_AVERAGE: "running average of g²",
    Rule.RMSPROP_STEP: "RMSProp: the step is g/(√s + ε)",
    Rule.ADAM_STEP: "Adam: bias-corrected m/(1 − β₁ᵗ), s/(1 − β₂ᵗ)",
    Rule.L2_PENALTY: "L2 penalty: ∂/∂w (λ/2)w² = λw",
    Rule.L1_PENALTY: "L1 penalty: ∂/∂w λ₁|w| = λ₁ sign(w)",
    # the matrix level (networks of layers): a bar marks an adjoint, e.g. Ā = ∂(B·L)/∂A
    Rule.TRANSPOSE_PRODUCT: "a product Y = A B sends back Ȳ Bᵀ to A and Aᵀ Ȳ to B",
    Rule.HADAMARD_DERIVATIVE: "an elementwise function A = f(Z) sends back Ā ⊙ f′(Z)",
    Rule.HADAMARD_PRODUCT: "an elementwise product sends back the adjoint ⊙ the other factor",
    Rule.HADAMARD_POWER: "an elementwise power sends back p times the power p − 1, entry by entry",
    Rule.TRANSPOSE: "a transpose sends back the transposed adjoint",
    Rule.BATCH_SUM: "a column shared by every sample (b 𝟏ᵀ) gets back the sum over the batch "
    "(times 𝟏)",
    Rule.BROADCAST_SUM: "a broadcast copies a vector into every row or column: the adjoint sums "
    "them back",
    Rule.SUM_SPREADS: "a sum hands its adjoint to every entry it added (a product with 𝟏 or 𝟏ᵀ)",
    Rule.SOFTMAX_COLUMNS: "softmax of each column: its Jacobian diag(p) − p pᵀ, column by column",
    Rule.BATCH_MEAN: "the loss is the mean over the batch: each gradient gets a factor 1/B",
    Rule.RESIDUAL_PATHS: "a residual connection: the blame adds over the skip path and the block",
    Rule.NORM_MEAN_PATH: "normalisation: part of the blame goes back through the mean",
    Rule.NORM_VARIANCE_PATH: "normalisation: part of the blame goes back through the variance",
    Rule.BLOCK_ROWS: "a block of rows: its adjoint goes back into those rows, zeros elsewhere",
    # --- convolution and pooling
    Rule.CONV_INPUT_GRADIENT: (
        "the input's gradient is a full convolution of Δ with the kernel flipped 180°: Δ is "
        "padded with k-1 zeros all round (with stride s, s-1 zeros between its entries first), "
        "the flipped kernel slides over it, and the forward's padding is cropped off"
    ),
    Rule.CONV_KERNEL_GRADIENT: (
        "the kernel's gradient correlates the input with Δ: each weight collects every "
        "position it touched, the input it saw there times that position's Δ (summed over "
        "the batch)"
    ),
    Rule.CONV_BIAS_SUM: (
        "a channel's bias is added at every position of its map: its gradient sums that "
        "channel's Δ over the positions (and the batch)"
    ),
    Rule.MAX_POOL_ROUTE: (
        "max pooling routes the gradient to the window's winner (its first maximum); the "
        "others get 0"
    ),
    Rule.AVG_POOL_SPREAD: (
        "average pooling spreads each window's gradient evenly over its k entries (1/k each, "
        "padding counted)"
    ),
    # recurrent layers: backpropagation through time
    Rule.HIDDEN_STATE_PATHS: "H⟨t⟩ feeds this step's output and the next step: its adjoint adds "
    "the blame of both paths",
    Rule.SUM_OVER_STEPS: "a parameter shared by the time steps: its gradient sums over the steps",
    Rule.CELL_STATE_PATHS: "the cell state C⟨t⟩ feeds H⟨t⟩ and C⟨t+1⟩: its adjoint adds both paths",
    Rule.TRUNCATED_PATH: "truncated BPTT: the state is detached at the chunk boundary, so the "
    "gradient stops there",
}


@dataclass
class Line:
    """One line of a derivation: lhs = form = form ... = numbers = value, with rule words."""

    lhs: str
    forms: list[tuple[str, str]] = field(default_factory=list)  # (formula, rule words)
    numbers: str = ""
    value: str = ""
    note: str = ""


@dataclass
class Section:
    title: str
    tag: str = ""
    lines: list[Line] = field(default_factory=list)


Printer = Callable[..., str]


def rule_words(rules: tuple[Rule, ...]) -> str:
    return "; ".join(RULE_WORDS[rule] for rule in rules)


def sections(d: Derivation, ev: Evaluation | None, print_: Printer) -> list[Section]:
    """Join steps and numbers into sections, printing formulas with ``print_``."""
    values = dict(ev.values) if ev is not None else {}
    scalar = {k: float(v) for k, v in values.items() if _is_scalar(v)}
    out = _forward_sections(d, scalar, print_)
    out.append(_loss_section(d, ev, scalar, print_))
    out += _backward_sections(d, ev, scalar, print_)
    out.append(_gradient_section(d, ev, scalar, print_))
    if ev is not None and ev.learning_rate is not None and d.stage(Stage.UPDATE):
        out.append(_update_section(d, ev, scalar, print_))
    return out


def _is_scalar(value: object) -> bool:
    return isinstance(value, float)


def _value(values: dict[str, float], name: str, p: Printer) -> str:
    return _number(p, values[name]) if name in values else ""


def _number(p: Printer, value: float) -> str:
    """Write a value as the printer ``p`` writes numbers: 3.75×10⁻⁵, or 3.75 \\times 10^{-5}."""
    return number_latex(value) if p is to_latex else number_text(value)


def _forward_sections(d: Derivation, values: dict[str, float], p: Printer) -> list[Section]:
    grouped: dict[int | None, Section] = {}
    for step in d.stage(Stage.FORWARD):
        title = f"Forward pass, layer {step.layer}" if step.layer else "Forward pass"
        section = grouped.setdefault(step.layer, Section(title))
        numbers = p(step.rhs, values) if values and step.rhs.free_symbols else ""
        section.lines.append(
            Line(p(step.lhs), [(p(step.rhs), "")], numbers, _value(values, step.lhs.name, p))
        )
    return list(grouped.values())


def _loss_section(
    d: Derivation, ev: Evaluation | None, values: dict[str, float], p: Printer
) -> Section:
    step = d.step("L")
    note = "one sample's loss; a batch's loss is the mean of the per-sample losses"
    numbers = p(step.rhs, values) if values else ""
    line = Line(p(step.lhs), [(p(step.rhs), "")], numbers, _value(values, "L", p), note)
    if ev is not None and len(ev.terms) > 1:
        line.note += " · terms: " + " + ".join(number_text(t) for t in ev.terms)
    lines = []
    for term in d.stage(Stage.LOSS):
        if term is not step:
            # The program's own loss terms (E_o1 = ...), in its order, before L itself.
            numbers = p(term.rhs, values) if values else ""
            lines.append(
                Line(p(term.lhs), [(p(term.rhs), "")], numbers, _value(values, term.lhs.name, p))
            )
    return Section("Error", lines=[*lines, line])


def _backward_sections(
    d: Derivation, ev: Evaluation | None, values: dict[str, float], p: Printer
) -> list[Section]:
    grouped: dict[int | None, Section] = {}
    output_layer = d.network.architecture.depth if d.network.architecture else None
    for step in d.stage(Stage.ADJOINT):
        if step.layer is None:
            section = grouped.setdefault(None, Section("Backward pass"))
        elif step.layer == output_layer:
            section = grouped.setdefault(
                step.layer, Section(f"Backward pass, output layer {step.layer}", "BP1")
            )
        else:
            section = grouped.setdefault(
                step.layer, Section(f"Backward pass, layer {step.layer}", "BP2")
            )
        section.lines.append(_chain_line(d, step, ev, values, p))
    return list(grouped.values())


def _chain_line(
    d: Derivation, step: Step, ev: Evaluation | None, values: dict[str, float], p: Printer
) -> Line:
    line = Line(p(step.lhs))
    if step.chain is not None:
        line.forms.append((p(step.chain), RULE_WORDS[Rule.CHAIN]))
    rest = tuple(r for r in step.rules if r is not Rule.CHAIN)
    line.forms.append(
        (_product(step.factors, p) if step.factors else p(step.rhs), _loss_rule_words(d, rest))
    )
    if ev is not None and step.lhs.name in ev.factors:
        factor_values = ev.factor_values(step.lhs.name)
        if all(_is_scalar(v) for v in factor_values):
            first = p(step.factors[0], values)
            if step.factors[0].is_Add:
                first = f"({first})"
            line.numbers = " · ".join([first] + [_paren(_number(p, v)) for v in factor_values[1:]])
    elif values and step.rhs.free_symbols:
        line.numbers = p(step.rhs, values)
    line.value = _value(values, step.lhs.name, p)
    if ev is not None and len(step.paths) > 1 and ev.batch_size == 1:
        line.note = _blame_note(d, step, ev, p)
    elif ev is not None and neuron_slope(d, step, ev) == 0.0:
        line.note = "dead neuron: f′(z) = 0 here, so its delta is 0 whatever blame reaches it"
    return line


MSE_HALF = "mse's mean over 2 outputs is ½ Σ, so its ½ cancels the 2"


def _loss_rule_words(d: Derivation, rules: tuple[Rule, ...]) -> str:
    """Rule words, where mse's 1/n = ½ (two outputs) is not mistaken for half_sse's ½."""
    words = rule_words(rules)
    if d.network.loss_name == "mse" and Rule.HALF_CANCELS_TWO in rules:
        words = words.replace(RULE_WORDS[Rule.HALF_CANCELS_TWO], MSE_HALF)
    return words


def _product(factors: tuple[sp.Expr, ...], p: Printer) -> str:
    if len(factors) == 1:
        return p(factors[0])
    return " · ".join(_paren(p(f)) if f.is_Add else p(f) for f in factors)


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") or " " in text else text


def _blame_note(d: Derivation, step: Step, ev: Evaluation, p: Printer) -> str:
    if p is to_latex:  # the note is prose: its names go in $...$ (Markdown)
        return blame_text(blame_split(d, step, ev), lambda name: f"${p(sp.Symbol(name))}$")
    return blame_text(blame_split(d, step, ev), lambda name: p(sp.Symbol(name)))


def _gradient_section(
    d: Derivation, ev: Evaluation | None, values: dict[str, float], p: Printer
) -> Section:
    section = Section("Gradients", "BP3, BP4" if d.network.is_layered else "")
    for step in d.stage(Stage.GRADIENT):
        plain = len(step.factors) < 2 or step.factors[1] == 1
        form = p(step.rhs) if plain else _product(step.factors, p)
        numbers = p(step.rhs, values) if values and not step.rhs.is_Symbol else ""
        section.lines.append(
            Line(
                p(step.lhs),
                [(form, rule_words(step.rules))],
                numbers,
                _value(values, step.lhs.name, p),
            )  # fmt: skip
        )
    return section


def _update_section(d: Derivation, ev: Evaluation, values: dict[str, float], p: Printer) -> Section:
    optimizer = d.optimizer
    how = "gradient descent" if optimizer.name == "sgd" else optimizer.name
    section = Section(f"Update ({how} uses what backpropagation computed)")
    shown = {**values, "eta": float(ev.learning_rate or 0.0)}
    if optimizer.state:
        settings = ", ".join(
            f"{notation.unicode_name(name)} = {number_text(value)}"
            for name, value in optimizer.hyperparameters().items()
        )
        section.lines.append(
            Line(
                "",
                note=f"the first step: t = 1, the state {', '.join(optimizer.state)} starts at 0; "
                f"{settings}; the new state (⁺) is carried to the next step",
            )
        )
    for step in d.stage(Stage.UPDATE):
        section.lines.append(
            Line(
                p(step.lhs),
                [(p(step.rhs), "")],
                p(step.rhs, shown),
                _value(values, step.lhs.name, p),
            )  # fmt: skip
        )
    if d.frozen:
        section.lines.append(Line("", note="not updated (frozen): " + ", ".join(d.frozen)))
    return section


def _header(d: Derivation) -> list[str]:
    lines = [d.network.describe()]
    if d.network.is_layered:
        lines.append(
            "z = weighted input · a = activation · δ = ∂L/∂z, the neuron's share of the blame"
        )
    adjoints = d.stage(Stage.ADJOINT)
    if any(step.rhs.has(StepFunction) for step in adjoints):
        lines.append("convention: relu′(0) = 0 (the step 1[z > 0] is 0 at z = 0)")
    if any(step.rhs.has(LeakyStep) for step in adjoints):
        lines.append("convention: leaky relu′(0) = 0.01 (the leak's slope, as for z < 0)")
    return lines


# --- writers ---------------------------------------------------------------------------------
def derivation_text(d: Derivation, ev: Evaluation | None = None, width: int | None = None) -> str:
    """Lay the sections out as numbered Unicode text for a terminal.

    Lines longer than ``width`` characters (by default the terminal's, else 80) break at their
    operators, the rows after the first indented under the formula."""
    columns = max(width or shutil.get_terminal_size().columns, MIN_WIDTH)
    out = [row for line in _header(d) for row in textwrap.wrap(line, columns)]
    for number, section in enumerate(sections(d, ev, to_text), start=1):
        tag = f"   ({section.tag})" if section.tag else ""
        out += ["", *textwrap.wrap(f"{number}  {section.title}{tag}", columns,
                                   subsequent_indent="   ")]  # fmt: skip
        for line in section.lines:
            out += _text_line(line, columns)
    return "\n".join(out) + "\n"


MIN_WIDTH = 40  # characters; a narrower terminal still gets lines this long


def _text_line(line: Line, width: int) -> list[str]:
    if not line.lhs:
        return textwrap.wrap(line.note, width, initial_indent="   ", subsequent_indent="     ")
    pad = " " * (len(line.lhs) + 3)
    indent = len(pad) + 5  # under the formula, past its "= "
    rows = []
    for i, (formula, words) in enumerate(line.forms):
        lead = f"   {line.lhs} = " if i == 0 else f"   {pad}= "
        rows += _with_words(wrap_text(lead + formula, width, indent), words, width)
    tail = " = ".join(part for part in (line.numbers, line.value) if part)
    if tail:
        rows += wrap_text(f"   {pad}= {tail}", width, indent)
    if line.note:
        rows += textwrap.wrap(line.note, width, initial_indent=f"   {pad}",
                              subsequent_indent=f"   {pad}  ")  # fmt: skip
    return rows


def latex_dots(tex: str) -> str:
    """Make the sections' joined factors LaTeX: they are joined with a Unicode dot."""
    return tex.replace(" · ", r" \cdot ").replace("·", r" \cdot ")


def _with_words(rows: list[str], words: str, width: int) -> list[str]:
    """Put a row's rule words after it, or flush right under it where they do not fit."""
    if not words:
        return rows
    note = f"[{words}]"
    if len(rows[-1]) + 3 + len(note) <= width:
        return [*rows[:-1], f"{rows[-1]}   {note}"]
    return [*rows, *(part.rjust(width) for part in textwrap.wrap(note, width - 11))]


def derivation_markdown(d: Derivation, ev: Evaluation | None = None) -> str:
    """Lay the sections out as Markdown with $...$ math (GitHub / Jupyter)."""
    out = [f"**{_header(d)[0]}**", ""]
    for number, section in enumerate(sections(d, ev, to_latex), start=1):
        tag = f" ({section.tag})" if section.tag else ""
        out += [f"### {number}. {section.title}{tag}", ""]
        for line in section.lines:
            if not line.lhs:
                out += [f"- {line.note}"]
                continue
            chain = " = ".join(f for f, _ in line.forms)
            tail = " = ".join(part for part in (line.numbers, line.value) if part)
            math = latex_dots(f"{line.lhs} = {chain}" + (f" = {tail}" if tail else ""))
            words = "; ".join(w for _, w in line.forms if w)
            out.append(f"- ${math}$" + (f" — *{words}*" if words else ""))
            if line.note:
                out.append(f"  - {line.note}")
        out.append("")
    return "\n".join(out)


def derivation_latex(d: Derivation, ev: Evaluation | None = None) -> str:
    """Lay the sections out as a LaTeX fragment (amsmath align*), one row per formula."""
    out = [f"% {_header(d)[0]}"]
    for section in sections(d, ev, to_latex):
        tag = f" ({section.tag})" if section.tag else ""
        out += [f"\\subsection*{{{latex_text(section.title)}{tag}}}", r"\begin{align*}"]
        rows = []
        for line in section.lines:
            if not line.lhs:
                rows.append(f"&\\text{{{latex_text(line.note)}}}")
                continue
            for i, (formula, words) in enumerate(line.forms):
                parts = wrap_latex(f"= {formula}", WRAP_WITH_NOTE_AT if words else WRAP_AT)
                # The rule words as the row's tag: at the right margin, or flush right
                # under the row where it leaves no room, never in a column off the page.
                tag = f" \\tag*{{\\footnotesize [{latex_text(words)}]}}" if words else ""
                for n, part in enumerate(parts):
                    lead = line.lhs if i == 0 and n == 0 else ""
                    rows.append(f"{lead} &{latex_dots(part)}{tag if n == 0 else ''}")
            tail = " = ".join(part for part in (line.numbers, line.value) if part)
            if tail:
                rows += [f"&{latex_dots(part)}" for part in wrap_latex(f"= {tail}")]
        out.append(" \\\\\n".join(rows))
        out.append(r"\end{align*}")
    return "\n".join(out) + "\n"
