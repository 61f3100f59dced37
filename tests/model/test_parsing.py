"""The safe parser: textbook forms, every refused construct, injections, bombs and fuzzing."""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import re
import signal
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop.model.errors import ParseError, SymbackpropError
from symbackprop.model.functions import (
    FUNCTIONS,
    LeakyRelu,
    Relu,
    Sigmoid,
    Softplus,
    Step,
    Tanh,
)
from symbackprop.model.parsing.parser import LIMITS, Limits, parse, parse_assignment
from tests.model.parser_bombs import BOMBS, NESTED_WIDE

# Catches a hang (an unbounded SymPy computation runs for minutes or never ends), not speed: how
# fast inputs are parsed or refused is measured in bench/bench_parser.py.
HANG_SECONDS = 30  # a parse still running after this long has hung: the alarm stops it


@contextlib.contextmanager
def _no_hang(what: str) -> Iterator[None]:
    """Fail with a message if the block is still running after HANG_SECONDS (a hang, not speed).

    An alarm interrupts the block instead of a clock read afterwards, so a parse that never
    ends fails here rather than stalling the suite; speed itself is bench/bench_parser.py's."""

    def hung(signum: int, frame: object) -> None:
        raise AssertionError(f"{what}: still parsing after {HANG_SECONDS} s, a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


PEAK_BYTES = 16 * 2**20  # tracemalloc peak while refusing a bomb; measured well below 1 MiB
DECIMAL_TOLERANCE = 1e-15  # decimals are parsed exactly, so only float() rounding remains
WHERE = {"source": "xor.toml", "line": 7, "column": 12}

w1, w2, x1, x2, b1, y, a, z, x = sp.symbols("w1 w2 x1 x2 b1 y a z x")


def _refusal(text: str, **where: object) -> str:
    """Return the message of the ParseError that parse(text) raises; check it is one line."""
    with pytest.raises(ParseError) as caught:
        parse(text, **where)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, f"{text!r}: multi-line {message!r}"
    return message


# --- what it accepts ----------------------------------------------------------------------------

TEXTBOOK = [
    ("sigmoid(w1*x1 + w2*x2 + b1)", Sigmoid(w1 * x1 + w2 * x2 + b1)),
    ("0.5*(y - a)**2", sp.Rational(1, 2) * (y - a) ** 2),
    ("-x", -x),
    ("tanh(z)", Tanh(z)),
    ("relu(z)", Relu(z)),
    ("exp(-z)/(1+exp(-z))", sp.exp(-z) / (1 + sp.exp(-z))),
    ("softplus(z)", Softplus(z)),
    ("leaky_relu(z)", LeakyRelu(z)),
    ("log(a)", sp.log(a)),
    ("sqrt(z)", sp.sqrt(z)),
    ("step(z)", Step(z)),
    ("abs(y - a)", sp.Abs(y - a)),
    ("-(y*log(a) + (1 - y)*log(1 - a))", -(y * sp.log(a) + (1 - y) * sp.log(1 - a))),
    ("(h - y)**2 / 2", (sp.Symbol("h") - y) ** 2 / 2),
    ("+x - -y", x + y),
    ("x**-1", 1 / x),
    ("(x +\n y)", x + y),
    ("  x  ", x),
]


@pytest.mark.parametrize("text, expected", TEXTBOOK)
def test_textbook_forms_parse_to_the_same_sympy_objects(text, expected):
    got = parse(text)
    assert got == expected, f"{text!r}: expected {expected}, got {got}"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_registered_function_is_callable_by_its_name(name):
    entry = FUNCTIONS[name]
    args = sp.symbols(f"u1:{entry.arity + 1}")
    text = f"{name}({', '.join(str(arg) for arg in args)})"
    assert parse(text) == entry.sympy_form(*args), text


def test_a_decimal_is_the_exact_fraction_it_spells():
    value = parse("0.15")
    assert value == sp.Rational(3, 20)
    assert abs(float(value) - 0.15) < DECIMAL_TOLERANCE


@pytest.mark.parametrize(
    "text, expected",
    [
        ("12345678901234567890", sp.Integer(12345678901234567890)),
        ("9" * 30, sp.Integer(10**30 - 1)),
        ("1e-3", sp.Rational(1, 1000)),
        ("1_000.5", sp.Rational(2001, 2)),
        (".5", sp.Rational(1, 2)),
        ("2.", sp.Integer(2)),
        ("1E2", sp.Integer(100)),
        ("0x1F", sp.Integer(31)),
        ("0.0", sp.Integer(0)),
        ("2**10", sp.Integer(1024)),
        ("10**-3", sp.Rational(1, 1000)),
        ("2**100", sp.Integer(2**100)),
        ("1/3 + 1/6", sp.Rational(1, 2)),
    ],
)
def test_numbers_are_exact(text, expected):
    got = parse(text)
    assert got == expected, f"{text!r}: expected {expected}, got {got}"


def test_calls_are_evaluated_unless_their_argument_holds_a_call():
    assert parse("relu(2)") == 2
    assert parse("abs(-3)") == 3
    assert parse("tanh(-z)") == -Tanh(z)
    kept = parse("abs(abs(z))")  # SymPy itself would make it abs(z)
    assert isinstance(kept, sp.Abs) and kept.args == (sp.Abs(z),)


def test_symbols_mapping_supplies_the_very_symbol_objects():
    weight, inp = sp.Symbol("w1", real=True), sp.Symbol("x1", positive=True)
    got = parse("sigmoid(w1*x1 + b)", symbols={"w1": weight, "x1": inp})
    by_name = {symbol.name: symbol for symbol in got.free_symbols}
    assert by_name["w1"] is weight and by_name["x1"] is inp
    assert by_name["b"] == sp.Symbol("b")


def test_strict_mode_lists_the_known_names_and_suggests_the_closest():
    known = {name: sp.Symbol(name) for name in ["w1", "x1", "b"]}
    message = _refusal("x1 + w11", symbols=known, strict=True, **WHERE)
    assert message == ("xor.toml:7:17: unknown name 'w11'; known: b, w1, x1 (did you mean 'w1')")


def test_strict_mode_accepts_known_names():
    known = {name: sp.Symbol(name) for name in ["w1", "x1", "b"]}
    assert parse("w1*x1 + b", symbols=known, strict=True) == known["w1"] * known["x1"] + known["b"]


def test_a_symbols_value_that_is_not_a_symbol_is_refused():
    with pytest.raises(ParseError, match=r"symbols\['w'\] is a int, not a Symbol"):
        parse("w", symbols={"w": 3})  # type: ignore[dict-item]


def test_nested_functions_of_wide_sums_parse_without_hanging():
    with _no_hang("nested wide sums"):
        result = parse(NESTED_WIDE)
    assert isinstance(result, sp.Expr)
    assert result.has(Tanh) and len(result.free_symbols) == 200


# --- what it refuses, and where -----------------------------------------------------------------

REFUSED = [
    ("x.y", "attribute access is not allowed", 12),
    ("x + y.z", "attribute access is not allowed", 16),
    ("x[0]", "a subscript is not allowed", 12),
    ("lambda: 1", "a lambda is not allowed", 12),
    ("[x for x in y]", "a comprehension is not allowed", 12),
    ("{x: 1 for x in y}", "a comprehension is not allowed", 12),
    ("(x for x in y)", "a generator expression is not allowed", 12),
    ("sigmoid(z=1)", r"sigmoid\(\) takes positional arguments only", 12),
    ("sigmoid(*z)", r"sigmoid\(\) takes positional arguments only", 12),
    ("'text'", "a string is not allowed", 12),
    ("b'x'", "a bytes literal is not allowed", 12),
    ("x < 1", "a comparison is not allowed", 12),
    ("x and y", r"a boolean operator \(and/or\) is not allowed", 12),
    ("f'{x}'", "an f-string is not allowed", 12),
    ("(y := 2)", r"an assignment expression \(:=\) is not allowed", 13),
    ("x if y else z", "a conditional expression is not allowed", 12),
    ("[1, 2]", "a list is not allowed", 12),
    ("(1, 2)", "a tuple is not allowed", 12),
    ("{1}", "a set is not allowed", 12),
    ("{1: 2}", "a dict is not allowed", 12),
    ("True", "a boolean is not allowed", 12),
    ("None", "None is not allowed", 12),
    ("...", "Ellipsis is not allowed", 12),
    ("2j", "an imaginary number is not allowed", 12),
    ("sigmoid(x)(y)", "only known functions can be called, by plain name", 12),
    ("__import__", "name '__import__' starts with '_', which is reserved", 12),
    ("x + _private", "name '_private' starts with '_'", 16),
    ("x ^ 2", r"operator '\^' is not supported: 'x \^ 2'; use \*\* for powers", 12),
    ("x // 2", "operator '//' is not supported", 12),
    ("x % 2", "operator '%' is not supported", 12),
    ("x @ y", "operator '@' is not supported", 12),
    ("x & y", "operator '&' is not supported", 12),
    ("x | y", r"operator '\|' is not supported", 12),
    ("x << 1", "operator '<<' is not supported", 12),
    ("x >> 1", "operator '>>' is not supported", 12),
    ("not x", "operator 'not' is not allowed", 12),
    ("~x", "operator '~' is not allowed", 12),
    ("sigmoid + 1", "cannot use 'sigmoid' as a name: it is a function", 12),
    ("sigmod(x)", r"unknown function 'sigmod'; known: abs, .*\(did you mean 'sigmoid'\)$", 12),
    ("w1(x)", "unknown function 'w1'; known: ", 12),
    ("sigmoid(x, y)", r"sigmoid\(\) takes 1 argument\(s\) but 2 were given", 12),
    ("relu()", r"relu\(\) takes 1 argument\(s\) but 0 were given", 12),
    ("x + 1e999", "number '1e999' is not finite", 16),
    ("x/0", "division by zero: '0' is 0", 14),
    ("x/(1 - 1)", r"division by zero: '1 - 1' is 0", 15),
    ("log(0)", r"'log\(0\)' is infinite or undefined \(zoo\)", 12),
    ("0**-1", "is infinite or undefined", 12),
    ("1" * 31, "has more than 30 digits", 12),
    ("1e-40", "has more than 30 digits", 12),
    ("9" * 5_000, "a number has more than 30 digits; use a smaller number", 12),
    ("x+" * 4_999 + "x", "too long a chain or too deeply nested for Python's parser", 12),
    ("x**101", "exponent '101' is too large", 15),
    ("x**(1000*y)", r"exponent '1000\*y' is too large", 16),
    ("x**100 * x**100", "makes the power 'x\\*\\*200', whose exponent holds a numerator", 12),
    ("x**0.001", "exponent '0.001' is too large: numerators and denominators", 15),
    ("99**99", "power '99\\*\\*99' would need about 198 digits", 12),
    ("10**100 * 10", "would combine into one of about 101 digits", 12),
    ("2**sqrt(2)", "raises a number to an irrational power", 12),
    ("exp(exp(2))", r"exp\(\) of the constant 'exp\(2\)' is not supported", 16),
    ("exp(x + 10**29*log(2))", "holds log together with numbers beyond 100", 16),
    ("", "expression is empty", 12),
    ("  \n\t ", "expression is empty", 12),
    ("x +", "invalid syntax near", 12),
    ("x + (y", r"invalid syntax \('\(' was never closed\)", 16),
    ("x\0", "null bytes", 12),
]


@pytest.mark.parametrize("text, fragment, column", REFUSED)
def test_each_refused_construct_is_named_at_its_position(text, fragment, column):
    message = _refusal(text, **WHERE)
    assert message.startswith(f"xor.toml:7:{column}: "), message
    assert re.search(fragment, message), f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize(
    "text, prefix",
    [
        ("(x +\n  y.z)", "xor.toml:8:3: "),  # second line: columns count from 1 again
        ("\n  x.y", "xor.toml:8:3: "),  # leading blank line and indentation are skipped
        ("  x.y", "xor.toml:7:14: "),
        ("\tx.y", "xor.toml:7:13: "),
        ("α + x.y", "xor.toml:7:16: "),  # characters, not UTF-8 bytes
        ("(x +\r\n y.z)", "xor.toml:8:2: "),
    ],
)
def test_positions_count_lines_and_characters_from_the_given_start(text, prefix):
    assert _refusal(text, **WHERE).startswith(prefix)


def test_default_location_is_expr_line_1_column_1():
    assert _refusal("x.y").startswith("<expr>:1:1: attribute access")


def test_a_non_string_is_refused():
    with pytest.raises(ParseError, match="expected the expression as text, got int"):
        parse(3)  # type: ignore[arg-type]


# --- limits -------------------------------------------------------------------------------------


def test_limits_are_a_frozen_value_with_the_documented_defaults():
    assert LIMITS == Limits(10_000, 100, 2_000, 30, 100, 100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIMITS.max_length = 1  # type: ignore[misc]
    with pytest.raises(SymbackpropError, match="limit max_depth is 0; expected a positive"):
        Limits(max_depth=0)


@pytest.mark.parametrize(
    "accepted, refused, fragment",
    [
        ("-" * 99 + "x", "-" * 100 + "x", "nested more than 100 levels"),
        ("(" * 100 + "x" + ")" * 100, "(" * 101 + "x" + ")" * 101, "brackets are nested more"),
        ("x+" * 999 + "x", "x+" * 1000 + "x", "more than 2000 parts"),
        ("9" * 30, "9" * 31, "more than 30 digits"),
        ("x**100", "x**101", "exponent '101' is too large"),
        ("x**-100", "x**-101", "exponent '-101' is too large"),
        ("10**100", "10**100*10", "would combine into one of about 101 digits"),
        ("x" * 10_000, "x" * 10_001, "10001 characters long; at most 10000"),
    ],
)
def test_each_limit_accepts_its_bound_and_refuses_one_more(accepted, refused, fragment):
    assert isinstance(parse(accepted), sp.Expr)
    assert fragment in _refusal(refused)


def test_a_long_flat_sum_is_one_level_deep():
    terms = [f"w{k}*x{k}" for k in range(400)]
    got = parse(" + ".join(terms))
    assert len(got.args) == 400


# --- parse_assignment ---------------------------------------------------------------------------


def test_an_assignment_gives_its_symbol_and_expression():
    h, value = parse_assignment("h = sigmoid(w1*x1 + b1)")
    assert h == sp.Symbol("h") and value == Sigmoid(w1 * x1 + b1)


def test_an_assignment_reuses_the_given_symbols_and_may_define_a_new_name_when_strict():
    known = {name: sp.Symbol(name) for name in ["w1", "x1", "b1", "h"]}
    h, value = parse_assignment("h = w1*x1 + b1", symbols=known, strict=True)
    assert h is known["h"] and value == w1 * x1 + b1
    g, _ = parse_assignment("g = 2*h", symbols=known, strict=True)
    assert g == sp.Symbol("g")
    with pytest.raises(ParseError, match=r"^<expr>:1:5: unknown name 'w3'"):
        parse_assignment("h = w3", symbols=known, strict=True)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("h == 1", "expected exactly one assignment NAME = expression, got 'h == 1'"),
        ("a = b = c", "got 'a = b = c'"),
        ("x[0] = 1", "got 'x[0] = 1'"),
        ("h: int = 1", "got 'h: int = 1'"),
        ("h += 1", "got 'h += 1'"),
        ("h = 1; g = 2", "got 2 statements"),
        ("import os", "got 'import os'"),
        ("# only a comment", "got 0 statements"),
        ("sigmoid = x", "cannot assign to 'sigmoid' as a name: it is a function"),
        ("_h = 1", "name '_h' starts with '_'"),
        ("h = x.y", "attribute access is not allowed"),
        ("h = ", "invalid syntax"),
        ("", "expression is empty"),
    ],
)
def test_anything_but_one_plain_assignment_is_refused(text, fragment):
    with pytest.raises(ParseError) as caught:
        parse_assignment(text, source="net.toml", line=3, column=5)
    message = str(caught.value)
    assert message.startswith("net.toml:3:") and fragment in message, message


