"""Are two formulas over a derivation's named symbols equal? Probe points, digits, a proof.

Checks layer. Both formulas are evaluated by walking the derivation's steps, each named symbol
(a, z, delta, dL_d<name>) taking the value its definition gives, at seeded random points:
float64 at every point, 50 digits at the deciding points. Where the fully substituted forms
are small, the difference is also proved 0 symbolically (sigmoid and tanh rewritten as exp)
under a time bound. :mod:`symbackprop.checks.checker` turns the outcome into a verdict.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symbackprop.checks.mistakes import FloatArray, close
from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.steps import Stage
from symbackprop.model.errors import NumericError, ParseError
from symbackprop.model.functions import FUNCTIONS, Sigmoid, Softmax, numpy_namespace
from symbackprop.model.network import Network

N_POINTS = 48  # float64 probe points: a wrong analytic formula agrees at all of them w.p. 0
N_CONFIRM = 3  # points re-evaluated to 50 digits before a verdict is final
DIGITS = 50
RTOL_EXACT = sp.Float(10, DIGITS) ** -30  # 50-digit evaluations of equal forms agree far past it
SYMBOLIC_SECONDS = 2.0  # time bound of the symbolic proof (SIGALRM, main thread only)
SYMBOLIC_MAX_NODES = 600  # larger substituted forms skip the proof: probing decides


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A point where the user's formula and dL/dw differ: parameter, input and target values."""

    params: Mapping[str, float]
    inputs: Mapping[str, float]
    targets: Mapping[str, float]
    expected_value: float
    given_value: float | complex

    def values(self) -> dict[str, float]:
        """Return every value of the point, keyed by name (parameters, inputs, targets)."""
        return {**self.params, **self.inputs, **self.targets}


@functools.lru_cache(maxsize=16)
def derivation_of(network: Network) -> Derivation:
    return derive(network)


# --- probing ------------------------------------------------------------------------------------
def _numpy_functions() -> dict[type, Callable[..., FloatArray]]:
    namespace = numpy_namespace()
    table: dict[type, Callable[..., FloatArray]] = {Softmax: namespace["Softmax"]}
    for entry in FUNCTIONS.values():
        if isinstance(entry.sympy_form, type):
            form = namespace.get(entry.numpy_name) or getattr(np, entry.numpy_name.lower())
            table[entry.sympy_form] = form
    return table


_NUMPY = _numpy_functions()


@dataclass(frozen=True)
class Probe:
    """Seeded probe points and the value of every named symbol of the derivation at them."""

    points: tuple[dict[sp.Symbol, sp.Rational], ...]
    values: Mapping[sp.Symbol, FloatArray]
    derivation: Derivation
    _exact: dict[int, dict[sp.Symbol, sp.Expr]] = field(default_factory=dict)

    def evaluate(self, expr: sp.Expr) -> FloatArray:
        """Return the values of an expression over named symbols at every probe point."""
        with np.errstate(all="ignore"):
            result = _evaluate(expr, self.values, {})
        return _vector(result)

    def exact(self, expr: sp.Expr, i: int) -> sp.Expr:
        """Return the 50-digit value of an expression at probe point ``i``."""
        if i not in self._exact:
            self._exact[i] = _exact_values(self.derivation, self.points[i])
        try:
            return sp.N(expr.xreplace(self._exact[i]), DIGITS)
        except (MemoryError, OverflowError, RecursionError):
            # A tower such as exp(exp(exp(exp(x)))) has an exponent too large to hold in any
            # precision: the allocation fails at once, and the formula cannot be a gradient.
            raise NumericError(
                "the formula's exact value is too large to compute (nested exponentials?); "
                "write the gradient without them"
            ) from None


def _vector(result: FloatArray) -> FloatArray:
    """Return a result as one float per probe point (a constant is broadcast)."""
    return np.array(np.broadcast_to(np.asarray(result, dtype=np.float64), (N_POINTS,)))


