"""TOML specs: the two forms load, and every bad input is one located line (file:line:col)."""

from __future__ import annotations

import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.model.errors import (
    NumericError,
    ShapeError,
    SpecError,
    SymbackpropError,
    SymbackpropWarning,
    UnknownNameError,
)
from symbackprop.model.specs.spec import Training, load_spec
from symbackprop.model.specs.writer import spec_toml
from tests.conftest import XOR_SPEC

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_SPECS = sorted(EXAMPLES.glob("*.toml"))
TOL = 1e-12  # values read from TOML are exact binary floats; only printing could differ


PROGRAM = """\
[program]
inputs = ["x1", "x2"]
targets = ["y"]
params = ["w1", "w2", "b"]
assign = ["h = sigmoid(w1*x1 + w2*x2 + b)"]
loss = "(h - y)**2 / 2"

[params]
w1 = 0.1
w2 = 0.2
b = 0.3

[data]
X = [[1, 2]]
Y = [[1]]
"""


def _write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line(message: str) -> str:
    assert "\n" not in message, message
    assert not message.endswith("."), message
    return message


def _position(text: str, needle: str) -> str:
    """Return 'line:col' of the first occurrence of ``needle`` in ``text`` (1-based)."""
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


# --- the two forms load -----------------------------------------------------------------------
def test_mazur_spec_holds_his_weights_in_the_book_notation():
    spec = load_spec(EXAMPLES / "mazur.toml")
    mazur = {
        "w1_1_1": 0.15,
        "w1_1_2": 0.20,
        "w1_2_1": 0.25,
        "w1_2_2": 0.30,
        "b1": 0.35,
        "w2_1_1": 0.40,
        "w2_1_2": 0.45,
        "w2_2_1": 0.50,
        "w2_2_2": 0.55,
        "b2": 0.60,
    }
    assert dict(spec.params) == pytest.approx(mazur, abs=TOL)
    assert spec.network.architecture is not None
    assert spec.network.architecture.bias == "shared"
    assert spec.training.learning_rate == 0.5
    assert spec.training.freeze == ("b1", "b2")
    assert spec.data is not None
    np.testing.assert_allclose(spec.data[0], [[0.05, 0.10]], atol=TOL)
    np.testing.assert_allclose(spec.data[1], [[0.01, 0.99]], atol=TOL)
    assert spec.name == "mazur"


def test_mazur_spec_gives_mazurs_output_delta():
    spec = load_spec(EXAMPLES / "mazur.toml")
    assert spec.data is not None
    evaluation = sb.derive(spec.network).evaluate(spec.params, *spec.data)
    assert evaluation["delta2_1"] == pytest.approx(0.138498562, abs=1e-9)
    assert evaluation["L"] == pytest.approx(0.298371109, abs=1e-9)


def test_layer_arrays_and_scalar_biases_fill_the_parameters(tmp_path):
    text = """\
[network]
sizes = [2, 2, 1]
[params]
W1 = [[1, 2], [3, 4]]
b1 = 0.5
W2 = [[5, 6]]
b2 = [7]
"""
    spec = load_spec(_write(tmp_path, text))
    assert spec.params["w1_2_1"] == 3.0
    assert spec.params["b1_1"] == spec.params["b1_2"] == 0.5
    assert spec.params["b2_1"] == 7.0
    assert spec.data is None
    assert spec.training == Training()


def test_init_draws_only_the_missing_parameters(tmp_path):
    spec = load_spec(
        _write(tmp_path, XOR_SPEC.replace("[init]", "[params]\nw2_1_1 = 9.0\n\n[init]"))
    )
    drawn = spec.network.init_params(seed=0)
    assert spec.params["w2_1_1"] == 9.0
    assert spec.params["w1_1_1"] == drawn["w1_1_1"]


def test_custom_program_keeps_the_users_names(tmp_path):
    spec = load_spec(_write(tmp_path, PROGRAM))
    assert spec.network.parameter_names() == ["w1", "w2", "b"]
    assert [a.lhs.name for a in spec.network.assignments] == ["h"]
    assert not spec.network.is_layered


def test_csv_data_with_one_hot_classes(tmp_path):
    shutil.copy(EXAMPLES / "iris.csv", tmp_path / "iris.csv")
    spec = load_spec(shutil.copy(EXAMPLES / "iris.toml", tmp_path / "iris.toml"))
    assert spec.data is not None
    X, Y = spec.data
    assert X.shape == (150, 4) and Y.shape == (150, 3)
    np.testing.assert_allclose(Y.sum(axis=1), 1.0)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)  # standardize = true
    assert not X.flags.writeable


