"""Networks as straight-line programs of named SymPy assignments (model layer).

A :class:`Network` is an ordered program ``symbol := expr`` over parameters and inputs, plus
one sample's loss over the program's symbols and the targets. ``mlp()`` builds the program of
a layered network in the book's notation (and keeps its layer view, ``Architecture``, for the
matrix equations and the fast numeric path); ``Network.from_expressions`` takes any program and
keeps the user's names.
"""

from __future__ import annotations

import enum
import functools
import keyword
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import sympy as sp

from symbackprop.model import display, notation
from symbackprop.model.activations import get_activation
from symbackprop.model.architecture import (
    BIAS_MODES,
    INIT_SCHEMES,
    Architecture,
    init_layer_arrays,
    layer_arrays_to_names,
)
from symbackprop.model.errors import SpecError, SymbackpropWarning, shorten, unknown_name
from symbackprop.model.functions import FUNCTIONS
from symbackprop.model.losses import get_loss

# Names generated code defines or calls; a user's symbol may not shadow them.
_RESERVED = frozenset({"numpy", "math", "builtins", "range", "len", "Softmax"}) | frozenset(
    entry.numpy_name for entry in FUNCTIONS.values()
)


class NodeKind(enum.Enum):
    """What an assignment computes: a weighted input z, an activation a, or any other node."""

    PRE_ACTIVATION = "z"
    ACTIVATION = "a"
    NODE = "node"


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
    """The scalar program: assignments, one sample's loss (one term per output), the symbols."""

    assignments: tuple[Assignment, ...]
    loss_terms: tuple[sp.Expr, ...]
    params: tuple[sp.Symbol, ...]
    inputs: tuple[sp.Symbol, ...]
    targets: tuple[sp.Symbol, ...]

    @property
    def loss(self) -> sp.Expr:
        return sp.Add(*self.loss_terms)


@dataclass(frozen=True, slots=True)
class Network:
    """A network: its scalar program and, for a layered network, its layer view.

    Build one with :func:`mlp` or :meth:`Network.from_expressions`. The scalar program of a
    layered network is made on first use (a 784-128-10 network needs it only for a
    per-neuron derivation, never for compiling).
    """

    architecture: Architecture | None = None
    custom_program: Program | None = None
    loss_name: str | None = None

    def __post_init__(self) -> None:
        if (self.architecture is None) == (self.custom_program is None):
            raise ValueError("a Network has either an architecture or a custom program")

    # --- the scalar program ----------------------------------------------------------------
    @property
    def program(self) -> Program:
        if self.custom_program is not None:
            return self.custom_program
        assert self.architecture is not None
        return _layered_program(self.architecture)

    @property
    def assignments(self) -> tuple[Assignment, ...]:
        return self.program.assignments

    @property
    def loss(self) -> sp.Expr:
        return self.program.loss

    @property
    def params(self) -> tuple[sp.Symbol, ...]:
        return self.program.params

    @property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        return self.program.inputs

    @property
    def targets(self) -> tuple[sp.Symbol, ...]:
        return self.program.targets

    @property
    def is_layered(self) -> bool:
        return self.architecture is not None

    @staticmethod
    def from_expressions(
        assignments: Sequence[AssignmentLike] | Mapping[sp.Symbol | str, sp.Expr],
        loss: sp.Expr,
        params: Sequence[sp.Symbol | str],
        inputs: Sequence[sp.Symbol | str],
        targets: Sequence[sp.Symbol | str] = (),
    ) -> Network:
        """Build a Network from any straight-line program of SymPy assignments; names are kept.

        ``assignments`` is an ordered sequence of ``(symbol, expr)`` pairs (or ``sp.Eq``), each
        using only parameters, inputs, targets and symbols assigned before it; ``loss`` is one
        sample's loss.
        """
        return _from_expressions(assignments, loss, params, inputs, targets)

    # --- names -----------------------------------------------------------------------------
    def parameter_names(self) -> list[str]:
        """Return the parameter names in their stable order."""
        if self.architecture is not None:
            return self.architecture.parameter_names()
        return [p.name for p in self.params]

    def input_names(self) -> list[str]:
        if self.architecture is not None:
            return [notation.input_name(k) for k in range(1, self.architecture.sizes[0] + 1)]
        return [s.name for s in self.inputs]

    def target_names(self) -> list[str]:
        if self.architecture is not None:
            return [notation.target_name(j) for j in range(1, self.architecture.sizes[-1] + 1)]
        return [s.name for s in self.targets]

    @property
    def n_inputs(self) -> int:
        if self.architecture is not None:
            return self.architecture.sizes[0]
        return len(self.program.inputs)

    @property
    def n_outputs(self) -> int:
        if self.architecture is not None:
            return self.architecture.sizes[-1]
        return len(self.program.targets)

    def describe(self) -> str:
        """Return a one-line summary, e.g. '2-2-2 MLP, sigmoid/sigmoid, half_sse, shared bias'."""
        if self.architecture is None:
            program = self.program
            return (
                f"program of {_count(len(program.assignments), 'assignment')}, "
                f"{_count(len(program.params), 'parameter')}, "
                f"{_count(len(program.inputs), 'input')}"
            )
        arch = self.architecture
        sizes = "-".join(str(n) for n in arch.sizes)
        return f"{sizes} MLP, {'/'.join(arch.activations)}, {arch.loss}, bias {arch.bias}"

    # --- Jupyter display (renderers registered in symbackprop.model.display) ---------------
    def _repr_svg_(self) -> str | None:
        svg = display.render("network.svg", self)
        return None if svg is None else str(svg)

    def _repr_html_(self) -> str:
        return str(display.render("network.html", self))

    # --- parameters ------------------------------------------------------------------------
    def init_params(self, seed: int = 0, scheme: str = "xavier") -> dict[str, float]:
        """Return seeded initial parameters {name: value}.

        Layered networks: weights ~ N(0, 2/(n_in + n_out)) ("xavier"), N(0, 2/n_in) ("he"),
        N(0, 1) ("normal", biases too, as Nielsen), U(-1/sqrt(n_in), 1/sqrt(n_in)) ("uniform");
        biases 0 except for "normal". Other programs: every parameter ~ N(0, 0.25).
        """
        if scheme not in INIT_SCHEMES:
            raise unknown_name("init scheme", scheme, INIT_SCHEMES)
        rng = np.random.default_rng(seed)
        if self.architecture is None:
            return {name: float(rng.normal(0.0, 0.5)) for name in self.parameter_names()}
        arrays = init_layer_arrays(self.architecture, rng, scheme)
        return layer_arrays_to_names(self.architecture, arrays)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- layered networks ----------------------------------------------------------------------
