"""Are two matrix formulas equal? Seeded probe batches of several sizes, compared entrywise.

Checks layer. A network of layers is probed at a few random points, each a parameter set and a
batch (X, Y) of its own size B (1, 2, 3, 5, ...): a formula that forgets the 1/B of a mean or
the sum over the batch agrees at one batch size at most. At each point the derivation gives
every named matrix (forward nodes, adjoints, gradients); a formula over those names is compiled
to NumPy from its SymPy tree (:func:`~symbackprop.derivation.matrix_codegen.expression_function`)
and evaluated. An adjoint may be redefined (``overrides``): the adjoints after it are recomputed
from their own definitions, which is how the mistake catalogue rebuilds a wrong derivation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.matrix_codegen import expression_function
from symbackprop.derivation.matrix_derivation import MatrixDerivation, derive_layers
from symbackprop.derivation.steps import Stage
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.sequential import LayerNetwork

FloatArray = np.ndarray
BATCH_SIZES = (1, 2, 3, 5, 2, 4)  # one probe point per entry; a batch of 1 shows the smallest case
BATCH_SIZES_BATCH_STATISTICS = (2, 3, 5, 4, 2, 3)  # batch norm of one sample is constant
RTOL = 1e-7  # equal formulas agree to ~1e-13 in float64; 1e-7 leaves room for cancellation
RTOL_SCALE = 1e-10  # entries near 0 are compared relative to the matrix's largest entry
ATOL = 1e-12


@dataclass(frozen=True)
class ProbePoint:
    """One probe point: state_dict parameters, a batch (rows = samples) and every matrix."""

    params: Mapping[str, FloatArray]
    X: FloatArray  # (batch, n_inputs), as a user passes it
    Y: FloatArray
    values: Mapping[str, Any]  # every named matrix (program layout), B and named numbers

    @property
    def batch(self) -> int:
        return int(self.X.shape[0])


@functools.lru_cache(maxsize=16)
def derivation_of(network: LayerNetwork) -> MatrixDerivation:
    return derive_layers(network)


def has_batch_statistics(network: LayerNetwork) -> bool:
    """Tell whether a node averages over the batch (batch norm): a batch of 1 is degenerate."""
    return any(
        a.role == "mean" and a.lhs.shape[1] == 1 and a.rhs.has(BATCH)
        for a in network.program.assignments
    )


@functools.lru_cache(maxsize=16)
def probe(network: LayerNetwork, seed: int) -> tuple[ProbePoint, ...]:
    """Return the seeded probe points of a network (cached per network and seed)."""
    derivation = derivation_of(network)
    sizes = BATCH_SIZES_BATCH_STATISTICS if has_batch_statistics(network) else BATCH_SIZES
    points = []
    for i, batch in enumerate(sizes):
        rng = np.random.default_rng([seed, i])
        params = {name: _readable(rng, shape) for name, shape in network.parameter_shapes().items()}
        X = _readable(rng, (batch, network.n_inputs))
        Y = _targets(network, rng, batch)
        evaluation = derivation.evaluate(params, X, Y)
        values: dict[str, Any] = dict(evaluation.values)
        values["B"] = batch
        values |= {symbol.name: value for symbol, value in network.program.scalars}
        points.append(ProbePoint(params, X, Y, values))
    return tuple(points)


def _readable(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Draw two-decimal numbers in [-1, 1]: a counterexample reads well."""
    return np.asarray(rng.integers(-100, 101, shape) / 100.0, dtype=np.float64)


def _targets(network: LayerNetwork, rng: np.random.Generator, batch: int) -> FloatArray:
    n = network.n_outputs
    if network.loss_name == "cross_entropy":  # one-hot rows (one per step of a sequence)
        steps = network.program.output_steps
        k = n // steps
        return np.eye(k)[rng.integers(0, k, (batch, steps))].reshape(batch, n)
    return np.asarray(rng.integers(1, 100, (batch, n)) / 100.0, dtype=np.float64)


@functools.lru_cache(maxsize=4096)
def compiled(expr: sp.Basic) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """Return a NumPy function of an expression and the names it takes, in order."""
    names = sorted({str(m.name) for m in expr.atoms(sp.MatrixSymbol)})
    scalars = sorted(
        {str(s.name) for s in expr.free_symbols if isinstance(s, sp.Symbol)} - {"B", *names}
    )
    arguments = (*names, *scalars, "B")
    return expression_function(expr, arguments), arguments


def evaluate(expr: sp.Basic, values: Mapping[str, Any]) -> FloatArray:
    """Return the value of a matrix expression over named matrices, as a float array."""
    function, arguments = compiled(expr)
    with np.errstate(all="ignore"):
        try:
            result = function(*[values[name] for name in arguments])
        except (ZeroDivisionError, OverflowError):  # Python's scalars: 0.0 ** -1 at B = 1
            batch = values["B"]
            rows, cols = (int(size.subs(BATCH, batch)) for size in expr.shape)
            return np.full((rows, cols), np.nan)
    return np.array(result, dtype=np.float64, ndmin=2)


def values_with(
    derivation: MatrixDerivation, values: Mapping[str, Any], overrides: Mapping[str, sp.Basic]
) -> dict[str, Any]:
    """Return the values with some adjoints redefined and every later adjoint recomputed."""
    changed = dict(values)
    started = False
    for step in derivation.stage(Stage.ADJOINT):
        started = started or step.name in overrides
        if started:
            changed[step.name] = evaluate(overrides.get(step.name, step.rhs), changed)
    return changed


def close(given: FloatArray, expected: FloatArray) -> bool:
    """Tell whether two matrices agree in every entry (shapes equal, all finite)."""
    if given.shape != expected.shape:
        return False
    if not (np.all(np.isfinite(given)) and np.all(np.isfinite(expected))):
        return False
    scale = max(
        float(np.max(np.abs(expected), initial=0.0)), float(np.max(np.abs(given), initial=0.0))
    )
    gap = np.abs(given - expected)
    bound = RTOL * np.maximum(np.abs(given), np.abs(expected)) + RTOL_SCALE * scale + ATOL
    return bool(np.all(gap <= bound))