def _evaluate(expr: sp.Expr, values: Mapping[sp.Symbol, FloatArray], memo: dict) -> FloatArray:
    if expr in memo:
        return memo[expr]
    result: FloatArray
    if expr.is_Symbol:
        result = values[expr]
    elif expr.is_number:
        result = np.asarray(_float(expr))
    elif expr.is_Add:
        result = sum((_evaluate(arg, values, memo) for arg in expr.args), np.asarray(0.0))
    elif expr.is_Mul:
        result = np.asarray(1.0)
        for arg in expr.args:
            result = result * _evaluate(arg, values, memo)
    elif expr.is_Pow:
        base, exponent = expr.args
        power = _evaluate(exponent, values, memo)
        result = np.exp(power) if base == sp.E else np.power(_evaluate(base, values, memo), power)
    elif isinstance(expr, Softmax):
        result = _NUMPY[Softmax](int(expr.args[0]), *[_evaluate(a, values, memo)
                                                      for a in expr.args[1:]])  # fmt: skip
    elif type(expr) in _NUMPY:
        result = _NUMPY[type(expr)](*[_evaluate(arg, values, memo) for arg in expr.args])
    else:
        raise ParseError(f"<expr>:1:1: {type(expr).__name__} cannot be evaluated; use the "
                         f"functions {', '.join(sorted(FUNCTIONS))}")  # fmt: skip
    memo[expr] = result
    return result


def _float(number: sp.Expr) -> float:
    try:
        value = complex(number)
    except (TypeError, ValueError):
        return float("nan")
    return value.real if value.imag == 0 else float("nan")


# The stages whose steps give values (L itself is one of the loss stage's steps).
_VALUED = (Stage.FORWARD, Stage.LOSS, Stage.ADJOINT, Stage.GRADIENT)


@functools.lru_cache(maxsize=16)
def probe(network: Network, seed: int) -> Probe:
    derivation = derivation_of(network)
    points = tuple(
        _random_point(network, np.random.default_rng([seed, i])) for i in range(N_POINTS)
    )
    values: dict[sp.Symbol, FloatArray] = {
        sym: np.array([float(p[sym]) for p in points]) for sym in points[0]
    }
    with np.errstate(all="ignore"):
        for step in derivation.steps:
            if step.stage in _VALUED:
                values[step.lhs] = _vector(_evaluate(step.rhs, values, {}))
    return Probe(points, values, derivation)


def _random_point(network: Network, rng: np.random.Generator) -> dict[sp.Symbol, sp.Rational]:
    """Draw a readable point: two-decimal parameters in [-1.5, 1.5], x in [-1, 1], y in [0, 1]."""
    program = network.program
    point = {p: sp.Rational(int(rng.integers(-150, 151)), 100) for p in program.params}
    point |= {x: sp.Rational(int(rng.integers(-100, 101)), 100) for x in program.inputs}
    weights = [int(rng.integers(1, 101)) for _ in program.targets]
    if network.loss_name == "cross_entropy":
        # delta = a - y of softmax with cross-entropy holds only for targets that sum to 1.
        point |= {
            y: sp.Rational(w, sum(weights)) for y, w in zip(program.targets, weights, strict=True)
        }
    else:
        point |= {y: sp.Rational(w, 100) for y, w in zip(program.targets, weights, strict=True)}
    return point


def _exact_values(derivation: Derivation, point: Mapping[sp.Symbol, sp.Rational]) -> dict:
    values: dict[sp.Symbol, sp.Expr] = dict(point)
    for step in derivation.steps:
        if step.stage in _VALUED:
            values[step.lhs] = sp.N(step.rhs.xreplace(values), DIGITS)
    return values


