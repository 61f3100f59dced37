"""Jupyter displays of a derivation's parts: LaTeX for MathJax, HTML tables with MathML.

Rendering layer. A notebook shows ``d``, ``d.evaluate(...)``, ``d.equations()`` and
``d.blame(...)`` through these (registered by the package as display views), so a reader sees
maths, never SymPy's repr (``Lambda(t, Derivative(Sigmoid(t), t))``). MathJax in a notebook
knows no ``\\subsection`` or ``align*`` outside display maths: each section here is one
``$$\\begin{aligned} ... \\end{aligned}$$`` block under a Markdown-free heading in ``\\text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import BlameShare, Equation
from symbackprop.model.printing import format_number, to_latex
from symbackprop.render.blame import percent
from symbackprop.render.templating import mathml
from symbackprop.render.text import latex_dots, sections

if TYPE_CHECKING:
    from symbackprop.derivation.evaluation import Evaluation

_TABLE_STYLE = "border-collapse: collapse; font-size: 1.05em; text-align: left; margin: 0.3em 0;"
_MATH_STYLE = (
    ".symbackprop-part math { font-family: 'DejaVu Math TeX Gyre', 'Latin Modern Math', "
    "'STIX Two Math', math; font-size: 1.15em; }"
)
_CELL = 'style="text-align: left; padding: 0.2em 0.7em; border-bottom: 1px solid #ddd;"'


def derivation_notebook_latex(d: Derivation, ev: Evaluation | None = None) -> str:
    """Return the derivation as display maths MathJax draws: one aligned block per section."""
    blocks = []
    for number, section in enumerate(sections(d, ev, to_latex), start=1):
        tag = f" ({section.tag})" if section.tag else ""
        rows = [rf"&\textbf{{{number}. {_text(section.title)}{tag}}}"]
        for line in section.lines:
            if not line.lhs:
                rows.append(rf"&\text{{{_text(line.note)}}}")
                continue
            for i, (formula, words) in enumerate(line.forms):
                rule = rf"\quad\text{{[{_text(words)}]}}" if words else ""
                rows.append(f"{line.lhs if i == 0 else ''} &= {latex_dots(formula)}{rule}")
            tail = " = ".join(part for part in (line.numbers, line.value) if part)
            if tail:
                rows.append(f"&= {latex_dots(tail)}")
        blocks.append("$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$")
    return "\n\n".join(blocks) + "\n"


def _text(words: str) -> str:
    """Prose for \\text{...}: braces and LaTeX specials out, Unicode kept (MathJax draws it)."""
    for char, safe in (("\\", "/"), ("{", "("), ("}", ")"), ("_", r"\_"), ("%", r"\%"),
                       ("&", r"\&"), ("#", r"\#"), ("$", r"\$")):  # fmt: skip
        words = words.replace(char, safe)
    return words


# --- the layer-view equations ----------------------------------------------------------------
def equations_latex(equations: Sequence[Equation]) -> str:
    rows = [rf"\text{{{eq.label}}}\quad {to_latex(eq.lhs)} &= {to_latex(eq.rhs)}"
            for eq in equations]  # fmt: skip
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


def equations_html(equations: Sequence[Equation]) -> str:
    rows = [(eq.label, str(eq.layer), mathml(to_latex(eq.lhs)), "= " + mathml(to_latex(eq.rhs)))
            for eq in equations]  # fmt: skip
    return _table(("equation", "layer", "", ""), rows)


# --- a blame split -----------------------------------------------------------------------------
def _pulls(shares: Sequence[BlameShare]) -> list[float | None]:
    """Each path's part of the total pull Σ|value| (None before evaluation, or all 0)."""
    if any(share.value is None for share in shares):
        return [None] * len(shares)
    pulled = sum(abs(share.value or 0.0) for share in shares)
    return [(share.value or 0.0) / pulled if pulled else None for share in shares]


def blame_latex(shares: Sequence[BlameShare]) -> str:
    rows = []
    for share, pull in zip(shares, _pulls(shares), strict=True):
        row = rf"\text{{via }} {to_latex(share.via)}: &\quad {to_latex(share.term)}"
        if share.value is not None:
            row += rf" = {format_number(share.value)} \quad \text{{({_text(percent(pull))})}}"
        rows.append(row)
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


def blame_html(shares: Sequence[BlameShare]) -> str:
    evaluated = all(share.value is not None for share in shares)
    rows = []
    for share, pull in zip(shares, _pulls(shares), strict=True):
        row = [mathml(to_latex(share.via)), mathml(latex_dots(to_latex(share.term)))]
        if evaluated:
            row += [format_number(share.value or 0.0), percent(pull)]
        rows.append(tuple(row))
    header = ("blame arriving via", "term") + (("value", "share of the pull") if evaluated else ())
    table = _table(header, rows)
    if evaluated:
        table += (
            '<p style="color: #555; font-size: 0.9em;">The signed values add up to the '
            "adjoint of the activation (∂L/∂a) or of the node; share: each path's part of the "
            "sum of the absolute values.</p>"
        )
    return table


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; cells are trusted MathML or plain text (escaped)."""

    def cell(tag: str, content: Any) -> str:
        inner = (
            content if isinstance(content, Markup) or "<math" in str(content) else escape(content)
        )
        return f"<{tag} {_CELL}>{inner}</{tag}>"

    head = "".join(cell("th", h) for h in header)
    body = "".join("<tr>" + "".join(cell("td", c) for c in row) + "</tr>" for row in rows)
    return (
        f'<div class="symbackprop-part"><style>{_MATH_STYLE}</style>'
        f'<table style="{_TABLE_STYLE}"><tr>{head}</tr>{body}</table></div>'
    )
