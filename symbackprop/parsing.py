"""Safe expression parser: user text -> SymPy through an AST whitelist (model layer).

The only way user text becomes SymPy. ``ast.parse`` reads the text (it parses, never runs
it) and a whitelist walks the tree, building SymPy objects directly: numbers, names (each a
``sp.Symbol``), ``+ - * / **``, unary ``-``/``+`` and calls of the functions registered in
:data:`symbackprop.functions.FUNCTIONS`, by plain name and with positional arguments. No eval,
exec, compile, ``sympify``, ``parse_expr`` or ``S(text)`` ever sees the text. Every name is a
symbol: ``E`` is not Euler's number (write ``exp(1)``) and there is no ``pi``.

Decimals are exact: ``0.15`` becomes ``Rational(3, 20)``, so ``0.5*(y - a)**2`` derives to
``a - y``, not ``1.0*a - 1.0*y``. A call whose argument holds another call is kept as written
(``abs(abs(z))`` stays nested): SymPy's rewriting of f(g(...)) asks questions about g that
can take minutes (see :func:`~symbackprop.parsing_limits.unevaluated`).

Every input is answered quickly and in bounded memory, or refused with a located
``ParseError``. The bounds are in :data:`LIMITS`, enforced by :mod:`symbackprop.parsing_limits`:
length and bracket depth are checked before ``ast.parse``, size and depth of the tree before
anything is built, and before each power, product or call what SymPy could compute from it.

One cost is SymPy's own and is not bounded here: with plain (complex) symbols, asking whether
``tanh(s)`` is real expands ``s`` (0.5 s for a 20-term sum, seconds beyond), and arithmetic
such as ``1/(1 - tanh(s)**2)`` asks it.
"""

from __future__ import annotations

import ast
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symbackprop.errors import ParseError, shorten, unknown_name
from symbackprop.functions import FUNCTIONS
from symbackprop.parsing_limits import (
    LIMITS,
    Limits,
    NumberBounds,
    chain_family,
    check_brackets,
    check_length,
    check_tree_size,
    unevaluated,
)

__all__ = ["LIMITS", "Limits", "parse", "parse_assignment"]


_HINT = "expected an expression such as 'sigmoid(w1*x1 + b1)'"
_ALLOWED = "an expression may use numbers, names, + - * / ** and calls such as sigmoid(z)"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line breaks of Python's tokenizer
_LEADING_SPACE = " \t\f\r\n"  # stripped: ast.parse rejects indented text
_OPERATORS: dict[type[ast.operator], tuple[str, str]] = {
    ast.BitXor: ("^", "use ** for powers"),
    ast.FloorDiv: ("//", "use / for division"),
    ast.Mod: ("%", "write the expression without remainders"),
    ast.MatMult: ("@", "write the products out with *"),
    ast.BitAnd: ("&", "use * and + instead"),
    ast.BitOr: ("|", "use * and + instead"),
    ast.LShift: ("<<", "use * 2**n instead"),
    ast.RShift: (">>", "use / 2**n instead"),
}
_CONSTRUCTS = {
    "Attribute": "attribute access", "Subscript": "a subscript", "Slice": "a slice",
    "Lambda": "a lambda", "ListComp": "a comprehension", "SetComp": "a comprehension",
    "DictComp": "a comprehension", "GeneratorExp": "a generator expression",
    "Compare": "a comparison", "BoolOp": "a boolean operator (and/or)",
    "IfExp": "a conditional expression", "NamedExpr": "an assignment expression (:=)",
    "JoinedStr": "an f-string", "FormattedValue": "an f-string", "List": "a list",
    "Tuple": "a tuple", "Set": "a set", "Dict": "a dict", "Starred": "a starred expression",
    "Await": "await", "Yield": "yield", "YieldFrom": "yield",
}  # fmt: skip


def parse(
    text: str,
    *,
    symbols: Mapping[str, sp.Symbol] | None = None,
    strict: bool = False,
    source: str = "<expr>",
    line: int = 1,
    column: int = 1,
) -> sp.Expr:
    """Turn user text such as ``sigmoid(w1*x1 + b)`` into a SymPy expression, never running it.

    ``symbols`` maps known names to the Symbol objects to use; with ``strict`` any other name
    is an error. ``source``, ``line`` and ``column`` say where the text starts (e.g. inside a
    TOML file), so that every ``ParseError`` starts with ``source:line:col: ``.
    """
    body, locator = _prepare(text, source, line, column)
    tree = _parse_tree(body, "eval", locator)
    assert isinstance(tree, ast.Expression)  # mode="eval" always yields one
    return _Builder(locator, symbols, strict).build_checked(tree.body)


