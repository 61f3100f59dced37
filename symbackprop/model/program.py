"""The scalar program: straight-line assignments ``symbol := expr`` with their roles (model layer).

A :class:`Program` is what the derivation sweeps: assignments, one sample's loss (one term per
output), and the parameter, input and target symbols. :func:`layered_program` writes it for a
layered network in the book's notation, one assignment per neuron;
:func:`program_from_expressions` checks a user's own program (every name defined before use,
none reserved) and keeps its names.
"""

from __future__ import annotations

import enum
import functools
import keyword
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

import sympy as sp

from symbackprop.model import notation
from symbackprop.model.activations import get_activation
from symbackprop.model.architecture import (
    Architecture,
)
from symbackprop.model.errors import SpecError, SymbackpropWarning, shorten
from symbackprop.model.functions import FUNCTIONS, Tanh
from symbackprop.model.losses import get_loss
from symbackprop.model.penalty import NO_PENALTY, PENALTY, Penalty
from symbackprop.model.staging import stage

# Names generated code defines or calls; a user's symbol may not shadow them.
_RESERVED = frozenset({"numpy", "math", "builtins", "range", "len", "Softmax"}) | frozenset(
    entry.numpy_name for entry in FUNCTIONS.values()
)


class NodeKind(enum.Enum):
    """What an assignment computes: a weighted input z, an activation a, or any other node."""

    PRE_ACTIVATION = "z"
    ACTIVATION = "a"
    NODE = "node"
    PENALTY = "penalty"  # Omega, the weight penalty's term of the loss


@dataclass(frozen=True, slots=True)
class Assignment:
    """One line ``lhs := rhs`` of a network's program."""

    lhs: sp.Symbol
    rhs: sp.Expr
    kind: NodeKind = NodeKind.NODE
    layer: int | None = None
    activation: str | None = None  # the registry name, for an activation node


@dataclass(frozen=True, slots=True)
class Program:
    """The scalar program: assignments, one sample's loss (one term per output), the symbols.

    ``loss_nodes`` are the assigned names on the loss side: those whose value depends on a
    target (Mazur's ``E_o1 = 1/2*(t1 - out_o1)**2`` and ``E_total = E_o1 + E_o2``). Every other
    assignment is the forward pass, a function of parameters and inputs alone.
    """

    assignments: tuple[Assignment, ...]
    loss_terms: tuple[sp.Expr, ...]
    params: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Symbol, ...]
    targets: tuple[sp.Symbol, ...]
    loss_nodes: tuple[sp.Symbol, ...] = ()
    penalty: Penalty = NO_PENALTY

    @property
    def loss(self) -> sp.Expr:
        return sp.Add(*self.loss_terms)

    @property
    def forward_assignments(self) -> tuple[Assignment, ...]:
        """Return the assignments of the forward pass (those that use no target)."""
        loss_side = set(self.loss_nodes)
        return tuple(a for a in self.assignments if a.lhs not in loss_side)

    def outputs(self) -> tuple[sp.Symbol, ...]:
        """Return the forward nodes the loss side reads (the network's outputs), in order."""
        read = set(self.loss.free_symbols)
        loss_side = set(self.loss_nodes)
        for assignment in self.assignments:
            if assignment.lhs in loss_side:
                read |= assignment.rhs.free_symbols
        return tuple(a.lhs for a in self.forward_assignments if a.lhs in read)


# --- layered networks --------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def layered_program(arch: Architecture) -> Program:
    """Write the scalar program of a layered network, one assignment per neuron."""
    inputs = tuple(sp.Symbol(notation.input_name(k)) for k in range(1, arch.sizes[0] + 1))
    targets = tuple(sp.Symbol(notation.target_name(j)) for j in range(1, arch.sizes[-1] + 1))
    previous: tuple[sp.Symbol, ...] = inputs
    assignments: list[Assignment] = []
    params: list[sp.Symbol] = []
    for layer in range(1, arch.depth + 1):
        zs, layer_params = _weighted_inputs(arch, layer, previous)
        params += layer_params
        activation = get_activation(arch.activations[layer - 1])
        activations = []
        for z, z_rhs in zs:
            assignments.append(Assignment(z, z_rhs, NodeKind.PRE_ACTIVATION, layer))
        z_symbols = tuple(z for z, _ in zs)
        for j, z in enumerate(z_symbols, start=1):
            a = sp.Symbol(notation.a_name(layer, j))
            a_rhs = (
                activation.apply_layer(j, z_symbols)
                if activation.apply_layer is not None
                else activation.apply(z)
            )
            assignments.append(Assignment(a, a_rhs, NodeKind.ACTIVATION, layer, activation.name))
            activations.append(a)
        previous = tuple(activations)
    loss_terms = get_loss(arch.loss).terms(previous, targets)
    program = Program(tuple(assignments), loss_terms, tuple(params), inputs, targets)
    weights = [p for p in params if notation.parse_weight_name(p.name) is not None]
    return penalized(program, arch.penalty, weights)


