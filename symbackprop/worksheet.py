"""Worksheets: one verified variant per student, with manifests, PDFs, HTML and notebooks.

Rendering layer (worksheets). :func:`worksheet` reads a worksheet spec and a roster, draws each
student's variant (:mod:`symbackprop.variants`), checks every gradient of every key against
central differences, and builds each student's manifest (validated against the JSON schema
shipped in ``symbackprop/schemas``). :meth:`Worksheet.write` renders the files
(:mod:`symbackprop.worksheet_render`) in a temporary folder and moves them into place only when
all of them were made. Grading is :func:`symbackprop.grading.grade`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from symbackprop import notation
from symbackprop.errors import SymbackpropError, shorten
from symbackprop.files import read_utf8
from symbackprop.numeric import compile as compile_network
from symbackprop.variants import Variant, draw_variant, upstream_blanks
from symbackprop.worksheet_spec import WorksheetSpec, bias_parameter, load_worksheet_spec

SCHEMA_VERSION = 1
KEY_RTOL = 1e-6  # a key gradient and its central difference must agree to this (relative)
KEY_ATOL = 1e-9  # ... or absolutely, for gradients near 0 (h = 1e-5: error ~1e-10)
_FD_STEP = 1e-5
_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class KeyCheckError(SymbackpropError):
    """A key's gradient disagrees with central differences: generation stops."""


class RosterError(SymbackpropError):
    """The roster cannot be read at all, or has no usable student."""


@dataclass(frozen=True)
class Worksheet:
    """Every student's variant and manifest; ``write`` renders the files."""

    spec: WorksheetSpec
    course_salt: str
    variants: tuple[Variant, ...]
    manifests: tuple[dict[str, Any], ...]
    messages: tuple[str, ...] = ()  # roster rows that were skipped, one line each
    _render_options: Mapping[str, Any] = field(default_factory=dict, repr=False)

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
        from symbackprop.worksheet_build import write_worksheet

        return write_worksheet(self, Path(folder), parts, pdf, jobs, progress, pdf_each_key)


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
        check = verify_key(variant)
        manifest = build_manifest(sheet, variant, check)
        validate_manifest(manifest)
        variants.append(variant)
        manifests.append(manifest)
        if progress is not None:
            progress(number, len(ids))
    return Worksheet(sheet, course_salt, tuple(variants), tuple(manifests), tuple(messages))


# --- roster ----------------------------------------------------------------
def read_roster(roster: str | os.PathLike[str] | Sequence[str]) -> tuple[list[str], list[str]]:
    """Return the usable student ids and one message per skipped row."""
    if isinstance(roster, (str, os.PathLike)):
        path = Path(roster)
        text = read_utf8(path, "roster", RosterError)
        rows = [(f"{path.name}:{n}", r[0].strip() if r else "")
                for n, r in enumerate(csv.reader(io.StringIO(text)), start=1)]  # fmt: skip
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
                            "digits and _ . @ - (it names a folder); row skipped")  # fmt: skip
        elif student_id in ids:
            messages.append(f"{where}: duplicate student id {student_id!r}; the first one counts")
        else:
            ids.append(student_id)
    if not ids:
        raise RosterError("the roster has no usable student id: " + "; ".join(messages[:3]))
    return ids, messages


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


# --- the manifest ----------------------------------------------------------------
def package_version() -> str:
    try:
        return metadata.version("symbackprop")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "0+unknown"


def build_manifest(
    spec: WorksheetSpec, variant: Variant, check: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the manifest: everything grading needs, with no other file."""
    arch = variant.network.architecture
    assert arch is not None  # worksheets draw layered networks only
    blanks = []
    for blank in variant.blanks:
        upstream = upstream_blanks(variant, blank)
        entry: dict[str, Any] = {
            "id": blank.id, "kind": blank.kind, "of": blank.of, "step": blank.step,
            "type": blank.type, "points": blank.points, "answer": blank.answer,
            "atol": blank.atol, "rtol": 0.0, "upstream": list(upstream),
            "upstream_steps": [b.step for b in variant.blanks if b.id in upstream],
            "mistakes": [{"name": m.name, "title": m.title, "explanation": m.explanation,
                          "value": m.value} for m in blank.mistakes],
            "options": list(blank.options),
        }  # fmt: skip
        if blank.kind == "symbolic_delta":
            entry["wrt"] = bias_parameter(variant.network, blank.of)
        elif blank.kind == "symbolic_gradient":
            entry["wrt"] = blank.of
        blanks.append(entry)
    return {
        "schema_version": SCHEMA_VERSION,
        "package_version": package_version(),
        "worksheet_id": spec.id,
        "title": spec.title,
        "student_id": variant.student_id,
        "seed": f"{variant.seed:016x}",
        "skipped": variant.skipped,
        "rejected": dict(variant.rejected),
        "network": {
            "sizes": list(arch.sizes),
            "activations": list(arch.activations),
            "loss": arch.loss,
            "bias": arch.bias,
        },  # fmt: skip
        "learning_rate": variant.learning_rate,
        "decimals": variant.decimals,
        "ecf_credit": spec.ecf_credit,
        "mistake_credit": spec.mistake_credit,
        "shown": dict(variant.shown),
        "blanks": blanks,
        "key_check": dict(check),
    }


def manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def manifest_schema() -> dict[str, Any]:
    """Return the JSON Schema of a manifest, as shipped in the package."""
    return json.loads(_schema_text())  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    path = resources.files("symbackprop").joinpath("schemas/worksheet-manifest.schema.json")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _schema() -> Mapping[str, Any]:
    """The schema read once per process for validation (never handed out, so never changed)."""
    return manifest_schema()


def validate_manifest(manifest: Any) -> None:
    """Raise SymbackpropError naming the first place where a manifest breaks the schema."""
    problem = _first_problem(manifest, _schema(), "manifest")
    if problem is not None:
        raise SymbackpropError(f"{problem}; regenerate the worksheet with this version")


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}  # fmt: skip


def _first_problem(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    """Check the JSON Schema subset the manifest schema uses (type, properties, items, ...)."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        ok = any(isinstance(value, _TYPES[t]) and not (t != "boolean" and isinstance(value, bool))
                 for t in names)  # fmt: skip
        if not ok:
            return f"{where} should be {' or '.join(names)}, not {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} is {shorten(repr(value))}; expected one of {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        return f"{where} is {shorten(repr(value))}; expected {schema['const']!r}"
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        return f"{where} is {value}, below the minimum {schema['minimum']}"
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        return f"{where} {shorten(value)!r} does not match {schema['pattern']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where} has no {key!r}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is None and extra is False:
                return f"{where} has an unexpected key {key!r}"
            if isinstance(sub, dict):
                problem = _first_problem(item, sub, f"{where}.{key}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = _first_problem(item, schema["items"], f"{where}[{i}]")
            if problem:
                return problem
    return None
