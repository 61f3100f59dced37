"""The reverse sweep: a Network's program -> an immutable Derivation of every gradient.

Derivation engine. Forward steps copy the program; the loss step states one sample's loss; then,
walking the program backwards, each node's adjoint dL/d(node) is written as a named symbol in
terms of the adjoints of the nodes it feeds (the multivariable chain rule), each local
derivative coming from :func:`symbackprop.derivation.rules.differentiate`. For a layered network
the adjoint of an activation a is folded into the delta of its z, as in BP1/BP2: delta^(l)_j =
(sum_k w^(l+1)_kj delta^(l+1)_k) sigma'(z^(l)_j). No strings here: renderers turn the steps into
text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import sympy as sp

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.rules import LocalDerivative, differentiate
from symbackprop.derivation.steps import LEARNING_RATE, LOSS, Path, Stage, Step
from symbackprop.model import notation
from symbackprop.model.errors import unknown_name
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network
from symbackprop.model.program import Assignment, NodeKind
from symbackprop.model.rulebook import Rule
from symbackprop.model.validate import require_names, require_network


# --- the sweep -------------------------------------------------------------------------------
def derive(network: Network, freeze: Iterable[str] = ()) -> Derivation:
    """Run the reverse sweep over a network's program and return its Derivation.

    ``freeze`` names parameters gradient descent leaves alone (Mazur's biases): they get a
    gradient step but no update step.
    """
    network = require_network(network, "derive")
    frozen = require_names(freeze, "freeze")
    known = set(network.parameter_names())
    for name in frozen:
        if name not in known:
            raise unknown_name("parameter to freeze", name, known)
    sweep = _Sweep(network)
    steps = sweep.forward_steps() + sweep.adjoint_steps() + sweep.gradient_steps()
    steps += _update_steps(network, frozen)
    return Derivation(network, tuple(_with_dependencies(steps)), frozen)


class _Sweep:
    """The state of one reverse sweep: consumers, live nodes, adjoints found so far."""

    def __init__(self, network: Network) -> None:
        self.network = network
        program = network.program
        self.assignments = program.assignments
        self.params = frozenset(program.params)
        self.definition: dict[sp.Symbol, Assignment] = {a.lhs: a for a in self.assignments}
        # sigma(z) -> a: lets a local derivative reuse the name of a value already computed.
        self.names = {a.rhs: a.lhs for a in self.assignments if not a.rhs.is_Symbol}
        self.consumers = _consumers(self.assignments, program.loss_terms)
        self.live = _live_nodes(self.assignments, program.loss)
        self.adjoint: dict[sp.Symbol, sp.Expr] = {}
        self.inline_paths: dict[sp.Symbol, tuple[Path, ...]] = {}

    def forward_steps(self) -> list[Step]:
        steps = [Step(a.lhs, a.rhs, Stage.FORWARD, a.layer, node=a.lhs) for a in self.assignments]
        terms = self.network.program.loss_terms
        steps.append(Step(LOSS, sp.Add(*terms), Stage.LOSS, None, terms=terms))
        return steps

    def adjoint_steps(self) -> list[Step]:
        steps = []
        for assignment in reversed(self.assignments):
            node = assignment.lhs
            if node not in self.live:
                continue
            step = self._adjoint_step(assignment)
            if step is not None:
                steps.append(step)
        if self.network.is_layered:
            # Layer by layer from the output, neurons in order (delta2_1 before delta2_2):
            # every delta of a layer needs only the layer after it, so the order is free.
            order = {a.lhs: i for i, a in enumerate(self.assignments)}
            steps.sort(key=lambda s: (-(s.layer or 0), order[s.node] if s.node else 0))
        return steps

    def gradient_steps(self) -> list[Step]:
        steps = []
        for param in self.network.program.params:
            paths = self._paths(param)
            rhs = sp.Add(*[p.term for p in paths])
            steps.append(
                Step(
                    sp.Symbol(notation.gradient_name(param.name)),
                    rhs,
                    Stage.GRADIENT,
                    _common_layer(self.definition.get(p.via) for p in paths),
                    _cited(paths, many=len(paths) > 1),
                    paths=paths,
                    factors=_factors(paths, rhs),
                    chain=_leibniz(paths, param),
                    node=param,
                )
            )
        return steps

    # --- one adjoint -----------------------------------------------------------------------
    def _adjoint_step(self, assignment: Assignment) -> Step | None:
        node = assignment.lhs
        fused = self._fused_output_delta(assignment)
        if fused is not None:
            return fused
        paths = self._paths(node)
        if assignment.kind is NodeKind.ACTIVATION:
            # Folded into its z's delta (BP1/BP2 form): keep the paths, name no symbol.
            self.inline_paths[node] = paths
            self.adjoint[node] = sp.Add(*[p.term for p in paths])
            return None
        symbol = _adjoint_symbol(assignment)
        users = [c for c in self.consumers.get(node, ()) if c in self.live or c == LOSS]
        if len(users) == 1 and users[0] in self.inline_paths:
            step = self._through_activation(assignment, symbol, users[0])
        else:
            rhs = sp.Add(*[p.term for p in paths])
            factors = _factors(paths, rhs)
            rules = _cited(paths, many=len(paths) > 1)
            # dL/d(node) read straight off the loss: its Leibniz form would restate the lhs.
            chain = None if [p.via for p in paths] == [LOSS] else _leibniz(paths, node)
            step = Step(symbol, rhs, Stage.ADJOINT, assignment.layer, rules, (), paths, factors)
            step = replace(step, chain=chain, node=node)
        self.adjoint[node] = symbol
        return step

    def _through_activation(self, assignment: Assignment, symbol: sp.Symbol, a: sp.Symbol) -> Step:
        """delta = (sum of the paths reaching a) * da/dz: the BP1/BP2 form of a neuron's delta."""
        z = assignment.lhs
        paths = self.inline_paths[a]
        outer = self.adjoint[a]
        local = self._local(self.definition[a].rhs, z)
        rules = (Rule.CHAIN,) + _cited(paths, many=len(paths) > 1) + local.rules
        return Step(
            symbol,
            outer * local.expr,
            Stage.ADJOINT,
            assignment.layer,
            tuple(dict.fromkeys(rules)),
            paths=paths,
            factors=(outer, local.expr),
            chain=sp.Derivative(LOSS, a, evaluate=False) * sp.Derivative(a, z, evaluate=False),
            node=z,
        )

    def _fused_output_delta(self, assignment: Assignment) -> Step | None:
        """delta^(L)_j = a_j - y_j where the loss and the output activation cancel."""
        arch = self.network.architecture
        if arch is None or assignment.kind is not NodeKind.PRE_ACTIVATION:
            return None
        if assignment.layer != arch.depth:
            return None
        rule = get_loss(arch.loss).fused_rule(arch.activations[-1])
        if rule is None:
            return None
        j = int(assignment.lhs.name.rsplit("_", 1)[1])
        a = sp.Symbol(notation.a_name(arch.depth, j))
        y = sp.Symbol(notation.target_name(j))
        path = Path(LOSS, sp.Integer(1), a - y, (rule,))
        self.adjoint[assignment.lhs] = sp.Symbol(notation.delta_name(arch.depth, j))
        return Step(
            sp.Symbol(notation.delta_name(arch.depth, j)),
            a - y,
            Stage.ADJOINT,
            assignment.layer,
            (Rule.CHAIN, rule),
            paths=(path,),
            factors=(a - y,),
            chain=sp.Derivative(LOSS, assignment.lhs, evaluate=False),
            node=assignment.lhs,
        )

    def _paths(self, node: sp.Symbol) -> tuple[Path, ...]:
        paths = []
        for user in self.consumers.get(node, ()):
            if user == LOSS:
                local = self._local(self.network.program.loss, node)
                paths.append(Path(LOSS, sp.Integer(1), local.expr, local.rules))
            elif user in self.live:
                local = self._local(self.definition[user].rhs, node)
                paths.append(Path(user, self.adjoint[user], local.expr, local.rules))
        return tuple(paths)

    def _local(self, rhs: sp.Expr, wrt: sp.Symbol) -> LocalDerivative:
        return differentiate(rhs, wrt, self.names, self.params)


def _update_steps(network: Network, frozen: Sequence[str]) -> list[Step]:
    steps = []
    for param in network.program.params:
        if param.name in frozen:
            continue
        gradient = sp.Symbol(notation.gradient_name(param.name))
        steps.append(
            Step(
                sp.Symbol(notation.updated_name(param.name)),
                param - LEARNING_RATE * gradient,
                Stage.UPDATE,
                None,
                (Rule.GRADIENT_DESCENT,),
                node=param,
            )
        )
    return steps


# --- helpers ---------------------------------------------------------------------------------
def _consumers(
    assignments: Sequence[Assignment], loss_terms: Sequence[sp.Expr]
) -> dict[sp.Symbol, list[sp.Symbol]]:
    """Map each symbol to the nodes whose right side uses it (the loss as L), in program order."""
    consumers: dict[sp.Symbol, list[sp.Symbol]] = {}
    for assignment in assignments:
        for sym in sorted(assignment.rhs.free_symbols, key=sp.default_sort_key):
            consumers.setdefault(sym, []).append(assignment.lhs)
    for sym in sorted(sp.Add(*loss_terms).free_symbols, key=sp.default_sort_key):
        consumers.setdefault(sym, []).append(LOSS)
    return consumers


def _live_nodes(assignments: Sequence[Assignment], loss: sp.Expr) -> set[sp.Symbol]:
    """Return the symbols the loss depends on (a node off every path to L has adjoint 0)."""
    live: set[sp.Symbol] = set(loss.free_symbols)
    for assignment in reversed(assignments):
        if assignment.lhs in live:
            live |= assignment.rhs.free_symbols
    return live


def _adjoint_symbol(assignment: Assignment) -> sp.Symbol:
    if assignment.kind is NodeKind.PRE_ACTIVATION and assignment.layer is not None:
        j = int(assignment.lhs.name.rsplit("_", 1)[1])
        return sp.Symbol(notation.delta_name(assignment.layer, j))
    return sp.Symbol(notation.gradient_name(assignment.lhs.name))


def _factors(paths: Sequence[Path], rhs: sp.Expr) -> tuple[sp.Expr, ...]:
    """Write a one-path adjoint as the textbook product (upstream adjoint, local derivative)."""
    if len(paths) != 1:
        return (rhs,)
    if paths[0].via == LOSS:
        return (paths[0].local,)
    return (paths[0].adjoint, paths[0].local)


def _cited(paths: Sequence[Path], many: bool) -> tuple[Rule, ...]:
    rules: list[Rule] = [Rule.SUM_OVER_PATHS] if many else []
    for path in paths:
        rules += path.rules
    return tuple(dict.fromkeys(rules))


def _leibniz(paths: Sequence[Path], node: sp.Symbol) -> sp.Expr:
    """Write sum over paths of dL/d(via) * d(via)/d(node), unevaluated."""
    terms = []
    for path in paths:
        if path.via == LOSS:
            terms.append(sp.Derivative(LOSS, node, evaluate=False))
        else:
            terms.append(
                sp.Mul(
                    sp.Derivative(LOSS, path.via, evaluate=False),
                    sp.Derivative(path.via, node, evaluate=False),
                    evaluate=False,
                )
            )
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else (terms[0] if terms else sp.S.Zero)


def _common_layer(assignments: Iterable[Assignment | None]) -> int | None:
    layers = {a.layer for a in assignments if a is not None}
    return layers.pop() if len(layers) == 1 else None


def _with_dependencies(steps: list[Step]) -> list[Step]:
    """Fill each step's depends_on: the symbols of earlier steps its rhs uses."""
    seen: set[sp.Symbol] = set()
    done = []
    for step in steps:
        used = sorted(step.rhs.free_symbols & seen, key=sp.default_sort_key)
        done.append(replace(step, depends_on=tuple(used)))
        seen.add(step.lhs)
    return done
