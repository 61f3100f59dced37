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
can take minutes (see ``_unevaluated``).

Every input is answered quickly and in bounded memory, or refused with a located
``ParseError``. The bounds are in :data:`LIMITS`; length and bracket depth are checked before
``ast.parse``, size and depth of the tree before anything is built. SymPy evaluates numbers
eagerly (``2**100000`` is computed on construction, ``exp(c*log(2))`` becomes ``2**c``), so
before each power, product or call the parser bounds what SymPy could compute:

- numerators and denominators inside an exponent are at most ``max_exponent``: SymPy's work
  for b**(p/q) grows with p and q, not with p/q (``2**(1e-29)`` would never finish);
- a power of a constant needs a rational exponent (or a symbolic one) and is estimated first:
  digits(base) * max(|p|, q) must stay within ``max_number_digits``, and so must the numbers
  a product merges (``sqrt(2)*sqrt(3)`` becomes ``sqrt(6)``);
- a constant argument of a function must be a plain rational (``exp(2)``, not
  ``exp(exp(2))``), and an argument holding ``log`` obeys the exponent bound;
- after each step, every rational has at most ``max_number_digits`` digits, every exponent
  obeys the exponent bound and nothing is infinite or undefined (``x/0``, ``log(0)``).

One cost is SymPy's own and is not bounded here: with plain (complex) symbols, asking whether
``tanh(s)`` is real expands ``s`` (0.5 s for a 20-term sum, seconds beyond), and arithmetic
such as ``1/(1 - tanh(s)**2)`` asks it.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import sympy as sp

