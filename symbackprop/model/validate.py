"""Boundary checks for parameter sets and data arrays (model layer).

Public functions call these before any numeric work, so inner code may trust its input. A
parameter set is accepted by ASCII name ({"w2_1_1": 0.4, ...}) or, for a layered network, as
layer arrays ({"W2": (n2, n1) array, "b2": (n2,) array or a scalar for a shared bias, ...}).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from symbackprop.model import notation
from symbackprop.model.architecture import (
    Architecture,
    layer_arrays_to_names,
    names_to_layer_arrays,
)
from symbackprop.model.caps import check_memory, parameter_count
from symbackprop.model.errors import NumericError, ShapeError, SpecError, counted, shorten
from symbackprop.model.functions import FloatArray
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network

_LAYER_ARRAY = re.compile(r"^[Wb]\d+$")


# --- arguments of the public functions ------------------------------------------------------------
def require_network(network: Any, where: str) -> Network:
    """Return ``network`` if it is a Network; else raise SpecError saying how to make one."""
    if not isinstance(network, Network):
        hint = " (for a spec, pass spec.network)" if hasattr(network, "network") else ""
        raise SpecError(
            f"{where} needs a Network, got {shorten(repr(network))}{hint}; make one with "
            "sb.mlp([2, 2, 1]), sb.sequential(...), sb.Network.from_expressions(...) or "
            "sb.load_spec(path).network"
        )
    return network


def require_whole(value: Any, what: str, minimum: int = 0) -> int:
    """Return ``value`` if it is a whole number >= ``minimum`` (not a bool); else SpecError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SpecError(
            f"{what} {shorten(repr(value))} is not a whole number >= {minimum}; give e.g. "
            f"{max(minimum, 1) if minimum else 0}"
        )
    return int(value)


def require_number(value: Any, what: str) -> float:
    """Return ``value`` as a float if it is a finite number (not a bool); else SpecError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise SpecError(f"{what} {shorten(repr(value))} is not a number; give e.g. 0.5")
    if not math.isfinite(float(value)):
        raise SpecError(f"{what} {value!r} is not finite; give a finite number, e.g. 0.5")
    return float(value)


def require_names(value: Any, what: str) -> tuple[str, ...]:
    """Return names given as one str or an iterable of str; else SpecError."""
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        names = (value,)
    for name in names:
        if not isinstance(name, str):
            raise SpecError(
                f"{what} holds {shorten(repr(name))}, not a name; give parameter names such as "
                "['b1', 'b2']"
            )
    return names


def _require_mapping(params: Any) -> None:
    if not isinstance(params, Mapping):
        kind = "None" if params is None else f"a {type(params).__name__}"
        raise ShapeError(
            f"params is {kind}, not a dict; pass {{name: value}} (e.g. from net.init_params())"
        )


def is_layer_form(network: HasData, params: Mapping[str, Any]) -> bool:
    """Tell whether a parameter set is given as layer arrays (W1, b1, ...)."""
    _require_mapping(params)
    if network.architecture is None or not params:
        return False
    keys = list(params)
    return any(k.startswith("W") for k in keys) and all(_LAYER_ARRAY.match(k) for k in keys)


def params_by_name(network: Network, params: Mapping[str, Any]) -> dict[str, float]:
    """Return {name: float} for every parameter, from either form; reject missing or extra."""
    if is_layer_form(network, params):
        assert network.architecture is not None
        return layer_arrays_to_names(network.architecture, layer_arrays(network, params))
    names = network.parameter_names()
    _check_names(set(params), names)
    values = {}
    for name in names:
        values[name] = _finite_float(params[name], f"parameter {name!r}")
    return values


def layer_arrays(network: Network, params: Mapping[str, Any]) -> dict[str, FloatArray]:
    """Return {W1: array, b1: array, ...} checked against the architecture, from either form."""
    arch = network.architecture
    if arch is None:
        raise ShapeError("layer arrays need a layered network (mlp); pass params by name")
    if not is_layer_form(network, params):
        return names_to_layer_arrays(arch, params_by_name(network, params))
    expected = layer_shapes(arch)
    _check_names(set(params), list(expected))
    arrays = {}
    for name, shape in expected.items():
        array = np.asarray(params[name], dtype=np.float64)
        if array.shape != shape:
            raise ShapeError(
                f"{name} has shape {array.shape} but layer {name[1:]} needs {shape}; "
                f"pass an array of shape {shape}"
            )
        if not all_finite(array):
            raise NumericError(f"{name} holds NaN or inf; pass finite parameter values")
        arrays[name] = array
    return arrays


def layer_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    """Return {W1: (n1, n0), b1: (n1,) or () for a shared bias, ...} of an architecture."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(1, arch.depth + 1):
        shapes[notation.weight_matrix_name(layer)] = (arch.sizes[layer], arch.sizes[layer - 1])
        if arch.bias != "none":
            shape = () if arch.bias == "shared" else (arch.sizes[layer],)
            shapes[notation.bias_vector_name(layer)] = shape
    return shapes


