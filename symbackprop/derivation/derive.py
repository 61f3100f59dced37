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
from typing import overload

import sympy as sp

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.matrix_derivation import MatrixDerivation, derive_layers
from symbackprop.derivation.rules import LocalDerivative, differentiate
from symbackprop.derivation.steps import LOSS, Path, Stage, Step
from symbackprop.model import notation
from symbackprop.model.errors import SpecError, SymbackpropError, unknown_name
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network
from symbackprop.model.optimizers import Optimizer, get_optimizer
from symbackprop.model.penalty import PENALTY
from symbackprop.model.program import Assignment, NodeKind
from symbackprop.model.rulebook import Rule
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import require_names, require_network


# --- the sweep -------------------------------------------------------------------------------
@overload
def derive(
    network: Network, freeze: Iterable[str] = (), optimizer: str | Optimizer = "sgd"
) -> Derivation: ...


@overload
def derive(
    network: LayerNetwork, freeze: Iterable[str] = (), optimizer: str | Optimizer = "sgd"
) -> MatrixDerivation: ...


def derive(
    network: Network | LayerNetwork, freeze: Iterable[str] = (), optimizer: str | Optimizer = "sgd"
) -> Derivation | MatrixDerivation:
    """Run the reverse sweep over a network's program and return its Derivation.

    ``freeze`` names parameters the optimiser leaves alone (Mazur's biases): they get a
    gradient step but no update step. ``optimizer`` (a registered name, or an Optimizer with
    its settings) writes the update stage: one step per parameter and state (v, m, s). A
    network of layers gets its matrix derivation (plain gradient descent in its update stage).
    """
    if isinstance(network, LayerNetwork):
        if get_optimizer(optimizer).name != "sgd":
            raise SymbackpropError(
                "the update stage of a network of layers is plain gradient descent; train it "
                "with another optimiser (sb.train(..., optimizer=...)) instead"
            )
        return derive_layers(network, require_names(freeze, "freeze"))
    network = require_network(network, "derive")
    frozen = require_names(freeze, "freeze")
    known = set(network.parameter_names())
    for name in frozen:
        if name not in known:
            raise unknown_name("parameter to freeze", name, known)
    chosen = get_optimizer(optimizer)
    _check_no_clash(network, chosen)
    sweep = _Sweep(network)
    steps = sweep.forward_steps() + sweep.adjoint_steps() + sweep.gradient_steps()
    steps += _update_steps(network, frozen, chosen)
    return Derivation(network, tuple(_with_dependencies(steps)), frozen, optimizer=chosen)


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
        self.loss_side = frozenset(program.loss_nodes)
        self.adjoint: dict[sp.Symbol, sp.Expr] = {}
        self.inline_paths: dict[sp.Symbol, tuple[Path, ...]] = {}

    def forward_steps(self) -> list[Step]:
        """Copy the program: the forward pass, then the loss side (what uses targets), then L."""
        steps = [
            Step(a.lhs, a.rhs, self._stage_of(a.lhs), a.layer, node=a.lhs) for a in self.assignments
        ]
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

    def _stage_of(self, node: sp.Symbol) -> Stage:
        return Stage.LOSS if node in self.loss_side else Stage.FORWARD

    # --- one adjoint -----------------------------------------------------------------------
    def _adjoint_step(self, assignment: Assignment) -> Step | None:
        node = assignment.lhs
        fused = self._fused_output_delta(assignment)
        if fused is not None:
            return fused
        paths = self._paths(node)
        total = sp.Add(*[p.term for p in paths])
        if node in self.loss_side and total.is_number:
            # A loss term's adjoint is a plain number (dE_total/dE_o1 = 1): it is written into
            # the paths that use it (dL/dout_o1 = dE_o1/dout_o1) instead of a line of its own.
            self.adjoint[node] = total
            return None
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
                local = self._local(self._loss_seen_by(node), node)
                paths.append(Path(LOSS, sp.Integer(1), local.expr, local.rules))
            elif self.definition[user].kind is NodeKind.PENALTY:
                # dOmega/dw = lambda w + lambda_1 sign(w), stated rather than differentiated:
                # SymPy's d|w|/dw of a symbol not known to be real is not sign(w).
                penalty = self.network.program.penalty
                paths.append(
                    Path(user, self.adjoint[user], penalty.gradient(node), penalty.rules())
                )
            elif user in self.live:
                local = self._local(self.definition[user].rhs, node)
                paths.append(Path(user, self.adjoint[user], local.expr, local.rules))
        return tuple(paths)

    def _loss_seen_by(self, node: sp.Symbol) -> sp.Expr:
        """Return L without the penalty Omega, which no node but Omega itself meets in L."""
        terms = self.network.program.loss_terms
        return sp.Add(*[t for t in terms if t != PENALTY or node == PENALTY])

    def _local(self, rhs: sp.Expr, wrt: sp.Symbol) -> LocalDerivative:
        return differentiate(rhs, wrt, self.names, self.params)


def _update_steps(network: Network, frozen: Sequence[str], optimizer: Optimizer) -> list[Step]:
    """Write the optimiser's step for every parameter that is not frozen, state first."""
    steps = []
    for param in network.program.params:
        if param.name in frozen:
            continue
        gradient = sp.Symbol(notation.gradient_name(param.name))
        old, new = optimizer.state_symbols(param.name)
        for line in optimizer.lines(param, gradient, old, new):
            lhs = sp.Symbol(notation.updated_name(param.name)) if line.target == "theta" else None
            steps.append(
                Step(
                    lhs or new[line.target], line.rhs, Stage.UPDATE, None, (line.rule,), node=param
                )
            )
    return steps


def _check_no_clash(network: Network, optimizer: Optimizer) -> None:
    """Refuse a program whose own names are the optimiser's symbols (mu, t, v_w1, ...)."""
    program = network.program
    names = {s.name for s in (*program.params, *program.inputs, *program.targets)}
    names |= {a.lhs.name for a in program.assignments}
    theirs = set(optimizer.hyperparameters()) | (
        {notation.STEP_NUMBER} if optimizer.state else set()
    )
    for param in program.params:
        old, new = optimizer.state_symbols(param.name)
        theirs |= {s.name for s in (*old.values(), *new.values())}
    clash = sorted(names & theirs)
    if clash:
        raise SpecError(
            f"the program's name {clash[0]!r} is a symbol of the {optimizer.name} optimiser; "
            "rename it in the program"
        )


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
    if paths[0].via == LOSS or paths[0].adjoint == 1:
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
        elif path.adjoint.is_number:
            # Through a loss term whose own adjoint is a number: dL/dout_o1 = dE_o1/dout_o1.
            local = sp.Derivative(path.via, node, evaluate=False)
            terms.append(local if path.adjoint == 1 else sp.Mul(path.adjoint, local))
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
    # The penalty Omega belongs to no layer: a weight's gradient stays in its layer.
    layers = {a.layer for a in assignments if a is not None and a.kind is not NodeKind.PENALTY}
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
