"""The size limits every entry point enforces before any work (model layer).

One place states them; the library (``mlp``, ``train``, the data and file readers) and the
command line (through the same functions) check them before deriving, allocating or reading,
and every refusal names the limit. The expression parser's own bounds are
:mod:`symbackprop.model.parsing.limits`; a worksheet's hand-sized networks have tighter ones
(:mod:`symbackprop.worksheets.spec`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from symbackprop.model.errors import SpecError, SymbackpropError

MIB = 2**20


@dataclass(frozen=True, slots=True)
class Caps:
    """Limits on sizes: files read, networks built, epochs run, memory estimated."""

    # Text files a user hands in: specs, worksheet specs, rosters, answers, notebooks, manifests.
    max_text_file_bytes: int = 8 * MIB
    # Data files ([data] csv = "..."): numbers, so they may be larger.
    max_data_file_bytes: int = 64 * MIB
    max_layers: int = 64  # layers after the input (depth)
    max_width: int = 100_000  # neurons in one layer, the input's included
    max_parameters: int = 1_000_000  # weights and biases of one network
    max_epochs: int = 10_000_000  # ten million epochs of the smallest network take hours
    # Estimated bytes of a network's parameters (as named floats) and one batch's z, a, delta.
    max_memory_bytes: int = 2048 * MIB


CAPS = Caps()

# Bytes per parameter held as a named float (dict entry, name, float) and copies made of it.
_BYTES_PER_PARAMETER = 400
# Bytes per neuron and sample: z, a and delta in float64, with a copy for the update.
_BYTES_PER_ACTIVATION = 32


def parameter_count(sizes: Sequence[int]) -> int:
    """Return the number of weights and biases of a layered network (per-neuron biases)."""
    return sum(sizes[i] * sizes[i - 1] + sizes[i] for i in range(1, len(sizes)))


def check_sizes(sizes: Sequence[int]) -> None:
    """Refuse a layered network too deep, too wide or with too many parameters to build."""
    depth = len(sizes) - 1
    if depth > CAPS.max_layers:
        raise SpecError(
            f"sizes have {depth} layers; the limit is {CAPS.max_layers}; use fewer layers"
        )
    widest = max(sizes)
    if widest > CAPS.max_width:
        raise SpecError(
            f"a layer of {widest:,} neurons is wider than the limit of {CAPS.max_width:,}; "
            "use narrower layers"
        )
    count = parameter_count(sizes)
    if count > CAPS.max_parameters:
        raise SpecError(
            f"sizes {_short_sizes(sizes)} make {count:,} parameters (limit "
            f"{CAPS.max_parameters:,}); choose smaller layers"
        )


def check_epochs(epochs: int) -> None:
    """Refuse more epochs than :attr:`Caps.max_epochs` (a run that would not finish)."""
    if epochs > CAPS.max_epochs:
        raise SpecError(
            f"epochs {epochs:,} is more than the limit of {CAPS.max_epochs:,}; give fewer "
            "epochs (a run that long would not finish in a session)"
        )


def check_memory(n_parameters: int, neurons: int, batch: int) -> None:
    """Refuse work whose estimated memory (parameters and one batch's activations) is too big."""
    estimate = n_parameters * _BYTES_PER_PARAMETER + neurons * batch * _BYTES_PER_ACTIVATION
    if estimate > CAPS.max_memory_bytes:
        raise SymbackpropError(
            f"this needs about {estimate / MIB:,.0f} MiB (limit {CAPS.max_memory_bytes // MIB:,}"
            f" MiB) for {n_parameters:,} parameters and {batch:,} samples; use fewer samples "
            "or a smaller network"
        )


def _short_sizes(sizes: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in sizes[:6])
    return f"[{shown}{', ...' if len(sizes) > 6 else ''}]"
