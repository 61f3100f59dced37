"""Parser limits: the size checks that keep every parse fast and small (model layer)."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

import sympy as sp

from symbackprop.model.errors import ParseError, SymbackpropError, shorten


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

_DECIMAL = re.compile(r"(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_NON_FINITE = (sp.S.ComplexInfinity, sp.S.NaN, sp.S.Infinity, sp.S.NegativeInfinity)
_UNCOUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_CHAIN: dict[type[ast.operator], str] = {
    ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product"
}  # fmt: skip


class Locating(Protocol):
    """What the checks and the builder need from the parser's locator: where, and the text."""

    def prefix(self, lineno: int = 1, char_col: int = 0) -> str: ...  # ``source:line:col: ``

    def prefix_at(self, body: str, index: int) -> str: ...  # prefix for an index into the text

    def at(self, node: ast.AST) -> str: ...  # the ``source:line:col: `` prefix of a node

    def segment(self, node: ast.AST) -> str: ...  # the node's source text

    def quote(self, node: ast.AST) -> str: ...  # that text, shortened, for a message

    def error(self, node: ast.AST, message: str) -> ParseError: ...  # located at the node


# --- the text and its tree ------------------------------------------------------------------------


def check_length(text: str, start: str) -> None:
    """Refuse text longer than max_length before anything else reads it."""
    if len(text) > LIMITS.max_length:
        raise ParseError(
            f"{start}expression is {len(text)} characters long; at most {LIMITS.max_length} "
            "are allowed; split it into named intermediate steps"
        )


def check_brackets(body: str, locator: Locating) -> None:
    """Refuse deep brackets before ast.parse, whose own limit gives a poorer message."""
    depth = 0
    for index, char in enumerate(body):
        if char in "([{":
            depth += 1
            if depth > LIMITS.max_depth:
                raise ParseError(
                    f"{locator.prefix_at(body, index)}brackets are nested more "
                    f"than {LIMITS.max_depth} deep; split the expression into named steps"
                )
        elif char in ")]}":
            depth -= 1


def chain_family(node: ast.AST) -> str | None:
    """Return "sum" or "product" for a BinOp that continues a chain, else None."""
    return _CHAIN.get(type(node.op)) if isinstance(node, ast.BinOp) else None


def check_tree_size(root: ast.AST, locator: Locating) -> None:
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
        family = chain_family(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _UNCOUNTED):
                chained = isinstance(node, ast.BinOp) and child is node.left
                same = chained and family is not None and chain_family(child) == family
                stack.append((child, depth if same else depth + 1, place))


# --- sizes of SymPy values ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Size:
    """What a SymPy value could cost if SymPy combined or evaluated it further."""

    constant: bool  # holds no symbol
    digits: float  # decimal digits an exact evaluation of it could need
    largest: float  # log10 of the largest numerator or denominator inside (-inf: none)
    has_log: bool  # holds a logarithm (exp(c*log(b)) becomes b**c)
    has_call: bool  # holds a function call


def _log10(n: int) -> float:
    return math.log10(abs(n)) if n else 0.0


def _measure(expr: sp.Basic, args: list[Size]) -> Size:
    """Return the size of one value from the sizes of its arguments."""
    if isinstance(expr, sp.Rational):
        digits = max(_log10(expr.p), _log10(expr.q))
        return Size(True, digits, digits, False, False)
    if not args:
        constant = bool(expr.is_number)  # E, I, pi, zoo: constant; symbols: not
        return Size(constant, 0.5 if constant else 0.0, -math.inf, False, False)
    has_log = isinstance(expr, sp.log) or any(size.has_log for size in args)
    has_call = isinstance(expr, sp.Function) or any(size.has_call for size in args)
    largest = max(size.largest for size in args)
    if isinstance(expr, sp.Pow):
        digits = args[0].digits * max(1.0, 10.0 ** min(args[1].largest, 300.0))
    else:
        digits = sum(size.digits for size in args)
    return Size(all(size.constant for size in args), digits, largest, has_log, has_call)


