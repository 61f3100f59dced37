"""gradcheck(): the compiled gradient against central finite differences, per parameter.

Checks layer. Each parameter theta is moved by h = h_rel * max(1, |theta|) both ways and
(L(theta + h) - L(theta - h)) / 2h compared with dL/dtheta by relative error, judged in
CS231n's bands. Where the two points put a kinked activation's argument (relu's z) on
different sides of 0, the difference quotient straddles the kink and is not judged.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symbackprop.derivation.matrix_evaluation import WINNERS
from symbackprop.model.errors import unknown_name
from symbackprop.model.network import Network
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import data_arrays, params_by_name, require_network
from symbackprop.numeric.compiled import CompiledNetwork, compile

# cbrt(machine epsilon) ~ 6e-6 balances the O(h^2) truncation error of central differences
# against the O(eps/h) rounding error of the two loss evaluations.
DEFAULT_STEP = 6e-6
# Gradients smaller than this are compared absolutely: below it a relative error would
# measure only the rounding noise of the two loss evaluations.
ABSOLUTE_FLOOR = 1e-7
# The difference quotient's own rounding noise is about eps |L| / h (two loss values of size
# |L| subtracted, divided by h). A gradient that small cannot be judged relatively: a true 0
# (a bias feeding batch norm) would read as "suspicious" against noise of 1e-11. Gradients
# below NOISE_MARGIN times that noise are compared absolutely too.
NOISE_MARGIN = 1e4
SAMPLE_ABOVE = 2000  # networks with more parameters are checked on a seeded sample
SAMPLE_SIZE = 200


class Verdict(enum.Enum):
    """CS231n's bands for the relative error of an analytic against a numeric gradient."""

    EXCELLENT = "excellent (< 1e-7)"
    GOOD = "good (< 1e-4; too high if nothing has a kink)"
    SUSPICIOUS = "suspicious (< 1e-2)"
    WRONG = "wrong (>= 1e-2)"
    KINK = "on a kink: the difference quotient straddles a non-differentiable point"


@dataclass(frozen=True, slots=True)
class GradcheckRow:
    """One parameter's analytic and numeric gradient, their relative error and the verdict."""

    name: str
    analytic: float
    numeric: float
    rel_error: float
    verdict: Verdict

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.EXCELLENT, Verdict.GOOD, Verdict.KINK)


@dataclass(frozen=True, slots=True)
class GradcheckResult:
    """Every row of a gradient check; ``ok`` when no row is suspicious or wrong."""

    rows: tuple[GradcheckRow, ...]
    step: float
    n_parameters: int  # all parameters of the network; ``rows`` may be a sample of them

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def max_rel_error(self) -> float:
        judged = [row.rel_error for row in self.rows if row.verdict is not Verdict.KINK]
        return max(judged, default=0.0)

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.n_parameters

    def row(self, name: str) -> GradcheckRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise unknown_name("checked parameter", name, [r.name for r in self.rows])


def verdict_for(rel_error: float) -> Verdict:
    """Place a relative error in CS231n's bands."""
    if rel_error < 1e-7:
        return Verdict.EXCELLENT
    if rel_error < 1e-4:
        return Verdict.GOOD
    if rel_error < 1e-2:
        return Verdict.SUSPICIOUS
    return Verdict.WRONG


def relative_error(analytic: float, numeric: float, floor: float = ABSOLUTE_FLOOR) -> float:
    """Return |a - n| / max(|a|, |n|, floor)."""
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)


def noise_floor(loss_plus: float, loss_minus: float, h: float) -> float:
    """Return the floor below which a gradient is compared absolutely (see NOISE_MARGIN)."""
    size = max(abs(loss_plus), abs(loss_minus), 1.0)
    return max(ABSOLUTE_FLOOR, NOISE_MARGIN * float(np.finfo(np.float64).eps) * size / h)