def test_written_spec_loads_back_with_the_new_parameters(tmp_path):
    spec = load_spec(EXAMPLES / "iris.toml")
    new = {name: 0.25 * i for i, name in enumerate(spec.network.parameter_names())}
    out = tmp_path / "deeper" / "iris-trained.toml"
    out.parent.mkdir()
    out.write_text(spec_toml(spec, new, out), encoding="utf-8")
    again = load_spec(out)
    assert dict(again.params) == pytest.approx(new, abs=TOL)
    assert again.data is not None and spec.data is not None
    np.testing.assert_allclose(again.data[0], spec.data[0])
    assert again.training == spec.training


# --- every bad input is one located line -------------------------------------------------------
def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(SpecError, match="no such file") as error:
        load_spec(tmp_path / "nope.toml")
    assert "nope.toml" in _one_line(str(error.value))


def test_malformed_toml_gives_tomls_position(tmp_path):
    path = _write(tmp_path, "[network]\nsizes = [2, 2\nloss = 3\n", "bad.toml")
    with pytest.raises(SpecError, match=r"^bad\.toml:3:\d+: invalid TOML: ") as error:
        load_spec(path)
    _one_line(str(error.value))


def test_non_utf8_file_is_an_error(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)


@pytest.mark.parametrize(
    ("old", "new", "needle", "suggestion"),
    [
        ('activation = "sigmoid"', 'activaton = "sigmoid"', "activaton", "activation"),
        ("[init]\nseed = 0", "[init]\nsede = 0", "sede", "seed"),
        ("[data]", "[dat]", "[dat]", "data"),
    ],
)
def test_unknown_key_is_located_with_a_suggestion(tmp_path, old, new, needle, suggestion):
    text = XOR_SPEC.replace(old, new)
    with pytest.raises(SpecError, match=f"did you mean '{suggestion}'") as error:
        load_spec(_write(tmp_path, text))
    message = _one_line(str(error.value))
    line = _position(text, needle).split(":")[0]
    assert message.startswith(f"spec.toml:{line}:"), message
    assert "unknown key" in message


def test_unknown_activation_is_located_at_its_value(tmp_path):
    text = XOR_SPEC.replace('activation = "sigmoid"', 'activation = ["sigmod", "sigmoid"]')
    with pytest.raises(UnknownNameError, match="did you mean 'sigmoid'") as error:
        load_spec(_write(tmp_path, text))
    message = _one_line(str(error.value))
    assert message.startswith(f"spec.toml:{_position(text, 'sigmod')}: unknown activation")


def test_unknown_loss_and_bias_are_located(tmp_path):
    text = XOR_SPEC.replace('activation = "sigmoid"', 'loss = "half_see"')
    with pytest.raises(
        UnknownNameError,
        match=r"^spec\.toml:3:1: unknown loss 'half_see'.*"
        r"did you mean 'half_sse'",
    ):
        load_spec(_write(tmp_path, text))
    text = XOR_SPEC.replace('activation = "sigmoid"', 'bias = "shard"')
    with pytest.raises(UnknownNameError, match=r"^spec\.toml:3:1: .*did you mean 'shared'"):
        load_spec(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ("[2]", "not a list of 2 or more sizes"),
        ("[2, 0, 1]", "layer size 0 in sizes is not a positive whole number"),
        ('"2-2-1"', "not a list"),
        ("[2, 2.5, 1]", "layer size 2.5"),
        ("[2, 100000, 100000, 1]", "parameters \\(limit"),
    ],
)
def test_wrong_sizes_are_located(tmp_path, sizes, expected):
    text = XOR_SPEC.replace("[2, 2, 1]", sizes)
    with pytest.raises(SpecError, match=f"^spec.toml:2:1: .*{expected}") as error:
        load_spec(_write(tmp_path, text))
    _one_line(str(error.value))


