"""Worksheet specs: read and check a worksheet's TOML (network family, value ranges, questions).

Worksheets stage. A worksheet spec names a family of networks, the grids the shown
values are drawn from, the questions with their points, and the marking rules. Every error
names the file and the key to fix; a question that some network of the family cannot answer
is refused here, before any student's variant is drawn (:mod:`symbackprop.worksheets.variants`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symbackprop.derivation.steps import Stage
from symbackprop.model import notation
from symbackprop.model.errors import SpecError, SymbackpropError, shorten
from symbackprop.model.inputs import read_input_text, require_path
from symbackprop.model.network import Network, mlp
from symbackprop.worksheets.spec_keys import check_keys
from symbackprop.worksheets.step_program import program_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NUMERIC_KINDS = ("forward", "loss", "delta", "gradient", "update")
SYMBOLIC_KINDS = ("symbolic_delta", "symbolic_gradient")
KINDS = NUMERIC_KINDS + SYMBOLIC_KINDS + ("rule",)
# Worksheets are computed by hand, and each network's derivation and mistake catalogue is built
# symbolically once per network (a [2, 5, 5, 1] network takes over a minute, [2, 20, 20, 1]
# hours), so the family is capped: layers counted with the inputs, parameters = weights + biases.
MAX_NEURONS = 4  # per layer
MAX_LAYERS = 4  # inputs, at most two hidden layers, outputs
MAX_PARAMETERS = 30  # e.g. [2, 3, 3, 1] has 25, [4, 4, 2] has 30


@dataclass(frozen=True, slots=True)
class Question:
    """One blank: its kind, the quantity it asks for (ASCII name), points, its blank id."""

    kind: str
    of: str
    points: float
    id: str
    tolerance: float | None = (
        None  # numeric blanks: the absolute tolerance, replacing the rounding's
    )
    decimals: int | None = None  # numeric blanks: decimals asked for this answer (else the sheet's)


@dataclass(frozen=True, slots=True)
class ValueRange:
    """Values drawn on a grid lo, lo + step, ..., hi (shown exactly on the sheet)."""

    low: float
    high: float
    step: float

    def count(self) -> int:
        return int(round((self.high - self.low) / self.step)) + 1

    def value(self, index: int) -> float:
        decimals = max(0, -int(np.floor(np.log10(self.step) + 1e-9)))
        return round(self.low + index * self.step, decimals)


@dataclass(frozen=True, slots=True)
class WorksheetSpec:
    """A worksheet: id, title, the network family, value ranges, questions and marking rules."""

    id: str
    title: str
    sizes: tuple[tuple[int, ...], ...]
    hidden_activations: tuple[str, ...]
    output_activations: tuple[str, ...]
    losses: tuple[str, ...]
    ranges: Mapping[str, ValueRange]
    questions: tuple[Question, ...]
    decimals: int = 4
    learning_rate: float = 0.5
    ecf_credit: float = 1.0
    mistake_credit: float = 0.0
    source: Mapping[str, Any] = field(default_factory=dict)

    def question(self, blank: str) -> Question:
        for question in self.questions:
            if question.id == blank:
                return question
        raise SpecError(f"no blank {blank!r} in worksheet {self.id!r}")

    def networks(self) -> list[Network]:
        """Return every network of the family (each combination of the choices)."""
        out = []
        for sizes in self.sizes:
            for hidden in self.hidden_activations:
                for output in self.output_activations:
                    for loss in self.losses:
                        depth = len(sizes) - 1
                        out.append(mlp(sizes, [hidden] * (depth - 1) + [output], loss))
        return out


def load_worksheet_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> WorksheetSpec:
    """Read a worksheet spec from a TOML file or a dict; errors name the file and the key."""
    where = "<dict>"
    if isinstance(spec, Mapping):
        document = dict(spec)
    else:
        where = os.fspath(require_path(spec, "worksheet spec", "examples/worksheets/week5.toml"))
        text = read_input_text(where, "worksheet spec", SpecError)
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{where}: not valid TOML: {error}") from None
        except RecursionError:
            raise SpecError(f"{where}: arrays or tables nested too deeply; fix the file") from None
    return _spec_from(document, where)


def _spec_from(document: Mapping[str, Any], where: str) -> WorksheetSpec:
    check_keys(document, where)
    sheet = _table(document, "worksheet", where)
    net = _table(document, "network", where)
    values = _table(document, "values", where)
    ranges = {name: _range(values, name, where) for name in ("weights", "biases", "inputs")}
    ranges["targets"] = _range(values, "targets", where)
    sizes = tuple(_sizes(s, number, where)
                  for number, s in enumerate(_list(net, "sizes", where), start=1))  # fmt: skip
    spec = WorksheetSpec(
        id=_text(sheet, "id", where),
        title=str(sheet.get("title", "Backpropagation by hand")),
        sizes=sizes,
        hidden_activations=tuple(_list(net, "activations", where)),
        output_activations=tuple(net.get("output_activations", ["sigmoid"])),
        losses=tuple(net.get("losses", ["half_sse"])),
        ranges=ranges,
        questions=tuple(_questions(document, where)),
        decimals=int(_setting(sheet, "decimals", 4, where, (1, 8), whole=True)),
        learning_rate=_setting(sheet, "learning_rate", 0.5, where, (0.0, math.inf)),
        ecf_credit=_setting(sheet, "ecf_credit", 1.0, where, (0.0, 1.0)),
        mistake_credit=_setting(sheet, "mistake_credit", 0.0, where, (0.0, 1.0)),
        source=document,
    )
    _check_spec(spec, where)
    return spec


def _sizes(raw: Any, number: int, where: str) -> tuple[int, ...]:
    """Check one entry of network.sizes: a hand-sized layered network (see MAX_PARAMETERS)."""
    at = f"{where}: network.sizes entry {number}"
    if not (isinstance(raw, list) and all(isinstance(n, int) and not isinstance(n, bool)
                                          for n in raw)):  # fmt: skip
        raise SpecError(f"{at} is {shorten(repr(raw))}; use a list of layer sizes, e.g. [2, 2, 1]")
    if not 2 <= len(raw) <= MAX_LAYERS:
        raise SpecError(
            f"{at} {raw} has {len(raw)} {'layer' if len(raw) == 1 else 'layers'}; "
            f"use 2 to {MAX_LAYERS} (inputs, hidden layers, outputs), e.g. [2, 2, 1]"
        )
    if any(not 1 <= n <= MAX_NEURONS for n in raw):
        raise SpecError(
            f"{at} {raw} has a layer of {max(raw) if max(raw) > MAX_NEURONS else min(raw)} "
            f"neurons; worksheets are for hand computation: use 1 to {MAX_NEURONS} "
            "per layer"
        )
    count = sum(n_in * n_out + n_out for n_in, n_out in zip(raw[:-1], raw[1:], strict=True))
    if count > MAX_PARAMETERS:
        raise SpecError(
            f"{at} {raw} has {count} weights and biases; worksheets are for hand "
            f"computation: use at most {MAX_PARAMETERS}, e.g. [2, 3, 3, 1] (25)"
        )
    return tuple(raw)


def _table(document: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    table = document.get(name)
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: missing table [{name}]; see examples/worksheets/")
    return table


def _list(table: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = table.get(key)
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where}: {key!r} must be a non-empty list, got {shorten(repr(value))}")
    return value


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f'{where}: {key!r} must be a non-empty string, e.g. {key} = "week5"')
    return value


def _range(values: Mapping[str, Any], key: str, where: str) -> ValueRange:
    raw = values.get(key)
    if not (isinstance(raw, list) and len(raw) == 3 and all(_is_number(v) for v in raw)):
        raise SpecError(
            f"{where}: values.{key} must be [low, high, step], got {shorten(repr(raw))}; "
            f"e.g. {key} = [-1.0, 1.0, 0.1]"
        )
    low, high, step = (float(v) for v in raw)
    if not (step > 0 and high > low):
        raise SpecError(f"{where}: values.{key} = {raw} needs low < high and step > 0")
    return ValueRange(low, high, step)


def _is_number(value: Any) -> bool:
    """A finite int or float (TOML's nan and inf are not numbers a worksheet can use)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _setting(sheet: Mapping[str, Any], key: str, default: float, where: str,
             bounds: tuple[float, float], whole: bool = False) -> float:  # fmt: skip
    """A [worksheet] number within ``bounds`` (a learning rate must be above 0)."""
    value = sheet.get(key, default)
    low, high = bounds
    usable = _is_number(value) and low <= value <= high and (not whole or isinstance(value, int))
    if not usable or (key == "learning_rate" and value <= 0):
        shown = "above 0" if high == math.inf else f"from {low:g} to {high:g}"
        kind = "a whole number" if whole else "a number"
        raise SpecError(f"{where}: {key} = {shorten(repr(value))}; use {kind} {shown}")
    return float(value)