def gradcheck(
    network: Network | LayerNetwork,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    step: float = DEFAULT_STEP,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> GradcheckResult:
    """Check dL/dtheta of every parameter (or of ``names``) against central differences.

    A network with more than 2000 parameters is checked on a seeded sample of 200 of them
    unless ``names`` says which.
    """
    if isinstance(network, LayerNetwork):
        return _gradcheck_arrays(network, params, X, Y, step, names, seed)
    network = require_network(network, "gradcheck")
    compiled = compile(network)
    values = params_by_name(network, params)
    X2, Y2 = data_arrays(network, X, Y)
    analytic = compiled.loss_and_gradient(values, X2, Y2)[1]
    chosen = _chosen_names(list(values), names, seed)
    native = compiled.native(values)
    rows = tuple(_row(compiled, native, values, X2, Y2, n, analytic[n], step) for n in chosen)
    return GradcheckResult(rows, step, len(values))


def element_name(state_name: str, index: tuple[int, ...]) -> str:
    """Return one entry's name: "0.weight[1, 2]" (0-based, as in NumPy and PyTorch)."""
    return f"{state_name}[{', '.join(str(i) for i in index)}]"


def _gradcheck_arrays(
    network: LayerNetwork,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    step: float,
    names: Sequence[str] | None,
    seed: int,
) -> GradcheckResult:
    """gradcheck for parameters held as state_dict arrays: one row per entry."""
    compiled = compile(network)
    native = compiled.native(params)
    X2, Y2 = data_arrays(network, X, Y)
    analytic = compiled.raw_loss_and_gradient(native, X2, Y2)[1]
    located = {element_name(state, index): (state, index)
               for state, array in native.items() for index in np.ndindex(array.shape)}  # fmt: skip
    chosen = _chosen_names(list(located), names, seed)
    rows = []
    for name in chosen:
        state, index = located[name]
        theta = float(native[state][index])
        h = step * max(1.0, abs(theta))
        plus, minus = (_moved_entry(native, state, index, theta + s) for s in (h, -h))
        loss_plus, loss_minus = compiled.raw_loss(plus, X2, Y2), compiled.raw_loss(minus, X2, Y2)
        numeric = (loss_plus - loss_minus) / (2 * h)
        value = float(analytic[state][index])
        straddles = _straddles_kink(compiled, plus, minus, X2)
        rows.append(_judged(name, value, numeric, straddles, noise_floor(loss_plus, loss_minus, h)))
    return GradcheckResult(tuple(rows), step, len(located))


def _moved_entry(native: dict[str, Any], state: str, index: tuple[int, ...], value: float) -> Any:
    array = np.array(native[state], dtype=np.float64)
    array[index] = value
    return {**native, state: array}


def _judged(
    name: str, analytic: float, numeric: float, straddles: bool, floor: float
) -> GradcheckRow:
    error = relative_error(analytic, numeric, floor)
    verdict = verdict_for(error)
    if straddles and verdict is not Verdict.EXCELLENT:
        verdict = Verdict.KINK
    return GradcheckRow(name, float(analytic), float(numeric), error, verdict)


def _chosen_names(all_names: list[str], names: Sequence[str] | None, seed: int) -> list[str]:
    if names is not None:
        for name in names:
            if name not in all_names:
                raise unknown_name("parameter", name, all_names)
        return list(names)
    if len(all_names) <= SAMPLE_ABOVE:
        return all_names
    picked = np.random.default_rng(seed).choice(len(all_names), SAMPLE_SIZE, replace=False)
    return [all_names[i] for i in sorted(picked)]


def _row(
    compiled: CompiledNetwork,
    native: Any,
    values: dict[str, float],
    X: Any,
    Y: Any,
    name: str,
    analytic: float,
    step: float,
) -> GradcheckRow:
    h = step * max(1.0, abs(values[name]))
    plus_native = _moved(compiled, native, name, values[name] + h)
    minus_native = _moved(compiled, native, name, values[name] - h)
    loss_plus = compiled.raw_loss(plus_native, X, Y)
    loss_minus = compiled.raw_loss(minus_native, X, Y)
    numeric = (loss_plus - loss_minus) / (2 * h)
    straddles = _straddles_kink(compiled, plus_native, minus_native, X)
    return _judged(name, analytic, numeric, straddles, noise_floor(loss_plus, loss_minus, h))


def _moved(compiled: CompiledNetwork, native: dict[str, Any], name: str, value: float) -> Any:
    """Return the parameters (in the backend's form) with one parameter set to ``value``."""
    architecture = compiled.network.architecture
    if compiled.view != "layers" or architecture is None:
        return {**native, name: value}
    key, index = architecture.locate(name)
    array = np.array(native[key], dtype=np.float64)
    array[index] = value
    return {**native, key: array}


def _straddles_kink(compiled: CompiledNetwork, plus: Any, minus: Any, X: Any) -> bool:
    """Tell whether some kinked activation's argument changes side of 0 between the points."""
    above = compiled.raw_kink_arguments(plus, X)
    if not above:
        return False
    below = compiled.raw_kink_arguments(minus, X)
    return any(np.any(_side(k, above[k]) != _side(k, below[k])) for k in above)


def _side(key: str, values: Any) -> Any:
    """Where a kinked node is: relu's argument by its sign, a max pool by its winners."""
    return values if key.startswith(WINNERS) else values > 0