# --- checks of numbers ----------------------------------------------------------------------------


class NumberBounds:
    """Refuse what SymPy, which evaluates numbers eagerly, could compute into something huge.

    ``2**100000`` is computed on construction and ``exp(c*log(2))`` becomes ``2**c``, so before
    each power, product or call the parser asks these checks what SymPy could compute:

    - numerators and denominators inside an exponent are at most ``max_exponent``: SymPy's work
      for b**(p/q) grows with p and q, not with p/q (``2**(1e-29)`` would never finish);
    - a power of a constant needs a rational exponent (or a symbolic one) and is estimated first:
      digits(base) * max(|p|, q) must stay within ``max_number_digits``, and so must the numbers
      a product merges (``sqrt(2)*sqrt(3)`` becomes ``sqrt(6)``);
    - a constant argument of a function must be a plain rational (``exp(2)``, not
      ``exp(exp(2))``), and an argument holding ``log`` obeys the exponent bound;
    - after each step, every rational has at most ``max_number_digits`` digits, every exponent
      obeys the exponent bound and nothing is infinite or undefined (``x/0``, ``log(0)``).

    One instance serves one parse: it measures and checks each distinct value once.
    """

    def __init__(self, locator: Locating) -> None:
        self._locator = locator
        self._sizes: dict[sp.Basic, Size] = {}
        self._checked: set[sp.Basic] = set()

    def literal(self, node: ast.Constant, value: int | float) -> sp.Rational:
        """Return the exact value of a number written in the text, if it is small enough."""
        if isinstance(value, int):
            return self._literal(node, sp.Integer(value))
        if not math.isfinite(value):
            raise self._locator.error(
                node,
                f"number {self._locator.quote(node)} is not finite; write a number with at "
                f"most {LIMITS.max_integer_digits} digits",
            )
        return self._literal(node, _exact_decimal(self._locator.segment(node)))

    def _literal(self, node: ast.Constant, number: sp.Rational | None) -> sp.Rational:
        """Return a literal if it fits in max_integer_digits (numerator and denominator)."""
        limit = LIMITS.max_integer_digits
        if number is None or max(_digit_count(number.p), _digit_count(number.q)) > limit:
            raise self._locator.error(
                node,
                f"number {self._locator.quote(node)} has more than {limit} digits (as an exact "
                "fraction); use a smaller number or rescale the variables",
            )
        return number

    def check_chain(self, node: ast.BinOp, parts: list[sp.Basic], family: str) -> None:
        """Refuse a sum or product whose numbers would combine into a huge one."""
        digits = self._combined_digits(parts, family)
        if digits > LIMITS.max_number_digits:
            raise self._locator.error(
                node,
                f"the numbers in {self._locator.quote(node)} would combine into one of about "
                f"{digits:.0f} digits; at most {LIMITS.max_number_digits} are allowed; use "
                "fewer or smaller numbers",
            )

    def _combined_digits(self, parts: list[sp.Basic], family: str) -> float:
        """Bound the digits of the numbers SymPy makes when it adds or multiplies these parts.

        A product multiplies all its constant factors (sqrt(2)*sqrt(3) becomes sqrt(6)); a sum
        adds the coefficients of like terms (2*x + 3*x), whose common denominator is at most
        the product of theirs.
        """
        if family == "product":
            factors = [arg for part in parts for arg in sp.Mul.make_args(part)]
            return sum(self.size(f).digits for f in factors if self.size(f).constant)
        groups: dict[sp.Basic, float] = {}
        for term in [term for part in parts for term in sp.Add.make_args(part)]:
            coefficient, rest = term.as_coeff_Mul() if isinstance(term, sp.Expr) else (1, term)
            if isinstance(coefficient, sp.Rational):
                groups[rest] = groups.get(rest, 0.0) + _log10(coefficient.q)
        return max(groups.values(), default=0.0)

    def check_power(self, node: ast.BinOp, base: sp.Basic, exponent: sp.Basic) -> None:
        """Refuse base**exponent unless its size is known to be small."""
        base_size, exponent_size = self.size(base), self.size(exponent)
        quote = self._locator.quote
        if exponent_size.largest > math.log10(LIMITS.max_exponent):
            raise self._locator.error(
                node.right,
                f"exponent {quote(node.right)} is too large: numerators and denominators "
                f"in an exponent may be at most {LIMITS.max_exponent}; use a simpler exponent",
            )
        if base_size.constant and exponent_size.constant and not exponent.is_Rational:
            raise self._locator.error(
                node,
                f"{quote(node)} raises a number to an irrational power; use a "
                "rational exponent such as 1/2, or exp(y*log(b)) for b**y",
            )
        digits = base_size.digits * max(1.0, 10.0**exponent_size.largest)
        if base_size.constant and digits > LIMITS.max_number_digits:
            raise self._locator.error(
                node,
                f"power {quote(node)} would need about {digits:.0f} digits; at most "
                f"{LIMITS.max_number_digits} are allowed; use smaller numbers",
            )

    def check_argument(self, name: str, node: ast.expr, value: sp.Basic) -> None:
        """Refuse a constant argument SymPy would evaluate into something huge."""
        size = self.size(value)
        if size.constant and not value.is_Rational:
            raise self._locator.error(
                node,
                f"{name}() of the constant {self._locator.quote(node)} is not supported: a "
                "constant argument must be a plain number; compute it and write the number",
            )
        if size.has_log and size.largest > math.log10(LIMITS.max_exponent):
            raise self._locator.error(
                node,
                f"{name}() argument {self._locator.quote(node)} holds log together with numbers "
                f"beyond {LIMITS.max_exponent}, which SymPy turns into powers; use smaller numbers",
            )

    def check_value(self, value: sp.Basic, node: ast.AST) -> None:
        """Refuse infinities, huge numbers and huge exponents in the parts SymPy just made."""
        bound = LIMITS.max_number_digits
        stack = [value]
        while stack:
            expr = stack.pop()
            if expr in self._checked:
                continue
            self._checked.add(expr)
            if expr in _NON_FINITE:
                raise self._locator.error(
                    node,
                    f"{self._locator.quote(node)} is infinite or undefined ({expr}); keep "
                    "divisors nonzero and arguments inside each function's domain",
                )
            if isinstance(expr, sp.Rational) and max(_log10(expr.p), _log10(expr.q)) > bound:
                raise self._locator.error(
                    node,
                    f"{self._locator.quote(node)} makes a number with more than {bound} digits; "
                    "use smaller numbers",
                )
            if isinstance(expr, sp.Pow) and self.size(expr.exp).largest > math.log10(
                LIMITS.max_exponent
            ):
                raise self._locator.error(
                    node,
                    f"{self._locator.quote(node)} makes the power {shorten(str(expr))!r}, whose "
                    f"exponent holds a numerator or denominator above {LIMITS.max_exponent}; use "
                    "smaller exponents",
                )
            stack.extend(expr.args)

    def size(self, expr: sp.Basic) -> Size:
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


# --- calls SymPy would rewrite slowly -------------------------------------------------------------


def unevaluated(function: Callable[..., Any], *args: Any) -> Any:
    """Apply a function to a call as written: SymPy's rewriting could take minutes.

    Rewriting f(g(...)) asks questions about g: tanh(tanh(w1*x1 + ... + w30*x30)) asks whether
    the inner tanh is zero, which expands its real and imaginary parts (seconds, growing
    exponentially with the nesting). Arguments without calls are rewritten as usual.
    """
    with sp.evaluate(False):
        return function(*args)


# --- numbers --------------------------------------------------------------------------------------


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
