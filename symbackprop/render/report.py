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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.inputs import require_path
from symbackprop.model.network import Network
from symbackprop.model.optimizers import Optimizer
from symbackprop.model.sequential import LayerNetwork
from symbackprop.render import diagrams
from symbackprop.render.context import context, explain_blame
from symbackprop.render.files import atomic_path, atomic_write, build_folder
from symbackprop.render.latex import compile_latex, require_latex
from symbackprop.render.matrix_context import matrix_context, report_sections
from symbackprop.render.matrix_sections import BAR_NOTE
from symbackprop.render.sample import sample_index
from symbackprop.render.sections import derivation_sections, symbolic_sections
from symbackprop.render.templating import for_format, template_environment

FORMATS = {".html": "html", ".htm": "html", ".tex": "tex", ".pdf": "pdf", ".md": "md"}


# --- writing the report ----------------------------------------------------------------------
def render(
    network: Network | LayerNetwork,
    params: Mapping[str, Any],
    data: tuple[Any, Any],
    fmt: str,
    *,
    learning_rate: float | None = None,
    freeze: Iterable[str] = (),
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    title: str | None = None,
    optimizer: str | Optimizer = "sgd",
    figure_stem: str = "report",
    sample: int | None = None,
    about_data: str = "",
    progress: Callable[[int, float], None] | None = None,
) -> str:
    """Render the report as text: ``fmt`` is "html", "tex" or "md".

    The LaTeX names its figures ``<figure_stem>-network.pdf`` and ``<figure_stem>-loss.pdf``;
    :func:`report` writes them beside the ``.tex``.
    """
    if fmt not in ("html", "tex", "md"):
        raise SymbackpropError(f"unknown report format {fmt!r}; choose html, tex or md")
    if isinstance(network, LayerNetwork):
        _refuse_layer_options(freeze, epochs, batch_size)
        ctx = matrix_context(network, params, _layer_data(data, sample),
                             learning_rate=learning_rate, title=title)  # fmt: skip
        return _render_matrix_context(ctx, fmt)
    ctx = context(network, params, data, learning_rate=learning_rate, freeze=freeze,
                  epochs=epochs, batch_size=batch_size, seed=seed, title=title,
                  optimizer=optimizer, sample=sample, about_data=about_data,
                  progress=progress)  # fmt: skip
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
    network: Network | LayerNetwork,
    params: Mapping[str, Any],
    data: tuple[Any, Any],
    path: str | os.PathLike[str],
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
) -> Path:
    """Write the derivation report to ``path``; its suffix picks .html, .tex, .pdf or .md.

    The derivation works through one sample: ``sample`` (counted from 1), else the most
    informative one, and the report says which and why. Without ``learning_rate`` the update
    uses η = 0.5, and the report says it is the default. ``about_data`` is shown with the data
    (what the columns are); ``progress(epoch, loss)`` is called while training ``epochs``.

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
    if isinstance(network, LayerNetwork):
        _refuse_layer_options(freeze, epochs, batch_size)
        ctx = matrix_context(network, params, _layer_data(data, sample),
                             learning_rate=learning_rate, title=title)  # fmt: skip
        return _write_matrix_report(ctx, fmt, target)
    ctx = context(network, params, data, learning_rate=learning_rate, freeze=freeze,
                  epochs=epochs, batch_size=batch_size, seed=seed, title=title,
                  optimizer=optimizer, sample=sample, about_data=about_data,
                  progress=progress)  # fmt: skip
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


def _refuse_layer_options(
    freeze: Iterable[str], epochs: int | None, batch_size: int | None
) -> None:
    if tuple(freeze) or epochs is not None or batch_size is not None:
        raise SymbackpropError(
            "reports of a network of layers show one step on the given batch; drop freeze, "
            "epochs and batch_size (train with sb.train and report the trained parameters)"
        )


def _layer_data(data: tuple[Any, Any], sample: int | None) -> tuple[Any, Any]:
    """The batch a network of layers' report works on: all of it, or the one sample asked for."""
    if sample is None:
        return data
    X, Y = (np.atleast_2d(np.asarray(part, dtype=float)) for part in data)
    i = sample_index(sample, X.shape[0])
    return X[i : i + 1], Y[i : i + 1]


def _render_matrix_context(ctx: dict[str, Any], fmt: str) -> str:
    template = template_environment(fmt).get_template(f"matrix_report.{fmt}.j2")
    return template.render(**for_format(ctx, fmt))


def _write_matrix_report(ctx: dict[str, Any], fmt: str, target: Path) -> Path:
    """Write a network of layers' report: text formats directly, a PDF through latexmk."""
    if fmt == "tex":
        _write_layer_diagram(ctx, target.parent, target.stem)
    if fmt != "pdf":
        return atomic_write(target, _render_matrix_context(ctx, fmt))
    with build_folder(target, "build") as folder:
        tex = folder / "report.tex"
        _write_layer_diagram(ctx, folder, "report")
        tex.write_text(_render_matrix_context(ctx, "tex"), encoding="utf-8")
        pdf = compile_latex(tex)
        with atomic_path(target) as temporary:
            shutil.copyfile(pdf, temporary)
    return target


def _write_layer_diagram(ctx: dict[str, Any], folder: Path, stem: str) -> None:
    """Write the feature-map or unrolled drawing beside a LaTeX report, as ``stem-layers.pdf``."""
    ctx["files"] = {"diagram": f"{stem}-layers.pdf"}
    diagram = ctx.get("diagram")
    if diagram and diagram["dot"]:
        drawing = diagrams.run_dot(diagram["dot"], "pdf")
        if drawing is not None:
            atomic_write(folder / f"{stem}-layers.pdf", drawing)


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
    for number, section in enumerate(found, start=1):
        section["number"] = number  # a report's section 1 is the network; here there is none
    summary = d.network.describe()
    if evaluation is None:
        summary += " · symbols only: display d.evaluate(params, x, y) for the numbers"
    ctx = {"sections": explain_blame(found), "summary": summary, "equations": []}
    template = template_environment("html").get_template("derivation.html.j2")
    return template.render(**for_format(ctx, "html"))


def matrix_derivation_html(d: MatrixDerivation, evaluation: MatrixEvaluation | None = None) -> str:
    """Return a matrix derivation as an HTML fragment with MathML (MatrixDerivation._repr_html_)."""
    ctx = {"sections": report_sections(d, evaluation, first=1), "summary": d.network.describe(),
           "bar_note": BAR_NOTE}  # fmt: skip
    template = template_environment("html").get_template("matrix_derivation.html.j2")
    return template.render(**for_format(ctx, "html"))


def network_html(network: Network) -> str:
    """Return a network's diagram and summary as HTML (Network._repr_html_)."""
    svg = diagrams.network_svg(network)
    body = Markup(svg) if svg else diagrams.DOT_MISSING
    return str(Markup("<div><p>{}</p>{}</div>").format(network.describe(), body))