def penalized(program: Program, penalty: Penalty, weights: Sequence[sp.Symbol]) -> Program:
    """Return the program with the loss term Omega of ``penalty`` over ``weights`` (replacing any).

    Omega is a node of the loss side, L = (the program's loss) + Omega, so that each weight's
    gradient gains a path through it.
    """
    base = [a for a in program.assignments if a.lhs != PENALTY]
    terms = tuple(t for t in program.loss_terms if t != PENALTY)
    nodes = tuple(n for n in program.loss_nodes if n != PENALTY)
    if not penalty.is_zero:
        base.append(Assignment(PENALTY, penalty.term(weights), NodeKind.PENALTY))
        terms += (PENALTY,)
        nodes += (PENALTY,)
    return replace(
        program, assignments=tuple(base), loss_terms=terms, loss_nodes=nodes, penalty=penalty
    )


def _weighted_inputs(
    arch: Architecture, layer: int, previous: tuple[sp.Symbol, ...]
) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Symbol]]:
    """Return (z^(layer)_j, sum_k w_jk a_k + b) for each neuron, and the layer's parameters."""
    params: list[sp.Symbol] = []
    shared = sp.Symbol(notation.bias_name(layer)) if arch.bias == "shared" else None
    zs = []
    for j in range(1, arch.sizes[layer] + 1):
        weights = [
            sp.Symbol(notation.weight_name(layer, j, k)) for k in range(1, len(previous) + 1)
        ]
        params += weights
        rhs = sp.Add(*[w * a for w, a in zip(weights, previous, strict=True)])
        if arch.bias == "per_neuron":
            b = sp.Symbol(notation.bias_name(layer, j))
            params.append(b)
            rhs += b
        elif shared is not None:
            rhs += shared
        zs.append((sp.Symbol(notation.z_name(layer, j)), rhs))
    if shared is not None:
        params.append(shared)
    # Keep the stable order of Architecture.parameter_names: weights row-major, then biases.
    order = {name: i for i, name in enumerate(arch.parameter_names())}
    params.sort(key=lambda p: order[p.name])
    return zs, params


# --- arbitrary programs --------------------------------------------------------------------
AssignmentLike = Union[tuple[Union[sp.Symbol, str], sp.Expr], sp.Eq]


def program_from_expressions(
    assignments: Sequence[AssignmentLike] | Mapping[sp.Symbol | str, sp.Expr],
    loss: sp.Expr,
    params: Sequence[sp.Symbol | str],
    inputs: Sequence[sp.Symbol | str],
    targets: Sequence[sp.Symbol | str],
    stages: str = "as_written",
) -> Program:
    """Check a user's straight-line program of SymPy assignments and return it; names are kept.

    ``stages`` writes compound right sides as a circuit first (see :mod:`staging`).
    """
    if not isinstance(assignments, (Mapping, list, tuple)):
        raise SpecError(
            f"assignments {shorten(repr(assignments))} is not a list of (name, expression) "
            "pairs; pass e.g. [(h, sp.tanh(w*x))]"
        )
    pairs = list(assignments.items()) if isinstance(assignments, Mapping) else list(assignments)
    param_syms = _symbols(params, "parameter")
    input_syms = _symbols(inputs, "input")
    target_syms = _symbols(targets, "target")
    if stages != "as_written":
        pairs = _staged(pairs, stages, [*param_syms, *input_syms, *target_syms])
    defined: dict[str, str] = {}
    for sym, role in (
        [(s, "parameter") for s in param_syms]
        + [(s, "input") for s in input_syms]
        + [(s, "target") for s in target_syms]
    ):
        _declare(defined, sym.name, role)
    program: list[Assignment] = []
    for pair in pairs:
        if not (isinstance(pair, sp.Eq) or (isinstance(pair, (tuple, list)) and len(pair) == 2)):
            raise SpecError(
                f"assignment {shorten(repr(pair))} is not a (name, expression) pair or an sp.Eq"
            )
        lhs, rhs = (pair.lhs, pair.rhs) if isinstance(pair, sp.Eq) else pair
        lhs_sym = _symbols([lhs], "assigned name")[0]
        rhs_expr = _expression(rhs, f"the right side of {lhs_sym.name}")
        _require_defined(rhs_expr, defined, f"{lhs_sym.name} := {shorten(str(rhs_expr))}")
        _declare(defined, lhs_sym.name, "assigned name")
        program.append(Assignment(lhs_sym, rhs_expr))
    loss_expr = _expression(loss, "the loss")
    _require_defined(loss_expr, defined, "the loss")
    if not loss_expr.free_symbols:
        raise SpecError("the loss is a constant; write it in terms of the program's outputs")
    terms = tuple(loss_expr.args) if loss_expr.is_Add else (loss_expr,)
    prog = Program(
        tuple(program),
        terms,
        tuple(param_syms),
        tuple(input_syms),
        tuple(target_syms),
        _loss_side(program, target_syms),
    )
    _warn_unused_parameters(prog)
    return prog