def parse_assignment(
    text: str,
    *,
    symbols: Mapping[str, sp.Symbol] | None = None,
    strict: bool = False,
    source: str = "<expr>",
    line: int = 1,
    column: int = 1,
) -> tuple[sp.Symbol, sp.Expr]:
    """Turn ``NAME = expression`` (e.g. ``h = sigmoid(w1*x1 + b)``) into (Symbol, Expr).

    The target may be a new name even with ``strict``; the arguments are those of :func:`parse`.
    """
    body, locator = _prepare(text, source, line, column)
    tree = _parse_tree(body, "exec", locator)
    statement = _single_assignment(tree, locator)
    builder = _Builder(locator, symbols, strict)
    target = builder.target(statement.targets[0])
    return target, builder.build_checked(statement.value)


# --- locating -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Locator:
    """Turn positions in the parsed text into ``source:line:col: `` of the caller's file."""

    source: str
    line: int
    column: int
    lines: tuple[bytes, ...]  # the parsed body, UTF-8, as ast counts columns in bytes
    skipped_lines: int  # line breaks in the leading whitespace stripped before parsing
    skipped_columns: int  # characters after the last of them

    def prefix(self, lineno: int = 1, char_col: int = 0) -> str:
        """Return the prefix for a 1-based body line and a 0-based character column."""
        text_line = lineno + self.skipped_lines
        text_col = char_col + (self.skipped_columns if lineno == 1 else 0)
        col = self.column + text_col if text_line == 1 else text_col + 1
        return f"{self.source}:{self.line + text_line - 1}:{col}: "

    def prefix_at(self, body: str, index: int) -> str:
        """Return the prefix for a character index into the parsed body."""
        before = _LINE_BREAK.split(body[:index])
        return self.prefix(len(before), len(before[-1]))

    def at(self, node: ast.AST) -> str:
        """Return the prefix for an AST node."""
        lineno = getattr(node, "lineno", 1)
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else b""
        head = line[: getattr(node, "col_offset", 0)]
        return self.prefix(lineno, len(head.decode("utf-8", "ignore")))

    def segment(self, node: ast.AST) -> str:
        """Return the source text of a node, shortened for a message."""
        start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", None)
        if not start or end is None or end > len(self.lines):
            return type(node).__name__
        first, last = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", 0)
        if start == end:
            return self.lines[start - 1][first:last].decode("utf-8", "replace")
        parts = [self.lines[start - 1][first:], *self.lines[start : end - 1]]
        parts.append(self.lines[end - 1][:last])
        return b" ".join(parts).decode("utf-8", "replace")

    def quote(self, node: ast.AST) -> str:
        """Return the source text of a node, shortened and quoted for a message."""
        return repr(shorten(self.segment(node)))

    def error(self, node: ast.AST, message: str) -> ParseError:
        """Return a ParseError located at a node, its message on one line."""
        return ParseError(self.at(node) + " ".join(message.split()))


def _prepare(text: object, source: str, line: int, column: int) -> tuple[str, _Locator]:
    """Check type, length, emptiness and bracket depth; strip leading whitespace."""
    start = f"{source}:{line}:{column}: "
    if not isinstance(text, str):
        raise ParseError(
            f"{start}expected the expression as text, got {type(text).__name__}; pass a str"
        )
    check_length(text, start)
    body = text.lstrip(_LEADING_SPACE)
    skipped = _LINE_BREAK.split(text[: len(text) - len(body)])
    lines = tuple(part.encode("utf-8", "surrogatepass") for part in _LINE_BREAK.split(body))
    locator = _Locator(source, line, column, lines, len(skipped) - 1, len(skipped[-1]))
    if not body.strip():
        raise ParseError(f"{start}expression is empty; {_HINT}; write the formula")
    check_brackets(body, locator)
    return body, locator


