"""Networks: a scalar program and, for a layered network, its layer view (model layer).

A :class:`Network` is an ordered program ``symbol := expr`` over parameters and inputs, plus
one sample's loss over the program's symbols and the targets (:mod:`symbackprop.model.program`).
``mlp()`` builds a layered network (and keeps its layer view, ``Architecture``, for the matrix
equations and the fast numeric path; its program is written on first use);
``Network.from_expressions`` takes any program and keeps the user's names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

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
from symbackprop.model.caps import check_sizes
from symbackprop.model.errors import SpecError, shorten, unknown_name
from symbackprop.model.losses import get_loss
from symbackprop.model.penalty import Penalty
from symbackprop.model.program import (
    Assignment,
    AssignmentLike,
    NodeKind,
    Program,
    layered_program,
    penalized,
    program_from_expressions,
)


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
        return layered_program(self.architecture)

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
        weight_decay: float = 0.0,
        l1: float = 0.0,
        stages: str = "as_written",
    ) -> Network:
        """Build a Network from any straight-line program of SymPy assignments; names are kept.

        ``assignments`` is an ordered sequence of ``(symbol, expr)`` pairs (or ``sp.Eq``), each
        using only parameters, inputs, targets and symbols assigned before it; ``loss`` is one
        sample's loss. ``weight_decay`` (lambda) and ``l1`` (lambda_1) add the penalty
        Omega = (lambda/2) sum theta^2 + lambda_1 sum |theta| over every parameter.
        ``stages`` is "as_written", "functions" (1/(1 + e^-u) read as sigma(u), its argument u a
        node of its own) or "gates" (one node per operation, as CS231n's circuits).
        """
        program = program_from_expressions(assignments, loss, params, inputs, targets, stages)
        return Network(custom_program=program).with_penalty(Penalty(weight_decay, l1))

    @property
    def penalty(self) -> Penalty:
        """Return the weight penalty the loss gains (no penalty: both lambdas 0)."""
        if self.architecture is not None:
            return self.architecture.penalty
        assert self.custom_program is not None
        return self.custom_program.penalty

    def with_penalty(self, penalty: Penalty) -> Network:
        """Return this network with ``penalty`` in place of its own (weights of an MLP only)."""
        if self.architecture is not None:
            return replace(self, architecture=replace(self.architecture, penalty=penalty))
        assert self.custom_program is not None
        program = self.custom_program
        return replace(self, custom_program=penalized(program, penalty, program.params))

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
        penalty = f", {self.penalty.describe()}" if not self.penalty.is_zero else ""
        if self.architecture is None:
            program = self.program
            count = len([a for a in program.assignments if a.kind is not NodeKind.PENALTY])
            return (
                f"program of {_count(count, 'assignment')}, "
                f"{_count(len(program.params), 'parameter')}, "
                f"{_count(len(program.inputs), 'input')}{penalty}"
            )
        arch = self.architecture
        sizes = "-".join(str(n) for n in arch.sizes)
        activations = "/".join(arch.activations)
        return f"{sizes} MLP, {activations}, {arch.loss}, bias {arch.bias}{penalty}"

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
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SpecError(f"seed {shorten(repr(seed))} is not a whole number >= 0; give e.g. 0")
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
    weight_decay: float = 0.0,
    l1: float = 0.0,
) -> Network:
    """Build a layered network: z^(l) = W^(l) a^(l-1) + b^(l), a^(l) = f_l(z^(l)), a^(0) = x.

    ``activation`` is one name for every layer or one per layer (layer 1 first);
    ``bias`` is "per_neuron" (b^(l)_j), "shared" (one b^(l) per layer, as in Mazur's example)
    or "none". ``weight_decay`` (lambda) and ``l1`` (lambda_1) add the penalty
    Omega = (lambda/2) sum w^2 + lambda_1 sum |w| over the weights (not the biases).
    """
    penalty = Penalty(weight_decay, l1)
    sizes_t = _checked_sizes(sizes)
    depth = len(sizes_t) - 1
    activations = _checked_activations(activation, depth)
    refusal = get_loss(loss).refusal(activations[-1])
    if refusal is not None:
        # Never clamp silently: -y log(max(a, tiny)) of a tanh output is no loss of anything.
        raise SpecError(refusal)
    if bias not in BIAS_MODES:
        raise unknown_name("bias mode", str(bias), BIAS_MODES)
    if activations[-1] == "softmax" and sizes_t[-1] < 2:
        raise SpecError("softmax needs at least 2 outputs; use sigmoid for a single output")
    architecture = Architecture(sizes_t, activations, bias, loss, penalty)
    return Network(architecture=architecture, loss_name=loss)


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
            raise SpecError(
                f"layer size {n!r} in sizes {shorten(repr(list(sizes_t)))} is not a positive "
                "integer"
            )
    sizes_int = tuple(int(n) for n in sizes_t)
    check_sizes(sizes_int)
    return sizes_int


def _checked_activations(activation: str | Sequence[str], depth: int) -> tuple[str, ...]:
    if not isinstance(activation, (str, list, tuple)):
        raise SpecError(
            f"activation {shorten(repr(activation))} is not a name or a list of names; give "
            "e.g. 'sigmoid' or ['tanh', 'sigmoid']"
        )
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
