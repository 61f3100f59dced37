"""TOML network specs -> Network, initial parameters, data and training settings (model layer).

Every bad input raises a :class:`SymbackpropError` whose one-line message starts with
``file:line:col:`` wherever the position is known. Expression text goes through
:mod:`symbackprop.parsing` alone. The format (every key; anything else is an error):

```toml
name = "xor"                      # optional; default: the file's stem
description = "..."               # optional

# Either a layered network ...
[network]
sizes = [2, 2, 1]                 # input size, then each layer's size
activation = "sigmoid"            # one name, or one per layer (layer 1 first); default sigmoid
loss = "half_sse"                 # a registered loss; default half_sse
bias = "per_neuron"               # "per_neuron" (b1_1), "shared" (b1) or "none"

# ... or a custom program (names are kept; expressions are parsed safely).
[program]
inputs = ["x1", "x2"]
targets = ["y"]                   # optional
params = ["w1", "w2", "b"]
assign = ["h = sigmoid(w1*x1 + w2*x2 + b)"]   # "name = expression", in order; optional
loss = "(h - y)**2 / 2"           # one sample's loss

[params]                          # initial values by ASCII name; layered networks also take
w1_1_1 = 0.15                     # layer arrays: W1 = [[...], ...] (n1 x n0) and b1 = [...]
b1 = 0.35                         # (or one number: every bias of layer 1, or the shared b1)

[init]                            # draws every parameter [params] does not give
seed = 0
scheme = "xavier"                 # xavier, he, normal, uniform

[data]                            # optional: inline ...
X = [[0, 0], [0, 1]]              # (batch, n_inputs); one sample may be a flat list
Y = [[0], [1]]                    # (batch, n_outputs); may be left out with no targets
# ... or from a CSV file next to the spec (first row: column names):
# csv = "iris.csv"; inputs = ["sepal_length", ...]; targets = ["species"]
# one_hot = true                  # encode the one target column's classes as one-hot rows
# classes = ["setosa", ...]       # class order for one_hot; default: order of appearance
standardize = false               # rescale each input column to mean 0, standard deviation 1

[training]
learning_rate = 0.5
epochs = 1000
batch_size = 0                    # 0 (the default): the full batch each epoch
freeze = ["b1", "b2"]             # parameters gradient descent leaves alone
seed = 0                          # shuffling of mini-batches
```
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import re
import sys
import types
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import sympy as sp

from symbackprop import notation, parsing
from symbackprop.activations import get_activation
from symbackprop.errors import (
    NumericError,
    ShapeError,
    SpecError,
    SymbackpropError,
    SymbackpropWarning,
    UnknownNameError,
    shorten,
    unknown_name,
)
from symbackprop.functions import FloatArray
from symbackprop.losses import get_loss
from symbackprop.network import BIAS_MODES, INIT_SCHEMES, Network, mlp
from symbackprop.validate import data_arrays

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# A spec larger than this is not a hand-written spec (data that large belongs in a CSV).
MAX_SPEC_CHARS = 2_000_000
# More parameters than this would need gigabytes before anything is derived.
MAX_PARAMETERS = 2_000_000

_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    (): ("name", "description", "network", "program", "params", "init", "data", "training"),
    ("network",): ("sizes", "activation", "loss", "bias"),
    ("program",): ("inputs", "targets", "params", "assign", "loss"),
    ("init",): ("seed", "scheme"),
    ("data",): (
        "X", "Y", "csv", "inputs", "targets", "one_hot", "classes", "standardize",
    ),
    ("training",): ("learning_rate", "epochs", "batch_size", "freeze", "seed"),
}  # fmt: skip
_LAYER_ARRAY = re.compile(r"^([Wb])(\d+)$")
_TOML_POSITION = re.compile(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Training:
    """Gradient-descent settings: eta, epochs, mini-batch size (None: full batch), frozen names."""

    learning_rate: float = 0.5
    epochs: int = 1000
    batch_size: int | None = None
    freeze: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
            raise SpecError(f"learning_rate {rate!r} is not a finite number; give e.g. 0.5")
        if rate <= 0:
            raise SpecError(f"learning_rate {rate} is not positive; give e.g. 0.5")
        for key in ("epochs", "seed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(f"{key} {value!r} is not a whole number >= 0; give e.g. 100")
        size = self.batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise SpecError(f"batch_size {size!r} is not a whole number >= 1 (or 0: full batch)")


@dataclass(frozen=True, slots=True)
class Spec:
    """A loaded spec: the network, initial parameters by name, data (X, Y) or None, training."""

    network: Network
    params: Mapping[str, float]
    data: tuple[FloatArray, FloatArray] | None
    training: Training
    path: Path
    name: str
    description: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a TOML spec and return its network, parameters, data and training settings."""
    source = _Source.read(Path(path))
    document = source.parse()
    _check_keys(source, document, ())
    name = _optional(source, document, (), "name", str, Path(path).stem)
    description = _optional(source, document, (), "description", str, "")
    network = _network(source, document)
    params = _params(source, document, network)
    data = _data(source, document, network)
    training = _training(source, document, network)
    return Spec(
        network=network,
        params=types.MappingProxyType(params),
        data=data,
        training=training,
        path=Path(path),
        name=name,
        description=description,
        document=document,
    )


