"""The rendering machinery reports and worksheets share (rendering layer): plain data to pages.

:func:`derivation_sections` lays a derivation and its numbers out as the rows the templates
print (formulas as LaTeX, long ones wrapped); :func:`template_environment` loads the Jinja2
templates of ``templates/``; :func:`for_format` prepares a context for one format (MathML from
:func:`mathml` for HTML, escaped prose for LaTeX and Markdown); :func:`compile_latex` turns a
``.tex`` into a PDF with latexmk and pdflatex.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from symbackprop.derive import Derivation, Stage
from symbackprop.errors import SymbackpropError
from symbackprop.printing import format_number, to_latex
from symbackprop.text import Line, latex_text, sections

_LATEX_TIMEOUT = 120


class ReportEngineError(SymbackpropError):
    """A report format needs a program that is missing or failed (pdflatex for .pdf)."""


# --- the derivation --------------------------------------------------------------------------
def _tex(text: str) -> str:
    """Make text.sections' joined formulas pure LaTeX (it joins factors with a Unicode dot)."""
    return text.replace(" · ", r" \cdot ").replace("·", r" \cdot ")


WRAP_AT = 52  # visible characters of one formula row; longer rows break at a top-level + or -


def _visible_length(tex: str) -> int:
    """Count roughly the characters a formula prints: a command counts 1, braces nothing."""
    bare = re.sub(r"\\(left|right)\b", "", tex)
    return len(re.sub(r"[{}^_ ]", "", re.sub(r"\\[A-Za-z]+", "c", bare)))


def _break_points(tex: str) -> list[int]:
    """Return where a formula may break: before a + - or = outside braces and \\left( \\right).

    Plain parentheses may be open across a break (each row is typeset on its own)."""
    stack: list[str] = []
    points = []
    for i, char in enumerate(tex):
        if char in "{([":
            stack.append("(" if char == "(" and not tex[:i].endswith("\\left") else "{")
        elif char in "})]" and stack:
            stack.pop()
        elif i > 0 and tex[i - 1 : i + 2] in (" + ", " - ", " = ") and "{" not in stack:
            points.append(i)
    return points


def _wrapped(tex: str) -> list[str]:
    """Split a long formula into rows that each fit a printed line (HTML, PDF and Markdown)."""
    pieces, start = [], 0
    for point in _break_points(tex):
        if _visible_length(tex[start:point]) > WRAP_AT and point > start:
            pieces.append(tex[start:point].rstrip())
            start = point
    pieces.append(tex[start:].strip())
    return [pieces[0]] + [r"\quad " + piece.strip() for piece in pieces[1:]]


