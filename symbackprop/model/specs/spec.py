"""TOML network specs -> Network, initial parameters, data and training settings (model layer).

Every bad input raises a :class:`SymbackpropError` whose one-line message starts with
``file:line:col:`` wherever the position is known. Expression text goes through
:mod:`symbackprop.model.parsing.parser` alone. The format (every key; anything else is an error):

```toml
name = "xor"                      # optional; default: the file's stem
description = "..."               # optional

# Either a layered network (per neuron) ...
[network]
sizes = [2, 2, 1]                 # input size, then each layer's size
activation = "sigmoid"            # one name, or one per layer (layer 1 first); default sigmoid
loss = "half_sse"                 # a registered loss; default half_sse
bias = "per_neuron"               # "per_neuron" (b1_1), "shared" (b1) or "none"
weight_decay = 0.0                # lambda of the L2 penalty (lambda/2) sum w^2 on the weights
l1 = 0.0                          # lambda_1 of the L1 penalty lambda_1 sum |w| on the weights

# ... or a network of layers (see symbackprop.model.specs.layer_spec for every layer kind) ...
[network]
inputs = 4                        # input features
layers = [{dense = 8}, "relu", {layer_norm = {}}, {dense = 3}, "softmax"]
loss = "cross_entropy"            # the default here
# with [params] "0.weight" = [[...], ...] by state_dict name, and [init] seed (no scheme)

# ... or a custom program (names are kept; expressions are parsed safely).
[program]
inputs = ["x1", "x2"]
targets = ["y"]                   # optional
params = ["w1", "w2", "b"]
assign = ["h = sigmoid(w1*x1 + w2*x2 + b)"]   # "name = expression", in order; optional
loss = "(h - y)**2 / 2"           # one sample's loss; assignments may use targets (E = ...)
weight_decay = 0.0                # L2 and L1 penalties as in [network], on every parameter
l1 = 0.0
stages = "as_written"             # or "functions" (sigma(u) recognised), "gates" (a circuit)

[params]                          # initial values by ASCII name; layered networks also take
w1_1_1 = 0.15                     # layer arrays: W1 = [[...], ...] (n1 x n0) and b1 = [...]
b1 = 0.35                         # (or one number: every bias of layer 1, or the shared b1)

[init]                            # draws every parameter [params] does not give
seed = 0
scheme = "xavier"                 # xavier, he, normal, uniform

[data]                            # optional: inline ...
X = [[0, 0], [0, 1]]              # (batch, n_inputs); one sample may be a flat list
Y = [[0], [1]]                    # (batch, n_outputs); may be left out with no targets
# ... or from a CSV file next to the spec (first row: column names; .csv.gz is read too):
# csv = "iris.csv"; inputs = ["sepal_length", ...]; targets = ["species"]
# (inputs left out: every column but the targets, in the file's order)
# one_hot = true                  # encode the one target column's classes as one-hot rows
# classes = ["setosa", ...]       # class order for one_hot; default: order of appearance
standardize = false               # rescale each input column to mean 0, standard deviation 1
                                  # (by the training rows' mean and spread)
test_fraction = 0.0               # hold out this share of the rows (drawn at random) as a
seed = 0                          # test set; seed draws them. The rest is the training data

[training]
learning_rate = 0.5
epochs = 1000
batch_size = 0                    # 0 (the default): the full batch each epoch
freeze = ["b1", "b2"]             # parameters gradient descent leaves alone
seed = 0                          # shuffling of mini-batches
optimizer = "sgd"                 # sgd, momentum, nesterov, rmsprop, adam (as torch.optim)
# momentum = 0.9 (momentum, nesterov); rho = 0.99, epsilon = 1e-8 (rmsprop);
# beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8 (adam): the optimiser's settings, if not these
```
"""

from __future__ import annotations

import math
import os
import re
import types
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from symbackprop.model import notation
from symbackprop.model.activations import get_activation
from symbackprop.model.architecture import BIAS_MODES, INIT_SCHEMES
from symbackprop.model.caps import CAPS, check_epochs, check_sizes
from symbackprop.model.errors import (
    SpecError,
    SymbackpropWarning,
    UnknownNameError,
    shorten,
    unknown_name,
)
from symbackprop.model.functions import FloatArray
from symbackprop.model.inputs import require_path
from symbackprop.model.losses import get_loss
from symbackprop.model.network import Network, mlp
from symbackprop.model.optimizers import OPTIMIZER_SETTINGS, SGD, Optimizer, get_optimizer
from symbackprop.model.parsing import parser as parsing
from symbackprop.model.penalty import Penalty
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.specs.data import read_data
from symbackprop.model.specs.layer_spec import (
    is_layer_network,
    read_layer_network,
    read_layer_params,
)
from symbackprop.model.specs.source import (
    Source,
    check_keys,
    finite,
    name_list,
    number_array,
    optional,
    required,
    table_of,
)
from symbackprop.model.staging import STAGES

