"""The scalar program on plain Python floats, for small networks and a few samples (numeric).

At batch 1 a 2-2-2 network is a few dozen multiplications, and NumPy's fixed cost per call on
arrays of two entries is most of the time an array program spends. Here the derivation's own
lines (the scalar program of ``compiled.py``, from ``codegen.gradient_program``) are printed by
lambdify as Python over floats, with the registered functions' stable forms from
``array_forms.py`` bound to a namespace of floats, so one sample's loss and gradient is one
call of straight-line float code.

Float arithmetic raises where arrays give inf or NaN (an overflowing power, the logarithm of a
negative number): :meth:`FloatProgram.loss_and_gradient` then returns None and the caller takes
its array path, whose values and messages are NumPy's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

from symbackprop.derivation.codegen import Lines
from symbackprop.derivation.derivation import Derivation
from symbackprop.model.errors import SymbackpropError
from symbackprop.numeric.array_forms import check_forms, function_forms

# A network takes the float program up to this many parameters and samples per call: beyond
# them one array operation does the work of many float lines (bench/bench_engines.py).
FLOAT_PARAMETERS = 64
FLOAT_SAMPLES = 4

_FAILURES = (ArithmeticError, ValueError)  # what float arithmetic raises where NumPy gives inf/NaN


class _Floats:
    """NumPy's names that the stable forms use, over Python floats (an ``array_forms`` xp)."""

    name = "float"
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    tanh = staticmethod(math.tanh)
    sqrt = staticmethod(math.sqrt)
    abs = staticmethod(abs)
    minimum = staticmethod(min)
    maximum = staticmethod(max)

    @staticmethod
    def where(condition: bool, chosen: float, other: float) -> float:
        return chosen if condition else other

    @staticmethod
    def sign(x: float) -> float:
        return float((x > 0) - (x < 0))

    @staticmethod
    def logaddexp(a: float, b: float) -> float:
        top = max(a, b)
        return top + math.log1p(math.exp(-abs(a - b)))


def _softmax(i: int, *z: float) -> float:
    top = max(z)
    e = [math.exp(zk - top) for zk in z]  # every exponent <= 0
    return e[int(i) - 1] / math.fsum(e)


FLOATS = _Floats()


def float_modules() -> list[Any]:
    """lambdify's modules: the stable forms over floats, and ``math`` for the rest."""
    forms = function_forms(FLOATS)
    forms["Softmax"] = _softmax
    return [forms, "math"]


def float_function(
    args: Sequence[sp.Symbol], lines: Lines, outputs: Sequence[sp.Expr]
) -> Callable[..., list[float]]:
    """Return f(*floats) that runs the lines in order and returns the outputs as a list."""
    check_forms(FLOATS, [rhs for _, rhs in lines] + list(outputs))

    def given_lines(expressions: list[sp.Expr]) -> tuple[Lines, Any]:
        return list(lines), expressions

    return sp.lambdify(list(args), list(outputs), modules=float_modules(), cse=given_lines,
                       docstring_limit=0)  # fmt: skip


class FloatProgram:
    """One sample's loss and gradient on floats, parameters in a given order (one flat list)."""

    def __init__(self, derivation: Derivation, param_names: Sequence[str]) -> None:
        self.param_names = list(param_names)
        self._gradient = float_function(*derivation.gradient_program(param_names))

    def loss_and_gradient(
        self, params: list[float], X: list[list[float]], Y: list[list[float]]
    ) -> tuple[float, list[float]] | None:
        """Return the batch mean's loss and gradient; None where floats overflow (use arrays)."""
        function = self._gradient
        try:
            if len(X) == 1:
                loss, *grads = function(*params, *X[0], *Y[0])
            else:
                rows = [function(*params, *x, *y) for x, y in zip(X, Y, strict=True)]
                loss, *grads = [math.fsum(column) / len(rows) for column in zip(*rows, strict=True)]
        except _FAILURES:
            return None
        loss = float(loss)
        if not math.isfinite(loss):
            return None
        return loss, grads


def float_program(derivation: Derivation, param_names: Sequence[str]) -> FloatProgram | None:
    """Return the derivation's float program, or None if it calls a function with no float form."""
    try:
        return FloatProgram(derivation, param_names)
    except SymbackpropError:
        return None


def fits_floats(n_parameters: int, batch: int) -> bool:
    """Tell whether a call this size runs faster on floats than on arrays."""
    return n_parameters <= FLOAT_PARAMETERS and batch <= FLOAT_SAMPLES
