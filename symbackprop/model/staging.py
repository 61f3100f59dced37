"""Staging: a compound expression written as a circuit of named nodes (model layer).

CS231n draws f = 1/(1 + e^-(w0 x0 + w1 x1 + w2)) as a circuit: each gate (add, multiply,
negate, exp, 1/x, ...) has its own local gradient, and the sigmoid gate's is (1 - f) f. A
program's assignments can be staged three ways before the derivation sees them:

- "as_written": one node per assignment, as the user wrote it (the default);
- "functions": the known functions are recognised (1/(1 + e^-u) is sigma(u),
  log(1 + e^u) is softplus(u), Max(0, u) is relu(u)) and each compound argument of a known
  function becomes a node of its own, so sigma(u) differentiates to f (1 - f);
- "gates": the known functions are recognised, then every operation is a gate of its own.

A new node is named after its gate and numbered (sum1, prod1, neg1, exp1, inv1, sigmoid1,
...), skipping every name the program already uses. Each view computes the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sympy as sp

from symbackprop.model.errors import SpecError
from symbackprop.model.functions import LeakyRelu, Relu, Sigmoid, Softplus, Tanh

STAGES = ("as_written", "functions", "gates")
# The activations among the functions: their argument gets a node in the "functions" view.
_GATE_NAMES = {
    Sigmoid: "sigmoid",
    Tanh: "tanh",
    Relu: "relu",
    LeakyRelu: "leaky_relu",
    Softplus: "softplus",
}
_KNOWN = tuple(_GATE_NAMES)


def stage(
    pairs: Sequence[tuple[sp.Symbol, sp.Expr]], how: str, taken: Iterable[str]
) -> list[tuple[sp.Symbol, sp.Expr]]:
    """Return the assignments staged ``how`` ("as_written", "functions" or "gates")."""
    if how not in STAGES:
        raise SpecError(f"unknown staging {how!r}; choose one of {', '.join(STAGES)}")
    if how == "as_written":
        return list(pairs)
    circuit = _Circuit(how, set(taken) | {lhs.name for lhs, _ in pairs})
    staged: list[tuple[sp.Symbol, sp.Expr]] = []
    for lhs, rhs in pairs:
        top = circuit.stage_top(recognise(rhs))
        staged += circuit.take_nodes()
        staged.append((lhs, top))
    return staged


def recognise(expr: sp.Expr) -> sp.Expr:
    """Write the known functions' textbook forms as the functions: 1/(1 + e^-u) -> sigma(u)."""
    return expr.replace(_is_known_form, _as_known_function)


def _is_known_form(expr: sp.Basic) -> bool:
    return _as_known_function(expr) is not None


def _as_known_function(expr: sp.Basic) -> sp.Expr | None:
    if expr.is_Pow and expr.exp == -1 and expr.base.is_Add:
        exponent = _one_plus_exp(expr.base)
        if exponent is not None:
            return Sigmoid(recognise(-exponent))  # 1/(1 + e^(-u)) = sigma(u)
    if isinstance(expr, sp.log) and expr.args[0].is_Add:
        exponent = _one_plus_exp(expr.args[0])
        if exponent is not None:
            return Softplus(recognise(exponent))  # log(1 + e^u) = softplus(u)
    if isinstance(expr, sp.Max) and len(expr.args) == 2 and sp.S.Zero in expr.args:
        other = expr.args[0] if expr.args[1] == 0 else expr.args[1]
        return Relu(recognise(other))  # max(0, u) = relu(u)
    return None


def _one_plus_exp(expr: sp.Add) -> sp.Expr | None:
    """Return v where expr is 1 + e^v, else None."""
    if len(expr.args) != 2 or sp.S.One not in expr.args:
        return None
    other = expr.args[0] if expr.args[1] == 1 else expr.args[1]
    return other.args[0] if isinstance(other, sp.exp) else None


class _Circuit:
    """New nodes made while staging, named so that none collides with the program's names."""

    def __init__(self, how: str, taken: set[str]) -> None:
        self.how = how
        self.taken = taken
        self.counts: dict[str, int] = {}
        self.nodes: list[tuple[sp.Symbol, sp.Expr]] = []
        self.seen: dict[sp.Expr, sp.Symbol] = {}

    def take_nodes(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        nodes, self.nodes = self.nodes, []
        return nodes

    def stage_top(self, expr: sp.Expr) -> sp.Expr:
        """Stage the inside of an assignment's right side; the top operation stays in it."""
        if expr.is_Atom:
            return expr
        if self.how == "functions":
            return self._functions(expr)
        return self._gate_of(expr, top=True)

    # --- "functions": a known function's compound argument becomes a node ----------------
    def _functions(self, expr: sp.Expr) -> sp.Expr:
        if expr.is_Atom:
            return expr
        args = [self._functions(arg) for arg in expr.args]
        if isinstance(expr, _KNOWN):
            args = [self._node(arg) if not arg.is_Atom else arg for arg in args]
        return expr.func(*args)

    # --- "gates": one node per operation --------------------------------------------------
    def _gate_of(self, expr: sp.Expr, top: bool = False) -> sp.Expr:
        if expr.is_Atom:
            return expr
        if _is_negation(expr):
            inner = self._gate_of(-expr)
            gate = sp.Mul(-1, inner, evaluate=False) if not inner.is_Atom else -inner
            return gate if top else self._node(gate, "neg")
        args = [self._gate_of(arg) for arg in expr.args]
        gate = expr.func(*args)
        return gate if top else self._node(gate)

    def _node(self, expr: sp.Expr, kind: str | None = None) -> sp.Symbol:
        """Return the node holding ``expr`` (one node per distinct expression)."""
        if expr in self.seen:
            return self.seen[expr]
        symbol = sp.Symbol(self._fresh(kind or _kind(expr)))
        self.nodes.append((symbol, expr))
        self.seen[expr] = symbol
        return symbol

    def _fresh(self, kind: str) -> str:
        count = self.counts.get(kind, 0)
        while True:
            count += 1
            name = f"{kind}{count}"
            if name not in self.taken:
                break
        self.counts[kind] = count
        self.taken.add(name)
        return name


def _is_negation(expr: sp.Expr) -> bool:
    """-u for a compound u: -(w0 x0 + w1 x1) written as the sum of negated terms, or -1 * u."""
    if expr.is_Mul:
        return expr.args[0] == -1 and len(expr.args) > 1
    return bool(expr.is_Add) and all(term.could_extract_minus_sign() for term in expr.args)


def _kind(expr: sp.Expr) -> str:
    if expr.is_Add:
        return "sum"
    if expr.is_Mul:
        return "prod"
    if expr.is_Pow:
        return "inv" if expr.exp == -1 else "pow"
    if isinstance(expr, sp.exp):
        return "exp"
    return _GATE_NAMES.get(type(expr)) or type(expr).__name__.lower()
