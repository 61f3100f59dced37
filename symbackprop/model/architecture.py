"""The layer view of a layered network: its architecture and its parameters as layer arrays.

Model layer. ``Architecture`` names every parameter of a layered network (weights row-major,
then biases); the helpers here move a parameter set between the two forms the package
accepts, {w1_1_1: value, ...} and {W1: (n1, n0) array, b1: (n1,) array or a scalar, ...}, and
draw seeded initial layer arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symbackprop.model import notation
from symbackprop.model.penalty import NO_PENALTY, Penalty

BIAS_MODES = ("per_neuron", "shared", "none")
INIT_SCHEMES = ("xavier", "he", "normal", "uniform")


@dataclass(frozen=True, slots=True)
class Architecture:
    """The layer view of a layered network: sizes, activations per layer, bias, loss, penalty."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    bias: str
    loss: str
    penalty: Penalty = NO_PENALTY  # the weight penalty the loss gains (weights only)

    @property
    def depth(self) -> int:
        """Return the number of layers with weights (layer 0 is the input)."""
        return len(self.sizes) - 1

    def parameter_names(self) -> list[str]:
        """Return every parameter's ASCII name, layer by layer: weights row-major, then biases."""
        names: list[str] = []
        for layer in range(1, self.depth + 1):
            n_out, n_in = self.sizes[layer], self.sizes[layer - 1]
            names += [
                notation.weight_name(layer, j, k)
                for j in range(1, n_out + 1)
                for k in range(1, n_in + 1)
            ]
            names += self.bias_names(layer)
        return names

    def locate(self, name: str) -> tuple[str, tuple[int, ...]]:
        """Return (layer array name, index) of a parameter: w2_1_3 -> ("W2", (0, 2))."""
        weight = notation.parse_weight_name(name)
        if weight is not None:
            layer, j, k = weight
            return notation.weight_matrix_name(layer), (j - 1, k - 1)
        for layer in range(1, self.depth + 1):
            names = self.bias_names(layer)
            if name in names:
                index = () if self.bias == "shared" else (names.index(name),)
                return notation.bias_vector_name(layer), index
        raise KeyError(name)

    def bias_names(self, layer: int) -> list[str]:
        """Return the bias names of one layer for this bias mode."""
        if self.bias == "none":
            return []
        if self.bias == "shared":
            return [notation.bias_name(layer)]
        return [notation.bias_name(layer, j) for j in range(1, self.sizes[layer] + 1)]


def init_layer_arrays(arch: Architecture, rng: np.random.Generator, scheme: str) -> dict[str, Any]:
    arrays: dict[str, Any] = {}
    for layer in range(1, arch.depth + 1):
        n_out, n_in = arch.sizes[layer], arch.sizes[layer - 1]
        if scheme == "xavier":
            W = rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), (n_out, n_in))
        elif scheme == "he":
            W = rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in))
        elif scheme == "normal":
            W = rng.normal(0.0, 1.0, (n_out, n_in))
        else:
            bound = 1.0 / np.sqrt(n_in)
            W = rng.uniform(-bound, bound, (n_out, n_in))
        arrays[notation.weight_matrix_name(layer)] = W
        if arch.bias != "none":
            shape = () if arch.bias == "shared" else (n_out,)
            b = rng.normal(0.0, 1.0, shape) if scheme == "normal" else np.zeros(shape)
            arrays[notation.bias_vector_name(layer)] = b
    return arrays


def layer_arrays_to_names(arch: Architecture, arrays: Mapping[str, Any]) -> dict[str, float]:
    """Flatten layer arrays {W1, b1, ...} into {w1_1_1: value, ...} (trusted shapes)."""
    values: dict[str, float] = {}
    for layer in range(1, arch.depth + 1):
        W = np.asarray(arrays[notation.weight_matrix_name(layer)], dtype=np.float64)
        for j in range(W.shape[0]):
            for k in range(W.shape[1]):
                values[notation.weight_name(layer, j + 1, k + 1)] = float(W[j, k])
        if arch.bias != "none":
            b = np.asarray(arrays[notation.bias_vector_name(layer)], dtype=np.float64)
            for name, value in zip(arch.bias_names(layer), b.reshape(-1), strict=True):
                values[name] = float(value)
    return values


def names_to_layer_arrays(arch: Architecture, values: Mapping[str, float]) -> dict[str, Any]:
    """Gather {w1_1_1: value, ...} into layer arrays {W1: (n1, n0), b1: (n1,) or (), ...}."""
    arrays: dict[str, Any] = {}
    for layer in range(1, arch.depth + 1):
        n_out, n_in = arch.sizes[layer], arch.sizes[layer - 1]
        W = np.empty((n_out, n_in))
        for j in range(n_out):
            for k in range(n_in):
                W[j, k] = values[notation.weight_name(layer, j + 1, k + 1)]
        arrays[notation.weight_matrix_name(layer)] = W
        if arch.bias != "none":
            b = np.array([values[name] for name in arch.bias_names(layer)], dtype=np.float64)
            arrays[notation.bias_vector_name(layer)] = b[0] if arch.bias == "shared" else b
    return arrays
