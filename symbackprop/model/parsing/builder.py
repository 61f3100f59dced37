"""The parser's builder: a checked AST -> SymPy, one method per whitelisted construct.

Model layer. :class:`Builder` walks the tree :mod:`symbackprop.model.parsing.parser` made and
builds SymPy objects directly: numbers (exact rationals), names (symbols), ``+ - * / **``,
unary signs and calls of the registered functions. Anything else is refused with a located
``ParseError`` that names the construct, and every value is checked against the number bounds
of :mod:`symbackprop.model.parsing.limits` as it is made.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from symbackprop.model.errors import ParseError, shorten, unknown_name
from symbackprop.model.functions import FUNCTIONS
from symbackprop.model.parsing.limits import (
    Locating,
    NumberBounds,
    chain_family,
    check_tree_size,
    unevaluated,
)

EXPRESSION_HINT = "expected an expression such as 'sigmoid(w1*x1 + b1)'"
_ALLOWED = "an expression may use numbers, names, + - * / ** and calls such as sigmoid(z)"
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


class Builder:
    """Build SymPy from a checked tree: one ``_build_<Node>`` method per allowed construct."""

    def __init__(
        self, locator: Locating, symbols: Mapping[str, sp.Symbol] | None, strict: bool
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
                node, f"{self._locator.quote(node)} is not an expression; {EXPRESSION_HINT}"
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