@pytest.mark.parametrize(
    ("params", "error_type", "expected"),
    [
        ("W1 = [[1, 2]]", ShapeError, r"W1 has 1 entries but needs shape \(2, 2\)"),
        ("W1 = [[1, 2], [3]]", ShapeError, r"row 2 of W1 has 1 values but needs 2"),
        ("b1 = [1, 2, 3]", ShapeError, r"b1 has 1 entries|b1 row 1 has 3|b1 has 3 values"),
        ("w1_1_3 = 0.5", UnknownNameError, "layer 0 has 2 neurons, so k must be 1 to 2"),
        ("w2_2_1 = 0.5", UnknownNameError, "layer 2 has 1 neurons, so j must be 1 to 1"),
        ("w3_1_1 = 0.5", UnknownNameError, "the network has layers 1 to 2"),
        ("v1 = 0.5", UnknownNameError, "unknown parameter 'v1' in \\[params\\]"),
        ('w1_1_1 = "big"', NumericError, "parameter 'w1_1_1' is 'big', not a number"),
        ("w1_1_1 = nan", NumericError, "parameter 'w1_1_1' is nan; give a finite number"),
        ("W1 = [[1, inf], [0, 0]]", NumericError, "W1 row 1, column 2 is inf"),
        ("W1 = [[1, 2], [3, 4]]\nw1_1_1 = 3", SpecError, "given twice"),
    ],
)
def test_wrong_weights_are_located(tmp_path, params, error_type, expected):
    text = XOR_SPEC.replace("[init]", f"[params]\n{params}\n\n[init]")
    with pytest.raises(error_type, match=expected) as error:
        load_spec(_write(tmp_path, text))
    message = _one_line(str(error.value))
    key = params.splitlines()[-1].split(" ")[0]
    assert message.startswith(f"spec.toml:{_position(text, key)}: "), message


def test_missing_parameters_without_init_say_how_to_fix(tmp_path):
    text = XOR_SPEC.replace("[init]\nseed = 0\n", "[params]\nw1_1_1 = 0.5\n")
    with pytest.raises(
        SpecError,
        match=r"no initial value for parameter 'w1_1_2' and 7 more; "
        r"give it in \[params\] or add \[init\] seed = 0",
    ):
        load_spec(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("data", "error_type", "expected"),
    [
        ("X = [[0, 0, 1]]\nY = [[0]]", ShapeError, "X row 1 has 3 values but the network has 2"),
        ("X = [[0, 0]]\nY = [[0, 1]]", ShapeError, "Y row 1 has 2 values but the network has 1"),
        ("X = [[0, 0], [1, 1]]\nY = [[0]]", ShapeError, "X has 2 rows but Y has 1"),
        ("X = [[0, nan]]\nY = [[0]]", NumericError, "X row 1, column 2 is nan"),
        ("X = [[0, inf]]\nY = [[0]]", NumericError, "X row 1, column 2 is inf"),
        ('X = [[0, "a"]]\nY = [[0]]', NumericError, "X row 1, column 2 is 'a', not a number"),
        ("X = 3\nY = [[0]]", ShapeError, "X is 3; give a list of rows"),
        ("Y = [[0]]", SpecError, r"\[data\] has no 'X'"),
    ],
)
def test_wrong_data_is_located(tmp_path, data, error_type, expected):
    text = XOR_SPEC.split("[data]")[0] + "[data]\n" + data + "\n"
    with pytest.raises(error_type, match=expected) as error:
        load_spec(_write(tmp_path, text))
    assert re.match(r"^spec\.toml:\d+:\d+: ", _one_line(str(error.value)))


def test_csv_errors_name_the_csv_line_and_column(tmp_path):
    rows = "a,b,t\n1,2,0\n3,oops,1\n"
    (tmp_path / "d.csv").write_text(rows)
    base = XOR_SPEC.split("[data]")[0] + '[data]\ncsv = "d.csv"\ninputs = ["a", "b"]\n'
    with pytest.raises(NumericError, match=r"^d\.csv:3:2: column 'b' holds 'oops', not a number"):
        load_spec(_write(tmp_path, base + 'targets = ["t"]\n'))
    with pytest.raises(UnknownNameError, match=r"unknown CSV column 'tt'.*did you mean 't'"):
        load_spec(_write(tmp_path, base + 'targets = ["tt"]\n'))
    with pytest.raises(SpecError, match=r"cannot read the CSV file 'missing.csv'"):
        load_spec(_write(tmp_path, base.replace("d.csv", "missing.csv") + 'targets = ["t"]\n'))


def test_both_network_and_program_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="give exactly one"):
        load_spec(_write(tmp_path, XOR_SPEC + PROGRAM.split("[params]")[0]))


def test_bad_training_settings_are_located(tmp_path):
    with pytest.raises(SpecError, match=r"^spec\.toml:13:1: learning_rate -1 is not positive"):
        load_spec(_write(tmp_path, XOR_SPEC + "\n[training]\nlearning_rate = -1\n"))
    with pytest.raises(SpecError, match=r"epochs is a string .*expected a whole number"):
        load_spec(_write(tmp_path, XOR_SPEC + '\n[training]\nepochs = "many"\n'))
    with pytest.raises(UnknownNameError, match=r"unknown parameter to freeze 'b9'"):
        load_spec(_write(tmp_path, XOR_SPEC + '\n[training]\nfreeze = ["b9"]\n'))


