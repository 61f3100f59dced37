"""Check a hand-derived gradient against the derivation: verdict, counterexample, diagnosis.

Checks layer. The user's formula for dL/dw may use the derivation's named intermediates (a, z,
delta, dL_d<name>), so both it and the correct gradient are evaluated by walking the steps:
each named symbol takes the value its definition gives. Equivalence is decided numerically at
seeded random points (float64 at every point, 50 digits at the deciding points) and, where
the fully substituted forms are small, proved symbolically (sigmoid and tanh rewritten as exp).
A wrong formula gets a counterexample (a concrete parameter/data point) and a diagnosis from
the registry of classic mistakes in :mod:`symbackprop.checks.mistakes`.

A formula may not use what it is asked to derive: gradient and update symbols (dL_d<param>,
<param>_new) are refused, and so is any name the caller forbids (a worksheet's delta question
forbids that delta). A formula that is not real at the probe points is refused too.

Derivative shorthand: none beyond the registry. Write sigma'(z) as ``a*(1 - a)`` or
``sigmoid(z)*(1 - sigmoid(z))``, tanh'(z) as ``1 - a**2`` and relu'(z) as ``step(z)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import overload

import numpy as np
import sympy as sp

import symbackprop.checks.catalogue  # noqa: F401  (registers the mistakes)
from symbackprop.checks import probing
from symbackprop.checks.matrix_checker import MatrixGradientVerdict, check_layer_gradient
from symbackprop.checks.mistakes import Diagnosis, MistakeContext, diagnose
from symbackprop.checks.probing import N_POINTS, Counterexample, derivation_of
from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.steps import Stage
from symbackprop.model import notation
from symbackprop.model.errors import ParseError, shorten, unknown_name
from symbackprop.model.functions import Tanh
from symbackprop.model.network import Network
from symbackprop.model.parsing import parser as parsing
from symbackprop.model.printing import format_number, to_text
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import require_network


@dataclass(frozen=True, slots=True)
class GradientVerdict:
    """The verdict on a hand-derived dL/d(wrt): correct or not, and why not."""

    wrt: str
    correct: bool
    expected: sp.Expr  # dL/d(wrt) in named intermediates
    given: sp.Expr
    diagnosis: Diagnosis | None = None
    counterexample: Counterexample | None = None
    method: str = "numeric"  # "symbolic" when the difference was proved 0
    points: int = N_POINTS
    literal: bool = False  # a custom program's own names (b1 is b₁, not a layer bias)

    def to_text(self) -> str:
        """Return a short readable report (the `symbackprop check` output)."""
        if self.literal:
            with notation.literal_names():
                return self._text()
        return self._text()

    def _text(self) -> str:
        gradient = notation.unicode_name(notation.gradient_name(self.wrt))
        lines = [f"{gradient}: {'correct' if self.correct else 'wrong'}"]
        lines.append(f"  expected: {to_text(self.expected)}")
        lines.append(f"  given:    {to_text(self.given)}")
        if self.correct:
            how = (
                "proved symbolically"
                if self.method == "symbolic"
                else (f"equal at {self.points} random points")
            )
            lines.append(f"  equivalent ({how})")
        if self.diagnosis is not None:
            lines.append(f"  diagnosis: {self.diagnosis.title}: {self.diagnosis.explanation}")
        if self.counterexample is not None:
            point = ", ".join(
                f"{name}={format_number(value)}"
                for name, value in self.counterexample.values().items()
            )
            lines.append(f"  counterexample: {point}")
            lines.append(
                f"    expected {format_number(self.counterexample.expected_value)}, "
                f"given {_shown(self.counterexample.given_value)}"
            )
        return "\n".join(lines)


def _shown(value: float | complex) -> str:
    if isinstance(value, complex):
        return "a complex number" if np.isfinite(value) else "undefined"
    return format_number(value) if np.isfinite(value) else "undefined"


@overload
def check_gradient(
    network: Network,
    wrt: str,
    expression: str | sp.Expr,
    *,
    source: str = ...,
    seed: int = ...,
    learning_rate: float = ...,
    forbidden: Iterable[str] = ...,
) -> GradientVerdict: ...


@overload
def check_gradient(
    network: LayerNetwork,
    wrt: str,
    expression: str | sp.Basic,
    *,
    source: str = ...,
    seed: int = ...,
    learning_rate: float = ...,
    forbidden: Iterable[str] = ...,
) -> MatrixGradientVerdict: ...


def check_gradient(
    network: Network | LayerNetwork,
    wrt: str,
    expression: str | sp.Basic,
    *,
    source: str = "<expr>",
    seed: int = 0,
    learning_rate: float = 0.5,
    forbidden: Iterable[str] = (),
) -> GradientVerdict | MatrixGradientVerdict:
    """Check a formula for dL/d(wrt) against the derivation of ``network``.

    For a network of layers (``sb.sequential``) the formula is a matrix formula typed
    NumPy-style and ``wrt`` a state_dict name or an adjoint: see
    :mod:`symbackprop.checks.matrix_checker`.

    ``expression`` is text (parsed safely, strict) or SymPy over the names of
    :func:`allowed_symbols`; ``learning_rate`` is the eta of the updated-weights mistake;
    ``forbidden`` names further symbols the formula may not use (the quantity a question asks
    for). A formula that uses a gradient, an update or a forbidden name, or that is not real at
    the probe points, raises :class:`~symbackprop.model.errors.ParseError`.
    """
    if isinstance(network, LayerNetwork):
        return check_layer_gradient(
            network, wrt, expression, source=source, seed=seed, forbidden=forbidden
        )
    network = require_network(network, "check_gradient")
    if network.architecture is None:
        # A custom program's names are its own: diagnoses print b1 as b₁, not as b⁽¹⁾.
        with notation.literal_names():
            verdict = _check_scalar(network, wrt, expression, source, seed, learning_rate,
                                    forbidden)  # fmt: skip
        return replace(verdict, literal=True)
    return _check_scalar(network, wrt, expression, source, seed, learning_rate, forbidden)


def _check_scalar(
    network: Network,
    wrt: str,
    expression: str | sp.Basic,
    source: str,
    seed: int,
    learning_rate: float,
    forbidden: Iterable[str],
) -> GradientVerdict:
    names = network.parameter_names()
    if wrt not in names:
        raise unknown_name("parameter", wrt, names)
    if not isinstance(expression, (str, sp.Expr)):
        raise ParseError(
            f"expression {shorten(repr(expression))} is neither text nor a SymPy expression; "
            "give e.g. 'a1_1*delta2_1'"
        )
    derivation = derivation_of(network)
    refused = _refused_symbols(derivation, wrt, forbidden)
    known = {name: sp.Symbol(name) for name in refused} | allowed_symbols(derivation)
    given = _given_expression(expression, known, source)
    _check_not_refused(given, refused, expression, source)
    expected = derivation.gradient(wrt)
    probe = probing.probe(network, seed)
    expected_values, given_values = probe.evaluate(expected), probe.evaluate(given)
    probing.check_real(probe, given, given_values, source)
    counterexample = probing.counterexample(probe, expected, given, expected_values, given_values)
    if counterexample is None:
        proved = probing.proved_equal(derivation, expected, given)
        return GradientVerdict(wrt, True, expected, given, method=_method(proved))
    context = MistakeContext(
        derivation, sp.Symbol(wrt), given_values, expected_values, probe.evaluate, learning_rate
    )
    return GradientVerdict(wrt, False, expected, given, diagnose(context), counterexample)


def _method(proved: bool) -> str:
    return "symbolic" if proved else "numeric"


def allowed_symbols(derivation: Derivation) -> dict[str, sp.Symbol]:
    """Return the names a formula may use: parameters, x, y, forward nodes and adjoints.

    Gradients and updated parameters are left out: a formula for dL/dw that uses them uses
    what it should derive.
    """
    program = derivation.network.program
    symbols = [*program.params, *program.inputs, *program.targets]
    symbols += [step.lhs for step in derivation.steps if step.is_named_value]
    return {s.name: s for s in symbols}


_FIX = "write it in terms of deltas, activations, weights and inputs"


def _refused_symbols(derivation: Derivation, wrt: str, forbidden: Iterable[str]) -> dict[str, str]:
    """Return {name: what it is} for the gradients, updates and ``forbidden`` names refused."""
    reasons: dict[str, str] = {}
    for step in derivation.steps:
        if step.stage is Stage.GRADIENT:
            reasons[step.lhs.name] = "another parameter's gradient"
        elif step.stage is Stage.UPDATE:
            reasons[step.lhs.name] = "an updated parameter (after the gradient step)"
    reasons[notation.gradient_name(wrt)] = "the gradient it should derive"
    reasons |= {name: "the quantity asked for" for name in forbidden}
    return reasons


def _check_not_refused(
    given: sp.Expr, refused: Mapping[str, str], expression: str | sp.Expr, source: str
) -> None:
    """Raise a ParseError at the first refused name the formula uses, saying what it is."""
    used = [s.name for s in given.free_symbols if s.name in refused]
    if not used:
        return
    text = expression if isinstance(expression, str) else ""
    name = min(used, key=lambda n: (_column(text, n), n))
    raise ParseError(
        f"{source}:1:{_column(text, name)}: the formula uses {name!r}, {refused[name]}; {_FIX}"
    )


def _column(text: str, name: str) -> int:
    """Return the 1-based column where ``name`` first stands as a whole word (1 if nowhere)."""
    found = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
    return found.start() + 1 if found else 1


def _given_expression(
    expression: str | sp.Basic, allowed: Mapping[str, sp.Symbol], source: str
) -> sp.Expr:
    if isinstance(expression, str):
        return parsing.parse(expression, symbols=allowed, strict=True, source=source)
    if not isinstance(expression, sp.Expr):
        raise ParseError(
            f"{source}:1:1: {type(expression).__name__} is not an expression; pass text or a "
            "SymPy expression for the gradient"
        )
    for sym in sorted(expression.free_symbols, key=sp.default_sort_key):
        if sym.name not in allowed:
            raise unknown_name("symbol", sym.name, allowed, where="in the expression")
    given = expression.xreplace({s: allowed[s.name] for s in expression.free_symbols})
    return given.replace(sp.tanh, Tanh) if given.has(sp.tanh) else given  # the network's tanh
