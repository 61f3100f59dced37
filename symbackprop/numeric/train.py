"""train(): gradient descent on the compiled gradient, returning new parameters and the losses.

Numeric backend. Full-batch by default (one update per epoch, as in Mazur's example), or
shuffled mini-batches; frozen parameters keep their values. The parameters passed in are
never changed. With held-out test data, its loss is recorded after every epoch too; with
one-hot targets, so is the accuracy on both.
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
from symbackprop.model.optimizers import Optimizer, get_optimizer
from symbackprop.model.penalty import Penalty
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import (
    data_arrays,
    is_layer_form,
    require_names,
    require_network,
)
from symbackprop.numeric.compiled import compile
from symbackprop.numeric.metrics import accuracy, is_one_hot
from symbackprop.numeric.optimize import Stepper


@dataclass(frozen=True, slots=True)
class TrainResult:
    """New parameters (in the form given) and the full-data loss before and after each epoch.

    ``losses[0]`` is the loss before training and ``losses[i]`` the loss after epoch i;
    ``test_losses`` likewise on the held-out data (empty without it). With one-hot targets,
    ``accuracies`` and ``test_accuracies`` hold the share of samples classified right, at the
    same points (empty otherwise).
    """

    params: Mapping[str, Any]
    losses: tuple[float, ...]
    learning_rate: float
    epochs: int
    batch_size: int | None
    frozen: tuple[str, ...]
    optimizer: str = "sgd"
    test_losses: tuple[float, ...] = ()
    accuracies: tuple[float, ...] = ()
    test_accuracies: tuple[float, ...] = ()

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


def train(
    network: Network | LayerNetwork,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    learning_rate: float,
    epochs: int,
    batch_size: int | None = None,
    freeze: Iterable[str] = (),
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
    weight_decay: float | None = None,
    l1: float | None = None,
    optimizer: str | Optimizer = "sgd",
    test: tuple[Any, Any] | None = None,
    backend: str = "numpy",
) -> TrainResult:
    """Run an optimiser for ``epochs`` passes over the data: theta <- theta - eta dL/dtheta.

    With ``batch_size`` the data is shuffled (seeded) every epoch and split into mini-batches;
    each mini-batch is one optimiser step. ``optimizer`` is sgd, momentum, nesterov, rmsprop or
    adam (or an Optimizer with its settings, e.g. get_optimizer("adam").configured(beta2=0.99)),
    each as torch.optim computes it. ``progress(epoch, loss)`` is called after every epoch.
    ``weight_decay`` and ``l1`` set the loss's penalty Omega = (lambda/2) sum w^2 +
    lambda_1 sum |w| (None keeps the network's own); the losses reported include it.
    ``test`` is held-out (X, Y), never trained on: its loss (and accuracy) is only recorded.
    ``backend`` "torch" or "jax" computes every loss and gradient there (a network of layers;
    with "jax" each batch is sharded over the devices); the optimiser's step stays NumPy's.
    """
    if not isinstance(network, LayerNetwork):
        network = require_network(network, "train")
    _check_settings(learning_rate, epochs, batch_size)
    network = _with_penalty(network, weight_decay, l1)
    frozen = require_names(freeze, "freeze")
    known = network.parameter_names()
    for name in frozen:
        if name not in known:
            raise unknown_name("parameter to freeze", name, known)
    X2, Y2 = data_arrays(network, X, Y)
    held_out = None if test is None else data_arrays(network, *test)
    if isinstance(network, LayerNetwork) and network.is_sequence and batch_size is not None:
        if batch_size < X2.shape[0]:
            raise SymbackpropError(
                f"batch_size {batch_size} would split the sequence: self-attention reads the "
                f"{X2.shape[0]} rows as one sequence's positions; leave batch_size out"
            )
    compiled = compile(network, backend=backend)
    arrays_in = is_layer_form(network, params)
    state = compiled.native(params)
    if compiled.view in ("layers", "matrix"):
        state = {k: np.array(v, dtype=np.float64) for k, v in state.items()}
    mask = _frozen_mask(network, state, frozen)
    # The layer view steps one vector of every parameter: one optimiser call per update.
    flat = compiled.flat_view()
    runner: Any = compiled if flat is None else flat
    if flat is not None:
        state, mask = flat.pack(state), flat.pack(mask)
    chosen = get_optimizer(optimizer)
    stepper = Stepper(chosen, learning_rate, state, mask)
    rng = np.random.default_rng(seed)
    record = _Record(runner, (X2, Y2), held_out)
    with np.errstate(over="ignore", invalid="ignore"):
        # A diverging run overflows: it is reported below as one error, not as warnings.
        state = _descend(runner, state, stepper, record, epochs, batch_size, rng, progress)
    if flat is not None:
        state = flat.unpack(state)
    result = _outward(network, state, arrays_in)
    return TrainResult(
        result, tuple(record.losses), learning_rate, epochs, batch_size, frozen, chosen.name,
        tuple(record.test_losses), tuple(record.accuracies), tuple(record.test_accuracies),
    )  # fmt: skip


class _Record:
    """The losses (and accuracies, for one-hot targets) on the training and test data."""

    def __init__(self, compiled: Any, data: tuple[FloatArray, FloatArray],
                 test: tuple[FloatArray, FloatArray] | None) -> None:  # fmt: skip
        self.compiled = compiled
        self.data = data
        self.test = test
        self.classifies = is_one_hot(data[1]) and (test is None or is_one_hot(test[1]))
        self.losses: list[float] = []
        self.test_losses: list[float] = []
        self.accuracies: list[float] = []
        self.test_accuracies: list[float] = []

    def __call__(self, state: dict[str, Any], loss: float | None = None) -> float:
        """Record the state's numbers (its training loss if known); return the training loss."""
        X, Y = self.data
        self.losses.append(self.compiled.raw_loss(state, X, Y) if loss is None else float(loss))
        if self.classifies:
            self.accuracies.append(accuracy(self.compiled.raw_forward(state, X), Y))
        if self.test is not None:
            X_test, Y_test = self.test
            self.test_losses.append(self.compiled.raw_loss(state, X_test, Y_test))
            if self.classifies:
                outputs = self.compiled.raw_forward(state, X_test)
                self.test_accuracies.append(accuracy(outputs, Y_test))
        return self.losses[-1]


def _descend(
    compiled: Any,
    state: dict[str, Any],
    stepper: Stepper,
    record: _Record,
    epochs: int,
    batch_size: int | None,
    rng: np.random.Generator,
    progress: Callable[[int, float], None] | None,
) -> dict[str, Any]:
    X2, Y2 = record.data
    full_batch = batch_size is None or batch_size >= X2.shape[0]
    grads: Any
    # Full-batch: the loss that the next step's gradient pass computes on the way is the loss
    # to record for the state it starts from, so each epoch runs the network once, not twice.
    loss_now, grads = compiled.raw_loss_and_gradient(state, X2, Y2) if full_batch else (None, None)
    record(state, loss_now)
    for epoch in range(1, epochs + 1):
        if full_batch:
            state = stepper.step(state, grads)
            if epoch < epochs:
                loss_now, grads = compiled.raw_loss_and_gradient(state, X2, Y2)
            else:
                loss_now = None
        else:
            for rows in _batches(X2.shape[0], batch_size, rng):
                _, grads = compiled.raw_loss_and_gradient(state, X2[rows], Y2[rows])
                state = stepper.step(state, grads)
        loss = record(state, loss_now)
        if not np.isfinite(loss):
            raise NumericError(
                f"training diverged at epoch {epoch} (loss {loss}); "
                f"lower the learning rate (now {stepper.learning_rate})"
            )
        if progress is not None:
            progress(epoch, loss)
    return state


def _with_penalty(
    network: Network | LayerNetwork, weight_decay: float | None, l1: float | None
) -> Network | LayerNetwork:
    if weight_decay is None and l1 is None:
        return network
    own = network.penalty
    return network.with_penalty(
        Penalty(
            own.weight_decay if weight_decay is None else weight_decay,
            own.l1 if l1 is None else l1,
        )
    )


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
    network: Network | LayerNetwork, state: dict[str, Any], frozen: tuple[str, ...]
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


def _outward(
    network: Network | LayerNetwork, state: dict[str, Any], arrays_in: bool
) -> dict[str, Any]:
    layered_state = network.architecture is not None and any(k.startswith("W") for k in state)
    if layered_state and not arrays_in:
        assert network.architecture is not None
        return layer_arrays_to_names(network.architecture, state)
    if arrays_in and not layered_state:
        assert network.architecture is not None
        return names_to_layer_arrays(network.architecture, state)
    return {k: (np.array(v) if isinstance(v, np.ndarray) else float(v)) for k, v in state.items()}