def test_an_assignment_error_points_into_the_value():
    with pytest.raises(ParseError, match=r"^s\.toml:3:9: attribute access"):
        parse_assignment("h = x.y", source="s.toml", line=3, column=5)


# --- hostile text -------------------------------------------------------------------------------

PAYLOADS = [
    "__import__('os').system('touch {marker}')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('{marker}', 'w')",
    "(lambda: open('{marker}', 'w'))()",
    "[open('{marker}', 'w') for _ in (1,)]",
    "eval(\"open('{marker}', 'w')\")",
    "exec(\"open('{marker}', 'w')\")",
    "compile(\"open('{marker}', 'w')\", 'f', 'exec')",
    "getattr(x, '__class__')",
    "x.__class__",
    "sigmoid.__globals__",
    "__builtins__",
    "f\"{{open('{marker}', 'w')}}\"",
    "sigmoid(open('{marker}', 'w'))",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_code_injection_is_refused_and_never_runs(payload, tmp_path):
    marker = tmp_path / "MARKER"
    text = payload.format(marker=marker.as_posix())
    with pytest.raises(ParseError):
        parse(text)
    with pytest.raises(ParseError):
        parse_assignment(f"h = {text}")
    assert not marker.exists(), f"{text!r} ran"


def test_text_is_compiled_only_into_a_syntax_tree(monkeypatch):
    real_compile = builtins.compile
    flags_seen = []

    def compile_to_ast_only(source, filename, mode, flags=0, *args, **kwargs):
        flags_seen.append(flags)
        assert flags & ast.PyCF_ONLY_AST, "user text compiled to code"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", compile_to_ast_only)
    parse("sigmoid(w1*x1 + b1)")
    parse_assignment("h = tanh(z)")
    assert len(flags_seen) == 2


PARSER = Path(__file__).resolve().parents[2] / "symbackprop" / "model" / "parsing"


@pytest.mark.parametrize("module", sorted(p.name for p in PARSER.glob("*.py")))
def test_the_parser_modules_call_no_evaluator(module):
    source = PARSER / module
    named, attributes = set(), set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            named.add(node.func.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attributes.add(node.func.attr)
    evaluators = {"eval", "exec", "sympify", "parse_expr", "S", "__import__"}
    assert not named & (evaluators | {"compile"}), sorted(named & (evaluators | {"compile"}))
    assert not attributes & evaluators, sorted(attributes & evaluators)  # re.compile is fine


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_without_hanging(name):
    text = BOMBS[name]
    with _no_hang(name), pytest.raises(ParseError):
        parse(text)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_in_little_memory(name):
    text = BOMBS[name]  # built before tracing: the text itself is not counted
    tracemalloc.start()
    try:
        with pytest.raises(ParseError):
            parse(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{name}: peak {peak / 2**20:.1f} MiB"


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_a_deep_caller_stack_gets_a_parse_error_not_a_recursion_error():
    text = "sigmoid(" * 99 + "x" + ")" * 99  # fine from a shallow stack

    def nested(levels: int) -> sp.Expr:
        return nested(levels - 1) if levels else parse(text)

    assert isinstance(parse(text), sp.Expr)
    spare = 150  # frames left to parse: fewer than 99 nested calls need
    with pytest.raises(ParseError, match="nested too deeply for the Python stack"):
        nested(sys.getrecursionlimit() - _stack_depth() - spare)


# --- fuzzing ------------------------------------------------------------------------------------

SEEDS = [text for text, _ in TEXTBOOK] + ["x**(10**10)", "h = sigmoid(w1*x1 + b)", "2**2**2"]
PIECES = list("()+-*/.,^_=[]{}'\"\\#:;@%~<>!0123456789eEjxyz \n\t\0é") + [
    "**", "10**", "9", "exp(", "log(", "tanh(", "__", "lambda", " if ", "1e999", "sqrt(", ")",
]  # fmt: skip


@st.composite
def mutated_expressions(draw: st.DrawFn) -> str:
    """Draw a valid expression and insert, delete or replace a few characters or tokens."""
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
            text = text[:index] + piece + text[index + 1 :]
    return text


def _parse_or_refuse(text: str) -> None:
    """Every input gives an Expr or a one-line located ParseError, without hanging."""
    with _no_hang(repr(text)):
        for parser in (parse, parse_assignment):
            try:
                result = parser(text)
            except ParseError as error:
                message = str(error)
                assert message.startswith("<expr>:") and "\n" not in message, repr(message)
            else:
                value = result[1] if isinstance(result, tuple) else result
                assert isinstance(value, sp.Expr), f"{text!r} gave {type(value).__name__}"


FUZZ = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_random_text_gives_an_expression_or_a_parse_error(text):
    _parse_or_refuse(text)


@FUZZ
@given(mutated_expressions())
def test_mutated_expressions_give_an_expression_or_a_parse_error(text):
    _parse_or_refuse(text)


@FUZZ
@given(st.from_regex(r"[-+*/() 0-9.exyz]{1,60}", fullmatch=True))
def test_arithmetic_soup_gives_an_expression_or_a_parse_error(text):
    _parse_or_refuse(text)
