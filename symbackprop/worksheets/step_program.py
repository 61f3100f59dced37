"""The step program: a derivation's steps run one by one as NumPy functions, with tolerances.

Worksheets stage. :class:`StepProgram` evaluates every step of a network's
derivation in order, with any step overridden (a student's own upstream answer, for error
carried forward) or rounded as the sheet asks; :func:`tolerances` turns that rounding into
each answer's atol by first-order propagation along ``Step.depends_on``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.steps import Step
from symbackprop.model.functions import numpy_namespace
from symbackprop.model.network import Network

_FD_STEP = 1e-6  # sensitivity of an answer to an intermediate (central differences)


class StepProgram:
    """A derivation's steps as one small NumPy function each, run in order with overrides."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.derivation: Derivation = derive(network)
        self.steps: tuple[Step, ...] = self.derivation.steps
        namespace = [numpy_namespace(), "numpy"]
        self.functions: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = []
        for step in self.steps:
            args = tuple(sorted((s.name for s in step.rhs.free_symbols)))
            function = sp.lambdify([sp.Symbol(a) for a in args], step.rhs, modules=namespace)
            self.functions.append((step.lhs.name, args, function))
        self.upstream = _upstream(self.steps)

    def run(
        self,
        base: Mapping[str, float],
        overrides: Mapping[str, float] | None = None,
        decimals: int | None = None,
    ) -> dict[str, float]:
        """Return every step's value; ``overrides`` replace steps, ``decimals`` rounds each."""
        values = dict(base)
        overrides = overrides or {}
        for name, args, function in self.functions:
            if name in overrides:
                values[name] = float(overrides[name])
                continue
            value = float(function(*(values[a] for a in args)))
            values[name] = round(value, decimals) if decimals is not None else value
        return values

    def sensitivities(
        self, base: Mapping[str, float], values: Mapping[str, float], names: Sequence[str]
    ) -> dict[str, float]:
        """Return, per step in ``names``, sum over its upstream steps s of |d(step)/ds|.

        One vectorized run: column 2i moves the i-th intermediate up by h, column 2i+1 down.
        """
        movable = [s.lhs.name for s in self.steps]
        columns = 2 * len(movable)
        shift = np.zeros(columns)
        shift[0::2], shift[1::2] = _FD_STEP, -_FD_STEP
        where = {name: i for i, name in enumerate(movable)}
        known: dict[str, Any] = {k: np.full(columns, v) for k, v in base.items()}
        for name, args, function in self.functions:
            value = np.broadcast_to(np.asarray(function(*(known[a] for a in args)), float),
                                    (columns,)).copy()  # fmt: skip
            i = where[name]
            value[2 * i : 2 * i + 2] = values[name] + shift[2 * i : 2 * i + 2]
            known[name] = value
        out = {}
        for name in names:
            total = 0.0
            for upstream in self.upstream[name]:
                i = where[upstream]
                total += abs(known[name][2 * i] - known[name][2 * i + 1]) / (2 * _FD_STEP)
            out[name] = float(total)
        return out


def _upstream(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    """Map each step to every earlier step it depends on, directly or through others."""
    found: dict[str, set[str]] = {}
    for step in steps:
        names: set[str] = set()
        for used in step.depends_on:
            names.add(used.name)
            names |= found.get(used.name, set())
        found[step.lhs.name] = names
    order = {s.lhs.name: i for i, s in enumerate(steps)}
    return {k: tuple(sorted(v, key=order.__getitem__)) for k, v in found.items()}


@functools.lru_cache(maxsize=64)
def program_for(network: Network) -> StepProgram:
    """Return the network's step program, derived and lambdified once per network."""
    return StepProgram(network)


def tolerances(
    program: StepProgram,
    base: Mapping[str, float],
    values: Mapping[str, float],
    steps: Sequence[str],
    decimals: int,
) -> dict[str, float]:
    """Return atol = 10^-d (1 + sum_s |d answer / d s|) per step: rounding to d places.

    Each of the answer's own rounding and the rounding of every upstream intermediate s moves
    it by at most 0.5 10^-d |d answer/ds| to first order; the factor 2 over that bound leaves
    room for second-order terms.
    """
    spread = program.sensitivities(base, values, steps)
    return {step: 10.0 ** (-decimals) * (1.0 + spread[step]) for step in steps}
