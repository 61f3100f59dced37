"""Worksheet manifests: the JSON record of one student's variant that grading reads back.

Worksheets stage. A manifest holds everything grading needs and no other file: the network,
the shown numbers, every blank with its key, tolerance, upstream blanks and known mistakes,
and how the key was verified. It is checked against the JSON schema shipped beside this module
(``schemas/worksheet-manifest.schema.json``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import metadata, resources
from typing import Any

from symbackprop.model.errors import SymbackpropError, shorten
from symbackprop.model.network import Network, mlp
from symbackprop.worksheets.spec import WorksheetSpec, bias_parameter
from symbackprop.worksheets.variants import RELAXATIONS, Variant, upstream_blanks

RELAXATION_MEANINGS = dict(RELAXATIONS)

SCHEMA_VERSION = 1


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
            **_marking(spec, variant, blank),
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
        "relaxed": [
            {"predicate": name, "meaning": RELAXATION_MEANINGS[name]} for name in variant.relaxed
        ],  # fmt: skip
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


def _marking(spec: WorksheetSpec, variant: Variant, blank: Any) -> dict[str, Any]:
    """A numeric blank's decimals and tolerance, with the question's own settings applied.

    The drawn tolerance is 10^-d (1 + spread) for the sheet's d decimals (see
    :func:`~symbackprop.worksheets.step_program.tolerances`): a question asking for d_q
    decimals keeps the upstream spread 10^-d spread and replaces its own rounding by 10^-d_q;
    a question's tolerance replaces the whole.
    """
    if blank.type != "numeric":
        return {}
    question = spec.question(blank.id)
    decimals = question.decimals or variant.decimals
    atol = float(blank.atol)
    if question.tolerance is not None:
        atol = question.tolerance
    elif question.decimals is not None:
        atol += 10.0**-question.decimals - 10.0**-variant.decimals
    return {"atol": atol, "decimals": decimals}


def manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def manifest_schema() -> dict[str, Any]:
    """Return the JSON Schema of a manifest, as shipped in the package."""
    return json.loads(_schema_text())  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    path = resources.files("symbackprop.worksheets").joinpath(
        "schemas/worksheet-manifest.schema.json"
    )
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


def network_of(manifest: Mapping[str, Any]) -> Network:
    """Return the network a manifest describes."""
    net = manifest["network"]
    return mlp(net["sizes"], net["activations"], net["loss"], net["bias"])