_LAYER_ARRAY = re.compile(r"^([Wb])(\d+)$")


@dataclass(frozen=True, slots=True)
class Training:
    """Gradient-descent settings: eta, epochs, mini-batch size (None: full batch), frozen names."""

    learning_rate: float = 0.5
    epochs: int = 1000
    batch_size: int | None = None
    freeze: tuple[str, ...] = ()
    seed: int = 0
    optimizer: Optimizer = SGD  # with its settings (get_optimizer(name).configured(...))

    def __post_init__(self) -> None:
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
            raise SpecError(f"learning_rate {rate!r} is not a finite number; give e.g. 0.5")
        if rate <= 0:
            raise SpecError(f"learning_rate {rate} is not positive; give e.g. 0.5")
        for key in ("epochs", "seed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(f"{key} {value!r} is not a whole number >= 0; give e.g. 100")
        check_epochs(self.epochs)
        size = self.batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise SpecError(f"batch_size {size!r} is not a whole number >= 1 (or 0: full batch)")


@dataclass(frozen=True, slots=True)
class Spec:
    """A loaded spec: the network, initial parameters by name, data (X, Y) or None, training.

    ``data`` is the training data: every row, or those [data] test_fraction does not hold out
    as ``test_data``. A network of layers has its parameters as read-only arrays by state_dict
    name.
    """

    network: Network | LayerNetwork
    params: Mapping[str, Any]
    data: tuple[FloatArray, FloatArray] | None
    training: Training
    path: Path
    name: str
    description: str = ""
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    test_data: tuple[FloatArray, FloatArray] | None = None


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a TOML spec and return its network, parameters, data and training settings."""
    source = Source.read(require_path(path, "spec"))
    document = source.parse()
    check_keys(source, document, ())
    name = optional(source, document, (), "name", str, Path(path).stem)
    description = optional(source, document, (), "description", str, "")
    network = _network(source, document)
    params: Mapping[str, Any]
    if isinstance(network, LayerNetwork):
        params = read_layer_params(source, document, network)
    else:
        params = _params(source, document, network)
    data, test_data = read_data(source, document, network)
    training = _training(source, document, network)
    return Spec(
        network=network,
        params=types.MappingProxyType(params),
        data=data,
        training=training,
        path=Path(path),
        name=name,
        description=description,
        document=document,
        test_data=test_data,
    )


# --- the network --------------------------------------------------------------------------------
def _network(source: Source, document: Mapping[str, Any]) -> Network | LayerNetwork:
    if ("network" in document) == ("program" in document):
        both = "both [network] and" if "network" in document else "neither [network] nor"
        source.fail(
            SpecError,
            source.key(("program",) if "network" in document else ()),
            f"the spec has {both} [program]; give exactly one: a layered "
            "network ([network] sizes = ...) or a custom program ([program] assign = ...)",
        )
    if "network" in document:
        table = table_of(document, "network")
        if is_layer_network(table):
            return _check_count(source, read_layer_network(source, table))
        return _layered(source, table)
    return _program(source, table_of(document, "program"))


def _layered(source: Source, table: Mapping[str, Any]) -> Network:
    path = ("network",)
    sizes = required(source, table, path, "sizes", "sizes = [2, 2, 2]")
    with source.at(source.key(path, "sizes")):
        _check_sizes(sizes)
    activation = optional(source, table, path, "activation", (str, list), "sigmoid")
    loss = optional(source, table, path, "loss", str, "half_sse")
    bias = optional(source, table, path, "bias", str, "per_neuron")
    with source.at(source.key(path, "loss")):
        get_loss(loss)
    if bias not in BIAS_MODES:
        with source.at(source.key(path, "bias")):
            raise unknown_name("bias mode", bias, BIAS_MODES)
    if isinstance(activation, list):
        for layer, name in enumerate(activation, start=1):
            with source.at(source.value(path, "activation", str(name))):
                get_activation(name, where=f"for layer {layer}")
    elif isinstance(activation, str):
        with source.at(source.value(path, "activation", activation)):
            get_activation(activation)
    penalty = _penalty(source, table, path)
    with source.at(source.key(path, "activation")):
        network = mlp(sizes, activation=activation, loss=loss, bias=bias)
    return network.with_penalty(penalty)


def _penalty(source: Source, table: Mapping[str, Any], path: tuple[str, ...]) -> Penalty:
    """Read weight_decay and l1 (the L2 and L1 penalties of the loss); 0 where left out."""
    values = {}
    for key in ("weight_decay", "l1"):
        values[key] = optional(source, table, path, key, (float, int), 0.0)
        with source.at(source.key(path, key) if key in table else source.key(path)):
            Penalty(**{key: values[key]})
    return Penalty(**values)


def _check_sizes(sizes: Any) -> None:
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise SpecError(
            f"sizes {shorten(repr(sizes))} is not a list of 2 or more sizes; "
            "give the input size, then each layer's, e.g. [2, 2, 2]"
        )
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(f"layer size {n!r} in sizes is not a positive whole number; e.g. 2")
    check_sizes(sizes)


def _check_count(source: Source, network: LayerNetwork) -> LayerNetwork:
    count = sum(int(np.prod(shape)) for shape in network.parameter_shapes().values())
    if count > CAPS.max_parameters:
        source.fail(
            SpecError,
            source.key(("network",), "layers"),
            f"the layers make {count:,} parameters (limit {CAPS.max_parameters:,}); choose "
            "smaller layers",
        )
    return network


def _program(source: Source, table: Mapping[str, Any]) -> Network:
    path = ("program",)
    inputs = name_list(
        source, required(source, table, path, "inputs", 'inputs = ["x1"]'), path, "inputs"
    )
    params = name_list(
        source, required(source, table, path, "params", 'params = ["w"]'), path, "params"
    )
    targets = name_list(source, table.get("targets", []), path, "targets")
    lines = name_list(source, table.get("assign", []), path, "assign")
    loss_text = optional(source, table, path, "loss", str, None)
    if loss_text is None:
        required(source, table, path, "loss", 'loss = "(h - y)**2 / 2"')
    symbols = {name: sp.Symbol(name) for name in [*params, *inputs, *targets]}
    assignments = []
    cursor = source.key(path, "assign")
    for text in lines:
        offset = source.value(path, "assign", text, after=cursor)
        cursor = offset + len(text)
        lhs, rhs = parsing.parse_assignment(
            text, symbols=symbols, strict=True, **_located(source, offset)
        )
        assignments.append((lhs, rhs))
        symbols[lhs.name] = lhs
    loss_offset = source.value(path, "loss", loss_text)
    loss = parsing.parse(loss_text, symbols=symbols, strict=True, **_located(source, loss_offset))
    penalty = _penalty(source, table, path)
    stages = optional(source, table, path, "stages", str, "as_written")
    if stages not in STAGES:
        with source.at(source.key(path, "stages")):
            raise unknown_name("staging", stages, STAGES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SymbackpropWarning)
        with source.at(source.key(path)):
            network = Network.from_expressions(
                assignments, loss, params, inputs, targets, stages=stages
            )
    _relay_warnings(source, caught, params)
    return network.with_penalty(penalty)


def _located(source: Source, offset: int) -> dict[str, Any]:
    line, column = source.line_column(offset)
    return {"source": source.name, "line": line, "column": column}


def _relay_warnings(
    source: Source, caught: Sequence[warnings.WarningMessage], params: Sequence[str]
) -> None:
    """Warn again, with the position of the parameter named in the message."""
    for record in caught:
        message = str(record.message)
        if not issubclass(record.category, SymbackpropWarning):
            warnings.warn(record.message, record.category, stacklevel=4)
            continue
        offset = source.key(("program",), "params")
        for name in params:
            if f"'{name}'" in message:
                offset = source.value(("program",), "params", f'"{name}"') + 1
        warnings.warn(f"{source.where(offset)}: {message}", SymbackpropWarning, stacklevel=4)


# --- parameters ---------------------------------------------------------------------------------
def _params(source: Source, document: Mapping[str, Any], network: Network) -> dict[str, float]:
    given: dict[str, float] = {}
    for key, value in table_of(document, "params").items():
        offset = source.key(("params",), key)
        for name, number in _parameter_values(source, network, key, value, offset).items():
            if name in given:
                source.fail(
                    SpecError,
                    offset,
                    f"parameter {name!r} is given twice (by name and in a layer array); "
                    "give each value once",
                )
            given[name] = number
    names = network.parameter_names()
    missing = [name for name in names if name not in given]
    if not missing:
        return {name: given[name] for name in names}
    if "init" not in document:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        source.fail(
            SpecError,
            source.key(("params",)) if "params" in document else 0,
            f"no initial value for parameter {missing[0]!r}{more}; give it in [params] or add "
            "[init] seed = 0 to draw the missing ones",
        )
    path = ("init",)
    init = table_of(document, "init")
    seed = optional(source, init, path, "seed", int, 0)
    scheme = optional(source, init, path, "scheme", str, "xavier")
    if seed < 0:
        source.fail(SpecError, source.key(path, "seed"), f"seed {seed} is negative; give e.g. 0")
    if scheme not in INIT_SCHEMES:
        with source.at(source.key(path, "scheme")):
            raise unknown_name("init scheme", scheme, INIT_SCHEMES)
    drawn = network.init_params(seed=seed, scheme=scheme)
    return {name: given.get(name, drawn[name]) for name in names}


def _parameter_values(
    source: Source, network: Network, key: str, value: Any, offset: int
) -> dict[str, float]:
    """Read one [params] entry: one value by ASCII name, or a layer array W<l> / b<l>."""
    names = network.parameter_names()
    arch = network.architecture
    if key in names:
        return {key: finite(source, offset, value, f"parameter {key!r}")}
    match = _LAYER_ARRAY.match(key)
    if arch is None or match is None or not 1 <= int(match[2]) <= arch.depth:
        with source.at(offset):
            if arch is not None and notation.parse_weight_name(key):
                raise UnknownNameError(_weight_hint(key, arch.sizes))
            raise unknown_name("parameter", key, names, "in [params]")
    layer = int(match[2])
    n_out, n_in = arch.sizes[layer], arch.sizes[layer - 1]
    if match[1] == "W":
        array = number_array(source, offset, value, key, (n_out, n_in))
        return {
            notation.weight_name(layer, j + 1, k + 1): float(array[j, k])
            for j in range(n_out)
            for k in range(n_in)
        }
    if arch.bias == "none":
        source.fail(
            SpecError,
            offset,
            f'{key} is a bias but the network has bias = "none"; '
            "remove it or set bias in [network]",
        )
    bias_names = arch.bias_names(layer)
    if not isinstance(value, list):
        number = finite(source, offset, value, key)
        return {name: number for name in bias_names}
    array = number_array(source, offset, value, key, (len(bias_names),))
    return {name: float(v) for name, v in zip(bias_names, array, strict=True)}


def _weight_hint(key: str, sizes: Sequence[int]) -> str:
    layer, j, k = notation.parse_weight_name(key) or (0, 0, 0)
    depth = len(sizes) - 1
    if not 1 <= layer <= depth:
        return f"no weight {key!r}: the network has layers 1 to {depth}; fix the layer index"
    if not 1 <= j <= sizes[layer]:
        return (
            f"no weight {key!r}: layer {layer} has {sizes[layer]} neurons, "
            f"so j must be 1 to {sizes[layer]}"
        )
    return (
        f"no weight {key!r}: layer {layer - 1} has {sizes[layer - 1]} neurons, "
        f"so k must be 1 to {sizes[layer - 1]}"
    )


# --- training -----------------------------------------------------------------------------------
def _training(
    source: Source, document: Mapping[str, Any], network: Network | LayerNetwork
) -> Training:
    path = ("training",)
    table = table_of(document, "training")
    settings = {
        "learning_rate": optional(source, table, path, "learning_rate", (float, int), 0.5),
        "epochs": optional(source, table, path, "epochs", int, 1000),
        "batch_size": optional(source, table, path, "batch_size", int, 0) or None,
        "seed": optional(source, table, path, "seed", int, 0),
    }
    for key, value in settings.items():
        with source.at(source.key(path, key) if key in table else source.key(path)):
            Training(**{key: value})  # type: ignore[arg-type]
    freeze = name_list(source, table.get("freeze", []), path, "freeze")
    known = network.parameter_names()
    for name in freeze:
        if name not in known:
            with source.at(source.value(path, "freeze", name)):
                raise unknown_name("parameter to freeze", name, known)
    return Training(freeze=tuple(freeze), optimizer=_optimizer(source, table, path), **settings)


def _optimizer(source: Source, table: Mapping[str, Any], path: tuple[str, ...]) -> Optimizer:
    """Read [training] optimizer and the settings given for it (momentum, beta1, ...)."""
    name = optional(source, table, path, "optimizer", str, "sgd")
    with source.at(source.value(path, "optimizer", name) if "optimizer" in table else 0):
        optimizer = get_optimizer(name)
    for key in OPTIMIZER_SETTINGS:
        if key in table:
            value = optional(source, table, path, key, (float, int), 0.0)
            with source.at(source.key(path, key)):
                optimizer = optimizer.configured(**{key: value})
    return optimizer