def _line_rows(line: Line) -> list[dict[str, str]]:
    rows = []
    for i, (formula, words) in enumerate(line.forms):
        parts = _wrapped("= " + _tex(formula))
        for part, text in enumerate(parts):
            first = i == 0 and part == 0
            rows.append({"lhs_tex": _tex(line.lhs) if first else "", "rhs_tex": text,
                         "words": words if part == len(parts) - 1 else ""})  # fmt: skip
    tail = " = ".join(part for part in (line.numbers, line.value) if part)
    if tail:
        rows += [{"lhs_tex": "", "rhs_tex": text, "words": ""}
                 for text in _wrapped("= " + _tex(tail))]  # fmt: skip
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
            blame = _blame_rows(d, next(adjoints), ev) if stage is Stage.ADJOINT else []
            note = line.note if stage is Stage.LOSS else ""
            lines.append({"rows": _line_rows(line), "note": note, "blame": blame})
        out.append({"number": number + 1, "title": section.title, "tag": section.tag,
                    "intro": _INTROS[stage], "lines": lines,
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


def _blame_rows(d: Derivation, step: Any, ev: Any) -> list[dict[str, str]]:
    if len(step.paths) < 2:
        return []
    rows = []
    for share in d.blame(step.lhs.name, ev):
        percent = f"{share.share * 100:.0f} %" if share.share is not None else "—"
        rows.append({"via_tex": to_latex(share.via), "term_tex": _tex(to_latex(share.term)),
                     "value": format_number(share.value or 0.0), "share": percent})  # fmt: skip
    return rows


# --- templates -------------------------------------------------------------------------------
def _load_template(name: str) -> str:
    return resources.files("symbackprop.templates").joinpath(name).read_text(encoding="utf-8")


def template_environment(fmt: str) -> jinja2.Environment:
    options: dict[str, Any] = {"loader": jinja2.FunctionLoader(_load_template),
                               "undefined": jinja2.StrictUndefined, "keep_trailing_newline": True,
                               "trim_blocks": True, "lstrip_blocks": True}  # fmt: skip
    if fmt == "tex":
        # LaTeX is full of braces: Jinja's markers become <% %>, << >> and <# #> here.
        options.update(block_start_string="<%", block_end_string="%>",
                       variable_start_string="<<", variable_end_string=">>",
                       comment_start_string="<#", comment_end_string="#>")  # fmt: skip
    return jinja2.Environment(autoescape=fmt == "html", **options)  # noqa: S701


def _map_strings(data: Any, key: str, change: Callable[[str, str], Any]) -> Any:
    if isinstance(data, dict):
        return {k: _map_strings(v, k, change) for k, v in data.items()}
    if isinstance(data, list):
        return [_map_strings(v, key, change) for v in data]
    if isinstance(data, str):
        return change(key, data)
    return data


RAW_KEYS = ("svg", "figure")


def for_format(ctx: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Prepare a context for one format: MathML (HTML), escaped prose (LaTeX, Markdown)."""

    def change(key: str, text: str) -> Any:
        if key.endswith("_tex"):
            return Markup(mathml(text)) if fmt == "html" and text else text
        if key in RAW_KEYS:
            return Markup(text) if fmt == "html" else text
        if fmt == "tex":
            return latex_text(text)
        if fmt == "md":
            return re.sub(r"([*_`\\])", r"\\\1", text)
        return text

    return _map_strings(copy.deepcopy(ctx), "", change)  # type: ignore[no-any-return]


# --- MathML ----------------------------------------------------------------------------------
_BOLD_ITALIC = re.compile(r'<mi mathvariant="bold-italic">([^<]+)</mi>')
_BOLD_DIGIT = re.compile(r'<mn mathvariant="bold">(\d)</mn>')
_ENTITY = re.compile(r"&#x([0-9A-Fa-f]+);")


def _bold_italic(char: str) -> str:
    code = ord(char)
    if "a" <= char <= "z":
        return chr(0x1D482 + code - ord("a"))
    if "A" <= char <= "Z":
        return chr(0x1D468 + code - ord("A"))
    if 0x3B1 <= code <= 0x3C9:
        return chr(0x1D736 + code - 0x3B1)
    return char


def mathml(tex: str, display: bool = False) -> str:
    """Convert the printer's LaTeX to MathML Core that Chromium draws well (render-probe.md).

    Bold-italic and bold-digit variants become Unicode letters (Chromium ignores
    ``mathvariant``), and \\left( \\right) lose their stretch, which draws wide gaps.
    """
    from latex2mathml.converter import convert

    out = convert(tex, display="block" if display else "inline")

    def bold(match: re.Match[str]) -> str:
        text = _ENTITY.sub(lambda m: chr(int(m[1], 16)), match[1])
        return f"<mi>{''.join(_bold_italic(c) for c in text)}</mi>"

    out = _BOLD_ITALIC.sub(bold, out)
    out = _BOLD_DIGIT.sub(lambda m: f"<mn>{chr(0x1D7CE + int(m[1]))}</mn>", out)
    out = out.replace('stretchy="true" fence="true"', 'stretchy="false" fence="true"')
    if "\\" in out:
        raise RuntimeError(f"latex2mathml left a LaTeX command unconverted in {tex!r}")
    return out


# --- PDF ----------------------------------------------------------------------------------------
def require_latex(target: Path) -> None:
    """Raise ReportEngineError, with how to install them, when latexmk or pdflatex is missing."""
    missing = [tool for tool in ("latexmk", "pdflatex") if shutil.which(tool) is None]
    if missing:
        raise ReportEngineError(
            f"cannot write {target.name}: {' and '.join(missing)} not found on PATH; install "
            "TeX Live (Debian: apt-get install texlive-latex-base texlive-latex-recommended "
            "latexmk) or write a .tex, .html or .md report instead"
        )


def compile_latex(tex: Path) -> Path:
    """Compile a .tex with latexmk + pdflatex in its folder and return the PDF's path."""
    require_latex(tex.with_suffix(".pdf"))
    command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error"]
    return run_latex(tex, command, "the report", _LATEX_TIMEOUT)


def run_latex(
    tex: Path, command: list[str], what: str, timeout: float, env: dict[str, str] | None = None
) -> Path:
    """Run a LaTeX command on ``tex`` in its folder; on failure name LaTeX's first error line."""
    done = subprocess.run(
        [*command, tex.name], cwd=tex.parent, capture_output=True, timeout=timeout, check=False,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip
    pdf = tex.with_suffix(".pdf")
    if done.returncode != 0 or not pdf.exists():
        log = tex.with_suffix(".log")
        text = log.read_text(errors="replace") if log.exists() else done.stdout.decode()
        first = next((ln for ln in text.splitlines() if ln.startswith("!")), "no error line")
        raise ReportEngineError(f"pdflatex could not compile {what}: {first.strip('! ')}")
    return pdf
