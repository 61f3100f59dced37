"""A matrix derivation as terminal text, Markdown and a LaTeX fragment (rendering layer).

The writers lay out :func:`symbackprop.render.matrix_sections.matrix_sections`: sections by
stage, groups by layer, each equation with its shape and rule words, a sum's paths one by one,
and with an evaluation each matrix's numbers (in full when small, abbreviated with its shape
when large) and the loss.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.model.printing import to_latex, to_text
from symbackprop.render.matrix_sections import (
    BAR_NOTE,
    SEQUENCE_NOTE,
    MatrixLine,
    entry_latex,
    entry_text,
    matrix_grid,
    matrix_sections,
    shape_text,
)
from symbackprop.render.text import latex_text

_text = partial(to_text, matrix=True)
_latex = partial(to_latex, matrix=True)
_LATEX_CELLS = {"⋮": r"\vdots", "⋯": r"\cdots", "⋱": r"\ddots"}
# Characters the report's preamble declares but a user's document may not: the fragment
# writes them as math.
_FRAGMENT_CHARACTERS = {"θ": r"$\theta$", "·": r"$\cdot$", "η": r"$\eta$", "⁺": r"$^{+}$"}


def _fragment_text(words: str) -> str:
    """Escape prose for a LaTeX fragment that any amsmath document can include."""
    text = latex_text(words)
    for character, tex in _FRAGMENT_CHARACTERS.items():
        text = text.replace(character, tex)
    return text


def _header(d: MatrixDerivation, ev: MatrixEvaluation | None) -> list[str]:
    lines = [d.network.describe()]
    if ev is not None:
        lines.append(f"batch of B = {ev.batch} samples (one column each)")
    if d.program.sequence:
        lines.append(SEQUENCE_NOTE)
    return lines


# --- numbers as text -------------------------------------------------------------------------
def text_matrix(value: Any) -> list[str]:
    """Return a matrix as aligned rows between brackets (a scalar as one number)."""
    if np.ndim(value) == 0:
        return [entry_text(float(value))]
    grid, abbreviated = matrix_grid(value, entry_text)
    widths = [max(len(row[j]) for row in grid) for j in range(len(grid[0]))]
    rows = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in grid]
    if len(rows) == 1:
        out = [f"[ {rows[0]} ]"]
    else:
        out = []
        for i, row in enumerate(rows):
            left, right = ("⎡", "⎤") if i == 0 else ("⎣", "⎦") if i == len(rows) - 1 else ("⎢", "⎥")
            out.append(f"{left} {row} {right}")
    if abbreviated:
        out[-1] += f"   ({shape_text(np.shape(value))}, abbreviated)"
    return out


def latex_matrix(value: Any) -> str:
    """Return a matrix as a bmatrix (a scalar as one number); a large one abbreviated."""
    if np.ndim(value) == 0:
        return entry_latex(float(value))
    grid, abbreviated = matrix_grid(value, entry_latex)
    body = r" \\ ".join(" & ".join(_LATEX_CELLS.get(c, c) for c in row) for row in grid)
    tex = rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"
    if abbreviated:
        rows, cols = np.shape(value)
        # Beside, not as a subscript: MathML would shrink a subscripted matrix's base.
        tex += rf"\quad ({rows} \times {cols})"
    return tex


# --- feature maps, kernels and sequences as small grids ---------------------------------------
SAMPLES_SHOWN = 2  # a map's numbers are shown for the batch's first samples
GRIDS_SHOWN = 8  # and for at most this many channels (or kernel pairs) of each


def map_grids(value: Any, shape: tuple[int, ...], per_sample: bool = True) -> list[list[tuple]]:
    """Return a shaped value as rows of labelled 2-D grids: one row per sample shown.

    ``value`` is in program layout (one column per sample) when ``per_sample``; otherwise it is
    one array of ``shape`` (a kernel (out, in, kh, kw) or its gradient). A (C, H, W) map gives a
    grid per channel; (C, L) and (T, n) one grid (channels or steps as rows); a kernel a grid
    per (out, in) pair. Past GRIDS_SHOWN grids the rest are left out, and said so.
    """
    array = np.asarray(value, dtype=float)
    if per_sample:
        columns = array.reshape(array.shape[0], -1)
        samples = [
            (f"sample {b + 1}", columns[:, b].reshape(shape))
            for b in range(min(columns.shape[1], SAMPLES_SHOWN))
        ]
    else:
        samples = [("", array.reshape(shape))]
    rows = []
    item: Any
    for label, item in samples:
        grids: list[tuple[str, np.ndarray]]
        if item.ndim == 2:
            grids = [(label, item)]
        elif item.ndim == 3:
            grids = [(_joined(label, f"channel {c + 1}"), item[c]) for c in range(item.shape[0])]
        else:
            grids = [(_joined(label, f"out {o + 1}, in {i + 1}"), item[o, i])
                     for o in range(item.shape[0]) for i in range(item.shape[1])]  # fmt: skip
        rows.append(grids[:GRIDS_SHOWN] + ([("more", np.array([len(grids)]))]
                                           if len(grids) > GRIDS_SHOWN else []))  # fmt: skip
    return rows


def _joined(*labels: str) -> str:
    return ", ".join(label for label in labels if label)


def value_latex(line: MatrixLine) -> list[str]:
    """Return a line's numbers as LaTeX rows: a matrix, or a map's grids sample by sample."""
    if not line.sample_shape or np.ndim(line.value) == 0:
        return [latex_matrix(line.value)]
    out = []
    for grids in map_grids(line.value, line.sample_shape, line.per_sample):
        parts = []
        for label, grid in grids:
            if label == "more":
                parts.append(rf"\ldots\ \text{{({int(grid[0])} in all)}}")
                continue
            shown = rf"\text{{{label}: }}" if label else ""
            parts.append(shown + latex_matrix(grid))
        out.append(r",\quad ".join(parts))
    if line.per_sample and np.shape(line.value)[1] > SAMPLES_SHOWN:
        out.append(rf"\ldots\ \text{{(samples 1 to {SAMPLES_SHOWN} of {np.shape(line.value)[1]})}}")
    return out


def value_text(line: MatrixLine) -> list[str]:
    """Return a line's numbers as text rows: a matrix, or a map's grids side by side."""
    if not line.sample_shape or np.ndim(line.value) == 0:
        return text_matrix(line.value)
    out = []
    for grids in map_grids(line.value, line.sample_shape, line.per_sample):
        blocks = []
        for label, grid in grids:
            if label == "more":
                blocks.append([f"… ({int(grid[0])} in all)"])
                continue
            blocks.append(([f"{label}:"] if label else []) + text_matrix(grid))
        height = max(len(b) for b in blocks)
        widths = [max(len(row) for row in b) for b in blocks]
        for i in range(height):
            cells = [
                (b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths, strict=True)
            ]
            out.append("   ".join(cells).rstrip())
    if line.per_sample and np.shape(line.value)[1] > SAMPLES_SHOWN:
        out.append(f"… (samples 1 to {SAMPLES_SHOWN} of {np.shape(line.value)[1]})")
    return out


# --- writers ---------------------------------------------------------------------------------
def matrix_derivation_text(d: MatrixDerivation, ev: MatrixEvaluation | None = None) -> str:
    """Lay a matrix derivation out as numbered Unicode text for a terminal."""
    out = _header(d, ev) + [BAR_NOTE]
    for number, section in enumerate(matrix_sections(d, ev, _text), start=1):
        out.append(f"\n{number}  {section.title}")
        for group in section.groups:
            if group.title:
                out.append(f"   {group.title}")
            for line in group.lines:
                out += _text_line(line)
    return "\n".join(out) + "\n"


def _text_line(line: MatrixLine) -> list[str]:
    shape = f"   [{line.shape}]" if line.shape else ""
    state = f"   {line.state_name} {line.state_shape}" if line.state_name else ""
    rows = [f"     {line.lhs} = {line.rhs}{shape}{state}"]
    pad = " " * 7
    if line.words:
        rows.append(f"{pad}rules: {line.words}")
    for path in line.paths:
        rows.append(f"{pad}path via {path.via}: {path.term}   [{path.words}]")
    if line.value is not None:
        rows += [f"{pad}{'= ' if i == 0 else '  '}{row}"
                 for i, row in enumerate(value_text(line))]  # fmt: skip
    return rows


def matrix_derivation_markdown(d: MatrixDerivation, ev: MatrixEvaluation | None = None) -> str:
    """Lay a matrix derivation out as Markdown with $...$ math (GitHub / Jupyter)."""
    out = [f"**{_header(d, ev)[0]}**", ""]
    out += [line for extra in _header(d, ev)[1:] for line in (extra, "")]
    out += [f"> {BAR_NOTE}", ""]
    for number, section in enumerate(matrix_sections(d, ev, _latex), start=1):
        out += [f"### {number}. {section.title}", ""]
        for group in section.groups:
            if group.title:
                out += [f"#### {group.title}", ""]
            for line in group.lines:
                out += _markdown_line(line)
            out.append("")
    return "\n".join(out)


def _markdown_line(line: MatrixLine) -> list[str]:
    shape = f" · {line.shape}" if line.shape else ""
    state = f" · `{line.state_name}` {line.state_shape}" if line.state_name else ""
    words = f" — *{line.words}*" if line.words else ""
    rows = [f"- ${line.lhs} = {line.rhs}${shape}{state}{words}"]
    for path in line.paths:
        rows.append(f"  - via ${path.via}$: ${path.term}$ — *{path.words}*")
    if line.value is not None:
        rows += [f"  - ${line.lhs} = {tex}$" for tex in value_latex(line)]
    return rows


def matrix_derivation_latex(d: MatrixDerivation, ev: MatrixEvaluation | None = None) -> str:
    """Lay a matrix derivation out as a LaTeX fragment (amsmath align*, bmatrix)."""
    out = [f"% {_header(d, ev)[0]}", _fragment_text(BAR_NOTE)]
    for section in matrix_sections(d, ev, _latex):
        out.append(f"\\subsection*{{{_fragment_text(section.title)}}}")
        for group in section.groups:
            if group.title:
                out.append(f"\\paragraph*{{{_fragment_text(group.title)}}}")
            out.append(r"\begin{align*}")
            out.append(" \\\\\n".join(row for line in group.lines for row in _latex_rows(line)))
            out.append(r"\end{align*}")
    return "\n".join(out) + "\n"


def _latex_rows(line: MatrixLine) -> list[str]:
    times = line.shape.replace("×", r" \times ")
    shape = f" && {times}" if line.shape else ""
    state = f"\\ \\texttt{{{_fragment_text(line.state_name)}}}" if line.state_name else ""
    rows = [f"{line.lhs} &= {line.rhs}{shape}{state}"]
    if line.words:
        rows.append(f"&\\text{{[{_fragment_text(line.words)}]}}")
    for path in line.paths:
        rows.append(f"&\\text{{via }} {path.via}\\colon\\ {path.term}"
                    f" && \\text{{[{_fragment_text(path.words)}]}}")  # fmt: skip
    if line.value is not None:
        rows += [f"&= {tex}" for tex in value_latex(line)]
    return rows