def _questions(document: Mapping[str, Any], where: str) -> list[Question]:
    raw = document.get("questions")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}: add at least one [[questions]] table with kind, of and points")
    out = []
    for number, entry in enumerate(raw, start=1):
        kind = entry.get("kind")
        if kind not in KINDS:
            raise SpecError(
                f"{where}: question {number} has kind {kind!r}; known: {', '.join(KINDS)}"
            )
        of = "L" if kind == "loss" else entry.get("of")
        if not isinstance(of, str):
            raise SpecError(f'{where}: question {number} ({kind}) needs of = "<name>"')
        points = entry.get("points", 1)
        if not _is_number(points) or points < 0:
            raise SpecError(f"{where}: question {number} has points {points!r}; use a number >= 0")
        blank = str(entry.get("id", _default_id(kind, of)))
        out.append(Question(kind, of, float(points), blank, *_marking(entry, number, kind, where)))
    ids = [q.id for q in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpecError(f"{where}: blank ids {duplicates} repeat; give each question its own id")
    return out


def _marking(entry: Mapping[str, Any], number: int, kind: str,
             where: str) -> tuple[float | None, int | None]:  # fmt: skip
    """A question's own tolerance and decimals, when it sets them (numeric questions only)."""
    tolerance, decimals = entry.get("tolerance"), entry.get("decimals")
    if (tolerance is not None or decimals is not None) and kind not in NUMERIC_KINDS:
        raise SpecError(
            f"{where}: question {number} ({kind}) sets tolerance or decimals, which only "
            f"number questions use ({', '.join(NUMERIC_KINDS)}); remove them"
        )
    if tolerance is not None and not (_is_number(tolerance) and tolerance > 0):
        raise SpecError(f"{where}: question {number} has tolerance = {shorten(repr(tolerance))}; "
                        "use a number above 0, e.g. tolerance = 0.001")  # fmt: skip
    if decimals is not None and not (isinstance(decimals, int) and not isinstance(decimals, bool)
                                     and 1 <= decimals <= 8):  # fmt: skip
        raise SpecError(f"{where}: question {number} has decimals = {shorten(repr(decimals))}; "
                        "use a whole number from 1 to 8")  # fmt: skip
    return (None if tolerance is None else float(tolerance)), decimals


def _default_id(kind: str, of: str) -> str:
    return {
        "forward": of,
        "loss": "L",
        "delta": of,
        "gradient": notation.gradient_name(of),
        "update": notation.updated_name(of),
        "symbolic_delta": f"expr_{of}",
        "symbolic_gradient": f"expr_{notation.gradient_name(of)}",
        "rule": f"rule_{of}",
    }[kind]


def _check_spec(spec: WorksheetSpec, where: str) -> None:
    if not 1 <= spec.decimals <= 8:
        raise SpecError(f"{where}: decimals = {spec.decimals}; use 1 to 8")
    for network in spec.networks():
        d = program_for(network).derivation
        for question in spec.questions:
            step_name = quantity_step(question)
            try:
                step = d.step(step_name)
            except SymbackpropError as error:
                raise SpecError(
                    f"{where}: question {question.id!r} asks for {question.of!r}, which "
                    f"{network.describe()} does not have ({error})"
                ) from None
            if question.kind in ("symbolic_delta", "delta") and step.stage is not Stage.ADJOINT:
                raise SpecError(f"{where}: {question.of!r} is not a delta; use e.g. delta2_1")
            if question.kind == "symbolic_delta":
                bias_parameter(network, question.of)


def quantity_step(question: Question) -> str:
    """Return the name of the derivation step whose value a question asks for."""
    if question.kind in ("gradient", "symbolic_gradient"):
        return notation.gradient_name(question.of)
    if question.kind == "update":
        return notation.updated_name(question.of)
    return question.of


def bias_parameter(network: Network, delta: str) -> str:
    """Return b^(l)_j for delta^(l)_j (dL/db = delta): symbolic deltas are checked through it."""
    layer, j = (int(part) for part in delta.removeprefix("delta").split("_"))
    name = notation.bias_name(layer, j)
    if name not in network.parameter_names():
        raise SpecError(
            f"symbolic delta {delta!r} needs per-neuron biases (b^({layer})_{j}); "
            "set bias = per_neuron or ask for a gradient instead"
        )
    return name
