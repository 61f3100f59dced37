"""Specs of networks of layers: each layer kind loads and round-trips; bad specs are located."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.model.errors import NumericError, ShapeError, SpecError, UnknownNameError
from symbackprop.model.specs.spec import load_spec
from symbackprop.model.specs.writer import spec_toml

# Each layer kind in a small network (input width 3), with the layers sb.sequential gets.
LAYER_CASES = {
    "dense": ('{dense = 2}, "softmax"', [sb.Dense(2), "softmax"]),
    "dense_no_bias": (
        '{dense = {out_features = 2, bias = false}}, "softmax"',
        [sb.Dense(2, bias=False), "softmax"],
    ),
    "activation": (
        '{dense = 3}, "tanh", {activation = "relu"}, {dense = 2}, "softmax"',
        [sb.Dense(3), "tanh", "relu", sb.Dense(2), "softmax"],
    ),
    "layer_norm": (
        '{layer_norm = {}}, "layer_norm", {layer_norm = {epsilon = 0.001}}, {dense = 2}, "softmax"',
        [sb.LayerNorm(), sb.LayerNorm(), sb.LayerNorm(0.001), sb.Dense(2), "softmax"],
    ),
    "batch_norm": (
        '{dense = 3}, {batch_norm = {}}, "batch_norm", {dense = 2}, "softmax"',
        [sb.Dense(3), sb.BatchNorm(), sb.BatchNorm(), sb.Dense(2), "softmax"],
    ),
    "dropout": (
        '{dropout = {p = 0.5, seed = 1}}, {dropout = 0.25}, {dense = 2}, "softmax"',
        [sb.Dropout(0.5, seed=1), sb.Dropout(0.25), sb.Dense(2), "softmax"],
    ),
    "residual": (
        '{residual = [{dense = 3}, "tanh", {residual = ["sigmoid"]}]}, {dense = 2}, "softmax"',
        [sb.Residual([sb.Dense(3), "tanh", sb.Residual(["sigmoid"])]), sb.Dense(2), "softmax"],
    ),
    "self_attention": (
        '{self_attention = {d_k = 2}}, "self_attention", {dense = 2}, "softmax"',
        [sb.SelfAttention(2), sb.SelfAttention(), sb.Dense(2), "softmax"],
    ),
}
DATA = """
[data]
X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [0.0, 1.0, 1.0]]
Y = [[1, 0], [0, 1], [1, 0]]
"""
TOL = 1e-12  # arrays written with repr() read back exactly


def _spec(tmp_path: Path, layers: str, extra: str = DATA, head: str = "") -> Path:
    text = f"[network]\ninputs = 3\n{head}layers = [{layers}]\n\n[init]\nseed = 2\n{extra}"
    path = tmp_path / "net.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _located(tmp_path: Path, text: str, needle: str) -> str:
    """Write ``text`` and return the 'net.toml:line:col' of ``needle`` in it."""
    path = tmp_path / "net.toml"
    path.write_text(text, encoding="utf-8")
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return f"net.toml:{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}: "


@pytest.mark.parametrize("kind", LAYER_CASES)
def test_every_layer_kind_loads_as_sequential_and_round_trips(kind, tmp_path):
    text, layers = LAYER_CASES[kind]
    spec = load_spec(_spec(tmp_path, text))
    expected = sb.sequential(3, layers, "cross_entropy")
    assert isinstance(spec.network, sb.LayerNetwork)
    assert spec.network == expected
    assert list(spec.params) == expected.parameter_names()
    for name, array in expected.init_params(2).items():
        np.testing.assert_allclose(spec.params[name], array, rtol=0, atol=TOL, err_msg=name)
    trained = {name: array + 0.125 for name, array in spec.params.items()}
    out = tmp_path / "out" / "trained.toml"
    out.parent.mkdir()
    out.write_text(spec_toml(spec, trained, out), encoding="utf-8")
    again = load_spec(out)
    assert again.network == spec.network
    for name, array in trained.items():
        np.testing.assert_allclose(again.params[name], array, rtol=0, atol=TOL, err_msg=name)
    assert again.data is not None and spec.data is not None
    np.testing.assert_array_equal(again.data[0], spec.data[0])


def test_params_by_state_dict_name_are_used_and_the_rest_drawn(tmp_path):
    extra = '[params]\n"0.weight" = [[1, 2, 3], [4, 5, 6]]\n"0.bias" = [0.5, -0.5]\n' + DATA
    spec = load_spec(_spec(tmp_path, '{dense = 2}, "softmax"', extra))
    np.testing.assert_array_equal(spec.params["0.weight"], [[1, 2, 3], [4, 5, 6]])
    assert not spec.params["0.weight"].flags.writeable
    drawn = load_spec(_spec(tmp_path, '{dense = 2}, {layer_norm = {}}, "softmax"'))
    assert set(drawn.params) == {"0.weight", "0.bias", "1.weight", "1.bias"}


def test_layer_spec_trains_with_the_training_settings(tmp_path):
    extra = DATA + '\n[training]\nlearning_rate = 0.5\nepochs = 20\nfreeze = ["0.bias"]\n'
    spec = load_spec(_spec(tmp_path, '{dense = 2}, "softmax"', extra))
    assert spec.training.freeze == ("0.bias",)
    assert spec.data is not None
    result = sb.train(spec.network, spec.params, *spec.data, learning_rate=0.5, epochs=20,
                      freeze=spec.training.freeze)  # fmt: skip
    assert result.losses[-1] < result.losses[0]
    np.testing.assert_array_equal(result.params["0.bias"], spec.params["0.bias"])


def test_bracketed_tables_of_layers_load_too(tmp_path):
    text = "[network]\ninputs = 3\n\n[[network.layers]]\ndense = 2\n\n[[network.layers]]\n"
    text += 'activation = "softmax"\n\n[init]\nseed = 0\n'
    path = tmp_path / "net.toml"
    path.write_text(text.replace('activation = "softmax"', "softmax = {}"), encoding="utf-8")
    assert load_spec(path).network == sb.sequential(3, [sb.Dense(2), "softmax"])


# --- bad specs: one line, located ---------------------------------------------------------------
BAD = [
    # (layers, needle where the error points, error type, message fragment)
    (
        '{dense = 2}, "relu", {dense_layer = 2}, "softmax"',
        "dense_layer",
        UnknownNameError,
        "unknown layer kind 'dense_layer'; known: .* \\(did you mean 'dense'\\)",
    ),
    ('{dense = 2}, "rleu", "softmax"', '"rleu"', UnknownNameError, "did you mean 'relu'"),
    ('{dense = 2}, "softmx"', '"softmx"', UnknownNameError, "did you mean 'softmax'"),
    (
        '{dense = 2}, {layer_nrom = {}}, "softmax"',
        "layer_nrom",
        UnknownNameError,
        "did you mean 'layer_norm'",
    ),
    ('{dense = 0}, "softmax"', "dense = 0", SpecError, "out_features of a dense layer 0"),
    ('{dense = "two"}, "softmax"', "dense =", SpecError, "dense out_features is a string"),
    (
        '{dense = {out_features = 2, bais = false}}, "softmax"',
        "bais",
        UnknownNameError,
        "did you mean 'bias'",
    ),
    ('{dense = {bias = false}}, "softmax"', "dense =", SpecError, "dense needs out_features"),
    (
        '{residual = [{dense = 2}]}, "softmax"',
        "residual",
        SpecError,
        "a residual block maps 3 features to 2",
    ),
    (
        '{residual = {dense = 3}}, {dense = 2}, "softmax"',
        "residual",
        SpecError,
        "layers of a residual block are a table",
    ),
    ('{dropout = {p = 1.5}}, {dense = 2}, "softmax"', "dropout", SpecError, "dropout p 1.5"),
    ('"dropout", {dense = 2}, "softmax"', '"dropout"', SpecError, "needs settings"),
    (
        '{dense = 2, bias = false}, "softmax"',
        "dense = 2, bias",
        SpecError,
        "a layer .* has 2 keys",
    ),
    ("{dense = 2}, 5", "5]", SpecError, "a layer 5 has a whole number"),
    ('{dense = 2}, "tanh"', "layers", SpecError, "cross_entropy needs probabilities"),
    (
        '{self_attention = {d_k = 0}}, {dense = 2}, "softmax"',
        "self_attention",
        SpecError,
        "d_k of self-attention 0",
    ),
]


@pytest.mark.parametrize(("layers", "needle", "error", "fragment"), BAD, ids=lambda v: str(v)[:24])
def test_bad_layers_are_one_located_line(layers, needle, error, fragment, tmp_path):
    text = f"[network]\ninputs = 3\nlayers = [{layers}]\n\n[init]\nseed = 0\n"
    where = _located(tmp_path, text, needle)
    with pytest.raises(error, match=fragment) as caught:
        load_spec(tmp_path / "net.toml")
    message = str(caught.value)
    assert "\n" not in message
    if needle != "layers":
        assert message.startswith(where), message
    else:
        assert message.startswith("net.toml:"), message


@pytest.mark.parametrize(
    ("network", "needle", "fragment"),
    [
        ('inputs = 3\nlayers = "relu"', "layers", "layers of the network are a string"),
        ("inputs = 3\nlayers = []", "layers", "give a non-empty list"),
        ('layers = ["relu"]\nloss = "mse"', "[network]", "no 'inputs'"),
        ('inputs = 0\nlayers = ["relu"]\nloss = "mse"', "inputs", "inputs 0 is not positive"),
        (
            'inputs = [1, 0]\nlayers = ["relu"]',
            "inputs",
            "inputs \\[1, 0\\] is not a positive number of features",
        ),
        (
            'inputs = [1, 2, 2, 2]\nlayers = ["relu"]',
            "inputs",
            "one sample's shape of 1 to 3 positive integers",
        ),
        ('inputs = "8x8"\nlayers = ["relu"]', "inputs", "inputs is a string"),
        ('inputs = 3\nsizes = [3, 2]\nlayers = ["relu"]', "sizes", "sizes is for a per-neuron"),
        ('inputs = 3\nlayers = ["relu"]\nloss = "msee"', "msee", "did you mean 'mse'"),
    ],
)
def test_bad_network_tables_are_located(network, needle, fragment, tmp_path):
    text = f"[network]\n{network}\n\n[init]\nseed = 0\n"
    where = _located(tmp_path, text, needle)
    with pytest.raises(SpecError if "msee" not in network else UnknownNameError, match=fragment):
        load_spec(tmp_path / "net.toml")
    with pytest.raises(Exception) as caught:
        load_spec(tmp_path / "net.toml")
    assert str(caught.value).startswith(where) or needle == "layers", str(caught.value)


@pytest.mark.parametrize(
    ("params", "needle", "error", "fragment"),
    [
        ('"0.weight" = [[1, 2], [3, 4]]', "0.weight", ShapeError, "row 1 of 0.weight has 2 values"),
        ('"0.weight" = [[1, 2, 3]]', "0.weight", ShapeError, "needs shape \\(2, 3\\)"),
        ('"0.bias" = [[1, 2]]', "0.bias", SpecError, "flat list of 2 numbers"),
        ('"0.bias" = [1, 2, 3]', "0.bias", ShapeError, "0.bias has 3 values but needs 2"),
        ('"0.bias" = [1, nan]', "0.bias", NumericError, "give a finite number"),
        (
            '"0.wieght" = [[1, 2, 3], [4, 5, 6]]',
            "0.wieght",
            UnknownNameError,
            "did you mean '0.weight'",
        ),
        ('"1.weight" = [1, 2]', "1.weight", UnknownNameError, "unknown parameter '1.weight'"),
    ],
)
def test_bad_params_are_checked_against_the_shapes(params, needle, error, fragment, tmp_path):
    text = f'[network]\ninputs = 3\nlayers = [{{dense = 2}}, "softmax"]\n\n[params]\n{params}\n'
    text += "\n[init]\nseed = 0\n"
    where = _located(tmp_path, text, needle if needle.startswith('"') else f'"{needle}"')
    with pytest.raises(error, match=fragment) as caught:
        load_spec(tmp_path / "net.toml")
    assert str(caught.value).startswith(where), str(caught.value)


def test_missing_params_without_init_and_a_scheme_are_refused(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('[network]\ninputs = 3\nlayers = [{dense = 2}, "softmax"]\n')
    with pytest.raises(SpecError, match="no initial value for parameter '0.weight' and 1 more"):
        load_spec(path)
    path.write_text(path.read_text() + '[init]\nseed = 0\nscheme = "he"\n')
    with pytest.raises(SpecError, match=r"net.toml:6:1: .*initialised as PyTorch does"):
        load_spec(path)


def test_data_of_the_wrong_width_is_refused(tmp_path):
    extra = "[data]\nX = [[1, 2]]\nY = [[1, 0]]\n"
    with pytest.raises(ShapeError, match="X row 1 has 2 values but the network has 3 inputs"):
        load_spec(_spec(tmp_path, '{dense = 2}, "softmax"', extra))


def test_huge_or_deeply_nested_layers_are_refused_before_any_array_is_made(tmp_path):
    huge = '{dense = 100000000}, {dense = 100000000}, "softmax"'
    with pytest.raises(SpecError, match=r"net.toml:3:1: the layers make [\d,]+ parameters"):
        load_spec(_spec(tmp_path, huge))
    nested = "{residual = [" * 30 + '"tanh"' + "]}" * 30 + ', {dense = 2}, "softmax"'
    with pytest.raises(SpecError, match="nested more than 20 deep"):
        load_spec(_spec(tmp_path, nested))


def test_a_name_in_a_comment_does_not_move_the_position(tmp_path):
    text = '[network]\ninputs = 3\nlayers = [\n    {dense = 2},  # then "tanh", not relu\n'
    text += '    "rleu",\n    "softmax",\n]\n'
    where = _located(tmp_path, text, '"rleu"')
    with pytest.raises(UnknownNameError, match="did you mean 'relu'") as caught:
        load_spec(tmp_path / "net.toml")
    assert str(caught.value).startswith(where)


def test_inputs_may_be_one_samples_shape_flattened_by_a_flatten_layer(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(
        '[network]\ninputs = [1, 2, 2]\nlayers = ["flatten", {dense = 2}, {flatten = {}}, '
        '"softmax"]\n[init]\nseed = 0\n[data]\nX = [[1, 2, 3, 4]]\nY = [[1, 0]]\n',
        encoding="utf-8",
    )
    spec = load_spec(path)
    expected = sb.sequential((1, 2, 2), [sb.Flatten(), sb.Dense(2), sb.Flatten(), "softmax"])
    assert spec.network == expected and spec.network.sample_shape == (1, 2, 2)
    assert spec.data is not None and spec.data[0].shape == (1, 4)


# --- images and signals: inputs = [C, H, W] ---------------------------------------------------
CONV_SPEC = """[network]
inputs = [1, 4, 4]
layers = [
    {conv2d = {out_channels = 2, kernel_size = [2, 3], stride = 1, padding = [1, 0]}},
    "relu",
    {max_pool2d = {kernel_size = 2, stride = [2, 1]}},
    {avg_pool2d = 1},
    "flatten",
    {dense = 2},
    "softmax",
]