# --- the raw text: positions of keys and values -----------------------------------------------
class _Source:
    """A spec's raw text, to find where a key or a value sits (line and column, 1-based)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.name = path.name
        self.text = text

    @staticmethod
    def read(path: Path) -> _Source:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SpecError(
                f"{path}: no such file; check the path (specs live in examples/, e.g. xor.toml)"
            ) from None
        except OSError as error:
            raise SpecError(f"{path}: cannot read it ({error.strerror}); check the path") from None
        if len(raw) > MAX_SPEC_CHARS:
            raise SpecError(
                f"{path}: {len(raw)} bytes is too large for a spec (limit {MAX_SPEC_CHARS}); "
                "move large data to a CSV file and name it with [data] csv = ..."
            )
        try:
            return _Source(path, raw.decode("utf-8"))
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
def _check_keys(source: _Source, table: Mapping[str, Any], path: tuple[str, ...]) -> None:
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
                    f"{key!r} is {_kind(value)}, not a table; write it as [{key}] with keys below",
                )
            _check_keys(source, value, (*path, key))


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def _table(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    assert isinstance(value, dict)  # _check_keys made sure
    return value


def _optional(
    source: _Source,
    table: Mapping[str, Any],
    path: tuple[str, ...],
    key: str,
    kind: type | tuple[type, ...],
    default: Any,
) -> Any:
    if key not in table:
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        value = None  # True is an int to Python, never to a spec
    if not isinstance(value, kinds):
        expected = " or ".join(_kind(k()) if k is not float else "a number" for k in kinds)
        source.fail(
            SpecError,
            source.key(path, key),
            f"{key} is {_kind(table[key])} ({shorten(repr(table[key]))}); expected {expected}",
        )
    return value


def _required(
    source: _Source, table: Mapping[str, Any], path: tuple[str, ...], key: str, example: str
) -> Any:
    if key not in table:
        source.fail(
            SpecError,
            source.key(path),
            f"[{'.'.join(path)}] has no {key!r}; add it, e.g. {example}",
        )
    return table[key]


def _names(source: _Source, value: Any, path: tuple[str, ...], key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        source.fail(
            SpecError,
            source.key(path, key),
            f'{key} is {shorten(repr(value))}; expected a list of names, e.g. ["x1", "x2"]',
        )
    return list(value)


# --- the network --------------------------------------------------------------------------------
def _network(source: _Source, document: Mapping[str, Any]) -> Network:
    if ("network" in document) == ("program" in document):
        both = "both" if "network" in document else "neither"
        source.fail(
            SpecError,
            source.key(("program",) if both == "both" else ()),
            f"the spec has {both} [network] and [program]; give exactly one: a layered "
            "network ([network] sizes = ...) or a custom program ([program] assign = ...)",
        )
    if "network" in document:
        return _layered(source, _table(document, "network"))
    return _program(source, _table(document, "program"))


def _layered(source: _Source, table: Mapping[str, Any]) -> Network:
    path = ("network",)
    sizes = _required(source, table, path, "sizes", "sizes = [2, 2, 2]")
    with source.at(source.key(path, "sizes")):
        _check_sizes(sizes)
    activation = _optional(source, table, path, "activation", (str, list), "sigmoid")
    loss = _optional(source, table, path, "loss", str, "half_sse")
    bias = _optional(source, table, path, "bias", str, "per_neuron")
    with source.at(source.key(path, "loss")):
        get_loss(loss)
    if bias not in BIAS_MODES:
        with source.at(source.key(path, "bias")):
            raise unknown_name("bias mode", bias, BIAS_MODES)
    if isinstance(activation, list):
        for layer, name in enumerate(activation, start=1):
            with source.at(source.value(path, "activation", str(name))):
                get_activation(name, where=f"for layer {layer}")
    with source.at(source.key(path, "activation")):
        return mlp(sizes, activation=activation, loss=loss, bias=bias)


def _check_sizes(sizes: Any) -> None:
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise SpecError(
            f"sizes {shorten(repr(sizes))} is not a list of 2 or more sizes; "
            "give the input size, then each layer's, e.g. [2, 2, 2]"
        )
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(f"layer size {n!r} in sizes is not a positive whole number; e.g. 2")
    count = sum(sizes[i] * sizes[i - 1] + sizes[i] for i in range(1, len(sizes)))
    if count > MAX_PARAMETERS:
        raise SpecError(
            f"sizes {shorten(repr(sizes))} make {count} parameters (limit {MAX_PARAMETERS}); "
            "choose smaller layers"
        )


def _program(source: _Source, table: Mapping[str, Any]) -> Network:
    path = ("program",)
    inputs = _names(
        source, _required(source, table, path, "inputs", 'inputs = ["x1"]'), path, "inputs"
    )
    params = _names(
        source, _required(source, table, path, "params", 'params = ["w"]'), path, "params"
    )
    targets = _names(source, table.get("targets", []), path, "targets")
    lines = _names(source, table.get("assign", []), path, "assign")
    loss_text = _optional(source, table, path, "loss", str, None)
    if loss_text is None:
        _required(source, table, path, "loss", 'loss = "(h - y)**2 / 2"')
    symbols = {name: sp.Symbol(name) for name in [*params, *inputs, *targets]}
    assignments = []
    cursor = source.key(path, "assign")
    for text in lines:
        offset = source.value(path, "assign", text, after=cursor)
        cursor = offset + len(text)
        lhs, rhs = parsing.parse_assignment(
            text, symbols=symbols, strict=True, **_located(source, offset)
        )
        assignments.append((lhs, rhs))
        symbols[lhs.name] = lhs
    loss_offset = source.value(path, "loss", loss_text)
    loss = parsing.parse(loss_text, symbols=symbols, strict=True, **_located(source, loss_offset))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SymbackpropWarning)
        with source.at(source.key(path)):
            network = Network.from_expressions(assignments, loss, params, inputs, targets)
    _relay_warnings(source, caught, params)
    return network


def _located(source: _Source, offset: int) -> dict[str, Any]:
    line, column = source.line_column(offset)
    return {"source": source.name, "line": line, "column": column}


def _relay_warnings(
    source: _Source, caught: Sequence[warnings.WarningMessage], params: Sequence[str]
) -> None:
    """Warn again, with the position of the parameter named in the message."""
    for record in caught:
        message = str(record.message)
        if not issubclass(record.category, SymbackpropWarning):
            warnings.warn(record.message, record.category, stacklevel=4)
            continue
        offset = source.key(("program",), "params")
        for name in params:
            if f"'{name}'" in message:
                offset = source.value(("program",), "params", f'"{name}"') + 1
        warnings.warn(f"{source.where(offset)}: {message}", SymbackpropWarning, stacklevel=4)


# --- parameters ---------------------------------------------------------------------------------
def _params(source: _Source, document: Mapping[str, Any], network: Network) -> dict[str, float]:
    given: dict[str, float] = {}
    for key, value in _table(document, "params").items():
        offset = source.key(("params",), key)
        for name, number in _parameter_values(source, network, key, value, offset).items():
            if name in given:
                source.fail(
                    SpecError,
                    offset,
                    f"parameter {name!r} is given twice (by name and in a layer array); "
                    "give each value once",
                )
            given[name] = number
    names = network.parameter_names()
    missing = [name for name in names if name not in given]
    if not missing:
        return {name: given[name] for name in names}
    if "init" not in document:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        source.fail(
            SpecError,
            source.key(("params",)) if "params" in document else 0,
            f"no initial value for parameter {missing[0]!r}{more}; give it in [params] or add "
            "[init] seed = 0 to draw the missing ones",
        )
    path = ("init",)
    init = _table(document, "init")
    seed = _optional(source, init, path, "seed", int, 0)
    scheme = _optional(source, init, path, "scheme", str, "xavier")
    if seed < 0:
        source.fail(SpecError, source.key(path, "seed"), f"seed {seed} is negative; give e.g. 0")
    if scheme not in INIT_SCHEMES:
        with source.at(source.key(path, "scheme")):
            raise unknown_name("init scheme", scheme, INIT_SCHEMES)
    drawn = network.init_params(seed=seed, scheme=scheme)
    return {name: given.get(name, drawn[name]) for name in names}


def _parameter_values(
    source: _Source, network: Network, key: str, value: Any, offset: int
) -> dict[str, float]:
    """Read one [params] entry: one value by ASCII name, or a layer array W<l> / b<l>."""
    names = network.parameter_names()
    arch = network.architecture
    if key in names:
        return {key: _finite(source, offset, value, f"parameter {key!r}")}
    match = _LAYER_ARRAY.match(key)
    if arch is None or match is None or not 1 <= int(match[2]) <= arch.depth:
        with source.at(offset):
            if arch is not None and notation.parse_weight_name(key):
                raise UnknownNameError(_weight_hint(key, arch.sizes))
            raise unknown_name("parameter", key, names, "in [params]")
    layer = int(match[2])
    n_out, n_in = arch.sizes[layer], arch.sizes[layer - 1]
    if match[1] == "W":
        array = _array(source, offset, value, key, (n_out, n_in))
        return {
            notation.weight_name(layer, j + 1, k + 1): float(array[j, k])
            for j in range(n_out)
            for k in range(n_in)
        }
    if arch.bias == "none":
        source.fail(
            SpecError,
            offset,
            f'{key} is a bias but the network has bias = "none"; '
            "remove it or set bias in [network]",
        )
    bias_names = arch.bias_names(layer)
    if not isinstance(value, list):
        number = _finite(source, offset, value, key)
        return {name: number for name in bias_names}
    array = _array(source, offset, value, key, (len(bias_names),))
    return {name: float(v) for name, v in zip(bias_names, array, strict=True)}


def _weight_hint(key: str, sizes: Sequence[int]) -> str:
    layer, j, k = notation.parse_weight_name(key) or (0, 0, 0)
    depth = len(sizes) - 1
    if not 1 <= layer <= depth:
        return f"no weight {key!r}: the network has layers 1 to {depth}; fix the layer index"
    if not 1 <= j <= sizes[layer]:
        return (
            f"no weight {key!r}: layer {layer} has {sizes[layer]} neurons, "
            f"so j must be 1 to {sizes[layer]}"
        )
    return (
        f"no weight {key!r}: layer {layer - 1} has {sizes[layer - 1]} neurons, "
        f"so k must be 1 to {sizes[layer - 1]}"
    )


def _finite(source: _Source, offset: int, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        source.fail(
            NumericError, offset, f"{what} is {shorten(repr(value))}, not a number; give e.g. 0.5"
        )
    if not math.isfinite(value):
        source.fail(NumericError, offset, f"{what} is {value}; give a finite number")
    return float(value)


def _array(
    source: _Source, offset: int, value: Any, what: str, shape: tuple[int, ...]
) -> FloatArray:
    """Read a nested list of numbers of exactly ``shape`` (NaN, inf and strings rejected)."""
    rows = value if len(shape) == 2 else [value]
    rows_ok = isinstance(value, list) and all(isinstance(r, list) for r in rows)
    if not rows_ok or len(rows) != (shape[0] if len(shape) == 2 else 1):
        got = f"{len(value)} entries" if isinstance(value, list) else _kind(value)
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
            _finite(source, offset, number, f"{what} row {i}, column {k}")
    return np.array(rows, dtype=np.float64).reshape(shape)


def _shape_example(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"give a list of {shape[0]} numbers"
    return f"give {shape[0]} rows of {shape[1]} numbers each"


# --- data ---------------------------------------------------------------------------------------
def _data(
    source: _Source, document: Mapping[str, Any], network: Network
) -> tuple[FloatArray, FloatArray] | None:
    if "data" not in document:
        return None
    path = ("data",)
    table = _table(document, "data")
    standardize = _optional(source, table, path, "standardize", bool, False)
    if "csv" in table:
        for key in ("X", "Y"):
            if key in table:
                source.fail(
                    SpecError,
                    source.key(path, key),
                    f"[data] has both csv and {key}; give the data one way",
                )
        X, Y = _csv_data(source, table, network)
    else:
        for key in ("inputs", "targets", "one_hot", "classes"):
            if key in table:
                source.fail(
                    SpecError,
                    source.key(path, key),
                    f"{key} describes CSV columns but [data] has no csv; "
                    'add csv = "file.csv" or remove it',
                )
        X = _inline(source, table, "X", network.n_inputs, "inputs")
        Y = _inline(source, table, "Y", network.n_outputs, "outputs", rows=X.shape[0])
        if X.shape[0] != Y.shape[0]:
            source.fail(
                ShapeError,
                source.key(path, "Y"),
                f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; give one target row per sample",
            )
    if standardize:
        spread = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    with source.at(source.key(path)):
        X, Y = data_arrays(network, X, Y)
    X, Y = X.copy(), Y.copy()
    X.flags.writeable = False
    Y.flags.writeable = False
    return X, Y


def _inline(
    source: _Source, table: Mapping[str, Any], key: str, width: int, what: str, rows: int = 0
) -> FloatArray:
    path = ("data",)
    if key not in table:
        if key == "Y" and width == 0:
            return np.zeros((rows, 0))
        _required(source, table, path, key, f"{key} = [[...], ...]")
    value = table[key]
    offset = source.key(path, key)
    if isinstance(value, list) and value and not isinstance(value[0], list):
        value = [value]  # one sample as a flat list
    if not isinstance(value, list) or not value:
        source.fail(
            ShapeError,
            offset,
            f"{key} is {shorten(repr(value))}; give a list of rows, each of {width} "
            f"numbers (one per {what[:-1]})",
        )
    for i, row in enumerate(value, start=1):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            source.fail(
                ShapeError,
                offset,
                f"{key} row {i} has {got} but the network has {width} {what}; "
                f"give {width} numbers per row",
            )
    return _array(source, offset, value, key, (len(value), width))


def _csv_data(
    source: _Source, table: Mapping[str, Any], network: Network
) -> tuple[FloatArray, FloatArray]:
    path = ("data",)
    file_name = _optional(source, table, path, "csv", str, "")
    csv_path = source.path.parent / file_name
    offset = source.value(path, "csv", file_name)
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        source.fail(
            SpecError,
            offset,
            f"cannot read the CSV file {shorten(file_name)!r} ({reason}); "
            "give a path relative to the spec",
        )
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        source.fail(
            SpecError,
            offset,
            f"{shorten(file_name)!r} is empty; its first row must name the columns",
        )
    inputs = _columns(source, table, "inputs", header, network.n_inputs)
    one_hot = _optional(source, table, path, "one_hot", bool, False)
    targets = _columns(source, table, "targets", header, 1 if one_hot else network.n_outputs)
    rows = [(reader.line_num, row) for row in reader if row]
    if not rows:
        source.fail(SpecError, offset, f"{shorten(file_name)!r} has no data rows below its header")
    X = _csv_numbers(csv_path.name, rows, inputs, header)
    if not one_hot:
        return X, _csv_numbers(csv_path.name, rows, targets, header)
    return X, _one_hot(source, table, csv_path.name, rows, targets[0], network.n_outputs)


def _columns(
    source: _Source, table: Mapping[str, Any], key: str, header: list[str], width: int
) -> list[int]:
    path = ("data",)
    if key not in table and width == 0:
        return []
    names = _names(source, _required(source, table, path, key, f'{key} = ["column"]'), path, key)
    offset = source.key(path, key)
    if len(names) != width:
        source.fail(
            ShapeError,
            offset,
            f"{key} names {len(names)} columns but {width} are needed "
            f"(the network's {'inputs' if key == 'inputs' else 'outputs'}); "
            "name one column each",
        )
    indices = []
    for name in names:
        if name not in header:
            with source.at(source.value(path, key, name)):
                raise unknown_name("CSV column", name, header)
        indices.append(header.index(name))
    return indices


def _csv_numbers(
    file_name: str, rows: list[tuple[int, list[str]]], columns: list[int], header: list[str]
) -> FloatArray:
    values = np.empty((len(rows), len(columns)))
    for i, (line, row) in enumerate(rows):
        for c, column in enumerate(columns):
            cell = row[column] if column < len(row) else ""
            try:
                number = float(cell)
            except ValueError:
                raise NumericError(
                    f"{file_name}:{line}:{column + 1}: column {header[column]!r} holds "
                    f"{shorten(cell)!r}, not a number; fix the cell or choose other columns"
                ) from None
            if not math.isfinite(number):
                raise NumericError(
                    f"{file_name}:{line}:{column + 1}: column {header[column]!r} holds "
                    f"{cell!r}; remove or replace non-finite values"
                )
            values[i, c] = number
    return values


def _one_hot(
    source: _Source,
    table: Mapping[str, Any],
    file_name: str,
    rows: list[tuple[int, list[str]]],
    column: int,
    n_outputs: int,
) -> FloatArray:
    path = ("data",)
    cells = [(line, row[column] if column < len(row) else "") for line, row in rows]
    if "classes" in table:
        classes = _names(source, table["classes"], path, "classes")
    else:
        classes = list(dict.fromkeys(cell for _, cell in cells))
    if len(classes) != n_outputs:
        source.fail(
            ShapeError,
            source.key(path, "classes" if "classes" in table else "one_hot"),
            f"the target column has {len(classes)} classes but the network has "
            f"{n_outputs} outputs; make the output layer {len(classes)} wide",
        )
    Y = np.zeros((len(cells), n_outputs))
    for i, (line, cell) in enumerate(cells):
        if cell not in classes:
            raise UnknownNameError(
                f"{file_name}:{line}:{column + 1}: class {shorten(cell)!r} is not in classes "
                f"({', '.join(classes)}); add it to classes or fix the cell"
            )
        Y[i, classes.index(cell)] = 1.0
    return Y


# --- training -----------------------------------------------------------------------------------
def _training(source: _Source, document: Mapping[str, Any], network: Network) -> Training:
    path = ("training",)
    table = _table(document, "training")
    settings = {
        "learning_rate": _optional(source, table, path, "learning_rate", (float, int), 0.5),
        "epochs": _optional(source, table, path, "epochs", int, 1000),
        "batch_size": _optional(source, table, path, "batch_size", int, 0) or None,
        "seed": _optional(source, table, path, "seed", int, 0),
    }
    for key, value in settings.items():
        with source.at(source.key(path, key) if key in table else source.key(path)):
            Training(**{key: value})  # type: ignore[arg-type]
    freeze = _names(source, table.get("freeze", []), path, "freeze")
    known = network.parameter_names()
    for name in freeze:
        if name not in known:
            with source.at(source.value(path, "freeze", name)):
                raise unknown_name("parameter to freeze", name, known)
    return Training(freeze=tuple(freeze), **settings)


# --- writing a spec back ------------------------------------------------------------------------
def spec_toml(spec: Spec, params: Mapping[str, float], path: str | os.PathLike[str]) -> str:
    """Return the TOML text of ``spec`` with ``params`` as its initial values, to save at ``path``.

    The CSV file a spec names is referred to relative to the new file's directory, so the
    written spec loads back with :func:`load_spec` from where it is saved.
    """
    document = copy.deepcopy(dict(spec.document))
    document.pop("init", None)
    document["params"] = {name: float(params[name]) for name in spec.network.parameter_names()}
    data = document.get("data")
    if isinstance(data, dict) and "csv" in data:
        csv_file = (spec.path.parent / data["csv"]).resolve()
        target = Path(path).resolve().parent
        try:
            data["csv"] = Path(os.path.relpath(csv_file, target)).as_posix()
        except ValueError:  # another drive (Windows): keep the absolute path
            data["csv"] = csv_file.as_posix()
    return _dump(document, f"written by symbackprop from {spec.path.name}")


def _dump(document: Mapping[str, Any], comment: str) -> str:
    lines = [f"# {comment}"]
    for key, value in document.items():
        if not isinstance(value, dict):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in document.items():
        if isinstance(value, dict):
            lines += ["", f"[{_toml_key(key)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also forbids a raw DEL character.
    return json.dumps(text).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) or math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    return str(value.isoformat())  # dates and times