def all_finite(array: FloatArray) -> bool:
    """Tell whether a float array holds no NaN or inf, in one pass for the usual case."""
    # A sum is finite only when every entry is (a NaN or inf spreads), so a finite sum settles
    # it without an array of flags; a finite array whose sum overflows is checked entry by entry.
    return math.isfinite(array.sum()) or bool(np.isfinite(array).all())


def _check_names(given: set[str], expected: list[str]) -> None:
    missing = [name for name in expected if name not in given]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ShapeError(
            f"params has no value for {missing[0]!r}{more}; give every parameter "
            f"({', '.join(expected[:4])}{', ...' if len(expected) > 4 else ''})"
        )
    extra = sorted(given - set(expected))
    if extra:
        raise ShapeError(
            f"params has unknown name {shorten(extra[0])!r}; the network's parameters are "
            f"{', '.join(expected[:4])}{', ...' if len(expected) > 4 else ''}; remove it"
        )


def _finite_float(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise NumericError(
            f"{what} is {shorten(repr(value))}, not a number; pass a float"
        ) from None
    if not np.isfinite(number):
        raise NumericError(f"{what} is {number}; pass a finite value")
    return number


class HasData(Protocol):
    """What the data checks read of a network: its widths, its loss and its layer view."""

    @property
    def n_inputs(self) -> int: ...

    @property
    def n_outputs(self) -> int: ...

    @property
    def architecture(self) -> Architecture | None: ...

    @property
    def loss_name(self) -> str | None: ...


def data_arrays(network: HasData, X: Any, Y: Any) -> tuple[FloatArray, FloatArray]:
    """Return (X, Y) as float arrays of shape (batch, n_inputs), (batch, n_outputs).

    A single sample may be given as 1-D arrays. NaN or inf in the data is an error, and a
    registered loss checks its targets (cross-entropy's rows must sum to 1).
    """
    X2 = input_array(network, X)
    Y2 = _matrix(Y, "Y", network.n_outputs, "outputs", getattr(network, "output_shape", None))
    check_data(network, X2, Y2)
    return X2, Y2


def check_data(network: HasData, X2: FloatArray, Y2: FloatArray) -> None:
    """Check finite (batch, n) arrays as a pair: one target row per sample, memory, targets."""
    if X2.shape[0] != Y2.shape[0]:
        raise ShapeError(
            f"X has {counted(X2.shape[0], 'row')} but Y has {Y2.shape[0]}; give one target row "
            "per sample"
        )
    _check_memory(network, X2.shape[0])
    architecture = getattr(network, "architecture", None)
    loss_name = architecture.loss if architecture is not None else network.loss_name
    if loss_name is not None:
        steps = getattr(getattr(network, "program", None), "output_steps", 1)
        # A sequence's targets are checked step by step (each step's row sums to 1).
        problem = get_loss(loss_name).check_targets(Y2.reshape(Y2.shape[0], steps, -1))
        if problem:
            raise NumericError(problem)


def _check_memory(network: HasData, batch: int) -> None:
    if isinstance(network, Network):
        arch = network.architecture
        if arch is not None:
            check_memory(parameter_count(arch.sizes), sum(arch.sizes), batch)
        else:
            check_memory(len(network.params), len(network.assignments), batch)
        return
    # A network of layers: every node holds rows x batch numbers (attention's scores B x B).
    shapes = network.parameter_shapes()  # type: ignore[attr-defined]
    count = sum(int(np.prod(shape)) for shape in shapes.values())
    rows = [a.lhs.shape[0] for a in network.program.assignments]  # type: ignore[attr-defined]
    check_memory(count, sum(int(r) if r.is_Integer else batch for r in rows), batch)


def input_array(network: HasData, X: Any) -> FloatArray:
    """Return X as a float array of shape (batch, n_inputs); see data_arrays."""
    return _matrix(X, "X", network.n_inputs, "inputs", getattr(network, "sample_shape", None))


def _matrix(
    data: Any, name: str, width: int, what: str, sample: tuple[int, ...] | None = None
) -> FloatArray:
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError(
            f"{name} is {shorten(repr(data))}, not numeric; pass an array of shape (batch, {width})"
        ) from None
    if sample is not None and len(sample) > 1 and array.size:
        # Samples shaped as PyTorch has them ((batch, C, H, W), (batch, T, n)) or one sample.
        if array.shape[1:] == sample:
            array = array.reshape(array.shape[0], width)
        elif array.shape == sample:
            array = array.reshape(1, width)
    if array.ndim == 1 and array.shape[0] == width:
        array = array.reshape(1, width)
    if array.ndim == 0 and width == 1:
        array = array.reshape(1, 1)
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        shaped = f" or (batch, {', '.join(map(str, sample))})" if sample and len(sample) > 1 else ""
        raise ShapeError(
            f"{name} has shape {array.shape} but the network has {width} {what}; "
            f"pass an array of shape (batch, {width}){shaped}"
        )
    if all_finite(array):
        return array
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        row, column = (int(i) + 1 for i in bad[0])
        raise NumericError(
            f"{name} holds {array[row - 1, column - 1]} at row {row}, column {column}; "
            "remove or replace non-finite values"
        )
    return array