def _staged(
    pairs: list[Any], how: str, declared: Sequence[sp.Symbol]
) -> list[tuple[sp.Symbol, sp.Expr]]:
    """Stage each right side (after the same checks as unstaged ones) into a circuit."""
    checked = []
    for pair in pairs:
        lhs, rhs = (pair.lhs, pair.rhs) if isinstance(pair, sp.Eq) else pair
        lhs_sym = _symbols([lhs], "assigned name")[0]
        checked.append((lhs_sym, _expression(rhs, f"the right side of {lhs_sym.name}")))
    taken = {s.name for s in declared}
    taken |= {s.name for _, rhs in checked for s in rhs.free_symbols}
    return stage(checked, how, taken | _RESERVED)


def _symbols(items: Sequence[sp.Symbol | str], role: str) -> list[sp.Symbol]:
    if isinstance(items, (str, sp.Basic)):
        items = [items]  # type: ignore[list-item]
    symbols = []
    for item in items:
        name = item.name if isinstance(item, sp.Symbol) else item
        if not isinstance(name, str):
            raise SpecError(f"{role} {shorten(repr(item))} is not a name; pass a str or a Symbol")
        usable = name.isascii() and name.isidentifier() and not keyword.iskeyword(name)
        if not usable or name.startswith("_"):
            raise SpecError(
                f"{role} name {shorten(name)!r} is not usable; use ASCII letters, digits and "
                "underscores, starting with a letter"
            )
        if name in _RESERVED or notation.is_generated_name(name):
            raise SpecError(
                f"{role} name {name!r} is reserved for the derivation's own symbols; rename it"
            )
        symbols.append(sp.Symbol(name))
    return symbols


def _declare(defined: dict[str, str], name: str, role: str) -> None:
    if name in defined:
        raise SpecError(f"{name!r} is defined twice (as {defined[name]} and as {role}); rename one")
    defined[name] = role


def _expression(value: Any, what: str) -> sp.Expr:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return sp.Float(value) if isinstance(value, float) else sp.Integer(value)
    if not isinstance(value, sp.Expr):
        raise SpecError(
            f"{what} is {shorten(repr(value))}, not a SymPy expression; build it from sp.Symbol"
            " objects (text goes through symbackprop.model.parsing.parser.parse)"
        )
    # SymPy's tanh takes seconds to tell that tanh(w1 x1 + ... + w30 x30) is real; ours not.
    return value.replace(sp.tanh, Tanh) if value.has(sp.tanh) else value


def _require_defined(expr: sp.Expr, defined: Mapping[str, str], where: str) -> None:
    for sym in sorted(expr.free_symbols, key=lambda s: s.name):
        if sym.name not in defined:
            raise SpecError(
                f"{sym.name!r} in {where} is not defined before use; declare it as a parameter, "
                "input or target, or assign it on an earlier line"
            )


def _loss_side(
    assignments: Sequence[Assignment], targets: Sequence[sp.Symbol]
) -> tuple[sp.Symbol, ...]:
    """Return the assigned names whose value depends on a target, in program order."""
    depends: set[sp.Symbol] = set(targets)
    for assignment in assignments:
        if assignment.rhs.free_symbols & depends:
            depends.add(assignment.lhs)
    return tuple(a.lhs for a in assignments if a.lhs in depends)


def _warn_unused_parameters(program: Program) -> None:
    used: set[sp.Symbol] = set(program.loss.free_symbols)
    for assignment in reversed(program.assignments):
        if assignment.lhs in used:
            used |= assignment.rhs.free_symbols
    for param in program.params:
        if param not in used:
            warnings.warn(
                f"parameter {param.name!r} does not affect the loss; its gradient is 0",
                SymbackpropWarning,
                stacklevel=3,
            )