def counterexample(
    probe: Probe,
    expected: sp.Expr,
    given: sp.Expr,
    expected_values: FloatArray,
    given_values: FloatArray,
) -> Counterexample | None:
    """Return a confirmed point of disagreement, or None when the formulas agree everywhere."""
    agree = close(given_values, expected_values)
    with np.errstate(all="ignore"):
        gap = np.abs(given_values - expected_values) / (np.abs(expected_values) + 1e-12)
    gap = np.where(np.isfinite(gap), gap, np.inf)
    suspects = [int(i) for i in np.argsort(-gap) if not agree[i]][:N_CONFIRM]
    # Equal at every float point: a tiny difference could hide below float64's tolerance.
    checked = suspects if suspects else list(range(N_CONFIRM))
    for i in checked:
        expected_exact, given_exact = probe.exact(expected, i), probe.exact(given, i)
        if not _exactly_close(expected_exact, given_exact):
            return _at(probe, i, expected_exact, given_exact)
    return None


def check_real(probe: Probe, given: sp.Expr, given_values: FloatArray, source: str) -> None:
    """Raise a ParseError when the formula is not real at a probe point (float64 gave NaN)."""
    for i in np.flatnonzero(np.isnan(given_values))[:N_CONFIRM]:
        real, imaginary = probe.exact(given, int(i)).as_real_imag()
        scale = 1 + abs(real) if real.is_comparable else 1
        if imaginary.is_comparable and abs(imaginary) > RTOL_EXACT * scale:
            raise ParseError(
                f"{source}:1:1: the formula is not real-valued (sqrt of a negative number?); "
                "a gradient is real at every point, so check what goes under each sqrt, log "
                "and fractional power"
            )


def _exactly_close(expected: sp.Expr, given: sp.Expr) -> bool:
    if not (given.is_number and given.is_finite and expected.is_finite):
        return False
    gap = abs(sp.N(given - expected, DIGITS))
    return bool(gap <= RTOL_EXACT * max(abs(expected), abs(given)) + RTOL_EXACT**1.5)


def _at(probe: Probe, i: int, expected: sp.Expr, given: sp.Expr) -> Counterexample:
    program = probe.derivation.network.program
    point = probe.points[i]
    given_value: float | complex
    try:
        given_c = complex(given)
        given_value = given_c.real if given_c.imag == 0 else given_c
    except (TypeError, ValueError):
        given_value = float("nan")
    return Counterexample(
        {p.name: float(point[p]) for p in program.params},
        {x.name: float(point[x]) for x in program.inputs},
        {y.name: float(point[y]) for y in program.targets},
        float(expected),
        given_value,
    )


# --- the symbolic proof --------------------------------------------------------------------------
def proved_equal(derivation: Derivation, expected: sp.Expr, given: sp.Expr) -> bool:
    """Try to prove given - expected = 0 with the definitions substituted; False if unsure."""
    definitions = dict(_definitions(derivation.network))
    difference = (given - expected).xreplace(definitions)
    if _node_count(difference) > SYMBOLIC_MAX_NODES:
        return False
    rewritten = difference.replace(Sigmoid, lambda z: 1 / (1 + sp.exp(-z))).rewrite(sp.exp)
    with _time_limit(SYMBOLIC_SECONDS) as allowed:
        if not allowed:
            return False
        try:
            return bool(sp.cancel(sp.expand(rewritten)) == 0)
        except _TimeoutError:
            return False


@functools.lru_cache(maxsize=16)
def _definitions(network: Network) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """Return each named symbol's definition in parameters, inputs and targets only."""
    definitions: dict[sp.Symbol, sp.Expr] = {}
    for step in derivation_of(network).steps:
        if step.stage in _VALUED:
            definitions[step.lhs] = step.rhs.xreplace(definitions)
    return tuple(definitions.items())


def _node_count(expr: sp.Expr) -> int:
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > SYMBOLIC_MAX_NODES:
            break
    return count


class _TimeoutError(Exception):
    """Raised inside the symbolic proof when its time is up."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[bool]:
    """Interrupt the body after ``seconds`` (yields False where no alarm can be set)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield False
        return

    def _interrupt(signum: int, frame: object) -> None:
        raise _TimeoutError

    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