def _parse_tree(body: str, mode: str, locator: _Locator) -> ast.AST:
    """Parse (never run) the text; turn every failure of Python's parser into a ParseError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "1if": not the user's concern
            return ast.parse(body, mode=mode)
    except SyntaxError as exc:
        char_col = max((exc.offset or 1) - 1, 0)
        near = (exc.text or "")[char_col : char_col + 20]
        where = locator.prefix(exc.lineno or 1, char_col)
        message = " ".join(str(exc.msg).split())
        if "integer string conversion" in message:  # Python's own limit of 4300 digits
            raise ParseError(
                f"{where}a number has more than {LIMITS.max_integer_digits} digits; use a "
                "smaller number or rescale the variables"
            ) from None
        detail = "" if message == "invalid syntax" else f" ({message})"
        raise ParseError(
            f"{where}invalid syntax{detail} near {shorten(near)!r}; {_HINT}; check brackets, "
            "operators and commas"
        ) from None
    except (RecursionError, MemoryError):  # the parser's own stack limit, not a real OOM
        raise ParseError(
            f"{locator.prefix()}expression is too long a chain or too deeply nested for "
            "Python's parser; split it into named intermediate steps"
        ) from None
    except ValueError as exc:  # NUL bytes, unpaired surrogates
        raise ParseError(
            f"{locator.prefix()}text cannot be parsed ({shorten(str(exc))}); remove control "
            "characters and invalid Unicode"
        ) from None


def _single_assignment(tree: ast.AST, locator: _Locator) -> ast.Assign:
    """Return the one ``NAME = expression`` statement of the text, or refuse it."""
    assert isinstance(tree, ast.Module)  # mode="exec" always yields one
    statements = tree.body
    statement = statements[0] if statements else None
    if len(statements) == 1 and isinstance(statement, ast.Assign):
        if len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            return statement
    where = locator.at(statement) if statement is not None else locator.prefix()
    if len(statements) == 1:
        got = repr(shorten(locator.segment(statements[0])))
    else:
        got = f"{len(statements)} statements"
    raise ParseError(
        f"{where}expected exactly one assignment NAME = expression, got {got}; "
        "write e.g. 'h = sigmoid(w1*x1 + b1)'"
    )


# --- building -------------------------------------------------------------------------------------


class _Builder:
    """Build SymPy from a checked tree: one ``_build_<Node>`` method per allowed construct."""

    def __init__(
        self, locator: _Locator, symbols: Mapping[str, sp.Symbol] | None, strict: bool
    ) -> None:
        self._locator = locator
        self._symbols = dict(symbols or {})
        self._strict = strict
        self._bounds = NumberBounds(locator)
        for name, symbol in self._symbols.items():
            if not isinstance(symbol, sp.Symbol):
                raise ParseError(
                    f"{locator.prefix()}symbols[{shorten(str(name))!r}] is a "
                    f"{type(symbol).__name__}, not a Symbol; map each name to sp.Symbol(name)"
                )

    def build_checked(self, node: ast.AST) -> sp.Expr:
        """Check the size of a tree, then build it."""
        check_tree_size(node, self._locator)
        try:
            value = self.build(node)
        except RecursionError:  # max_depth levels fit, unless the caller's stack is already deep
            raise ParseError(
                f"{self._locator.at(node)}expression is nested too deeply for the Python stack "
                "left here; split it into named intermediate steps"
            ) from None
        if not isinstance(value, sp.Expr):
            raise self._locator.error(
                node, f"{self._locator.quote(node)} is not an expression; {_HINT}"
            )
        return value

    def build(self, node: ast.AST) -> sp.Basic:
        """Build one node through its whitelisted method, then check the value SymPy made."""
        method = getattr(self, f"_build_{type(node).__name__}", None)
        if method is None:
            what = _CONSTRUCTS.get(type(node).__name__, f"'{type(node).__name__}'")
            raise self._locator.error(
                node, f"{what} is not allowed: {self._locator.quote(node)}; {_ALLOWED}; remove it"
            )
        value: sp.Basic = method(node)
        self._bounds.check_value(value, node)
        return value

    def target(self, node: ast.expr) -> sp.Symbol:
        """Return the Symbol an assignment defines (a new name is fine even when strict)."""
        assert isinstance(node, ast.Name)  # _single_assignment checked it
        self._check_name(node, "assign to")
        return self._symbols[node.id] if node.id in self._symbols else sp.Symbol(node.id)

    # -- leaves --

    def _build_Constant(self, node: ast.Constant) -> sp.Expr:  # noqa: N802 (ast class name)
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = {bool: "a boolean", str: "a string", bytes: "a bytes literal"}.get(
                type(value), "an imaginary number" if isinstance(value, complex) else repr(value)
            )
            raise self._locator.error(
                node, f"{kind} is not allowed: {self._locator.quote(node)}; {_ALLOWED}"
            )
        return self._bounds.literal(node, value)

    def _build_Name(self, node: ast.Name) -> sp.Symbol:  # noqa: N802 (ast class name)
        self._check_name(node, "use")
        if node.id in self._symbols:
            return self._symbols[node.id]
        if self._strict:
            problem = unknown_name("name", node.id, self._symbols)
            raise self._locator.error(node, str(problem))
        return sp.Symbol(node.id)

    def _check_name(self, node: ast.Name, verb: str) -> None:
        if node.id.startswith("_"):
            raise self._locator.error(
                node,
                f"name {node.id!r} starts with '_', which is reserved; use a name that "
                "starts with a letter, e.g. w1",
            )
        if node.id in FUNCTIONS:
            raise self._locator.error(
                node,
                f"cannot {verb} {node.id!r} as a name: it is a function; call it, e.g. "
                f"{node.id}(z), or choose another name",
            )

    # -- operators --

    def _build_UnaryOp(self, node: ast.UnaryOp) -> sp.Basic:  # noqa: N802 (ast class name)
        if isinstance(node.op, ast.USub):
            return self._sympy(node, operator.neg, self.build(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        sign = "not" if isinstance(node.op, ast.Not) else "~"
        raise self._locator.error(
            node, f"operator {sign!r} is not allowed: {self._locator.quote(node)}; {_ALLOWED}"
        )

    def _build_BinOp(self, node: ast.BinOp) -> sp.Basic:  # noqa: N802 (ast class name)
        family = chain_family(node)
        if family is not None:
            return self._chain(node, family)
        if isinstance(node.op, ast.Pow):
            return self._power(node)
        sign, fix = _OPERATORS.get(type(node.op), (type(node.op).__name__, "remove it"))
        raise self._locator.error(
            node, f"operator {sign!r} is not supported: {self._locator.quote(node)}; {fix}"
        )

    def _chain(self, node: ast.BinOp, family: str) -> sp.Basic:
        """Build a+b-c... or a*b/c... in one SymPy call, walking the left spine iteratively."""
        links: list[tuple[ast.operator, ast.expr]] = []
        first: ast.expr = node
        while isinstance(first, ast.BinOp) and chain_family(first) == family:
            links.append((first.op, first.right))
            first = first.left
        parts = [self.build(first)]
        for op, operand in reversed(links):
            value = self.build(operand)
            if isinstance(op, ast.Sub):
                value = self._sympy(operand, operator.neg, value)
            elif isinstance(op, ast.Div):
                if value == 0:
                    raise self._locator.error(
                        operand,
                        f"division by zero: {self._locator.quote(operand)} is 0; divide by a "
                        "nonzero expression",
                    )
                value = self._sympy(operand, sp.Pow, value, sp.S.NegativeOne)
            parts.append(value)
        self._bounds.check_chain(node, parts, family)
        return self._sympy(node, sp.Add if family == "sum" else sp.Mul, *parts)

    def _power(self, node: ast.BinOp) -> sp.Basic:
        """Build base**exponent once its size is known to be small."""
        base, exponent = self.build(node.left), self.build(node.right)
        self._bounds.check_power(node, base, exponent)
        return self._sympy(node, sp.Pow, base, exponent)

    # -- calls --

    def _build_Call(self, node: ast.Call) -> sp.Basic:  # noqa: N802 (ast class name)
        if not isinstance(node.func, ast.Name):
            raise self._locator.error(
                node,
                f"only known functions can be called, by plain name: {self._locator.quote(node)}; "
                "write e.g. sigmoid(z)",
            )
        name = node.func.id
        if name.startswith("_"):
            self._check_name(node.func, "call")
        if name not in FUNCTIONS:
            raise self._locator.error(node, str(unknown_name("function", name, FUNCTIONS)))
        entry = FUNCTIONS[name]
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self._locator.error(
                node,
                f"{name}() takes positional arguments only: {self._locator.quote(node)}; "
                f"write e.g. {name}(z)",
            )
        if len(node.args) != entry.arity:
            raise self._locator.error(
                node,
                f"{name}() takes {entry.arity} argument(s) but {len(node.args)} were "
                f"given: {self._locator.quote(node)}; write e.g. {name}(z)",
            )
        args = []
        for arg in node.args:  # a loop, not a comprehension: one stack frame less per level
            args.append(self._argument(name, arg))
        if any(self._bounds.size(arg).has_call for arg in args):
            return self._sympy(node, unevaluated, entry.sympy_form, *args)
        return self._sympy(node, entry.sympy_form, *args)

    def _argument(self, name: str, node: ast.expr) -> sp.Basic:
        """Build one argument; refuse constants SymPy would evaluate into something huge."""
        value = self.build(node)
        self._bounds.check_argument(name, node, value)
        return value

    # -- checks --

    def _sympy(self, node: ast.AST, build: Callable[..., Any], *args: Any) -> sp.Basic:
        """Call SymPy; its failures on pathological numbers become ParseErrors."""
        try:
            value: sp.Basic = build(*args)
        except RecursionError:  # not SymPy's fault: build_checked reports the depth
            raise
        except Exception as exc:  # SymPy raises many kinds (OverflowError, ValueError, ...)
            raise self._locator.error(
                node,
                f"SymPy could not build {self._locator.quote(node)} ({type(exc).__name__}); "
                "simplify its numbers",
            ) from exc
        return value
