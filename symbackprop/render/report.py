"""Derivation reports: a report's context rendered by Jinja2 templates, written by suffix.

Rendering layer. :func:`symbackprop.render.context.context` gives the plain data;
:mod:`symbackprop.render.templating` gives its LaTeX to HTML as MathML (latex2mathml), to
Markdown as ``$...$``; :mod:`symbackprop.render.latex` compiles PDFs. The templates in
``templates/`` only loop and print. :func:`report` writes a file by suffix (.html, .tex, .pdf,
.md).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from symbackprop.derivation.derivation import Derivation
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.inputs import require_path
from symbackprop.model.network import Network
from symbackprop.render import diagrams
from symbackprop.render.context import context, explain_blame
from symbackprop.render.files import atomic_path, atomic_write, build_folder
from symbackprop.render.latex import compile_latex, require_latex
from symbackprop.render.sections import derivation_sections, symbolic_sections
from symbackprop.render.templating import for_format, template_environment

FORMATS = {".html": "html", ".htm": "html", ".tex": "tex", ".pdf": "pdf", ".md": "md"}


# --- writing the report ----------------------------------------------------------------------
def render(
    network: Network,
    params: Mapping[str, Any],
    data: tuple[Any, Any],
    fmt: str,
    *,
    learning_rate: float = 0.5,
    freeze: Iterable[str] = (),
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    title: str | None = None,
    figure_stem: str = "report",
) -> str:
    """Render the report as text: ``fmt`` is "html", "tex" or "md".

    The LaTeX names its figures ``<figure_stem>-network.pdf`` and ``<figure_stem>-loss.pdf``;
    :func:`report` writes them beside the ``.tex``.
    """
    if fmt not in ("html", "tex", "md"):
        raise SymbackpropError(f"unknown report format {fmt!r}; choose html, tex or md")
    ctx = context(network, params, data, learning_rate=learning_rate, freeze=freeze,
                  epochs=epochs, batch_size=batch_size, seed=seed, title=title)  # fmt: skip
    return _render_context(ctx, fmt, figure_stem)


def _render_context(ctx: dict[str, Any], fmt: str, figure_stem: str) -> str:
    ctx = dict(ctx)
    if fmt == "html" and ctx["training"]:
        figure = diagrams.loss_svg(ctx["training"]["losses"])
        ctx["training"] = {**ctx["training"], "figure": figure}
    ctx["files"] = {"network": f"{figure_stem}-network.pdf", "loss": f"{figure_stem}-loss.pdf"}
    template = template_environment(fmt).get_template(f"report.{fmt}.j2")
    return template.render(**for_format(ctx, fmt))


def report(
    network: Network,
    params: Mapping[str, Any],
    data: tuple[Any, Any],
    path: str | os.PathLike[str],
    *,
    learning_rate: float = 0.5,
    freeze: Iterable[str] = (),
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Write the derivation report to ``path``; its suffix picks .html, .tex, .pdf or .md.

    A ``.tex`` gets its figures as PDF files beside it; a ``.pdf`` is compiled by pdflatex
    (through latexmk) in a temporary folder. The file is written atomically.
    """
    target = require_path(path, "report path", "report.html")
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise SymbackpropError(
            f"cannot tell the report format of {str(target)!r}; use a path ending in "
            ".html, .tex, .pdf or .md"
        )
    if fmt == "pdf":
        require_latex(target)
    ctx = context(network, params, data, learning_rate=learning_rate, freeze=freeze,
                  epochs=epochs, batch_size=batch_size, seed=seed, title=title)  # fmt: skip
    if fmt in ("html", "md"):
        return atomic_write(target, _render_context(ctx, fmt, target.stem))
    if fmt == "tex":
        _write_figures(network, ctx, target.parent, target.stem)
        return atomic_write(target, _render_context(ctx, "tex", target.stem))
    with build_folder(target, "build") as build:
        _write_figures(network, ctx, build, "report")
        (build / "report.tex").write_text(_render_context(ctx, "tex", "report"), encoding="utf-8")
        pdf = compile_latex(build / "report.tex")
        with atomic_path(target) as temporary:
            shutil.copyfile(pdf, temporary)
    return target


def _write_figures(network: Network, ctx: dict[str, Any], folder: Path, stem: str) -> None:
    drawing = diagrams.run_dot(diagrams.network_dot(network, ctx["network"]["values"]), "pdf")
    if drawing is not None:
        atomic_write(folder / f"{stem}-network.pdf", drawing)
    if ctx["training"]:
        atomic_write(folder / f"{stem}-loss.pdf",
                     diagrams.loss_plot(ctx["training"]["losses"], "pdf"))  # fmt: skip


# --- Jupyter -----------------------------------------------------------------------------------
def derivation_html(d: Derivation, evaluation: Any = None) -> str:
    """Return a derivation as an HTML fragment with MathML (Derivation._repr_html_)."""
    found = derivation_sections(d, evaluation) if evaluation is not None else symbolic_sections(d)
    ctx = {"sections": explain_blame(found), "summary": d.network.describe(), "equations": []}
    template = template_environment("html").get_template("derivation.html.j2")
    return template.render(**for_format(ctx, "html"))


def network_html(network: Network) -> str:
    """Return a network's diagram and summary as HTML (Network._repr_html_)."""
    svg = diagrams.network_svg(network)
    body = Markup(svg) if svg else diagrams.DOT_MISSING
    return str(Markup("<div><p>{}</p>{}</div>").format(network.describe(), body))
