"""train(): gradient descent on the compiled gradient, returning new parameters and the losses.

Numeric backend. Full-batch by default (one update per epoch, as in Mazur's example), or
shuffled mini-batches; frozen parameters keep their values. The parameters passed in are
never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symbackprop.model.architecture import layer_arrays_to_names, names_to_layer_arrays
from symbackprop.model.caps import check_epochs
from symbackprop.model.errors import NumericError, SymbackpropError, unknown_name
from symbackprop.model.functions import FloatArray
from symbackprop.model.network import Network
from symbackprop.model.validate import (
    data_arrays,
    is_layer_form,
    require_names,
    require_network,
)
from symbackprop.numeric.compiled import compile


@dataclass(frozen=True, slots=True)
class TrainResult:
    """New parameters (in the form given) and the full-data loss before and after each epoch.

    ``losses[0]`` is the loss before training and ``losses[i]`` the loss after epoch i.
    """

    params: Mapping[str, Any]
    losses: tuple[float, ...]
    learning_rate: float
    epochs: int
    batch_size: int | None
    frozen: tuple[str, ...]

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


def train(
    network: Network,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    learning_rate: float,
    epochs: int,
    batch_size: int | None = None,
    freeze: Iterable[str] = (),
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Run gradient descent theta <- theta - eta dL/dtheta for ``epochs`` passes over the data.

    With ``batch_size`` the data is shuffled (seeded) every epoch and split into mini-batches;
    ``progress(epoch, loss)`` is called after every epoch.
    """
    network = require_network(network, "train")
    _check_settings(learning_rate, epochs, batch_size)
    frozen = require_names(freeze, "freeze")
    known = network.parameter_names()
    for name in frozen:
        if name not in known:
            raise unknown_name("parameter to freeze", name, known)
    X2, Y2 = data_arrays(network, X, Y)
    compiled = compile(network)
    arrays_in = is_layer_form(network, params)
    state = compiled.native(params)
    if compiled.view == "layers":
        state = {k: np.array(v, dtype=np.float64) for k, v in state.items()}
    mask = _frozen_mask(network, state, frozen)
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):
        # A diverging run overflows: it is reported below as one error, not as warnings.
        losses = _descend(compiled, state, mask, X2, Y2, learning_rate, epochs, batch_size,
                          rng, progress)  # fmt: skip
    result = _outward(network, losses[1], arrays_in)
    return TrainResult(result, tuple(losses[0]), learning_rate, epochs, batch_size, frozen)


def _descend(
    compiled: Any,
    state: dict[str, Any],
    mask: dict[str, Any],
    X2: FloatArray,
    Y2: FloatArray,
    learning_rate: float,
    epochs: int,
    batch_size: int | None,
    rng: np.random.Generator,
    progress: Callable[[int, float], None] | None,
) -> tuple[list[float], dict[str, Any]]:
    losses = [compiled.raw_loss(state, X2, Y2)]
    for epoch in range(1, epochs + 1):
        for rows in _batches(X2.shape[0], batch_size, rng):
            _, grads = compiled.raw_loss_and_gradient(state, X2[rows], Y2[rows])
            state = {k: state[k] - learning_rate * grads[k] * mask[k] for k in state}
        losses.append(compiled.raw_loss(state, X2, Y2))
        if not np.isfinite(losses[-1]):
            raise NumericError(
                f"training diverged at epoch {epoch} (loss {losses[-1]}); "
                f"lower the learning rate (now {learning_rate})"
            )
        if progress is not None:
            progress(epoch, losses[-1])
    return losses, state


def _check_settings(learning_rate: float, epochs: int, batch_size: int | None) -> None:
    if isinstance(learning_rate, bool) or not (
        isinstance(learning_rate, (int, float)) and np.isfinite(learning_rate)
    ):
        raise SymbackpropError(f"learning_rate {learning_rate!r} is not a finite number")
    if learning_rate <= 0:
        raise SymbackpropError(f"learning_rate {learning_rate} must be positive, e.g. 0.5")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise SymbackpropError(f"epochs {epochs!r} must be a whole number >= 0")
    check_epochs(epochs)
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise SymbackpropError(f"batch_size {batch_size!r} must be a whole number >= 1 or None")


def _frozen_mask(
    network: Network, state: dict[str, Any], frozen: tuple[str, ...]
) -> dict[str, Any]:
    """1 where a parameter learns, 0 where it is frozen, shaped like the state."""
    if network.architecture is None or not any(k.startswith("W") for k in state):
        return {k: 0.0 if k in frozen else 1.0 for k in state}
    names = layer_arrays_to_names(network.architecture, state)
    flags = {name: 0.0 if name in frozen else 1.0 for name in names}
    return names_to_layer_arrays(network.architecture, flags)


def _batches(n: int, batch_size: int | None, rng: np.random.Generator) -> list[Any]:
    if batch_size is None or batch_size >= n:
        return [np.arange(n)]
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _outward(network: Network, state: dict[str, Any], arrays_in: bool) -> dict[str, Any]:
    layered_state = network.architecture is not None and any(k.startswith("W") for k in state)
    if layered_state and not arrays_in:
        assert network.architecture is not None
        return layer_arrays_to_names(network.architecture, state)
    if arrays_in and not layered_state:
        assert network.architecture is not None
        return names_to_layer_arrays(network.architecture, state)
    return {k: (np.array(v) if isinstance(v, np.ndarray) else float(v)) for k, v in state.items()}
