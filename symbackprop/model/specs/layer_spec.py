"""A spec's network of layers: [network] inputs and layers -> LayerNetwork, [params] arrays.

Model layer; :func:`symbackprop.model.specs.spec.load_spec` calls it when [network] has
``layers``. Each layer in the list is either a name or a one-key inline table:

```toml
[network]
inputs = 4                                  # or one sample's shape, e.g. [1, 8, 8] (C, H, W)
loss = "cross_entropy"
layers = [
    {dense = 8},                            # or {dense = {out_features = 8, bias = false}}
    "relu",                                 # any elementwise activation; or {activation = "relu"}
    {layer_norm = {}},                      # or "layer_norm"; {layer_norm = {epsilon = 1e-5}}
    {residual = [{dense = 8}, "tanh"]},     # X + F(X): its layers must keep the width
    {self_attention = {d_k = 2}},           # or "self_attention" (d_k = the width)
    {dropout = {p = 0.5, seed = 1}},        # or {dropout = 0.5}
    {batch_norm = {}},                      # training mode: batch statistics
    "flatten",                              # a sample's shape -> one column (C order)
    {dense = 3},
    "softmax",
]

# Images and signals: inputs = [C, H, W] (or [C, L]); X rows hold each sample's C*H*W values
# flattened (channels, then rows, then columns). A size is an int or [rows, columns]:
#   {conv2d = {out_channels = 4, kernel_size = 3, stride = 1, padding = 1, bias = true}},
#   {max_pool2d = 2} or {avg_pool2d = {kernel_size = [2, 2], stride = 1, padding = 0}},
#   "flatten" (before a dense layer); conv1d, max_pool1d, avg_pool1d for [C, L] signals.

[params]                                    # state_dict names, PyTorch's shapes (weight: out x in)
"0.weight" = [[0.1, 0.2, 0.3, 0.4], ...]
```

Parameters [params] leaves out are drawn by ``init_params(seed)`` from ``[init] seed``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.errors import SpecError, shorten, unknown_name
from symbackprop.model.functions import FloatArray
from symbackprop.model.layers import LAYER_KINDS, Elementwise, Residual, output_shape
from symbackprop.model.penalty import Penalty
from symbackprop.model.sequential import LayerNetwork, sequential
from symbackprop.model.specs.source import Source, kind_of, number_array, optional, table_of

# The settings each layer kind takes in a spec (its class's keyword arguments) and their types.
OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "dense": {"out_features": int, "bias": bool},
    "activation": {"activation": str},
    "softmax": {},
    "layer_norm": {"epsilon": (float, int)},
    "batch_norm": {"epsilon": (float, int)},
    "dropout": {"p": (float, int), "seed": int},
    "self_attention": {"d_k": int},
    "flatten": {},
    # convolution and pooling: a size is an integer or a list [rows, columns] (2-D kinds)
    "conv1d": {"out_channels": int, "kernel_size": int, "stride": int, "padding": int,
               "bias": bool},
    "conv2d": {"out_channels": int, "kernel_size": (int, list), "stride": (int, list),
               "padding": (int, list), "bias": bool},
    "max_pool1d": {"kernel_size": int, "stride": int, "padding": int},
    "max_pool2d": {"kernel_size": (int, list), "stride": (int, list), "padding": (int, list)},
    "avg_pool1d": {"kernel_size": int, "stride": int, "padding": int},
    "avg_pool2d": {"kernel_size": (int, list), "stride": (int, list), "padding": (int, list)},
    # recurrent layers: {rnn = {hidden_size = 2, output = "last", truncate = 2, bias = true}}
    "rnn": {"hidden_size": int, "output": str, "truncate": int, "bias": bool},
    "lstm": {"hidden_size": int, "output": str, "truncate": int, "bias": bool},
}  # fmt: skip
# {kind = value} with a plain value (not a table) sets this option: {dense = 8}, {dropout = 0.5}.
_SHORT_FORM = {"dense": "out_features", "activation": "activation", "dropout": "p",
               "self_attention": "d_k", "max_pool1d": "kernel_size",
               "max_pool2d": "kernel_size", "avg_pool1d": "kernel_size",
               "avg_pool2d": "kernel_size", "rnn": "hidden_size",
               "lstm": "hidden_size"}  # fmt: skip
_EXAMPLES = {"dense": "{dense = 8}", "dropout": "{dropout = {p = 0.5, seed = 1}}",
             "residual": '{residual = [{dense = 4}, "tanh"]}', "activation": '"relu"',
             "conv1d": "{conv1d = {out_channels = 4, kernel_size = 3}}",
             "conv2d": "{conv2d = {out_channels = 4, kernel_size = 3, padding = 1}}",
             "max_pool1d": "{max_pool1d = 2}", "max_pool2d": "{max_pool2d = 2}",
             "avg_pool1d": "{avg_pool1d = 2}", "avg_pool2d": "{avg_pool2d = 2}",
             "rnn": '{rnn = {hidden_size = 2, output = "last"}}',
             "lstm": '{lstm = {hidden_size = 2, output = "last"}}'}  # fmt: skip
_NAMED_KINDS = ("softmax", "layer_norm", "batch_norm", "self_attention", "flatten")
# The settings a kind cannot do without.
_REQUIRED = {"dense": ("out_features",), "dropout": ("p",), "activation": ("activation",),
             "conv1d": ("out_channels", "kernel_size"), "conv2d": ("out_channels", "kernel_size"),
             "max_pool1d": ("kernel_size",), "max_pool2d": ("kernel_size",),
             "avg_pool1d": ("kernel_size",), "avg_pool2d": ("kernel_size",),
             "rnn": ("hidden_size",), "lstm": ("hidden_size",)}  # fmt: skip
MAX_INPUT_SIZE = 1_000_000  # one sample's values; an image spec is far smaller
MAX_LAYERS = 1000  # a hand-written network is far shorter; more is a mistake (or a bomb)
MAX_NESTING = 20  # residual blocks inside residual blocks
_PATH = ("network",)


def is_layer_network(table: Mapping[str, Any]) -> bool:
    """Tell whether a [network] table describes a network of layers (it has layers or inputs)."""
    return "layers" in table or "inputs" in table


def read_layer_network(source: Source, table: Mapping[str, Any]) -> LayerNetwork:
    """Return the LayerNetwork of [network] inputs, layers and loss."""
    for key in ("sizes", "activation", "bias"):
        if key in table:
            source.fail(
                SpecError,
                source.key(_PATH, key),
                f"{key} is for a per-neuron network, but this [network] has layers; "
                "remove it (a network of layers gives inputs, layers and loss)",
            )
    for key, example in (("inputs", "inputs = 4"), ("layers", 'layers = [{dense = 3}, "softmax"]')):
        if key not in table:
            source.fail(
                SpecError, source.key(_PATH), f"[network] has no {key!r}; add it, e.g. {example}"
            )
    shape = _input_shape(source, table)
    loss = optional(source, table, _PATH, "loss", str, "cross_entropy")
    start = source.key(_PATH, "layers")
    walker = _Walker(source, start)
    layers, _ = walker.layers(table["layers"], shape, "the network", 0, start)
    with source.at(source.value(_PATH, "loss", loss) if "loss" in table else walker.cursor):
        network = sequential(shape if len(shape) > 1 else shape[0], layers, loss)
    weight_decay = optional(source, table, _PATH, "weight_decay", (int, float), 0.0)
    l1 = optional(source, table, _PATH, "l1", (int, float), 0.0)
    with source.at(source.key(_PATH, "weight_decay" if "weight_decay" in table else "l1")
                   if {"weight_decay", "l1"} & set(table) else walker.cursor):  # fmt: skip
        return network.with_penalty(Penalty(weight_decay, l1))


def _input_shape(source: Source, table: Mapping[str, Any]) -> tuple[int, ...]:
    """Return one sample's shape: inputs = 4, or [C, H, W] / [C, L] / [T, n] for maps."""
    value = optional(source, table, _PATH, "inputs", (int, list), 0)
    if isinstance(value, int) and value < 1:
        source.fail(
            SpecError, source.key(_PATH, "inputs"), f"inputs {value} is not positive; give e.g. 4"
        )
    shape = tuple(value) if isinstance(value, list) else (value,)
    if (
        not 1 <= len(shape) <= 3
        or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape)
        or math.prod(shape) > MAX_INPUT_SIZE
    ):
        source.fail(
            SpecError,
            source.key(_PATH, "inputs"),
            f"inputs {shorten(repr(value))} is not a positive number of features or one "
            "sample's shape of 1 to 3 positive integers; give e.g. 4, or [1, 8, 8] for a "
            "one-channel 8x8 image",
        )
    return shape