[params]
"0.weight" = [[[[1, 2, 3], [4, 5, 6]]], [[[0, 1, 0], [1, 0, 1]]]]

[init]
seed = 1

[data]
X = [
    [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1],
    [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0],
]
Y = [[1, 0], [0, 1]]
"""


def test_a_spec_of_images_loads_its_shape_layers_and_kernel(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(CONV_SPEC, encoding="utf-8")
    spec = load_spec(path)
    layers = [sb.Conv2d(2, (2, 3), 1, (1, 0)), "relu", sb.MaxPool2d(2, (2, 1)), sb.AvgPool2d(1),
              sb.Flatten(), sb.Dense(2), "softmax"]  # fmt: skip
    assert spec.network == sb.sequential((1, 4, 4), layers)
    assert spec.network.sample_shape == (1, 4, 4)
    kernel = np.array([[[[1, 2, 3], [4, 5, 6]]], [[[0, 1, 0], [1, 0, 1]]]], dtype=float)
    np.testing.assert_array_equal(spec.params["0.weight"], kernel)
    out = tmp_path / "out.toml"
    out.write_text(spec_toml(spec, dict(spec.params), out), encoding="utf-8")
    again = load_spec(out)
    assert again.network == spec.network
    np.testing.assert_array_equal(again.params["0.weight"], kernel)


def test_one_dimensional_kinds_load_from_a_spec(tmp_path):
    layers = "{conv1d = {out_channels = 2, kernel_size = 3, padding = 1}}, {max_pool1d = 2}, "
    layers += '{avg_pool1d = {kernel_size = 2, stride = 1}}, "flatten", {dense = 2}, "softmax"'
    path = tmp_path / "net.toml"
    path.write_text(f"[network]\ninputs = [1, 6]\nlayers = [{layers}]\n[init]\nseed = 0\n")
    expected = [sb.Conv1d(2, 3, padding=1), sb.MaxPool1d(2), sb.AvgPool1d(2, 1), sb.Flatten(),
                sb.Dense(2), "softmax"]  # fmt: skip
    assert load_spec(path).network == sb.sequential((1, 6), expected)


@pytest.mark.parametrize(
    ("network", "needle", "fragment"),
    [
        ('inputs = [1, 0, 3]\nlayers = ["relu"]', "inputs", "one sample's shape of 1 to 3"),
        ('inputs = [1, 2, 3, 4]\nlayers = ["relu"]', "inputs", "e.g. 4, or \\[1, 8, 8\\]"),
        ("inputs = 9\nlayers = [{conv2d = {out_channels = 1, kernel_size = 2}}]", "conv2d",
         "needs each sample to be a \\(channels, height, width\\) map but gets shape \\(9\\)"),
        ("inputs = [1, 3, 3]\nlayers = [{conv2d = {kernel_size = 2}}]", "conv2d",
         "conv2d needs out_channels"),
        ("inputs = [1, 3, 3]\nlayers = [{conv2d = {out_channels = 1, kernel_size = 4}}]",
         "conv2d", "4x4 window but its input map is 3x3"),
        ("inputs = [1, 3, 3]\nlayers = [{max_pool2d = {kernel_size = 2, padding = 2}}]",
         "max_pool2d", "more than half its window"),
        ('inputs = [1, 4, 4]\nlayers = [{max_pool2d = 2}, {dense = 2}, "softmax"]', "dense",
         "put Flatten\\(\\)"),
    ],
)  # fmt: skip
def test_bad_image_networks_are_one_located_line(network, needle, fragment, tmp_path):
    text = f"[network]\n{network}\n\n[init]\nseed = 0\n"
    where = _located(tmp_path, text, needle)
    with pytest.raises(SpecError, match=fragment) as caught:
        load_spec(tmp_path / "net.toml")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(where), str(caught.value)


def test_a_kernel_of_the_wrong_shape_is_refused(tmp_path):
    text = CONV_SPEC.replace("[[[[1, 2, 3], [4, 5, 6]]], ", "[[[[1, 2, 3]]], ")
    path = tmp_path / "net.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ShapeError, match=r"0.weight\[0\]\[0\] has 1 entries but needs shape"):
        load_spec(path)


# --- recurrent layers: [network] inputs = [T, n] -------------------------------------------------
SEQUENCE = """[network]
inputs = [3, 2]
loss = "mse"
layers = [{layers}]

