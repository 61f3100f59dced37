"""Recurrent layer kinds, RNN and LSTM, unrolled over a sequence's time steps (model layer).

One sample is a sequence of T steps of n features, PyTorch's ``batch_first`` layout (B, T, n),
held flattened in C order: step t is rows (t-1) n .. t n - 1 of the sample's column, so
x_t = X[(t-1)n : t n] (a :class:`Block`). The layer is unrolled: every time step writes its own
nodes (Z^(l)<t>, H^(l)<t>, ...), so the reverse sweep meets each use of the shared weights and
of the hidden state one step at a time, which is backpropagation through time (BPTT).

Parameters are named and shaped as PyTorch's ``nn.RNN`` / ``nn.LSTM`` (one layer) keys them:
``weight_ih_l0`` (h, n), ``weight_hh_l0`` (h, h), ``bias_ih_l0`` and ``bias_hh_l0`` (h,); the
LSTM's are 4h rows, the gates in PyTorch's order i, f, g, o. All are drawn from
U(-1/sqrt(h), 1/sqrt(h)), as PyTorch does. The initial state is h_0 = 0 (and c_0 = 0),
PyTorch's default, so step 1 has no recurrent term.

Truncated BPTT (``truncate = k``) is what PyTorch code does with ``h = h.detach()`` every k
steps: the state that enters steps k+1, 2k+1, ... is a :class:`StopGradient`, so each step's
gradient flows back at most to the first step of its chunk of k steps. The forward pass is
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from symbackprop.model.errors import SpecError, shorten
from symbackprop.model.matrices import elementwise, ones
from symbackprop.model.matrix_program import BATCH, ProgramBuilder
from symbackprop.model.tensor_ops import Block, Stack, StopGradient

OUTPUTS = ("sequence", "last")
# The LSTM's gates in PyTorch's order of the rows of weight_ih_l0: input, forget, cell, output.
LSTM_GATES = (("i", "I", "sigmoid"), ("f", "F", "sigmoid"), ("g", "G", "tanh"),
              ("o", "O", "sigmoid"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Weights:
    """The matrices of one recurrent layer: W_ih, W_hh and the biases (None without bias)."""

    W_ih: sp.MatrixSymbol
    W_hh: sp.MatrixSymbol
    b_ih: sp.MatrixSymbol | None
    b_hh: sp.MatrixSymbol | None

    def input_term(self, x_t: sp.MatrixExpr) -> sp.MatrixExpr:
        """W_ih x_t + b_ih 1^T."""
        term: sp.MatrixExpr = self.W_ih * x_t
        return term if self.b_ih is None else term + self.b_ih * ones(1, BATCH)

    def recurrent_term(self, h_prev: sp.MatrixExpr) -> sp.MatrixExpr:
        """W_hh h_{t-1} + b_hh 1^T."""
        term: sp.MatrixExpr = self.W_hh * h_prev
        return term if self.b_hh is None else term + self.b_hh * ones(1, BATCH)

    def first_step(self, x_t: sp.MatrixExpr) -> sp.MatrixExpr:
        """Step 1: h_0 = 0, so only b_hh is left of the recurrent term."""
        term = self.input_term(x_t)
        return term if self.b_hh is None else term + self.b_hh * ones(1, BATCH)


def _declare(
    builder: ProgramBuilder, prefix: str, rows: int, n: int, h: int, bias: bool
) -> _Weights:
    def parameter(letter: str, name: str, cols: int | None) -> sp.MatrixSymbol:
        shape = (rows, cols) if cols is not None else (rows,)
        return builder.parameter(letter, f"{prefix}{name}", rows, cols or 1, shape,
                                 "uniform_fan_in", h)  # fmt: skip

    W_ih = parameter("Wih", "weight_ih_l0", n)
    W_hh = parameter("Whh", "weight_hh_l0", h)
    if not bias:
        return _Weights(W_ih, W_hh, None, None)
    return _Weights(W_ih, W_hh, parameter("bih", "bias_ih_l0", None),
                    parameter("bhh", "bias_hh_l0", None))  # fmt: skip


def _sequence_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 2:
        sizes = "x".join(str(n) for n in shape)
        raise SpecError(
            f"{kind} takes a sequence (steps, features) but each sample reaching it is {sizes}; "
            "give the network inputs = [T, n]"
        )
    return shape[0], shape[1]


def steps_of(builder: ProgramBuilder, x: sp.MatrixSymbol, kind: str) -> list[sp.MatrixExpr]:
    """Return x_1 .. x_T of a sequence input: its step nodes when it is their stack (H = [H<1>;
    ...; H<T>] read back as H<1> .. H<T>), else blocks of its rows, x_t = X[(t-1)n : t n]."""
    steps, n = _sequence_shape(kind, builder.shape)
    for assignment in builder.assignments:
        if assignment.lhs == x and isinstance(assignment.rhs, Stack):
            operands = assignment.rhs.operands
            if len(operands) == steps and all(int(o.shape[0]) == n for o in operands):
                return list(operands)
    return [Block(x, (t * n, (t + 1) * n, t + 1)) for t in range(steps)]


def _previous(h_prev: sp.MatrixSymbol, t: int, truncate: int | None) -> sp.MatrixExpr:
    """The state entering step t; at a chunk boundary of truncated BPTT it is detached."""
    if truncate is not None and (t - 1) % truncate == 0:
        return StopGradient(h_prev)
    return h_prev


def _check(kind: str, hidden_size: object, output: object, truncate: object) -> None:
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
        raise SpecError(f"hidden_size of {kind} {shorten(repr(hidden_size))} is not a positive "
                        "integer")  # fmt: skip
    if output not in OUTPUTS:
        raise SpecError(f"output of {kind} {shorten(repr(output))} must be 'sequence' (every "
                        "step's hidden state) or 'last' (the last step's)")  # fmt: skip
    if truncate is not None and (
        isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1
    ):
        raise SpecError(f"truncate of {kind} {shorten(repr(truncate))} must be a positive number "
                        "of steps (or left out for full BPTT)")  # fmt: skip


def _output(builder: ProgramBuilder, layer: _Recurrent, states: list[sp.MatrixSymbol],
            name: str) -> sp.MatrixSymbol:  # fmt: skip
    if layer.output == "last":
        return states[-1]
    shape = (len(states), layer.hidden_size)
    return builder.node("H", Stack(*states), name, "the hidden states of every step", shape)


@dataclass(frozen=True, slots=True)
class _Recurrent:
    """What RNN and LSTM share: their settings, their checks, shapes and description."""

    hidden_size: int
    output: str = "sequence"
    truncate: int | None = None
    bias: bool = True
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check(self.kind, self.hidden_size, self.output, self.truncate)

    def n_out(self, n_in: int) -> int:
        raise SpecError(f"{self.kind} takes a sequence; give the network inputs = [T, n]")

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        steps, _ = _sequence_shape(self.kind, shape)
        return (steps, self.hidden_size) if self.output == "sequence" else (self.hidden_size,)

    def describe(self) -> str:
        extras = [] if self.output == "sequence" else ["last step"]
        if self.truncate is not None:
            extras.append(f"truncated BPTT every {self.truncate} steps")
        if not self.bias:
            extras.append("no bias")
        return f"{self.kind} {self.hidden_size}" + (f" ({', '.join(extras)})" if extras else "")


@dataclass(frozen=True, slots=True)
class RNN(_Recurrent):
    """A vanilla (Elman) recurrent layer, PyTorch's ``nn.RNN(n, h, batch_first=True)``.

    H<t> = tanh(Z<t>),  Z<t> = W_ih x_t + b_ih 1^T + W_hh H<t-1> + b_hh 1^T,  H<0> = 0.
    ``output`` "sequence" gives [H<1>; ...; H<T>] (one sample: (T, h)), "last" gives H<T>.
    """

    kind: ClassVar[str] = "rnn"

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        inputs = steps_of(builder, x, self.kind)
        n = int(inputs[0].shape[0])
        builder.next_level()
        name, h = prefix.rstrip("."), self.hidden_size
        weights = _declare(builder, prefix, h, n, h, self.bias)
        states: list[sp.MatrixSymbol] = []
        for t in range(1, len(inputs) + 1):
            x_t = inputs[t - 1]
            if t == 1:
                rhs, role = weights.first_step(x_t), "pre-activation (H<0> = 0: no recurrent term)"
            else:
                h_prev = _previous(states[-1], t, self.truncate)
                rhs = weights.input_term(x_t) + weights.recurrent_term(h_prev)
                role = "pre-activation" if h_prev == states[-1] else "pre-activation (detached)"
            Z = builder.node("Z", rhs, name, role, step=t)
            states.append(builder.node("H", elementwise("tanh", Z), name, "hidden state", step=t))
        return _output(builder, self, states, name)


@dataclass(frozen=True, slots=True)
class LSTM(_Recurrent):
    """A long short-term memory layer, PyTorch's ``nn.LSTM(n, h, batch_first=True)``.

    Z<t> = W_ih x_t + b_ih 1^T + W_hh H<t-1> + b_hh 1^T (4h rows: the gates i, f, g, o);
    I = sigma(Z_i), F = sigma(Z_f), G = tanh(Z_g), O = sigma(Z_o);
    C<t> = F o C<t-1> + I o G,  H<t> = O o tanh(C<t>),  H<0> = C<0> = 0.
    """

    kind: ClassVar[str] = "lstm"

    def stage(self, builder: ProgramBuilder, x: sp.MatrixSymbol, prefix: str) -> sp.MatrixSymbol:
        inputs = steps_of(builder, x, self.kind)
        n = int(inputs[0].shape[0])
        builder.next_level()
        name, h = prefix.rstrip("."), self.hidden_size
        weights = _declare(builder, prefix, 4 * h, n, h, self.bias)
        states: list[sp.MatrixSymbol] = []
        cell: sp.MatrixSymbol | None = None
        for t in range(1, len(inputs) + 1):
            x_t = inputs[t - 1]
            if t == 1:
                rhs, role = weights.first_step(x_t), "gate pre-activations (H<0> = 0)"
            else:
                rhs = weights.input_term(x_t) + weights.recurrent_term(
                    _previous(states[-1], t, self.truncate)
                )
                role = "gate pre-activations"
            Z = builder.node("Z", rhs, name, role, step=t)
            gates = {}
            for index, (letter, gate, activation) in enumerate(LSTM_GATES):
                rows = Block(Z, (index * h, (index + 1) * h))
                pre = builder.node(f"Z{letter}", rows, name, f"gate {gate} pre-activation", step=t)
                gates[gate] = builder.node(gate, elementwise(activation, pre), name,
                                           f"gate {gate}", step=t)  # fmt: skip
            kept = sp.HadamardProduct(gates["I"], gates["G"])
            if cell is not None:
                kept = sp.HadamardProduct(gates["F"], _previous(cell, t, self.truncate)) + kept
            cell = builder.node("C", kept, name, "cell state", step=t)
            rhs = sp.HadamardProduct(gates["O"], elementwise("tanh", cell))
            states.append(builder.node("H", rhs, name, "hidden state", step=t))
        return _output(builder, self, states, name)
