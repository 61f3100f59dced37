"""LaTeX to PDF: latexmk or pdflatex run in a build folder, with LaTeX's first error on failure.

Rendering layer. Reports compile through :func:`compile_latex` (latexmk); worksheets run
:func:`run_latex` with one pdflatex pass. A missing or failing engine is a
:class:`ReportEngineError`, one line that says how to install it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from symbackprop.render.tools import ToolError, run_tool

_LATEX_TIMEOUT = 120


class ReportEngineError(ToolError):
    """A report format needs a program that is missing or failed (pdflatex for .pdf)."""


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
    command = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error",
               "-pdflatex=pdflatex -no-shell-escape %O %S"]  # fmt: skip
    return run_latex(tex, command, "the report", _LATEX_TIMEOUT)


# kpathsea's settings for every TeX run: no shell escape, and files are read and written only
# in the build folder (no dot files, no "..", no absolute paths), whatever a document asks for.
# A second guard behind the escaping of every user string (render.text.latex_text).
RESTRICTED_TEX = {"shell_escape": "f", "openin_any": "p", "openout_any": "p"}


def run_latex(
    tex: Path, command: list[str], what: str, timeout: float, env: dict[str, str] | None = None
) -> Path:
    """Run a LaTeX command on ``tex`` in its folder, restricted to it (:data:`RESTRICTED_TEX`).

    On failure raise ReportEngineError naming LaTeX's first error line.
    """
    done = run_tool([*command, tex.name], what, timeout, cwd=tex.parent,
                    env={**os.environ, **(env or {}), **RESTRICTED_TEX})  # fmt: skip
    pdf = tex.with_suffix(".pdf")
    if done.returncode != 0 or not pdf.exists():
        log = tex.with_suffix(".log")
        text = log.read_text(errors="replace") if log.exists() else done.stdout.decode()
        first = next((ln for ln in text.splitlines() if ln.startswith("!")), "no error line")
        raise ReportEngineError(f"pdflatex could not compile {what}: {first.strip('! ')}")
    return pdf