class _Walker:
    """Reads the layer list in order, keeping a cursor in the text to locate each item."""

    def __init__(self, source: Source, start: int) -> None:
        self.source = source
        self.cursor = start
        self.count = 0

    def find(self, text: str) -> int:
        found = self.source.text.find(text, self.cursor)
        if found >= 0:
            self.cursor = found + len(text)
            return found
        return self.cursor

    def find_name(self, name: str) -> int:
        """Find a layer given by name, quoted as TOML writes it (not a word in a comment)."""
        places = [self.source.text.find(f"{q}{name}{q}", self.cursor) for q in "\"'"]
        found = [place for place in places if place >= 0]
        if not found:
            return self.find(name)
        self.cursor = min(found) + len(name) + 2
        return min(found)

    def layers(
        self, value: Any, shape: tuple[int, ...], owner: str, depth: int, at: int
    ) -> tuple[list[Any], tuple[int, ...]]:
        """Return the layers of a list and the sample shape they end with (``at``: its key)."""
        if not isinstance(value, list) or not value:
            self.source.fail(
                SpecError,
                at,
                f"the layers of {owner} are {kind_of(value)} ({shorten(repr(value))}); give a "
                'non-empty list, e.g. layers = [{dense = 3}, "softmax"]',
            )
        layers = []
        for item in value:
            self.count += 1
            if self.count > MAX_LAYERS or depth > MAX_NESTING:
                self.source.fail(
                    SpecError,
                    self.cursor,
                    f"more than {MAX_LAYERS} layers or residual blocks nested more than "
                    f"{MAX_NESTING} deep; give fewer layers",
                )
            offset, layer = self.layer(item, shape, depth)
            with self.source.at(offset):
                shape = output_shape(layer, shape)
            layers.append(layer)
        return layers, shape

    def layer(self, item: Any, shape: tuple[int, ...], depth: int) -> tuple[int, Any]:
        """Return (offset, layer) of one item: a name or a one-key table {kind = settings}."""
        if isinstance(item, str):
            offset = self.find_name(item)
            with self.source.at(offset):
                return offset, _named_layer(item)
        if not isinstance(item, dict) or len(item) != 1:
            keys = f"{len(item)} keys" if isinstance(item, dict) else kind_of(item)
            first = next(iter(item), "{") if isinstance(item, dict) else json.dumps(item)
            self.source.fail(
                SpecError,
                self.find(str(first)),
                f'a layer {shorten(repr(item))} has {keys}; give a name ("relu") or one kind '
                "and its settings, e.g. {dense = {out_features = 8, bias = false}}",
            )
        ((kind, settings),) = item.items()
        offset = self.find(kind)
        if kind not in LAYER_KINDS:
            with self.source.at(offset):
                raise unknown_name("layer kind", kind, LAYER_KINDS)
        if kind == "residual":
            body, _ = self.layers(settings, shape, "a residual block", depth + 1, offset)
            with self.source.at(offset):
                return offset, Residual(tuple(body))
        options = self.options(kind, settings, offset)
        with self.source.at(offset):
            return offset, LAYER_KINDS[kind](**options)

    def options(self, kind: str, settings: Any, offset: int) -> dict[str, Any]:
        known = OPTIONS[kind]
        written_out = isinstance(settings, dict)
        if not written_out:
            if kind not in _SHORT_FORM:
                self.source.fail(
                    SpecError,
                    offset,
                    f"{kind} takes a table of settings ({', '.join(known) or 'none'}), not "
                    f"{kind_of(settings)}; write {{{kind} = {{}}}}",
                )
            settings = {_SHORT_FORM[kind]: settings}
        for name, value in settings.items():
            where = self.find(name) if written_out else offset
            if name not in known:
                with self.source.at(where):
                    raise unknown_name(f"setting of {kind}", name, known)
            expected = known[name]
            kinds = expected if isinstance(expected, tuple) else (expected,)
            if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
                self.source.fail(
                    SpecError,
                    where,
                    f"{kind} {name} is {kind_of(value)} ({shorten(repr(value))}); expected "
                    f"{' or '.join(kind_of(k()) for k in kinds)}, e.g. {_EXAMPLES.get(kind, '')}",
                )
        for required in _REQUIRED.get(kind, ()):
            if required not in settings:
                self.source.fail(
                    SpecError, offset, f"{kind} needs {required}; e.g. {_EXAMPLES[kind]}"
                )
        return dict(settings)


