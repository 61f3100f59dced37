"""Safe expression parser: user text -> SymPy through an AST whitelist (model layer).

The only way user text becomes SymPy. ``ast.parse`` reads the text (it parses, never runs it)
and a whitelist walks the tree, building SymPy objects directly: numbers, names (each a
``sp.Symbol``), ``+ - * / **``, unary ``-``/``+`` and calls of the functions registered in
:data:`symbackprop.model.functions.FUNCTIONS`, by plain name and with positional arguments. No
eval, exec, compile, ``sympify``, ``parse_expr`` or ``S(text)`` ever sees the text. Every name
is a symbol: ``E`` is not Euler's number (write ``exp(1)``) and there is no ``pi``.

Decimals are exact: ``0.15`` becomes ``Rational(3, 20)``, so ``0.5*(y - a)**2`` derives to
``a - y``, not ``1.0*a - 1.0*y``. A call whose argument holds another call is kept as written
(``abs(abs(z))`` stays nested): SymPy's rewriting of f(g(...)) asks questions about g that
can take minutes (see :func:`~symbackprop.model.parsing.limits.unevaluated`).

Every input is answered quickly and in bounded memory, or refused with a located ``ParseError``.
The bounds are in :data:`LIMITS`, enforced by :mod:`symbackprop.model.parsing.limits`: length
and bracket depth are checked before ``ast.parse``, size and depth of the tree before anything
is built, and before each power, product or call what SymPy could compute from it.

One cost is SymPy's own and is not bounded here: with plain (complex) symbols, asking whether
``tanh(s)`` is real expands ``s`` (0.5 s for a 20-term sum, seconds beyond), and arithmetic
such as ``1/(1 - tanh(s)**2)`` asks it.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symbackprop.model.errors import ParseError, shorten
from symbackprop.model.parsing.builder import EXPRESSION_HINT, Builder
from symbackprop.model.parsing.limits import (
    LIMITS,
    Limits,
    check_brackets,
    check_length,
)

__all__ = ["LIMITS", "Limits", "parse", "parse_assignment"]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line breaks of Python's tokenizer
_LEADING_SPACE = " \t\f\r\n"  # stripped: ast.parse rejects indented text


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
    return Builder(locator, symbols, strict).build_checked(tree.body)


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
    builder = Builder(locator, symbols, strict)
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
        raise ParseError(f"{start}expression is empty; {EXPRESSION_HINT}; write the formula")
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
            f"{where}invalid syntax{detail} near {shorten(near)!r}; {EXPRESSION_HINT}; "
            "check brackets, operators and commas"
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
