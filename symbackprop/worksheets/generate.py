"""Generate a worksheet: one verified variant per student, from a worksheet spec and a roster.

Worksheets stage. :func:`worksheet` reads a worksheet spec and a roster, draws each student's
variant (:mod:`symbackprop.worksheets.variants`), checks every gradient of every key against
central differences, and builds each student's manifest (:mod:`symbackprop.worksheets.manifest`).
The :class:`~symbackprop.worksheets.build.Worksheet` it returns writes the files.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.inputs import read_input_text
from symbackprop.numeric.compiled import compile as compile_network
from symbackprop.worksheets.build import Worksheet
from symbackprop.worksheets.manifest import build_manifest, validate_manifest
from symbackprop.worksheets.spec import WorksheetSpec, load_worksheet_spec
from symbackprop.worksheets.variants import (
    MAX_ATTEMPTS,
    Variant,
    draw_variant,
    relaxation_text,
)

KEY_RTOL = 1e-6  # a key gradient and its central difference must agree to this (relative)
KEY_ATOL = 1e-9  # ... or absolutely, for gradients near 0 (h = 1e-5: error ~1e-10)
_FD_STEP = 1e-5
# An id names a folder: never "." or ".." (files beside or above the others' folders), nor a
# hidden one. \Z rather than $, which would let "bob\n" through.
_STUDENT_ID = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}\Z")


class KeyCheckError(SymbackpropError):
    """A key's gradient disagrees with central differences: generation stops."""


class RosterError(SymbackpropError):
    """The roster cannot be read at all, or has no usable student."""


def worksheet(
    spec: str | os.PathLike[str] | Mapping[str, Any] | WorksheetSpec,
    roster: str | os.PathLike[str] | Sequence[str],
    course_salt: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Worksheet:
    """Draw, verify and describe every student's variant of a worksheet.

    ``roster`` is a CSV file (first column student_id) or a list of ids; ``course_salt`` is
    the course's secret: with it, a student's variant is reproducible, without it, it is not.
    """
    if not isinstance(course_salt, str) or not course_salt:
        raise SymbackpropError("course_salt is empty; pass a secret string for the course")
    sheet = spec if isinstance(spec, WorksheetSpec) else load_worksheet_spec(spec)
    ids, messages = read_roster(roster)
    variants, manifests = [], []
    for number, student_id in enumerate(ids, start=1):
        variant = draw_variant(sheet, course_salt, student_id)
        if variant.relaxed:
            messages.append(
                f"student {student_id!r}: no draw of {MAX_ATTEMPTS} met every predicate, so "
                f"these were relaxed ({relaxation_text(variant)}); recorded under relaxed in "
                f"key/{student_id}/manifest.json"
            )
        check = verify_key(variant)
        manifest = build_manifest(sheet, variant, check)
        validate_manifest(manifest)
        variants.append(variant)
        manifests.append(manifest)
        if progress is not None:
            progress(number, len(ids))
    return Worksheet(sheet, course_salt, tuple(variants), tuple(manifests), tuple(messages),
                     roster_names(roster))  # fmt: skip


# --- roster ----------------------------------------------------------------
def read_roster(roster: str | os.PathLike[str] | Sequence[str]) -> tuple[list[str], list[str]]:
    """Return the usable student ids and one message per skipped row."""
    if isinstance(roster, (str, os.PathLike)):
        path = Path(roster)
        text = read_input_text(path, "roster", RosterError)
        try:
            rows = [(f"{path.name}:{n}", r[0].strip() if r else "")
                    for n, r in enumerate(csv.reader(io.StringIO(text)), start=1)]  # fmt: skip
        except csv.Error as error:
            raise RosterError(f"{path.name}: not readable as CSV: {error}") from None
        if rows and rows[0][1].lower() in ("student_id", "student", "id"):
            rows = rows[1:]
    else:
        rows = [(f"roster item {n}", str(sid).strip()) for n, sid in enumerate(roster, start=1)]
    ids: list[str] = []
    messages: list[str] = []
    for where, student_id in rows:
        if not student_id:
            messages.append(f"{where}: empty student id; row skipped")
        elif not _STUDENT_ID.match(student_id):
            messages.append(f"{where}: student id {shorten(student_id)!r} may use only letters, "
                            "digits and _ . @ -, not starting with . (it names a folder); "
                            "row skipped")  # fmt: skip
        elif student_id in ids:
            messages.append(f"{where}: duplicate student id {student_id!r}; the first one counts")
        else:
            ids.append(student_id)
    if not ids:
        raise RosterError("the roster has no usable student id: " + "; ".join(messages[:3]))
    return ids, messages


_NAME_COLUMNS = ("name", "student_name", "full_name")


def roster_names(roster: str | os.PathLike[str] | Sequence[str]) -> dict[str, str]:
    """Return {student id: name} from a CSV roster whose header has a name column ({} else).

    The sheets print the name beside the id; ids stay what grading reads.
    """
    if not isinstance(roster, (str, os.PathLike)):
        return {}
    text = read_input_text(Path(roster), "roster", RosterError)
    rows = list(csv.reader(io.StringIO(text)))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    column = next((header.index(c) for c in _NAME_COLUMNS if c in header), None)
    if column is None or column == 0:
        return {}
    return {row[0].strip(): row[column].strip() for row in rows[1:]
            if len(row) > column and row[0].strip() and row[column].strip()}  # fmt: skip


# --- verified keys ----------------------------------------------------------------
def verify_key(variant: Variant) -> dict[str, Any]:
    """Check every gradient of the key against central differences of the loss.

    The loss comes from the compiled forward program, not from the derivation's adjoints, so
    the check is independent of the steps the key was computed with.
    """
    network = variant.network
    loss = compile_network(network).loss
    names = network.parameter_names()
    x = np.array([[variant.shown[n] for n in network.input_names()]])
    y = np.array([[variant.shown[n] for n in network.target_names()]])
    params = {n: variant.shown[n] for n in names}
    worst = 0.0
    for name in names:
        h = _FD_STEP * max(1.0, abs(params[name]))
        up = float(loss({**params, name: params[name] + h}, x, y))
        down = float(loss({**params, name: params[name] - h}, x, y))
        numeric = (up - down) / (2 * h)
        key = variant.values[notation.gradient_name(name)]
        gap = abs(numeric - key)
        if gap > KEY_RTOL * max(abs(key), abs(numeric)) + KEY_ATOL:
            raise KeyCheckError(
                f"key of student {variant.student_id!r}: dL/d{name} = {key:.10g} but central "
                f"differences give {numeric:.10g}; the derivation of {network.describe()} is "
                "wrong here, so no file was written (report it as a bug)"
            )
        worst = max(worst, gap / max(abs(key), 1e-12))
    return {"method": "central differences", "step": _FD_STEP, "max_rel_error": worst}
