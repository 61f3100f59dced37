"""A spec's [data] table -> (X, Y): inline arrays or a CSV, one-hot, a test split, standardize.

Model layer. X is (batch, n_inputs) and Y is (batch, n_outputs), checked against the network and
read-only. ``test_fraction`` holds out a seeded random share of the rows as a test set; the rest
is the training data that every verb uses. Errors name the spec's line and column, or the CSV
file's for a bad cell. A CSV file may be gzip-compressed (``.csv.gz``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from symbackprop.model.caps import CAPS
from symbackprop.model.errors import (
    NumericError,
    ShapeError,
    SpecError,
    UnknownNameError,
    counted,
    shorten,
    unknown_name,
)
from symbackprop.model.functions import FloatArray
from symbackprop.model.inputs import read_input_text
from symbackprop.model.specs.source import (
    Source,
    kind_of,
    name_list,
    number_array,
    optional,
    required,
    table_of,
)
from symbackprop.model.validate import HasData, data_arrays

Data = tuple[FloatArray, FloatArray]


def read_data(
    source: Source, document: Mapping[str, Any], network: HasData
) -> tuple[Data | None, Data | None]:
    """Return (training data, held-out test data), each (X, Y) or None."""
    if "data" not in document:
        return None, None
    path = ("data",)
    table = table_of(document, "data")
    standardize = optional(source, table, path, "standardize", bool, False)
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
                f"X has {counted(X.shape[0], 'row')} but Y has {Y.shape[0]}; give one target row "
                "per sample",
            )
    train_rows, test_rows = _split(source, table, X.shape[0])
    if standardize:
        # The training rows' statistics scale both parts: the test rows stay unseen.
        spread = X[train_rows].std(axis=0)
        X = (X - X[train_rows].mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    with source.at(source.key(path)):
        train = _frozen(*data_arrays(network, X[train_rows], Y[train_rows]))
        if test_rows is None:
            return train, None
        return train, _frozen(*data_arrays(network, X[test_rows], Y[test_rows]))


def split_rows(n: int, test_fraction: float, seed: int) -> tuple[Any, Any]:
    """Return (training rows, test rows): round(test_fraction n) rows drawn without replacement.

    The draw is a permutation from ``numpy.random.default_rng(seed)``; both parts keep the
    file's order.
    """
    n_test = round(test_fraction * n)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _split(source: Source, table: Mapping[str, Any], n: int) -> tuple[Any, Any]:
    path = ("data",)
    fraction = optional(source, table, path, "test_fraction", (float, int), 0.0)
    seed = optional(source, table, path, "seed", int, 0)
    if "seed" in table and "test_fraction" not in table:
        source.fail(
            SpecError,
            source.key(path, "seed"),
            "[data] seed draws the test split but there is no test_fraction; add "
            "test_fraction = 0.2 or remove seed",
        )
    if seed < 0:
        source.fail(SpecError, source.key(path, "seed"), f"seed {seed} is negative; give e.g. 0")
    if not (math.isfinite(fraction) and 0 <= fraction < 1):
        source.fail(
            SpecError,
            source.key(path, "test_fraction"),
            f"test_fraction {fraction!r} is not in [0, 1); give the share of rows to hold "
            "out, e.g. 0.2",
        )
    if fraction == 0:
        return np.arange(n), None
    train_rows, test_rows = split_rows(n, fraction, seed)
    if len(test_rows) == 0 or len(train_rows) == 0:
        source.fail(
            SpecError,
            source.key(path, "test_fraction"),
            f"test_fraction {fraction} of {counted(n, 'row')} leaves "
            f"{len(train_rows)} to train on and {len(test_rows)} to test; choose a fraction "
            "that leaves rows on both sides",
        )
    return train_rows, test_rows


def _frozen(X: FloatArray, Y: FloatArray) -> Data:
    X, Y = X.copy(), Y.copy()
    X.flags.writeable = False
    Y.flags.writeable = False
    return X, Y


def _flat(row: Any) -> Any:
    if isinstance(row, list) and row and all(isinstance(item, list) for item in row):
        return [number for item in row for number in _flat(item)]
    return row


def _inline(
    source: Source, table: Mapping[str, Any], key: str, width: int, what: str, rows: int = 0
) -> FloatArray:
    path = ("data",)
    if key not in table:
        if key == "Y" and width == 0:
            return np.zeros((rows, 0))
        required(source, table, path, key, f"{key} = [[...], ...]")
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
    # A sample given in its own shape ([[x_1], [x_2], ...]: a sequence's steps) is read flat.
    value = [_flat(row) for row in value]
    for i, row in enumerate(value, start=1):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else kind_of(row)
            source.fail(
                ShapeError,
                offset,
                f"{key} row {i} has {got} but the network has {width} {what}; "
                f"give {width} numbers per row",
            )
    return number_array(source, offset, value, key, (len(value), width))


def _csv_data(
    source: Source, table: Mapping[str, Any], network: HasData
) -> tuple[FloatArray, FloatArray]:
    path = ("data",)
    file_name = optional(source, table, path, "csv", str, "")
    csv_path = source.path.parent / file_name
    offset = source.value(path, "csv", file_name)
    with source.at(offset):
        text = read_input_text(csv_path, "the CSV file", SpecError, CAPS.max_data_file_bytes,
                               shown=file_name, gzipped=True)  # fmt: skip
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader, None)
        rows = [(reader.line_num, row) for row in reader if row]
    except csv.Error as error:
        source.fail(SpecError, offset, f"{shorten(file_name)!r} line {reader.line_num} is not "
                    f"readable as CSV ({error}); fix that line")  # fmt: skip
    if not header:
        source.fail(
            SpecError,
            offset,
            f"{shorten(file_name)!r} is empty; its first row must name the columns",
        )
    one_hot = optional(source, table, path, "one_hot", bool, False)
    targets = _columns(source, table, "targets", header, 1 if one_hot else network.n_outputs)
    if "inputs" in table:
        inputs = _columns(source, table, "inputs", header, network.n_inputs)
    else:
        inputs = _other_columns(source, header, targets, network.n_inputs)
    if not rows:
        source.fail(SpecError, offset, f"{shorten(file_name)!r} has no data rows below its header")
    X = _csv_numbers(csv_path.name, rows, inputs, header)
    if not one_hot:
        return X, _csv_numbers(csv_path.name, rows, targets, header)
    return X, _one_hot(source, table, csv_path.name, rows, targets[0], network.n_outputs)


def _columns(
    source: Source, table: Mapping[str, Any], key: str, header: list[str], width: int
) -> list[int]:
    path = ("data",)
    if key not in table and width == 0:
        return []
    names = name_list(source, required(source, table, path, key, f'{key} = ["column"]'), path, key)
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


def _other_columns(source: Source, header: list[str], targets: list[int], width: int) -> list[int]:
    """Every column that is not a target, in the file's order: the inputs left unnamed."""
    others = [i for i in range(len(header)) if i not in targets]
    if len(others) != width:
        source.fail(
            ShapeError,
            source.key(("data",)),
            f"[data] names no inputs, so the {counted(len(others), 'column')} besides the "
            f"targets are the inputs, but the network has {width}; name the input columns "
            'with inputs = ["column", ...]',
        )
    return others


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
                    f"{file_name}:{line}:{column + 1}: column {shorten(header[column])!r} holds "
                    f"{shorten(cell)!r}, not a number; fix the cell or choose other columns"
                ) from None
            if not math.isfinite(number):
                raise NumericError(
                    f"{file_name}:{line}:{column + 1}: column {shorten(header[column])!r} holds "
                    f"{shorten(cell)!r}; remove or replace non-finite values"
                )
            values[i, c] = number
    return values


def _one_hot(
    source: Source,
    table: Mapping[str, Any],
    file_name: str,
    rows: list[tuple[int, list[str]]],
    column: int,
    n_outputs: int,
) -> FloatArray:
    path = ("data",)
    cells = [(line, row[column] if column < len(row) else "") for line, row in rows]
    if "classes" in table:
        classes = name_list(source, table["classes"], path, "classes")
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
                f"({shorten(', '.join(classes), 80)}); add it to classes or fix the cell"
            )
        Y[i, classes.index(cell)] = 1.0
    return Y