def _named_layer(name: str) -> Any:
    """A layer given by name: an elementwise activation or a kind with no required setting."""
    if name in _NAMED_KINDS:
        return LAYER_KINDS[name]()
    if name in LAYER_KINDS:
        raise SpecError(f"a {name} layer needs settings; write it as {_EXAMPLES[name]}")
    if name in ACTIVATIONS:  # "softmax" was taken above
        return Elementwise(name)
    raise unknown_name("layer", name, {*ACTIVATIONS, *LAYER_KINDS})


# --- parameters ---------------------------------------------------------------------------------
def read_layer_params(
    source: Source, document: Mapping[str, Any], network: LayerNetwork
) -> dict[str, FloatArray]:
    """Return {state_dict name: array} from [params], the rest drawn from [init] seed."""
    shapes = network.parameter_shapes()
    given: dict[str, FloatArray] = {}
    for key, value in table_of(document, "params").items():
        offset = source.key(("params",), key)
        if key not in shapes:
            with source.at(offset):
                raise unknown_name("parameter", key, shapes, "in [params] (state_dict names)")
        shape = shapes[key]
        if len(shape) == 1 and isinstance(value, list) and value and isinstance(value[0], list):
            source.fail(
                SpecError,
                offset,
                f"{key} needs shape {shape}; give a flat list of {shape[0]} numbers",
            )
        given[key] = number_array(source, offset, value, key, shape)
    missing = [name for name in shapes if name not in given]
    if missing:
        given |= _drawn(source, document, network, missing)
    out = {}
    for name in shapes:
        array = np.array(given[name], dtype=np.float64)
        array.flags.writeable = False
        out[name] = array
    return out


def _drawn(
    source: Source, document: Mapping[str, Any], network: LayerNetwork, missing: list[str]
) -> dict[str, FloatArray]:
    if "init" not in document:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        source.fail(
            SpecError,
            source.key(("params",)) if "params" in document else 0,
            f"no initial value for parameter {missing[0]!r}{more}; give it in [params] or add "
            "[init] seed = 0 to draw the missing ones",
        )
    init = table_of(document, "init")
    if "scheme" in init:
        source.fail(
            SpecError,
            source.key(("init",), "scheme"),
            "a network of layers is initialised as PyTorch does (uniform in +-1/sqrt(fan_in), "
            "norms 1 and 0); remove scheme",
        )
    seed = optional(source, init, ("init",), "seed", int, 0)
    if seed < 0:
        source.fail(
            SpecError, source.key(("init",), "seed"), f"seed {seed} is negative; give e.g. 0"
        )
    drawn = network.init_params(seed)
    return {name: drawn[name] for name in missing}