from symbackprop.errors import ParseError, SymbackpropError, shorten, unknown_name
from symbackprop.functions import FUNCTIONS


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep parsing fast and small whatever the text is."""

    max_length: int = 10_000  # characters; checked before anything else
    max_depth: int = 100  # nesting levels (brackets, calls, powers, unary signs)
    max_nodes: int = 2_000  # numbers, names, operators and calls in the tree
    max_integer_digits: int = 30  # digits of a number written in the text
    max_exponent: int = 100  # largest numerator or denominator inside an exponent
    max_number_digits: int = 100  # digits of any number the parser computes

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise SymbackpropError(
                    f"limit {field.name} is {value!r}; expected a positive integer; fix Limits"
                )


LIMITS = Limits()

_HINT = "expected an expression such as 'sigmoid(w1*x1 + b1)'"
_ALLOWED = "an expression may use numbers, names, + - * / ** and calls such as sigmoid(z)"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line breaks of Python's tokenizer
_LEADING_SPACE = " \t\f\r\n"  # stripped: ast.parse rejects indented text
_DECIMAL = re.compile(r"(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_NON_FINITE = (sp.S.ComplexInfinity, sp.S.NaN, sp.S.Infinity, sp.S.NegativeInfinity)
_UNCOUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_CHAIN: dict[type[ast.operator], str] = {
    ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product"
}  # fmt: skip
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


# --- locating -----------------------------------------------------------------------------------


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


def _prepare(text: object, source: str, line: int, column: int) -> tuple[str, _Locator]:
    """Check type, length, emptiness and bracket depth; strip leading whitespace."""
    start = f"{source}:{line}:{column}: "
    if not isinstance(text, str):
        raise ParseError(
            f"{start}expected the expression as text, got {type(text).__name__}; pass a str"
        )
    if len(text) > LIMITS.max_length:
        raise ParseError(
            f"{start}expression is {len(text)} characters long; at most {LIMITS.max_length} "
            "are allowed; split it into named intermediate steps"
        )
    body = text.lstrip(_LEADING_SPACE)
    skipped = _LINE_BREAK.split(text[: len(text) - len(body)])
    lines = tuple(part.encode("utf-8", "surrogatepass") for part in _LINE_BREAK.split(body))
    locator = _Locator(source, line, column, lines, len(skipped) - 1, len(skipped[-1]))
    if not body.strip():
        raise ParseError(f"{start}expression is empty; {_HINT}; write the formula")
    _check_brackets(body, locator)
    return body, locator


def _check_brackets(body: str, locator: _Locator) -> None:
    """Refuse deep brackets before ast.parse, whose own limit gives a poorer message."""
    depth = 0
    for index, char in enumerate(body):
        if char in "([{":
            depth += 1
            if depth > LIMITS.max_depth:
                before = _LINE_BREAK.split(body[:index])
                raise ParseError(
                    f"{locator.prefix(len(before), len(before[-1]))}brackets are nested more "
                    f"than {LIMITS.max_depth} deep; split the expression into named steps"
                )
        elif char in ")]}":
            depth -= 1


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


def _family(node: ast.AST) -> str | None:
    """Return "sum" or "product" for a BinOp that continues a chain, else None."""
    return _CHAIN.get(type(node.op)) if isinstance(node, ast.BinOp) else None


def _check_size(root: ast.AST, locator: _Locator) -> None:
    """Count nodes and nesting without recursion; a+b+c+... is one level, not a deep tree."""
    stack = [(root, 1, root)]
    count = 0
    while stack:
        node, depth, place = stack.pop()
        place = node if hasattr(node, "lineno") else place
        count += 1
        if count > LIMITS.max_nodes:
            raise ParseError(
                f"{locator.at(root)}expression has more than {LIMITS.max_nodes} parts (numbers, "
                "names, operators, calls); split it into named intermediate steps"
            )
        if depth > LIMITS.max_depth:
            raise ParseError(
                f"{locator.at(place)}expression is nested more than {LIMITS.max_depth} levels "
                "deep here; split it into named intermediate steps"
            )
        family = _family(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _UNCOUNTED):
                chained = isinstance(node, ast.BinOp) and child is node.left
                same = chained and family is not None and _family(child) == family
                stack.append((child, depth if same else depth + 1, place))


# --- sizes of SymPy values ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Size:
    """What a SymPy value could cost if SymPy combined or evaluated it further."""

    constant: bool  # holds no symbol
    digits: float  # decimal digits an exact evaluation of it could need
    largest: float  # log10 of the largest numerator or denominator inside (-inf: none)
    has_log: bool  # holds a logarithm (exp(c*log(b)) becomes b**c)
    has_call: bool  # holds a function call


def _log10(n: int) -> float:
    return math.log10(abs(n)) if n else 0.0


def _measure(expr: sp.Basic, args: list[_Size]) -> _Size:
    """Return the size of one value from the sizes of its arguments."""
    if isinstance(expr, sp.Rational):
        digits = max(_log10(expr.p), _log10(expr.q))
        return _Size(True, digits, digits, False, False)
    if not args:
        constant = bool(expr.is_number)  # E, I, pi, zoo: constant; symbols: not
        return _Size(constant, 0.5 if constant else 0.0, -math.inf, False, False)
    has_log = isinstance(expr, sp.log) or any(size.has_log for size in args)
    has_call = isinstance(expr, sp.Function) or any(size.has_call for size in args)
    largest = max(size.largest for size in args)
    if isinstance(expr, sp.Pow):
        digits = args[0].digits * max(1.0, 10.0 ** min(args[1].largest, 300.0))
    else:
        digits = sum(size.digits for size in args)
    return _Size(all(size.constant for size in args), digits, largest, has_log, has_call)


# --- building -----------------------------------------------------------------------------------


class _Builder:
    """Build SymPy from a checked tree: one ``_build_<Node>`` method per allowed construct."""

    def __init__(
        self, locator: _Locator, symbols: Mapping[str, sp.Symbol] | None, strict: bool
    ) -> None:
        self._locator = locator
        self._symbols = dict(symbols or {})
        self._strict = strict
        self._sizes: dict[sp.Basic, _Size] = {}
        self._checked: set[sp.Basic] = set()
        for name, symbol in self._symbols.items():
            if not isinstance(symbol, sp.Symbol):
                raise ParseError(
                    f"{locator.prefix()}symbols[{shorten(str(name))!r}] is a "
                    f"{type(symbol).__name__}, not a Symbol; map each name to sp.Symbol(name)"
                )

    def build_checked(self, node: ast.AST) -> sp.Expr:
        """Check the size of a tree, then build it."""
        _check_size(node, self._locator)
        try:
            value = self.build(node)
        except RecursionError:  # max_depth levels fit, unless the caller's stack is already deep
            raise ParseError(
                f"{self._locator.at(node)}expression is nested too deeply for the Python stack "
                "left here; split it into named intermediate steps"
            ) from None
        if not isinstance(value, sp.Expr):
            raise self._error(node, f"{self._quote(node)} is not an expression; {_HINT}")
        return value

    def build(self, node: ast.AST) -> sp.Basic:
        """Build one node through its whitelisted method, then check the value SymPy made."""
        method = getattr(self, f"_build_{type(node).__name__}", None)
        if method is None:
            what = _CONSTRUCTS.get(type(node).__name__, f"'{type(node).__name__}'")
            raise self._error(
                node, f"{what} is not allowed: {self._quote(node)}; {_ALLOWED}; remove it"
            )
        value: sp.Basic = method(node)
        self._check_value(value, node)
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
            raise self._error(node, f"{kind} is not allowed: {self._quote(node)}; {_ALLOWED}")
        if isinstance(value, int):
            return self._literal(node, sp.Integer(value))
        if not math.isfinite(value):
            raise self._error(
                node,
                f"number {self._quote(node)} is not finite; write a number with at most "
                f"{LIMITS.max_integer_digits} digits",
            )
        return self._literal(node, _exact_decimal(self._locator.segment(node)))

    def _literal(self, node: ast.Constant, number: sp.Rational | None) -> sp.Rational:
        """Return a literal if it fits in max_integer_digits (numerator and denominator)."""
        limit = LIMITS.max_integer_digits
        if number is None or max(_digit_count(number.p), _digit_count(number.q)) > limit:
            raise self._error(
                node,
                f"number {self._quote(node)} has more than {limit} digits (as an exact "
                "fraction); use a smaller number or rescale the variables",
            )
        return number

    def _build_Name(self, node: ast.Name) -> sp.Symbol:  # noqa: N802 (ast class name)
        self._check_name(node, "use")
        if node.id in self._symbols:
            return self._symbols[node.id]
        if self._strict:
            problem = unknown_name("name", node.id, self._symbols)
            raise self._error(node, str(problem))
        return sp.Symbol(node.id)

    def _check_name(self, node: ast.Name, verb: str) -> None:
        if node.id.startswith("_"):
            raise self._error(
                node,
                f"name {node.id!r} starts with '_', which is reserved; use a name that "
                "starts with a letter, e.g. w1",
            )
        if node.id in FUNCTIONS:
            raise self._error(
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
        raise self._error(
            node, f"operator {sign!r} is not allowed: {self._quote(node)}; {_ALLOWED}"
        )

    def _build_BinOp(self, node: ast.BinOp) -> sp.Basic:  # noqa: N802 (ast class name)
        family = _family(node)
        if family is not None:
            return self._chain(node, family)
        if isinstance(node.op, ast.Pow):
            return self._power(node)
        sign, fix = _OPERATORS.get(type(node.op), (type(node.op).__name__, "remove it"))
        raise self._error(node, f"operator {sign!r} is not supported: {self._quote(node)}; {fix}")

    def _chain(self, node: ast.BinOp, family: str) -> sp.Basic:
        """Build a+b-c... or a*b/c... in one SymPy call, walking the left spine iteratively."""
        links: list[tuple[ast.operator, ast.expr]] = []
        first: ast.expr = node
        while isinstance(first, ast.BinOp) and _family(first) == family:
            links.append((first.op, first.right))
            first = first.left
        parts = [self.build(first)]
        for op, operand in reversed(links):
            value = self.build(operand)
            if isinstance(op, ast.Sub):
                value = self._sympy(operand, operator.neg, value)
            elif isinstance(op, ast.Div):
                if value == 0:
                    raise self._error(
                        operand,
                        f"division by zero: {self._quote(operand)} is 0; divide by a "
                        "nonzero expression",
                    )
                value = self._sympy(operand, sp.Pow, value, sp.S.NegativeOne)
            parts.append(value)
        digits = self._combined_digits(parts, family)
        if digits > LIMITS.max_number_digits:
            raise self._error(
                node,
                f"the numbers in {self._quote(node)} would combine into one of about "
                f"{digits:.0f} digits; at most {LIMITS.max_number_digits} are allowed; use "
                "fewer or smaller numbers",
            )
        return self._sympy(node, sp.Add if family == "sum" else sp.Mul, *parts)

    def _combined_digits(self, parts: list[sp.Basic], family: str) -> float:
        """Bound the digits of the numbers SymPy makes when it adds or multiplies these parts.

        A product multiplies all its constant factors (sqrt(2)*sqrt(3) becomes sqrt(6)); a sum
        adds the coefficients of like terms (2*x + 3*x), whose common denominator is at most
        the product of theirs.
        """
        if family == "product":
            factors = [arg for part in parts for arg in sp.Mul.make_args(part)]
            return sum(self._size(f).digits for f in factors if self._size(f).constant)
        groups: dict[sp.Basic, float] = {}
        for term in [term for part in parts for term in sp.Add.make_args(part)]:
            coefficient, rest = term.as_coeff_Mul() if isinstance(term, sp.Expr) else (1, term)
            if isinstance(coefficient, sp.Rational):
                groups[rest] = groups.get(rest, 0.0) + _log10(coefficient.q)
        return max(groups.values(), default=0.0)

    def _power(self, node: ast.BinOp) -> sp.Basic:
        """Build base**exponent once its size is known to be small."""
        base, exponent = self.build(node.left), self.build(node.right)
        base_size, exponent_size = self._size(base), self._size(exponent)
        if exponent_size.largest > math.log10(LIMITS.max_exponent):
            raise self._error(
                node.right,
                f"exponent {self._quote(node.right)} is too large: numerators and denominators "
                f"in an exponent may be at most {LIMITS.max_exponent}; use a simpler exponent",
            )
        if base_size.constant and exponent_size.constant and not exponent.is_Rational:
            raise self._error(
                node,
                f"{self._quote(node)} raises a number to an irrational power; use a "
                "rational exponent such as 1/2, or exp(y*log(b)) for b**y",
            )
        digits = base_size.digits * max(1.0, 10.0**exponent_size.largest)
        if base_size.constant and digits > LIMITS.max_number_digits:
            raise self._error(
                node,
                f"power {self._quote(node)} would need about {digits:.0f} digits; at most "
                f"{LIMITS.max_number_digits} are allowed; use smaller numbers",
            )
        return self._sympy(node, sp.Pow, base, exponent)

    # -- calls --

    def _build_Call(self, node: ast.Call) -> sp.Basic:  # noqa: N802 (ast class name)
        if not isinstance(node.func, ast.Name):
            raise self._error(
                node,
                f"only known functions can be called, by plain name: {self._quote(node)}; "
                "write e.g. sigmoid(z)",
            )
        name = node.func.id
        if name.startswith("_"):
            self._check_name(node.func, "call")
        if name not in FUNCTIONS:
            raise self._error(node, str(unknown_name("function", name, FUNCTIONS)))
        entry = FUNCTIONS[name]
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self._error(
                node,
                f"{name}() takes positional arguments only: {self._quote(node)}; "
                f"write e.g. {name}(z)",
            )
        if len(node.args) != entry.arity:
            raise self._error(
                node,
                f"{name}() takes {entry.arity} argument(s) but {len(node.args)} were "
                f"given: {self._quote(node)}; write e.g. {name}(z)",
            )
        args = []
        for arg in node.args:  # a loop, not a comprehension: one stack frame less per level
            args.append(self._argument(name, arg))
        if any(self._size(arg).has_call for arg in args):
            return self._sympy(node, _unevaluated, entry.sympy_form, *args)
        return self._sympy(node, entry.sympy_form, *args)

    def _argument(self, name: str, node: ast.expr) -> sp.Basic:
        """Build one argument; refuse constants SymPy would evaluate into something huge."""
        value = self.build(node)
        size = self._size(value)
        if size.constant and not value.is_Rational:
            raise self._error(
                node,
                f"{name}() of the constant {self._quote(node)} is not supported: a "
                "constant argument must be a plain number; compute it and write the number",
            )
        if size.has_log and size.largest > math.log10(LIMITS.max_exponent):
            raise self._error(
                node,
                f"{name}() argument {self._quote(node)} holds log together with numbers "
                f"beyond {LIMITS.max_exponent}, which SymPy turns into powers; use smaller numbers",
            )
        return value

    # -- checks --

    def _sympy(self, node: ast.AST, build: Callable[..., Any], *args: Any) -> sp.Basic:
        """Call SymPy; its failures on pathological numbers become ParseErrors."""
        try:
            value: sp.Basic = build(*args)
        except RecursionError:  # not SymPy's fault: build_checked reports the depth
            raise
        except Exception as exc:  # SymPy raises many kinds (OverflowError, ValueError, ...)
            raise self._error(
                node,
                f"SymPy could not build {self._quote(node)} ({type(exc).__name__}); "
                "simplify its numbers",
            ) from exc
        return value

    def _check_value(self, value: sp.Basic, node: ast.AST) -> None:
        """Refuse infinities, huge numbers and huge exponents in the parts SymPy just made."""
        bound = LIMITS.max_number_digits
        stack = [value]
        while stack:
            expr = stack.pop()
            if expr in self._checked:
                continue
            self._checked.add(expr)
            if expr in _NON_FINITE:
                raise self._error(
                    node,
                    f"{self._quote(node)} is infinite or undefined ({expr}); keep divisors "
                    "nonzero and arguments inside each function's domain",
                )
            if isinstance(expr, sp.Rational) and max(_log10(expr.p), _log10(expr.q)) > bound:
                raise self._error(
                    node,
                    f"{self._quote(node)} makes a number with more than {bound} digits; "
                    "use smaller numbers",
                )
            if isinstance(expr, sp.Pow) and self._size(expr.exp).largest > math.log10(
                LIMITS.max_exponent
            ):
                raise self._error(
                    node,
                    f"{self._quote(node)} makes the power {shorten(str(expr))!r}, whose exponent "
                    f"holds a numerator or denominator above {LIMITS.max_exponent}; use "
                    "smaller exponents",
                )
            stack.extend(expr.args)

    def _size(self, expr: sp.Basic) -> _Size:
        """Return the size of a value, measuring each distinct subexpression once."""
        stack = [(expr, False)]
        while stack:
            item, ready = stack.pop()
            if item in self._sizes:
                continue
            if ready or not item.args:
                self._sizes[item] = _measure(item, [self._sizes[arg] for arg in item.args])
            else:
                stack.append((item, True))
                stack.extend((arg, False) for arg in item.args)
        return self._sizes[expr]

    def _quote(self, node: ast.AST) -> str:
        return repr(shorten(self._locator.segment(node)))

    def _error(self, node: ast.AST, message: str) -> ParseError:
        return ParseError(self._locator.at(node) + " ".join(message.split()))


def _unevaluated(function: Callable[..., Any], *args: Any) -> Any:
    """Apply a function to a call as written: SymPy's rewriting could take minutes.

    Rewriting f(g(...)) asks questions about g: tanh(tanh(w1*x1 + ... + w30*x30)) asks whether
    the inner tanh is zero, which expands its real and imaginary parts (seconds, growing
    exponentially with the nesting). Arguments without calls are rewritten as usual.
    """
    with sp.evaluate(False):
        return function(*args)


# --- numbers ------------------------------------------------------------------------------------


def _digit_count(n: int) -> int:
    """Return the number of decimal digits of |n| without str() (which is limited and slow)."""
    n = abs(n)
    if n < 10:
        return 1
    estimate = int(math.log10(n)) + 1
    if estimate > 10_000:  # far beyond every limit: exactness no longer matters
        return estimate
    return estimate - (n < 10 ** (estimate - 1)) + (n >= 10**estimate)


def _exact_decimal(literal: str) -> sp.Rational | None:
    """Return the exact value of a decimal literal (0.15 -> 3/20), or None if it is too long.

    The size is checked before any power of ten is formed, so ``1e-99999999`` costs nothing.
    """
    match = _DECIMAL.fullmatch(literal.replace("_", ""))
    if match is None:
        return None
    whole, fraction, exponent_text = match.group(1), match.group(2) or "", match.group(3) or "0"
    if len(exponent_text.lstrip("+-").lstrip("0")) > 6:
        return None
    significant = (whole + fraction).lstrip("0")
    scale = int(exponent_text) - len(fraction)
    if not significant:
        return sp.Integer(0)
    if len(significant) + abs(scale) > 4 * LIMITS.max_integer_digits:
        return None
    return sp.Rational(int(significant) * 10 ** max(scale, 0), 10 ** max(-scale, 0))
