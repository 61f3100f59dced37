"""Misused public functions: every wrong argument is the project's error, in one line with a fix."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.model.errors import SymbackpropError
from symbackprop.render import report as report_module

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

NET = sb.mlp([2, 2, 1])
PARAMS = NET.init_params()
X, Y = np.array([[0.0, 1.0]]), np.array([[1.0]])
D = sb.derive(NET)

# Values of the wrong kind for any argument: none of them is a network, a name, a path, a dict
# of parameters, a pair of arrays or a usable number.
wrong = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), -1), st.floats(allow_nan=True),
    st.sampled_from([math.nan, math.inf, -math.inf, object(), b"bytes", 3 + 4j, {1, 2}, [1, 2, 3],
                     [None], {"x": object()}, (1,), ""]),
)  # fmt: skip

CALLS = {
    "mlp(sizes)": lambda v: sb.mlp(v),
    "mlp(activation)": lambda v: sb.mlp([2, 1], activation=v),
    "mlp(loss)": lambda v: sb.mlp([2, 1], loss=v),
    "mlp(bias)": lambda v: sb.mlp([2, 1], bias=v),
    "init_params(seed)": lambda v: NET.init_params(seed=v),
    "init_params(scheme)": lambda v: NET.init_params(scheme=v),
    "derive(network)": lambda v: sb.derive(v),
    "derive(freeze)": lambda v: sb.derive(NET, freeze=[v]),
    "gradient(name)": lambda v: D.gradient(v),
    "expanded(name)": lambda v: D.expanded(v),
    "evaluate(params)": lambda v: D.evaluate(v, X[0], Y[0]),
    "evaluate(x)": lambda v: D.evaluate(PARAMS, v, Y[0]),
    "evaluate(learning_rate)": lambda v: D.evaluate(PARAMS, X[0], Y[0], learning_rate=v),
    "compile(network)": lambda v: sb.compile(v),
    "compiled.gradient(params)": lambda v: sb.compile(NET).gradient(v, X, Y),
    "compiled.forward(X)": lambda v: sb.compile(NET).forward(PARAMS, v),
    "gradcheck(network)": lambda v: sb.gradcheck(v, PARAMS, X, Y),
    "gradcheck(params)": lambda v: sb.gradcheck(NET, v, X, Y),
    "train(learning_rate)": lambda v: sb.train(NET, PARAMS, X, Y, learning_rate=v, epochs=1),
    "train(epochs)": lambda v: sb.train(NET, PARAMS, X, Y, learning_rate=0.1, epochs=v),
    "train(batch_size)": lambda v: sb.train(NET, PARAMS, X, Y, 0.1, 1, batch_size=v),
    "train(freeze)": lambda v: sb.train(NET, PARAMS, X, Y, 0.1, 1, freeze=[v]),
    "check_gradient(network)": lambda v: sb.check_gradient(v, "w1_1_1", "a"),
    "check_gradient(wrt)": lambda v: sb.check_gradient(NET, v, "x1"),
    "check_gradient(expression)": lambda v: sb.check_gradient(NET, "w2_1_1", v),
    "load_spec(path)": lambda v: sb.load_spec(v),
    "report(data)": lambda v: sb.report(NET, params=PARAMS, data=v, path="never.html"),
    "report(path)": lambda v: sb.report(NET, params=PARAMS, data=(X, Y), path=v),
    "report(title)": lambda v: report_module.render(NET, PARAMS, (X, Y), "md", title=v),
    "from_expressions(assignments)": lambda v: sb.Network.from_expressions(
        v, loss=None, params=[], inputs=[], targets=[]
    ),
}


def _refused_in_one_line(call, value) -> None:
    try:
        call(value)
    except SymbackpropError as error:
        message = str(error)
        assert message and "\n" not in message, message
        assert len(message) < 400, message
    except Exception as error:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{type(error).__name__}: {error}")


@given(name=st.sampled_from(sorted(CALLS)), value=wrong)
@settings(max_examples=150, deadline=None)
def test_a_wrong_argument_to_any_public_function_is_one_project_error(name, value):
    if name == "report(title)" and value in (None, ""):
        return  # no title and an empty title are both fine
    if name == "evaluate(learning_rate)" and value is None:
        return  # None: no update step
    _refused_in_one_line(CALLS[name], value)
    assert not Path("never.html").exists()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sb.mlp([2, 2], activation=5), "activation 5 is not a name"),
        (lambda: NET.init_params(seed=-1), "seed -1 is not a whole number >= 0"),
        (lambda: sb.compile(NET).gradient([1, 2, 3], X, Y), "params is a list, not a dict"),
        (lambda: sb.derive(None), "derive needs a Network, got None"),
        (lambda: D.gradient(5), "parameter 5 is not a name"),
        (lambda: D.evaluate(PARAMS, X[0], Y[0], learning_rate="x"), "learning_rate 'x' is not a"),
        (lambda: sb.load_spec(None), "spec None is not a path"),
        (lambda: sb.report(NET, params=PARAMS, data=None, path="r.html"), "data is None, not a"),
    ],
)
def test_each_misuse_named_in_the_report_says_what_to_pass(call, match):
    with pytest.raises(SymbackpropError, match=match):
        call()


# --- wording -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "hint"),
    [(lambda: sb.mlp([2, 1], loss="MSE"), "did you mean 'mse'"),
     (lambda: sb.mlp([2, 1], activation="ReLU"), "did you mean 'relu'")],
)  # fmt: skip
def test_a_slip_of_case_gets_a_suggestion(call, hint):
    with pytest.raises(SymbackpropError, match=hint):
        call()


def test_counts_agree_with_their_nouns():
    with pytest.raises(SymbackpropError, match="X has 1 row but Y has 2"):
        sb.compile(NET).loss(PARAMS, X, np.ones((2, 1)))


def test_spec_wording_neither_nor_and_located_scalar_activation(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\n')
    with pytest.raises(SymbackpropError, match=r"neither \[network\] nor \[program\]"):
        sb.load_spec(spec)
    # A single name is located at its own column, as an element of a list is.
    spec.write_text('[network]\nsizes = [2, 1]\nactivation = "tahn"\n')
    with pytest.raises(SymbackpropError, match=r"s\.toml:3:15: unknown activation 'tahn'"):
        sb.load_spec(spec)
    spec.write_text('[network]\nsizes = [2, 1]\nactivation = ["tahn"]\n')
    with pytest.raises(SymbackpropError, match=r"s\.toml:3:16: unknown activation 'tahn'"):
        sb.load_spec(spec)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [("learning_rate = nan", "learning_rate = nan"), ("mistake_credit = inf", "mistake_credit"),
     ("ecf_credit = 2", "ecf_credit = 2; use a number from 0 to 1"),
     ('learning_rate = "x"', "learning_rate = 'x'")],
)  # fmt: skip
def test_worksheet_spec_refuses_non_finite_settings(tmp_path, line, fragment):
    from symbackprop.worksheets.spec import load_worksheet_spec

    text = (EXAMPLES / "worksheets" / "week5.toml").read_text()
    spec = tmp_path / "w.toml"
    key = line.split(" = ")[0]
    spec.write_text(re.sub(rf"(?m)^{key} = .*$", line, text, count=1))
    with pytest.raises(SymbackpropError, match=fragment):
        load_worksheet_spec(spec)


def test_worksheet_points_nan_is_refused(tmp_path):
    from symbackprop.worksheets.spec import load_worksheet_spec

    text = (EXAMPLES / "worksheets" / "week5.toml").read_text()
    spec = tmp_path / "w.toml"
    spec.write_text(text.replace("points = 1", "points = nan", 1))
    with pytest.raises(SymbackpropError, match="points nan"):
        load_worksheet_spec(spec)