[init]
seed = 1

[data]
X = [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [-1.0, 0.0], [0.0, 2.0]]]
Y = {targets}
"""


@pytest.mark.parametrize(
    ("layers", "targets", "expected"),
    [
        ('{rnn = 2}, {dense = 1}', "[[[0.5], [0.0], [1.0]], [[1.0], [0.5], [0.0]]]",
         [sb.RNN(2), sb.Dense(1)]),
        ('{rnn = {hidden_size = 2, output = "last", truncate = 2, bias = false}}, {dense = 1}',
         "[[0.5], [1.0]]", [sb.RNN(2, output="last", truncate=2, bias=False), sb.Dense(1)]),
        ('{lstm = {hidden_size = 3, output = "last"}}, {dense = 1}', "[[0.5], [1.0]]",
         [sb.LSTM(3, output="last"), sb.Dense(1)]),
    ],
)  # fmt: skip
def test_recurrent_layers_load_with_a_sequence_input_and_round_trip(
    layers, targets, expected, tmp_path
):
    path = tmp_path / "seq.toml"
    path.write_text(SEQUENCE.format(layers=layers, targets=targets), encoding="utf-8")
    spec = load_spec(path)
    assert spec.network == sb.sequential((3, 2), expected, "mse")
    assert spec.network.sample_shape == (3, 2) and spec.data[0].shape == (2, 6)
    out = tmp_path / "trained.toml"
    out.write_text(spec_toml(spec, spec.params, out), encoding="utf-8")
    assert load_spec(out).network == spec.network


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ('{rnn = {hidden_size = 0}}', "hidden_size of rnn 0 is not a positive integer"),
        ('{lstm = {hidden_size = 2, output = "all"}}', "output of lstm 'all' must be 'sequence'"),
        ('{rnn = {hidden_size = 2, truncate = 0}}', "truncate of rnn 0 must be a positive"),
        ('{rnn = {output = "last"}}', "rnn needs hidden_size"),
    ],
)  # fmt: skip
def test_bad_recurrent_settings_are_one_line_errors(layers, message, tmp_path):
    path = tmp_path / "seq.toml"
    path.write_text(SEQUENCE.format(layers=layers, targets="[[0.5], [1.0]]"), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_a_recurrent_layer_on_flat_inputs_asks_for_a_sequence(tmp_path):
    path = _spec(tmp_path, '{rnn = 2}, {dense = 2}, "softmax"')
    with pytest.raises(SpecError, match=r"give the network inputs = \[T, n\]"):
        load_spec(path)
