"""Worksheet files: every student's sheet, key, manifest and notebook, and the PDFs, on disk.

Worksheets stage. A :class:`Worksheet` holds every student's variant and manifest; its
``write`` makes the files. The files are made in a temporary folder and moved into place
only when all of them were made. PDFs are compiled with one pdflatex run each, ``jobs`` at a
time in background threads, while the next students are still being rendered.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symbackprop.model.errors import SymbackpropError
from symbackprop.render.files import build_folder, carry_over, swap_in
from symbackprop.render.latex import ReportEngineError, run_latex
from symbackprop.worksheets.manifest import manifest_json
from symbackprop.worksheets.notebook import render_notebook, require_nbformat
from symbackprop.worksheets.render import (
    context,
    evaluation,
    html_page,
    tex_document,
    tex_sheet,
    worked_html,
    worked_latex,
)
from symbackprop.worksheets.spec import WorksheetSpec
from symbackprop.worksheets.variants import Variant


@dataclass(frozen=True)
class Worksheet:
    """Every student's variant and manifest; ``write`` renders the files."""

    spec: WorksheetSpec
    course_salt: str
    variants: tuple[Variant, ...]
    manifests: tuple[dict[str, Any], ...]
    messages: tuple[str, ...] = ()  # roster rows that were skipped, one line each
    names: Mapping[str, str] = field(default_factory=dict)  # student id -> name (roster)

    def manifest(self, student_id: str) -> dict[str, Any]:
        for manifest in self.manifests:
            if manifest["student_id"] == student_id:
                return manifest
        raise SymbackpropError(f"no student {student_id!r} on this worksheet")

    def write(
        self,
        folder: str | os.PathLike[str],
        *,
        parts: Sequence[str] = ("student", "key"),
        pdf: bool = True,
        jobs: int = 2,
        progress: Callable[[int, int], None] | None = None,
        pdf_each_key: bool = False,
    ) -> Path:
        """Write the files: ``folder/students/<id>/`` for students, ``folder/key/<id>/`` else.

        ``parts`` picks "student" (PDF, HTML, notebook) and "key" (key PDF and HTML, manifest,
        the instructor notebook, and ``key/keys.pdf`` with every student's key); ``pdf=False``
        skips compiling and ``pdf_each_key`` compiles each student's key too. Nothing is
        written unless every file was made.
        """
        if not os.fspath(folder):
            raise SymbackpropError("the output folder is empty; give a folder name, e.g. week5")
        return write_worksheet(self, Path(folder), parts, pdf, jobs, progress, pdf_each_key)


def write_worksheet(
    ws: Worksheet,
    folder: Path,
    parts: Sequence[str],
    pdf: bool,
    jobs: int,
    progress: Callable[[int, int], None] | None,
    pdf_each_key: bool = False,
) -> Path:
    """Make every file in a new folder beside ``folder``, then swap it in as a whole.

    A run that fails or is killed leaves the previous folder as it was; parts this run does
    not make (the students' files when only the key is made) are carried over from it. PDFs
    compile ``jobs`` at a time in the background while the next students are rendered.
    """
    folder = _output_folder(folder)
    require_parts(pdf)
    with build_folder(folder, "build") as build, build_folder(folder, "new") as new:
        total = _pdf_count(ws, parts, pdf_each_key) if pdf else 0
        with PdfQueue(jobs, total, progress) as queue:
            made = _render_all(ws, build, parts, queue if pdf else None, pdf_each_key)
            made += queue.wait()
        for built in made:  # the outputs only, not LaTeX's logs
            final = new / built.relative_to(build)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(built, final)
        carry_over(folder, new, {PART_FOLDERS[part] for part in parts})
        swap_in(new, folder)  # the old folder is now at `new`, removed on leaving
    return folder


# The top-level folder each part writes.
PART_FOLDERS = {"student": "students", "key": "key"}


