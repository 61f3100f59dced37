"""The matrix mode of the safe parser: NumPy-style formulas, shapes, refusals, hostile text."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.derivation.matrix_codegen import expression_function
from symbackprop.model.errors import ParseError, ShapeError, SymbackpropError
from symbackprop.model.matrices import elementwise
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.parsing.matrix import FormulaShapeError, parse_matrix
from tests.model.parser_bombs import BOMBS

HANG_SECONDS = 30.0  # catches a hang, not speed
RTOL_NUMPY = 1e-12  # a parsed formula and the same NumPy code do the same float64 operations

Delta2 = sp.MatrixSymbol("Delta2", 2, BATCH)
A1 = sp.MatrixSymbol("A1", 4, BATCH)
Z1 = sp.MatrixSymbol("Z1", 4, BATCH)
W2 = sp.MatrixSymbol("W2", 2, 4)
b2 = sp.MatrixSymbol("b2", 2, 1)
mu1 = sp.MatrixSymbol("mu1", 4, 1)
x = sp.MatrixSymbol("x", 2, BATCH)
y = sp.MatrixSymbol("y", 2, BATCH)
MATRICES = {m.name: m for m in (Delta2, A1, Z1, W2, b2, mu1, x, y)}
EPSILON = sp.Symbol("epsilon1", positive=True)
SCALARS = {"B": BATCH, "epsilon1": EPSILON}


def matrix(text: str) -> sp.MatrixExpr:
    return parse_matrix(text, matrices=MATRICES, scalars=SCALARS)


def _refusal(text: str, error: type[SymbackpropError] = ParseError) -> str:
    with pytest.raises(error) as caught:
        matrix(text)
    message = str(caught.value)
    assert "\n" not in message, f"{text!r}: multi-line {message!r}"
    assert "Traceback" not in message
    return message


# --- what it accepts, and what it means ---------------------------------------------------------

SHAPES = [
    ("Delta2 @ A1.T / B", (2, 4)),
    ("A1 @ Delta2.T", (4, 2)),
    ("W2.T @ Delta2", (4, BATCH)),
    ("(W2.T @ Delta2) * A1 * (1 - A1)", (4, BATCH)),
    ("W2.T @ Delta2 * sigmoid_prime(Z1)", (4, BATCH)),
    ("sum(Delta2, axis=1)", (2, 1)),
    ("sum(Delta2, axis=0)", (1, BATCH)),
    ("sum(Delta2)", (1, 1)),
    ("mean(Delta2, axis=1, keepdims=True)", (2, 1)),
    ("sum(Delta2, axis=-1)", (2, 1)),
    ("ones(1, B) @ Delta2.T", (1, 2)),
    ("ones((4, 1)) * 2", (4, 1)),
    ("Z1 - mu1", (4, BATCH)),
    ("(Z1 - mean(Z1, axis=1)) / sqrt(mean((Z1 - mu1) ** 2, axis=1) + epsilon1)", (4, BATCH)),
    ("b2 + W2 @ A1", (2, BATCH)),
    ("-Delta2 / 2", (2, BATCH)),
    ("2 / A1", (4, BATCH)),
    ("exp(Z1) / sum(exp(Z1), axis=0)", (4, BATCH)),
    ("dtanh(Z1) * drelu(Z1) + relu_prime(Z1) - 1", (4, BATCH)),
    ("B * Delta2 / B ** 2", (2, BATCH)),
]


@pytest.mark.parametrize("text, shape", SHAPES)
def test_formulas_parse_to_matrix_expressions_of_the_right_shape(text, shape):
    expr = matrix(text)
    assert isinstance(expr, sp.MatrixExpr)
    assert expr.shape == shape, f"{text!r}: {expr.shape}"


def _numpy_values(batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    values = {name: rng.uniform(0.1, 1.0, (int(m.shape[0]), int(m.shape[1].subs(BATCH, batch))))
              for name, m in MATRICES.items()}  # fmt: skip
    return values | {"B": batch, "epsilon1": 1e-5}


NUMPY_FORMS = [
    ("Delta2 @ A1.T / B", lambda v: v["Delta2"] @ v["A1"].T / v["B"]),
    ("sum(Delta2, axis=1)", lambda v: v["Delta2"].sum(axis=1, keepdims=True)),
    ("mean(Delta2, axis=0)", lambda v: v["Delta2"].mean(axis=0, keepdims=True)),
    ("sum(A1)", lambda v: np.array([[v["A1"].sum()]])),
    ("(Z1 - mu1) * A1 ** 2", lambda v: (v["Z1"] - v["mu1"]) * v["A1"] ** 2),
    ("1 - A1 / Z1", lambda v: 1 - v["A1"] / v["Z1"]),
    ("b2 + W2 @ A1", lambda v: v["b2"] + v["W2"] @ v["A1"]),
    ("sigmoid_prime(Z1)", lambda v: np.exp(-v["Z1"]) / (1 + np.exp(-v["Z1"])) ** 2),
    (
        "log(A1) + sqrt(Z1) - tanh(A1)",
        lambda v: np.log(v["A1"]) + np.sqrt(v["Z1"]) - np.tanh(v["A1"]),
    ),
    ("ones(2, B) * x", lambda v: v["x"]),
]


@pytest.mark.parametrize("text, numpy_form", NUMPY_FORMS)
@pytest.mark.parametrize("batch", [1, 3])
def test_formulas_mean_what_numpy_means(text, numpy_form, batch):
    expr = matrix(text)
    names = sorted(MATRICES) + ["epsilon1", "B"]
    values = _numpy_values(batch)
    got = expression_function(expr, names)(*[values[n] for n in names])
    expected = numpy_form(values)
    assert np.allclose(np.broadcast_to(got, expected.shape), expected, rtol=RTOL_NUMPY), text


def test_derivative_helpers_build_the_derivations_own_form():
    assert matrix("sigmoid_prime(Z1)") == elementwise("sigmoid", Z1, derivative=True)
    assert matrix("dsigmoid(Z1)") == elementwise("sigmoid", Z1, derivative=True)
    assert isinstance(matrix("tanh(Z1)"), ElementwiseApplyFunction)


def test_a_number_is_refused_unless_a_shape_is_given():
    assert "is a number, not a matrix" in _refusal("2 * B")
    zero = parse_matrix("0", matrices=MATRICES, shape=(2, 4))
    assert zero.shape == (2, 4)


# --- shapes that do not fit -----------------------------------------------------------------------

SHAPE_ERRORS = [
    ("Delta2 @ A1 / B", "Delta2 @ A1 multiplies (2×B) by (4×B): the inner sizes B and 4 differ; "
                        "did you mean Delta2 @ A1.T?"),
    ("A1.T @ Delta2", "did you mean Delta2 @ A1.T (the other order)"),
    ("Delta2 * A1.T", "did you mean Delta2 @ A1.T (the matrix product)?"),
    ("Delta2 + A1", "Delta2 + A1 adds (2×B) and (4×B) elementwise"),
    ("A1 @ mu1.T", "did you mean A1 * mu1 (the elementwise product) or"),
    ("W2 @ Delta2", "(2×4) by (2×B): the inner sizes 4 and 2 differ; did you mean W2.T @ Delta2"),
    ("(W2 @ A1) @ Delta2", "did you mean (W2 @ A1) @ Delta2.T or (W2 @ A1).T @ Delta2 or"),
]  # fmt: skip


@pytest.mark.parametrize("text, fragment", SHAPE_ERRORS)
def test_shapes_that_do_not_fit_are_explained_in_one_line(text, fragment):
    message = _refusal(text, ShapeError)
    assert fragment in message, message


def test_a_shape_error_keeps_its_explanation_apart_from_its_place():
    with pytest.raises(FormulaShapeError) as caught:
        parse_matrix("x + Delta2 @ A1", matrices=MATRICES, source="--expr")
    assert str(caught.value).startswith("--expr:1:5: Delta2 @ A1 multiplies")
    assert caught.value.explanation.startswith("Delta2 @ A1 multiplies")


# --- refused constructs and hostile text ----------------------------------------------------------

REFUSED = [
    ("A1.shape", "attribute access is not allowed"),
    ("A1.T.T.sum()", "attribute access is not allowed"),
    ("np.sum(A1, axis=1)", "without the 'np' prefix"),
    ("numpy.ones(2, 2)", "without the 'numpy' prefix"),
    ("A1[0]", "only a slice of rows by numbers is allowed"),
    ("lambda: A1", "a lambda is not allowed"),
    ("[a for a in A1]", "a comprehension is not allowed"),
    ("sum(a for a in A1)", "a generator expression is not allowed"),
    ("sum(A1, axis=2)", "accepts axis=0 or axis=1"),
    ("sum(A1, 1)", "takes one matrix and axis=0 or axis=1"),
    ("sum(A1, axis=x)", "accepts axis=0 or axis=1"),
    ("ones(2, 10**9)", "a size of ones() must be B or a whole number"),
    ("ones(2, 1.5)", "a size of ones() must be B or a whole number"),
    ("A1 ** A1", "is a matrix; raise to a number"),
    ("A1 ** 1000", "of a matrix must be a number such as 2"),
    ("A1 @ 2", "@ needs two matrices"),
    ("B.T", "is a number: it has no transpose"),
    ("A1 / 0", "division by zero"),
    ("W3 @ A1", "unknown name 'W3'"),
    ("sigmoid", "is a function; call it"),
    ("softmax(Z1)", "unknown function 'softmax'"),
    ("sigmoid(Z1, A1)", "takes 1 argument but 2 were given"),
    ("tanh(x=Z1)", "takes one argument and no keywords"),
    ("_A1", "starts with '_'"),
    ("'A1'", "is not a number"),
    ("A1 if B else Z1", "a conditional expression is not allowed"),
    ("A1 // 2", "operator not supported"),
    ("", "expression is empty"),
]


@pytest.mark.parametrize("text, fragment", REFUSED)
def test_refused_constructs_get_a_located_one_line_parse_error(text, fragment):
    message = _refusal(text)
    assert message.startswith("<expr>:1:"), message
    assert fragment in message, message


PAYLOADS = [
    "__import__('os').system('touch {marker}')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('{marker}', 'w')",
    "(lambda: open('{marker}', 'w'))()",
    "[open('{marker}', 'w') for _ in (1,)]",
    "eval(\"open('{marker}', 'w')\")",
    "exec(\"open('{marker}', 'w')\")",
    "getattr(A1, '__class__')",
    "A1.__class__",
    "A1.T.__class__",
    "sigmoid.__globals__",
    "np.save('{marker}', A1)",
    "__builtins__",
    "f\"{{open('{marker}', 'w')}}\"",
    "sum(open('{marker}', 'w'), axis=1)",
    "ones(open('{marker}', 'w'), 1)",
    "A1 @ {{open('{marker}', 'w')}}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_injection_is_refused_and_never_runs(payload, tmp_path):
    marker = tmp_path / "MARKER"
    with pytest.raises(ParseError):
        matrix(payload.format(marker=marker.as_posix()))
    assert not marker.exists()


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_the_scalar_parsers_bombs_are_refused_or_built_without_hanging(name):
    # With x a matrix, some bombs are harmless (exp(X + c) is never rewritten as a power).
    start = time.perf_counter()
    try:
        matrix(BOMBS[name])
    except SymbackpropError as problem:
        assert "\n" not in str(problem)
    assert time.perf_counter() - start < HANG_SECONDS, name


def test_a_long_flat_chain_is_built_without_deep_recursion():
    text = " + ".join(["Delta2 @ A1.T / B"] * 250)
    assert matrix(text).shape == (2, 4)


# --- fuzzing --------------------------------------------------------------------------------------

SEEDS = [text for text, _ in SHAPES] + [text for text, _ in SHAPE_ERRORS]
PIECES = list("()+-*/@.,_=[]{}'\"\\#:;%~<>!0123456789eTxy \n\t\0é") + [
    "**", ".T", "@", "axis=", "axis=0", "sum(", "mean(", "ones(", "np.", "__", "lambda",
    " for ", "1e999", "sqrt(", ")", "A1", "Delta2", "B",
]  # fmt: skip


@st.composite
def mutated_formulas(draw: st.DrawFn) -> str:
    """Draw a formula and insert, delete or replace a few characters or tokens."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(PIECES) | st.characters())
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        if edit == "insert":
            text = text[:index] + piece + text[index:]
        elif edit == "delete":
            text = text[:index] + text[index + 1 :]
        else:
            text = text[:index] + piece + text[index + len(piece) :]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_formulas(), st.text(max_size=60)))
def test_random_text_gives_a_matrix_or_a_parse_or_shape_error(text):
    try:
        result = matrix(text)
    except (ParseError, ShapeError) as problem:
        assert "\n" not in str(problem)
        return
    assert isinstance(result, sp.MatrixExpr)
