"""A spec's raw TOML text, to locate its keys and values and check them in place (model layer).

Every check here fails with a :class:`SymbackpropError` whose message starts with
``file:line:col:``, found by :class:`Source` in the text as written.
:mod:`symbackprop.model.specs.spec` and :mod:`symbackprop.model.specs.data` read their tables
through these helpers.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from symbackprop.model.errors import (
    NumericError,
    ShapeError,
    SpecError,
    SymbackpropError,
    shorten,
    unknown_name,
)
from symbackprop.model.functions import FloatArray
from symbackprop.model.inputs import read_input_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("name", "description", "network", "program", "params", "init", "data", "training"),
    ("network",): ("sizes", "activation", "loss", "bias", "weight_decay", "l1", "inputs", "layers"),
    ("program",): (
        "inputs", "targets", "params", "assign", "loss", "weight_decay", "l1", "stages",
    ),
    ("init",): ("seed", "scheme"),
    ("data",): (
        "X", "Y", "csv", "inputs", "targets", "one_hot", "classes", "standardize",
        "test_fraction", "seed",
    ),
    ("training",): (
        "learning_rate", "epochs", "batch_size", "freeze", "seed", "optimizer",
        "momentum", "rho", "beta1", "beta2", "epsilon",
    ),
}  # fmt: skip
_TOML_POSITION = re.compile(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$")


# --- the raw text: positions of keys and values -----------------------------------------------
class Source:
    """A spec's raw text, to find where a key or a value sits (line and column, 1-based)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.name = path.name
        self.text = text

    @staticmethod
    def read(path: Path) -> Source:
        if not path.exists():
            raise SpecError(
                f"{path}: no such file; check the path (specs live in examples/, e.g. xor.toml)"
            )
        # Bounded (large data belongs in a CSV file named by [data] csv = ...).
        raw = read_input_bytes(path, "spec", SpecError)
        try:
            return Source(path, raw.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise SpecError(
                f"{path.name}:{line}:1: the file is not UTF-8 text; save it as UTF-8"
            ) from None

    def parse(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as error:
            message = str(error)
            match = _TOML_POSITION.match(message)
            where = f"{self.name}:{match[2]}:{match[3]}" if match else f"{self.name}:1:1"
            what = (match[1] if match else message).rstrip(".")
            what = what[:1].lower() + what[1:]
            raise SpecError(
                f"{where}: invalid TOML: {shorten(what, 80)}; fix the syntax (see examples/)"
            ) from None
        except RecursionError:
            raise SpecError(
                f"{self.name}:1:1: arrays or tables nested too deeply; fix the syntax"
            ) from None

    # -- positions --
    def where(self, offset: int) -> str:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return f"{self.name}:{line}:{column}"

    def line_column(self, offset: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, offset) + 1
        return line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1

    def _table_span(self, table: tuple[str, ...]) -> tuple[int, int] | None:
        headers = re.compile(r"^[ \t]*\[\[?[ \t]*[A-Za-z_\"'][^\n\]]*\]\]?[ \t]*(?:#.*)?$", re.M)
        if not table:
            first = headers.search(self.text)
            return 0, first.start() if first else len(self.text)
        dotted = r"[ \t]*\.[ \t]*".join(rf"(?:{re.escape(k)}|\"{re.escape(k)}\")" for k in table)
        header = re.compile(rf"^[ \t]*\[[ \t]*{dotted}[ \t]*\][ \t]*(?:#.*)?$", re.M)
        match = header.search(self.text)
        if match is None:
            return None
        following = headers.search(self.text, match.end())
        return match.start(), following.start() if following else len(self.text)

    def key(self, table: tuple[str, ...], key: str | None = None) -> int:
        """Return the offset of ``key`` in ``table`` (or of the table), as near as it is found."""
        span = self._table_span(table)
        if span is None:
            # An inline table (init = {seed = 0}): look after its key in the parent table.
            start = self.key(table[:-1], table[-1]) if table else 0
            end = len(self.text)
        else:
            start, end = span
        if key is None:
            return _skip_blank(self.text, start)
        quoted = re.escape(key)
        pattern = re.compile(
            rf"(?:^|[{{,])[ \t]*((?:{quoted}|\"{quoted}\"|'{quoted}')[ \t]*=)", re.M
        )
        match = pattern.search(self.text, start, end)
        if match:
            return match.start(1)
        header = self._table_span((*table, key))  # the key is a table of its own: [key]
        return _skip_blank(self.text, header[0] if header else start)

    def value(self, table: tuple[str, ...], key: str, text: str, after: int | None = None) -> int:
        """Return the offset of a string value's first character (after its key, or ``after``)."""
        start = self.key(table, key) if after is None else after
        found = self.text.find(text, start) if text else -1
        return found if found >= 0 else start

    def fail(self, kind: type[SymbackpropError], offset: int, message: str) -> NoReturn:
        raise kind(f"{self.where(offset)}: {message}")

    @contextlib.contextmanager
    def at(self, offset: int) -> Iterator[None]:
        """Prefix the position to a SymbackpropError raised inside (unless it has one)."""
        try:
            yield
        except SymbackpropError as error:
            message = str(error)
            if message.startswith(f"{self.name}:"):
                raise
            raise type(error)(f"{self.where(offset)}: {message}") from None


def _skip_blank(text: str, offset: int) -> int:
    while offset < len(text) and text[offset] in " \t\r\n":
        offset += 1
    return min(offset, max(len(text) - 1, 0))


# --- keys and types ---------------------------------------------------------------------------
def check_keys(source: Source, table: Mapping[str, Any], path: tuple[str, ...]) -> None:
    """Reject a key the spec format does not know, in ``table`` and each table below it."""
    known = _KEYS[path]
    for key, value in table.items():
        if key not in known:
            where = f"in [{'.'.join(path)}]" if path else "at the top level"
            error = unknown_name("key", key, known, where)
            source.fail(SpecError, source.key(path, key), f"{error}; remove or rename it")
        if (*path, key) in _KEYS:
            if not isinstance(value, dict):
                source.fail(
                    SpecError,
                    source.key(path, key),
                    f"{key!r} is {kind_of(value)}, not a table; "
                    f"write it as [{key}] with keys below",
                )
            check_keys(source, value, (*path, key))


def kind_of(value: Any) -> str:
    """Name a TOML value's type for a message: "a whole number", "a list", ..."""
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def table_of(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the table ``name`` of a checked document, or {} where it is left out."""
    value = document.get(name, {})
    assert isinstance(value, dict)  # check_keys made sure
    return value


def optional(
    source: Source,
    table: Mapping[str, Any],
    path: tuple[str, ...],
    key: str,
    kind: type | tuple[type, ...],
    default: Any,
) -> Any:
    """Return ``table[key]`` checked to be of ``kind``, or ``default`` where it is left out."""
    if key not in table:
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        value = None  # True is an int to Python, never to a spec
    if not isinstance(value, kinds):
        expected = " or ".join(kind_of(k()) if k is not float else "a number" for k in kinds)
        source.fail(
            SpecError,
            source.key(path, key),
            f"{key} is {kind_of(table[key])} ({shorten(repr(table[key]))}); expected {expected}",
        )
    return value


def required(
    source: Source, table: Mapping[str, Any], path: tuple[str, ...], key: str, example: str
) -> Any:
    """Return ``table[key]``; where it is missing, fail with ``example`` as the fix."""
    if key not in table:
        source.fail(
            SpecError,
            source.key(path),
            f"[{'.'.join(path)}] has no {key!r}; add it, e.g. {example}",
        )
    return table[key]


def name_list(source: Source, value: Any, path: tuple[str, ...], key: str) -> list[str]:
    """Return ``value`` as a list of names (one string counts as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        source.fail(
            SpecError,
            source.key(path, key),
            f'{key} is {shorten(repr(value))}; expected a list of names, e.g. ["x1", "x2"]',
        )
    return list(value)


# --- numbers and arrays ---------------------------------------------------------------------------
def finite(source: Source, offset: int, value: Any, what: str) -> float:
    """Return ``value`` as a float, failing at ``offset`` unless it is a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        source.fail(
            NumericError, offset, f"{what} is {shorten(repr(value))}, not a number; give e.g. 0.5"
        )
    if not math.isfinite(value):
        source.fail(NumericError, offset, f"{what} is {value}; give a finite number")
    return float(value)


def number_array(
    source: Source, offset: int, value: Any, what: str, shape: tuple[int, ...]
) -> FloatArray:
    """Read a nested list of numbers of exactly ``shape`` (NaN, inf and strings rejected)."""
    if len(shape) > 2:  # a kernel (out, in, kh, kw): each entry is an array of shape[1:]
        if not isinstance(value, list) or len(value) != shape[0]:
            got = f"{len(value)} entries" if isinstance(value, list) else kind_of(value)
            source.fail(
                ShapeError,
                offset,
                f"{what} has {got} but needs shape {shape}: {shape[0]} nested lists of shape "
                f"{shape[1:]}",
            )
        parts = [number_array(source, offset, part, f"{what}[{i}]", shape[1:])
                 for i, part in enumerate(value)]  # fmt: skip
        return np.stack(parts)
    rows = value if len(shape) == 2 else [value]
    rows_ok = isinstance(value, list) and all(isinstance(r, list) for r in rows)
    if not rows_ok or len(rows) != (shape[0] if len(shape) == 2 else 1):
        got = f"{len(value)} entries" if isinstance(value, list) else kind_of(value)
        source.fail(
            ShapeError, offset, f"{what} has {got} but needs shape {shape}; {_shape_example(shape)}"
        )
    width = shape[-1]
    for i, row in enumerate(rows, start=1):
        if len(row) != width:
            place = f"row {i} of {what}" if len(shape) == 2 else what
            source.fail(
                ShapeError,
                offset,
                f"{place} has {len(row)} values but needs {width}; {what} needs shape {shape}",
            )
        for k, number in enumerate(row, start=1):
            finite(source, offset, number, f"{what} row {i}, column {k}")
    return np.array(rows, dtype=np.float64).reshape(shape)


def _shape_example(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"give a list of {shape[0]} numbers"
    return f"give {shape[0]} rows of {shape[1]} numbers each"