def _output_folder(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise SymbackpropError(f"{str(folder)!r} exists and is not a folder; give a folder path")
    return folder


def _render_all(
    ws: Worksheet, build: Path, parts: Sequence[str], queue: PdfQueue | None, pdf_each_key: bool
) -> list[Path]:
    """Write every student's files (and the class key) under ``build``; queue the PDFs."""
    made: list[Path] = []
    class_key: list[dict[str, Any]] = []
    for variant, manifest in zip(ws.variants, ws.manifests, strict=True):
        name = ws.names.get(variant.student_id, "")
        texts, key_sheet = _student_texts(variant, manifest, parts, ws.spec.title, name)
        for relative, text in texts.items():
            path = build / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            made.append(path)
            if (
                queue is not None
                and path.suffix == ".tex"
                and (path.name != "key.tex" or pdf_each_key)
            ):
                queue.add(path)
        if key_sheet is not None:
            class_key.append(key_sheet)
    if "key" in parts:
        path = build / "key" / "keys.tex"
        path.write_text(tex_document(class_key, True, ws.spec.title), encoding="utf-8")
        made.append(path)
        if queue is not None:
            queue.add(path)
    return made


def _student_texts(
    variant: Variant, manifest: Mapping[str, Any], parts: Sequence[str], title: str, name: str
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Return one student's files as {relative path: text}, and their key's LaTeX context."""
    sid = variant.student_id
    texts: dict[str, str] = {}
    if "student" in parts:
        sheet = context(variant, manifest, False, name)
        texts[f"students/{sid}/worksheet.tex"] = tex_document([tex_sheet(sheet, [])], False,
                                                               title)  # fmt: skip
        texts[f"students/{sid}/worksheet.html"] = html_page(sheet, "")
        texts[f"students/{sid}/worksheet.ipynb"] = render_notebook(variant, manifest, True)
    if "key" not in parts:
        return texts, None
    texts[f"key/{sid}/manifest.json"] = manifest_json(manifest)
    d, ev = evaluation(variant)
    key = context(variant, manifest, True, name)
    key_sheet = tex_sheet(key, worked_latex(d, ev))
    texts[f"key/{sid}/key.tex"] = tex_document([key_sheet], True, title)
    texts[f"key/{sid}/key.html"] = html_page(key, worked_html(d, ev))
    texts[f"key/{sid}/source.ipynb"] = render_notebook(variant, manifest, False)
    return texts, key_sheet


def _pdf_count(ws: Worksheet, parts: Sequence[str], pdf_each_key: bool) -> int:
    students = len(ws.variants)
    count = students if "student" in parts else 0
    if "key" in parts:
        count += 1 + (students if pdf_each_key else 0)
    return count


def require_parts(pdf: bool) -> None:
    """Fail fast, with the command that installs it, when a part the files need is missing."""
    require_nbformat()
    if pdf:
        require_pdflatex(Path("keys.pdf"))


# --- PDFs ----------------------------------------------------------------
PDFLATEX_TIMEOUT = 600  # seconds for one file: the class key of 1000 students takes ~15 s
_TEX_ENV = {"SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}  # reproducible dates, if any


def require_pdflatex(target: Path) -> None:
    """Raise ReportEngineError, with how to install it, when pdflatex is not on PATH."""
    if shutil.which("pdflatex") is None:
        raise ReportEngineError(
            f"cannot write {target.name}: pdflatex not found on PATH; install TeX Live (Debian: "
            "apt-get install texlive-latex-base texlive-latex-recommended) or pass pdf=False "
            "(--no-pdf)"
        )


def compile_pdf(tex: Path) -> Path:
    """Compile a worksheet .tex with one pdflatex run in its folder; return the PDF beside it.

    One run is enough: the sheets use ``\\nofiles`` and print no cross-reference, no
    "page x of y" and no contents, so a second run (latexmk's) would change nothing. The
    template's ``\\pdfinfoomitdate`` and ``\\pdftrailerid{}`` make the PDF byte-identical on
    every run; SOURCE_DATE_EPOCH fixes any date a later template might print.
    """
    command = ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error"]
    return run_latex(tex, command, tex.name, PDFLATEX_TIMEOUT, dict(_TEX_ENV))


class PdfQueue:
    """Compile .tex files in the background, ``jobs`` at a time, while the caller renders more.

    Leaving the ``with`` block on an error cancels the compiles not yet started.
    """

    def __init__(self, jobs: int, total: int, progress: Callable[[int, int], None] | None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        self._futures: list[Future[Path]] = []
        self._total = total
        self._progress = progress
        self._lock = threading.Lock()
        self._done = 0

    def __enter__(self) -> PdfQueue:
        return self

    def __exit__(self, *error: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=error[0] is not None)

    def add(self, tex: Path) -> None:
        future = self._pool.submit(compile_pdf, tex)
        future.add_done_callback(self._tick)
        self._futures.append(future)

    def wait(self) -> list[Path]:
        """Return every PDF, in the order added; the first failed compile raises here."""
        return [future.result() for future in self._futures]

    def _tick(self, future: Future[Path]) -> None:
        if self._progress is None or future.cancelled() or future.exception() is not None:
            return
        with self._lock:
            self._done += 1
            self._progress(self._done, max(self._total, self._done))


def compile_all(
    sources: Sequence[Path], jobs: int, progress: Callable[[int, int], None] | None = None
) -> list[Path]:
    """Compile .tex files, ``jobs`` at a time, each in its own folder; return the PDFs."""
    with PdfQueue(jobs, len(sources), progress) as queue:
        for tex in sources:
            queue.add(tex)
        return queue.wait()