def mlp(
    sizes: Sequence[int],
    activation: str | Sequence[str] = "sigmoid",
    loss: str = "half_sse",
    bias: str = "per_neuron",
) -> Network:
    """Build a layered network: z^(l) = W^(l) a^(l-1) + b^(l), a^(l) = f_l(z^(l)), a^(0) = x.

    ``activation`` is one name for every layer or one per layer (layer 1 first);
    ``bias`` is "per_neuron" (b^(l)_j), "shared" (one b^(l) per layer, as in Mazur's example)
    or "none".
    """
    sizes_t = _checked_sizes(sizes)
    depth = len(sizes_t) - 1
    activations = _checked_activations(activation, depth)
    get_loss(loss)
    if bias not in BIAS_MODES:
        raise unknown_name("bias mode", str(bias), BIAS_MODES)
    if activations[-1] == "softmax" and sizes_t[-1] < 2:
        raise SpecError("softmax needs at least 2 outputs; use sigmoid for a single output")
    return Network(architecture=Architecture(sizes_t, activations, bias, loss), loss_name=loss)


def _checked_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise SpecError(f"sizes {shorten(repr(sizes))} is not a list; pass e.g. [2, 2, 2]")
    sizes_t = tuple(sizes)
    if len(sizes_t) < 2:
        raise SpecError(
            f"sizes {list(sizes_t)} has {len(sizes_t)} entries; give the input size and at "
            "least one layer, e.g. [2, 2, 2]"
        )
    for n in sizes_t:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise SpecError(f"layer size {n!r} in sizes {list(sizes_t)} is not a positive integer")
    return tuple(int(n) for n in sizes_t)


def _checked_activations(activation: str | Sequence[str], depth: int) -> tuple[str, ...]:
    names = [activation] * depth if isinstance(activation, str) else list(activation)
    if len(names) != depth:
        raise SpecError(
            f"{len(names)} activations given for {depth} layers; give one name per layer "
            "(layer 1 first) or one name for all"
        )
    for layer, name in enumerate(names, start=1):
        entry = get_activation(name, where=f"for layer {layer}")
        if entry.is_layerwise and layer != depth:
            raise SpecError(
                f"activation {name!r} of layer {layer} is only supported in the output layer "
                f"(layer {depth}); choose an elementwise activation for hidden layers"
            )
    return tuple(names)


@functools.lru_cache(maxsize=32)
def _layered_program(arch: Architecture) -> Program:
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
    return Program(tuple(assignments), loss_terms, tuple(params), inputs, targets)


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


def _from_expressions(
    assignments: Sequence[AssignmentLike] | Mapping[sp.Symbol | str, sp.Expr],
    loss: sp.Expr,
    params: Sequence[sp.Symbol | str],
    inputs: Sequence[sp.Symbol | str],
    targets: Sequence[sp.Symbol | str],
) -> Network:
    """Build a Network from any straight-line program of SymPy assignments; names are kept."""
    pairs = list(assignments.items()) if isinstance(assignments, Mapping) else list(assignments)
    param_syms = _symbols(params, "parameter")
    input_syms = _symbols(inputs, "input")
    target_syms = _symbols(targets, "target")
    defined: dict[str, str] = {}
    for sym, role in (
        [(s, "parameter") for s in param_syms]
        + [(s, "input") for s in input_syms]
        + [(s, "target") for s in target_syms]
    ):
        _declare(defined, sym.name, role)
    program: list[Assignment] = []
    for pair in pairs:
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
    prog = Program(tuple(program), terms, tuple(param_syms), tuple(input_syms), tuple(target_syms))
    _warn_unused_parameters(prog)
    return Network(custom_program=prog)


def _symbols(items: Sequence[sp.Symbol | str], role: str) -> list[sp.Symbol]:
    if isinstance(items, (str, sp.Basic)):
        items = [items]  # type: ignore[list-item]
    symbols = []
    for item in items:
        name = item.name if isinstance(item, sp.Symbol) else item
        if not isinstance(name, str):
            raise SpecError(f"{role} {shorten(repr(item))} is not a name; pass a str or a Symbol")
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise SpecError(
                f"{role} name {shorten(name)!r} is not usable; use letters, digits and inner "
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
    return value


def _require_defined(expr: sp.Expr, defined: Mapping[str, str], where: str) -> None:
    for sym in sorted(expr.free_symbols, key=lambda s: s.name):
        if sym.name not in defined:
            raise SpecError(
                f"{sym.name!r} in {where} is not defined before use; declare it as a parameter, "
                "input or target, or assign it on an earlier line"
            )


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
