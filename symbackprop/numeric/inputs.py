"""The boundary checks of a compiled layered network, cheap for the usual input (numeric backend).

A public call of ``compile(net)`` checks its input every time. Float64 arrays of the expected
shapes, or a complete dict of parameters by name, pass here in a few microseconds: the shapes
and names are compared with ones worked out once at compile time, and finiteness costs one sum
per array. Anything else (lists, other dtypes, a missing name, a NaN) goes through
``model.validate``, which converts it or raises its one-line error, so a bad input is refused
with the same words either way.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from symbackprop.model.architecture import names_to_layer_arrays
from symbackprop.model.caps import check_memory, parameter_count
from symbackprop.model.errors import NumericError
from symbackprop.model.functions import FloatArray
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network
from symbackprop.model.validate import (
    all_finite,
    data_arrays,
    is_layer_form,
    layer_arrays,
    layer_shapes,
)
from symbackprop.numeric.float_program import fits_floats

_FLOAT64 = np.dtype(np.float64)


class LayerInputs:
    """A layered network's expected parameter arrays, parameter names and data widths."""

    def __init__(self, network: Network) -> None:
        arch = network.architecture
        assert arch is not None
        self.network = network
        self.shapes = layer_shapes(arch)
        self.n_inputs = network.n_inputs
        self.n_outputs = network.n_outputs
        self.n_parameters = parameter_count(arch.sizes)
        self.check_targets = get_loss(arch.loss).check_targets
        # Small enough that a call of a few samples runs on floats (float_program.py).
        self.small = fits_floats(self.n_parameters, 1)

    @functools.cached_property
    def _layout(self) -> tuple[tuple[str, ...], list[tuple[str, int, int, tuple[int, ...]]]]:
        """Each name's place in the layer arrays laid end to end (C order), and their slices.

        A dict by name becomes one vector whose slices are W1, b1, W2, ... (and back). Worked
        out on the first call by name: a large network passed as arrays never needs it.
        """
        arch = self.network.architecture
        assert arch is not None
        names = self.network.parameter_names()
        places = names_to_layer_arrays(arch, {name: float(i) for i, name in enumerate(names)})
        ordered: list[str] = []
        slices = []
        for array_name, shape in self.shapes.items():
            indices = np.asarray(places[array_name]).reshape(-1)
            slices.append((array_name, len(ordered), len(ordered) + indices.size, shape))
            ordered += [names[int(i)] for i in indices]
        return tuple(ordered), slices

    # --- parameters ------------------------------------------------------------------------
    def params(self, params: Mapping[str, Any]) -> tuple[dict[str, FloatArray], bool]:
        """Return (checked layer arrays, whether ``params`` came as layer arrays)."""
        if type(params) is dict:
            if len(params) == len(self.shapes):
                arrays = self._layer_arrays(params)
                if arrays is not None:
                    return arrays, True
            elif len(params) == len(self._layout[0]):
                flat = self.by_name(params)
                if flat is not None:
                    return self.split(flat), False
        return layer_arrays(self.network, params), is_layer_form(self.network, params)

    def _layer_arrays(self, params: dict[str, Any]) -> dict[str, FloatArray] | None:
        arrays = {}
        for name, shape in self.shapes.items():
            array = params.get(name)
            if type(array) is not np.ndarray or array.dtype != _FLOAT64 or array.shape != shape:
                return None
            if not all_finite(array):
                return None
            arrays[name] = array
        return arrays

    def by_name(self, params: dict[str, Any]) -> FloatArray | None:
        """Return the parameters as one vector in layer order, or None if anything is off."""
        try:
            flat = np.array([params[name] for name in self._layout[0]], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            return None
        if flat.ndim != 1 or not all_finite(flat):
            return None
        return flat

    def split(self, flat: FloatArray) -> dict[str, FloatArray]:
        """Return the layer arrays W1, b1, ... as views of one vector in layer order."""
        slices = self._layout[1]
        return {name: flat[start:stop].reshape(shape) for name, start, stop, shape in slices}

    def names(self, grads: Mapping[str, Any]) -> dict[str, float]:
        """Return layer arrays as {w1_1_1: value, ...}."""
        ordered, slices = self._layout
        flat = np.concatenate([np.reshape(grads[name], -1) for name, *_ in slices])
        return dict(zip(ordered, flat.tolist(), strict=True))

    # --- a few samples on floats (numeric/float_program.py) ---------------------------------
    def floats(
        self, params: Mapping[str, Any], X: Any, Y: Any
    ) -> tuple[list[float], list[list[float]], list[list[float]], bool] | None:
        """Return (parameters in layer order, X rows, Y rows, whether arrays came) as floats.

        Only for the usual input of a small call: float64 arrays of the expected shapes (or a
        complete dict of floats by name), finite, and targets the loss accepts. None for
        anything else, which then takes the checks above.
        """
        if not (
            self._usual(X, Y)
            and fits_floats(self.n_parameters, X.shape[0])
            and type(params) is dict
        ):
            return None
        flat: list[float] = []
        arrays_in = len(params) == len(self.shapes)
        if arrays_in:
            for name, shape in self.shapes.items():
                array = params.get(name)
                if type(array) is not np.ndarray or array.dtype != _FLOAT64 or array.shape != shape:
                    return None
                flat += array.reshape(-1).tolist()
        else:
            ordered = self._layout[0]
            if len(params) != len(ordered):
                return None
            values = [params.get(name) for name in ordered]
            if any(type(value) is not float for value in values):
                return None
            flat = values  # type: ignore[assignment]  # every value is a float
        rows_x, rows_y = X.tolist(), Y.tolist()
        # A sum is finite only when every term is (one that overflows is checked the long way).
        if not math.isfinite(sum(flat) + sum(map(sum, rows_x)) + sum(map(sum, rows_y))):
            return None
        if self.check_targets(Y.reshape(Y.shape[0], 1, -1)):
            return None
        return flat, rows_x, rows_y, arrays_in

    def outward(self, grads: list[float], arrays_in: bool) -> dict[str, Any]:
        """Return a gradient in layer order as layer arrays or as {w1_1_1: value, ...}."""
        if arrays_in:
            return self.split(np.array(grads, dtype=np.float64))
        return dict(zip(self._layout[0], map(float, grads), strict=True))

    # --- data ------------------------------------------------------------------------------
    def _usual(self, X: Any, Y: Any) -> bool:
        """Tell whether X and Y are float64 arrays of one or more rows of the expected widths."""
        return (
            type(X) is np.ndarray
            and type(Y) is np.ndarray
            and X.dtype == _FLOAT64
            and Y.dtype == _FLOAT64
            and X.ndim == 2
            and Y.ndim == 2
            and X.shape[1] == self.n_inputs
            and Y.shape[1] == self.n_outputs
            and 0 < X.shape[0] == Y.shape[0]
        )

    def data(self, X: Any, Y: Any) -> tuple[FloatArray, FloatArray]:
        """Return (X, Y) checked as ``model.validate.data_arrays`` checks them."""
        if self._usual(X, Y) and all_finite(X) and all_finite(Y):
            # check_data's memory and target checks, with the network's numbers worked out once
            arch = self.network.architecture
            assert arch is not None
            check_memory(self.n_parameters, sum(arch.sizes), X.shape[0])
            problem = self.check_targets(Y.reshape(Y.shape[0], 1, -1))
            if problem:
                raise NumericError(problem)
            return X, Y
        return data_arrays(self.network, X, Y)