# --- expression text goes through the safe parser only -----------------------------------------
INJECTIONS = [
    "__import__('os').system('touch {marker}')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('{marker}', 'w').write('x')",
    "(lambda: __import__('os').system('touch {marker}'))()",
    "exec(\"open('{marker}','w')\")",
    "h.__class__",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "h if __import__('os').system('touch {marker}') else h",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injected_code_in_expression_text_is_rejected_and_not_run(tmp_path, payload):
    marker = tmp_path / "MARKER"
    text = payload.format(marker=marker).replace("\\", "\\\\").replace('"', '\\"')
    for spec_text in (
        PROGRAM.replace('loss = "(h - y)**2 / 2"', f'loss = "{text}"'),
        PROGRAM.replace('"h = sigmoid(w1*x1 + w2*x2 + b)"', f'"h = {text}"'),
    ):
        with pytest.raises(SymbackpropError) as error:
            load_spec(_write(tmp_path, spec_text))
        _one_line(str(error.value))
        assert str(error.value).startswith("spec.toml:"), str(error.value)
        assert not marker.exists()


@pytest.mark.parametrize("bomb", ["9**9**9**9", "(" * 500 + "h" + ")" * 500, "h" + "+h" * 50000])
def test_expression_bombs_are_rejected(tmp_path, bomb):
    text = PROGRAM.replace('loss = "(h - y)**2 / 2"', f'loss = "{bomb}"')
    with pytest.raises(SymbackpropError) as error:
        load_spec(_write(tmp_path, text))
    _one_line(str(error.value))


def test_parse_errors_point_into_the_toml_file(tmp_path):
    text = PROGRAM.replace('loss = "(h - y)**2 / 2"', 'loss = "(h - y)**2 / 2 + undefined_name"')
    with pytest.raises(SymbackpropError) as error:
        load_spec(_write(tmp_path, text))
    message = _one_line(str(error.value))
    line = _position(text, "undefined_name").split(":")[0]
    assert message.startswith(f"spec.toml:{line}:"), message
    assert "undefined_name" in message


def test_a_parameter_the_loss_ignores_is_a_located_warning(tmp_path):
    text = PROGRAM.replace('"w1", "w2", "b"]', '"w1", "w2", "b", "unused"]').replace(
        "b = 0.3", "b = 0.3\nunused = 1.0"
    )
    with pytest.warns(SymbackpropWarning, match="'unused' does not affect the loss") as caught:
        load_spec(_write(tmp_path, text))
    assert str(caught[0].message).startswith(f"spec.toml:{_position(text, 'unused')}: ")


def test_examples_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in EXAMPLE_SPECS:
            load_spec(path)


# --- fuzzing: every mutation loads or raises a SymbackpropError -------------------------------
NASTY_VALUES = [
    "nan",
    "inf",
    "-1",
    "0",
    "1e999",
    '"x"',
    "[]",
    "[[]]",
    "{}",
    "true",
    "99999999999",
    '"sigmod"',
    "[1, [2]]",
    '""',
    "-0.0",
    "1979-05-27",
    "\"__import__('os')\"",
    "[2, 2]",
]
TOKEN = re.compile(r'"[^"\n]*"|-?\d+(?:\.\d+)?(?:e-?\d+)?|\[|\]|=|\n')


@st.composite
def _mutations(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(EXAMPLE_SPECS)).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "delete_line", "duplicate_line", "splice"]))
        lines = text.split("\n")
        if kind == "value":
            tokens = list(TOKEN.finditer(text))
            match = tokens[draw(st.integers(0, len(tokens) - 1))]
            value = draw(st.sampled_from(NASTY_VALUES))
            text = text[: match.start()] + value + text[match.end() :]
        elif kind in ("delete_line", "duplicate_line"):
            i = draw(st.integers(0, len(lines) - 1))
            lines[i : i + 1] = [] if kind == "delete_line" else [lines[i], lines[i]]
            text = "\n".join(lines)
        else:
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 8)))
            text = (
                text[:start]
                + draw(st.text("[]{}=\"', .#\n0123456789abXWy_", max_size=6))
                + text[end:]
            )
    return text


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    shutil.copy(EXAMPLES / "iris.csv", directory / "iris.csv")
    return directory


@settings(
    deadline=None, max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_mutations())
def test_mutated_examples_load_or_raise_one_symbackprop_error(fuzz_dir, text):
    path = fuzz_dir / "fuzzed.toml"
    path.write_text(text, encoding="utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymbackpropWarning)
            spec = load_spec(path)
    except SymbackpropError as error:
        message = str(error)
        assert "\n" not in message, message
        return
    assert set(spec.params) == set(spec.network.parameter_names())
    assert all(math.isfinite(v) for v in spec.params.values())
