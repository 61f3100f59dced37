"""Safe parser of matrix formulas typed NumPy-style: text -> SymPy matrix expression (model layer).

The matrix mode of the parser, for hand-derived gradients of networks of layers such as
``Delta2 @ A1.T / B`` or ``(W2.T @ Delta2) * A1 * (1 - A1)``. Like the scalar parser it reads
the text with ``ast.parse`` (never runs it), within the same limits (:data:`LIMITS`: length,
depth, number of parts, number sizes), and builds SymPy objects directly through a whitelist;
nothing the user types reaches eval, ``sympify`` or ``parse_expr``.

Names are the derivation's matrices (``MatrixSymbol``) and named numbers (``B``, the batch
size; ``epsilon2``). The syntax, with NumPy's meaning:

- ``A @ C`` matrix product; ``A.T`` transpose (the only attribute); ``A * C`` and ``A / C``
  elementwise (Hadamard) product and quotient, ``A + C``, ``A - C``; a number or ``B`` may
  multiply, divide, add to or subtract from a matrix; ``A ** 2`` an elementwise power;
- a column (n×1) or a row (1×m) broadcasts against an n×m matrix as in NumPy
  (``gamma2 * Xhat2``, ``Z1 - mu2``);
- ``sum(A, axis=1)`` sums each row over the columns and gives a column (n×1): the batch sum of
  a bias gradient; ``sum(A, axis=0)`` sums each column and gives a row (1×m); ``sum(A)`` is
  1×1. Results always keep both dimensions (``keepdims`` is accepted and has no effect), and
  ``mean`` is the sum divided by the count;
- ``ones(n, m)`` (or ``ones((n, m))``), sizes being numbers or ``B``;
- ``X[a:b]`` rows a to b - 1 of a matrix (a time step of a sequence: ``X[0:2]``), numbers only;
- elementwise functions ``sigmoid tanh relu exp log sqrt ...`` (the registry's), and the
  derivative of each elementwise activation as ``sigmoid_prime(Z1)`` or ``dsigmoid(Z1)``;
- for a network with convolution or pooling layers (``maps``), the convolution functions of
  :mod:`symbackprop.model.parsing.conv_calls`: ``correlate(X, K1)``, ``flip(K2)``,
  ``full_correlate(Delta2, flip(K2))``, ``full_convolve(Delta2, K2)``,
  ``correlate_kernel(X, Delta1)``, ``channel_sum(Delta1)``, ``route_to_max(dP1, A1)`` ...,
  each acting with the geometry of the layer its operands belong to.

Operands that do not fit raise :class:`~symbackprop.model.errors.ShapeError` with the shapes
and the nearest formula that fits (:mod:`symbackprop.model.parsing.shapes`); anything outside
the whitelist raises a located ``ParseError``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.errors import ParseError, ShapeError, shorten, unknown_name
from symbackprop.model.functions import FUNCTIONS
from symbackprop.model.matrices import elementwise, ones
from symbackprop.model.parsing.conv_calls import (
    CONV_FUNCTIONS,
    ConvCallError,
    MapFacts,
    build_conv_call,
)
from symbackprop.model.parsing.limits import LIMITS, Locating, NumberBounds, check_tree_size
from symbackprop.model.parsing.parser import _parse_tree, _prepare
from symbackprop.model.parsing.shapes import (
    Shape,
    broadcast_shape,
    elementwise_mismatch,
    product_mismatch,
    shape_text,
)
from symbackprop.model.tensor_ops import Block, Stack

__all__ = ["MATRIX_FUNCTIONS", "MAX_ONES", "FormulaShapeError", "parse_matrix"]

Value = Any  # sp.Expr (a scalar) or sp.MatrixExpr
MAX_ONES = 4096  # largest numeric size of ones(n, m): the checker materialises it
_T = sp.Symbol("t")
_HINT = "write a matrix formula such as 'Delta2 @ A1.T / B'"
_ALLOWED = (
    "a matrix formula may use names, numbers, @ .T * / + - **, sum(M, axis=...), "
    "mean(M, axis=...), ones(n, m) and elementwise functions such as sigmoid(Z1)"
)
_SIGNS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@", ast.Pow: "**",
}  # fmt: skip
_CONSTRUCTS = {
    "Subscript": "a subscript", "Slice": "a slice", "Lambda": "a lambda",
    "ListComp": "a comprehension", "SetComp": "a comprehension", "DictComp": "a comprehension",
    "GeneratorExp": "a generator expression", "Compare": "a comparison",
    "BoolOp": "a boolean operator (and/or)", "IfExp": "a conditional expression",
    "NamedExpr": "an assignment expression (:=)", "JoinedStr": "an f-string",
    "FormattedValue": "an f-string", "List": "a list", "Tuple": "a tuple", "Set": "a set",
    "Dict": "a dict", "Starred": "a starred expression", "Await": "await", "Yield": "yield",
    "YieldFrom": "yield",
}  # fmt: skip


def _derivative_helpers() -> dict[str, str]:
    """Return {helper name: activation}: ``sigmoid_prime`` and ``dsigmoid`` for each one."""
    helpers = {}
    for entry in ACTIVATIONS.values():
        if not entry.is_layerwise:
            helpers[f"{entry.name}_prime"] = entry.name
            helpers[f"d{entry.name}"] = entry.name
    return helpers


DERIVATIVE_HELPERS = _derivative_helpers()
MATRIX_FUNCTIONS = (
    "sum",
    "mean",
    "ones",
    "vstack",
    *FUNCTIONS,
    *DERIVATIVE_HELPERS,
    *CONV_FUNCTIONS,
)


def parse_matrix(
    text: str,
    *,
    matrices: Mapping[str, sp.MatrixSymbol],
    scalars: Mapping[str, sp.Symbol] | None = None,
    shape: Shape | None = None,
    source: str = "<expr>",
    line: int = 1,
    column: int = 1,
    maps: MapFacts | None = None,
) -> sp.MatrixExpr:
    """Turn NumPy-style text such as ``Delta2 @ A1.T / B`` into a SymPy matrix expression.

    Only the names in ``matrices`` and ``scalars`` may be used. A formula that is a plain number
    is refused, unless ``shape`` is given: then it stands for that number in every entry.
    ``maps`` describes the network's convolution and pooling layers, for their functions.
    """
    body, locator = _prepare(text, source, line, column)
    tree = _parse_tree(body, "eval", locator)
    assert isinstance(tree, ast.Expression)  # mode="eval" always yields one
    builder = MatrixBuilder(locator, matrices, scalars or {}, maps)
    return builder.build_checked(tree.body, shape)


class FormulaShapeError(ShapeError):
    """Operands of a matrix formula whose shapes do not fit; ``explanation`` is unlocated."""

    def __init__(self, location: str, explanation: str) -> None:
        super().__init__(location + explanation)
        self.explanation = explanation


def is_matrix(value: Value) -> bool:
    return isinstance(value, sp.MatrixExpr)


class MatrixBuilder:
    """Build SymPy matrix expressions from a checked tree: one method per allowed construct."""

    def __init__(
        self,
        locator: Locating,
        matrices: Mapping[str, sp.MatrixSymbol],
        scalars: Mapping[str, sp.Symbol],
        maps: MapFacts | None = None,
    ) -> None:
        self._locator = locator
        self._maps = maps
        self._matrices = dict(matrices)
        self._scalars = dict(scalars)
        self._bounds = NumberBounds(locator)

    def build_checked(self, node: ast.expr, shape: Shape | None = None) -> sp.MatrixExpr:
        """Check the size of the tree, build it, and make sure the result is a matrix."""
        check_tree_size(node, self._locator)
        try:
            value = self.build(node)
        except RecursionError:
            raise ParseError(
                f"{self._locator.at(node)}formula is nested too deeply for the Python stack "
                "left here; split it into named intermediate steps"
            ) from None
        if is_matrix(value):
            return value  # type: ignore[no-any-return]
        if shape is not None:
            return self._sympy(node, sp.MatMul, value, ones(*shape))  # type: ignore[no-any-return]
        raise self._locator.error(
            node, f"{self._locator.quote(node)} is a number, not a matrix; {_HINT}"
        )

    def build(self, node: ast.AST) -> Value:
        method = getattr(self, f"_build_{type(node).__name__}", None)
        if method is None:
            what = _CONSTRUCTS.get(type(node).__name__, f"'{type(node).__name__}'")
            raise self._locator.error(
                node, f"{what} is not allowed: {self._locator.quote(node)}; {_ALLOWED}; remove it"
            )
        value = method(node)
        self._bounds.check_value(value, node)
        if not is_matrix(value) and (value.has(sp.I) or value.is_real is False):
            raise self._locator.error(
                node,
                f"{self._locator.quote(node)} is not a real number; a gradient is real, so "
                "check what goes under each sqrt and log",
            )
        return value

    # -- leaves --

    def _build_Constant(self, node: ast.Constant) -> sp.Expr:  # noqa: N802 (ast class name)
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._locator.error(
                node, f"{self._locator.quote(node)} is not a number; {_ALLOWED}"
            )
        return self._bounds.literal(node, value)

    def _build_Name(self, node: ast.Name) -> Value:  # noqa: N802 (ast class name)
        name = node.id
        if name.startswith("_"):
            raise self._locator.error(
                node, f"name {shorten(name)!r} starts with '_', which is reserved; {_HINT}"
            )
        if name in self._matrices:
            return self._matrices[name]
        if name in self._scalars:
            return self._scalars[name]
        if name in MATRIX_FUNCTIONS:
            raise self._locator.error(
                node, f"{name!r} is a function; call it, e.g. {name}(Z1), or use another name"
            )
        known = [*self._matrices, *self._scalars]
        raise self._locator.error(node, str(unknown_name("name", name, known)))

    def _build_Attribute(self, node: ast.Attribute) -> Value:  # noqa: N802 (ast class name)
        if isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"):
            raise self._locator.error(
                node,
                f"write {node.attr}(...) without the {node.value.id!r} prefix: "
                f"{self._locator.quote(node)}; {_ALLOWED}",
            )
        if node.attr != "T":
            raise self._locator.error(
                node,
                f"attribute access is not allowed: {self._locator.quote(node)}; only .T "
                "(the transpose) is; remove it",
            )
        value = self.build(node.value)
        if not is_matrix(value):
            raise self._locator.error(
                node, f"{self._locator.quote(node.value)} is a number: it has no transpose (.T)"
            )
        return self._sympy(node, sp.Transpose, value)

    def _build_Subscript(self, node: ast.Subscript) -> Value:  # noqa: N802 (ast class name)
        """Rows ``a:b`` of a matrix, as NumPy slices a 2-D array (a time step of X)."""
        value = self.build(node.value)
        cut = node.slice
        bounds = [getattr(cut, "lower", None), getattr(cut, "upper", None)]
        literal = all(b is None or (isinstance(b, ast.Constant) and type(b.value) is int)
                      for b in bounds)  # fmt: skip
        if not isinstance(cut, ast.Slice) or cut.step is not None or not literal:
            raise self._locator.error(
                node,
                f"only a slice of rows by numbers is allowed: {self._locator.quote(node)}; "
                "write e.g. X[0:2] for rows 0 and 1",
            )
        if not is_matrix(value):
            raise self._locator.error(node, f"{self._locator.quote(node.value)} is a number")
        rows = int(value.shape[0])
        start = 0 if bounds[0] is None else bounds[0].value  # type: ignore[union-attr]
        stop = rows if bounds[1] is None else bounds[1].value  # type: ignore[union-attr]
        if not 0 <= start < stop <= rows:
            raise self._locator.error(
                node,
                f"{self._locator.quote(node)} is no rows of {self._locator.quote(node.value)}, "
                f"which has {rows}: write a:b with 0 <= a < b <= {rows}",
            )
        return Block(value, (start, stop))

    # -- operators --

    def _build_UnaryOp(self, node: ast.UnaryOp) -> Value:  # noqa: N802 (ast class name)
        if isinstance(node.op, ast.USub):
            return self._sympy(node, lambda v: -v, self.build(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        raise self._locator.error(
            node, f"this operator is not allowed: {self._locator.quote(node)}; {_ALLOWED}"
        )

    def _build_BinOp(self, node: ast.BinOp) -> Value:  # noqa: N802 (ast class name)
        """Build a left-leaning chain (a + b - c @ d ...) iteratively: one frame per chain."""
        if isinstance(node.op, ast.Pow):
            return self._power(node)
        spine: list[ast.BinOp] = []
        first: ast.expr = node
        while isinstance(first, ast.BinOp) and not isinstance(first.op, ast.Pow):
            spine.append(first)
            first = first.left
        value = self.build(first)
        for link in reversed(spine):
            value = self._binary(link, value, self.build(link.right))
            self._bounds.check_value(value, link)
        return value

    def _binary(self, node: ast.BinOp, left: Value, right: Value) -> Value:
        sign = _SIGNS.get(type(node.op))
        if sign is None or sign == "**":
            raise self._locator.error(
                node, f"operator not supported: {self._locator.quote(node)}; {_ALLOWED}"
            )
        if sign == "@":
            return self._matmul(node, left, right)
        if sign == "/" and not is_matrix(right) and right == 0:
            raise self._locator.error(
                node.right,
                f"division by zero: {self._locator.quote(node.right)} is 0; divide by a "
                "nonzero number",
            )
        if not is_matrix(left) and not is_matrix(right):
            return self._scalar(node, sign, left, right)
        if sign == "*" and not (is_matrix(left) and is_matrix(right)):
            return self._sympy(node, sp.MatMul, left, right)
        if sign == "/" and not is_matrix(right):
            return self._sympy(node, sp.MatMul, sp.Pow(right, -1), left)
        return self._elementwise(node, sign, left, right)

    def _scalar(self, node: ast.BinOp, sign: str, left: sp.Expr, right: sp.Expr) -> sp.Expr:
        if sign in "+-":
            parts = [left, -right if sign == "-" else right]
            self._bounds.check_chain(node, parts, "sum")
            return self._sympy(node, sp.Add, *parts)
        parts = [left, sp.Pow(right, -1) if sign == "/" else right]
        self._bounds.check_chain(node, parts, "product")
        return self._sympy(node, sp.Mul, *parts)

    def _matmul(self, node: ast.BinOp, left: Value, right: Value) -> Value:
        for side, value in (("left", left), ("right", right)):
            if not is_matrix(value):
                operand = node.left if side == "left" else node.right
                raise self._locator.error(
                    node,
                    f"@ needs two matrices, but {self._locator.quote(operand)} is a number; "
                    "use * to multiply by a number",
                )
        if left.shape[1] != right.shape[0]:
            raise self._shape_error(
                node,
                product_mismatch(
                    self._text(node.left), self._text(node.right), left.shape, right.shape
                ),
            )
        return self._sympy(node, sp.MatMul, left, right)

    def _elementwise(self, node: ast.BinOp, sign: str, left: Value, right: Value) -> Value:
        """Build + - * / of two operands, at least one a matrix; broadcast as NumPy does."""
        left_shape = left.shape if is_matrix(left) else (1, 1)
        right_shape = right.shape if is_matrix(right) else (1, 1)
        target = broadcast_shape(left_shape, right_shape)
        if target is None:
            raise self._shape_error(
                node,
                elementwise_mismatch(
                    sign, self._text(node.left), self._text(node.right), left_shape, right_shape
                ),
            )
        left, right = self._stretch(node, left, target), self._stretch(node, right, target)
        if sign == "+":
            return self._sympy(node, sp.MatAdd, left, right)
        if sign == "-":
            return self._sympy(node, sp.MatAdd, left, -right)
        if sign == "/":
            right = self._sympy(node, sp.HadamardPower, right, sp.S.NegativeOne)
        return self._sympy(node, sp.HadamardProduct, left, right)

    def _stretch(self, node: ast.AST, value: Value, target: Shape) -> sp.MatrixExpr:
        """Return a number, row or column broadcast to ``target`` with matrices of ones."""
        if not is_matrix(value):
            return self._sympy(node, sp.MatMul, value, ones(*target))  # type: ignore[no-any-return]
        rows, cols = value.shape
        if rows != target[0]:
            value = self._sympy(node, sp.MatMul, ones(target[0], 1), value)
        if cols != target[1]:
            value = self._sympy(node, sp.MatMul, value, ones(1, target[1]))
        return value  # type: ignore[no-any-return]

    def _power(self, node: ast.BinOp) -> Value:
        base, exponent = self.build(node.left), self.build(node.right)
        if is_matrix(exponent):
            raise self._locator.error(
                node.right,
                f"the exponent {self._locator.quote(node.right)} is a matrix; raise to a number",
            )
        if not is_matrix(base):
            self._bounds.check_power(node, base, exponent)
            return self._sympy(node, sp.Pow, base, exponent)
        if not exponent.is_Rational or max(abs(exponent.p), exponent.q) > LIMITS.max_exponent:
            raise self._locator.error(
                node.right,
                f"the exponent {self._locator.quote(node.right)} of a matrix must be a number "
                f"such as 2 or 1/2 (numerator and denominator at most {LIMITS.max_exponent})",
            )
        if exponent == 1:
            return base
        return self._sympy(node, sp.HadamardPower, base, exponent)

    # -- calls --

    def _build_Call(self, node: ast.Call) -> Value:  # noqa: N802 (ast class name)
        name = self._function_name(node)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self._locator.error(node, f"{name}() takes no *arguments; {_ALLOWED}")
        if name in ("sum", "mean"):
            return self._reduction(node, name)
        if name == "ones":
            return self._ones(node)
        if name == "vstack":
            return self._vstack(node)
        if name in CONV_FUNCTIONS:
            return self._conv_call(node, name)
        if node.keywords:
            raise self._locator.error(
                node, f"{name}() takes one argument and no keywords: {self._locator.quote(node)}"
            )
        if len(node.args) != 1:
            raise self._locator.error(
                node,
                f"{name}() takes 1 argument but {len(node.args)} were given: "
                f"{self._locator.quote(node)}; write e.g. {name}(Z1)",
            )
        argument = self.build(node.args[0])
        if name in DERIVATIVE_HELPERS:
            if not is_matrix(argument):
                raise self._locator.error(node, f"{name}() takes a matrix, e.g. {name}(Z1)")
            return self._sympy(node, elementwise, DERIVATIVE_HELPERS[name], argument, True)
        function = FUNCTIONS[name].sympy_form
        if is_matrix(argument):
            lambda_ = sp.Lambda(_T, function(_T))
            return self._sympy(node, ElementwiseApplyFunction, lambda_, argument)
        self._bounds.check_argument(name, node.args[0], argument)
        return self._sympy(node, function, argument)

    def _function_name(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                return self._build_Attribute(node.func)  # type: ignore[no-any-return]  # refuses
            raise self._locator.error(
                node,
                f"only known functions can be called, by plain name: {self._locator.quote(node)}",
            )
        name = node.func.id
        if name.startswith("_") or name not in MATRIX_FUNCTIONS:
            problem = unknown_name("function", name, MATRIX_FUNCTIONS)
            raise self._locator.error(node, str(problem))
        return name

    def _vstack(self, node: ast.Call) -> sp.MatrixExpr:
        """vstack([A, C, ...]): matrices with the same columns stacked (an LSTM's gates)."""
        if len(node.args) != 1 or node.keywords or not isinstance(node.args[0], ast.List):
            raise self._locator.error(
                node, f"vstack() takes one list of matrices: {self._locator.quote(node)}; "
                "write e.g. vstack([Deltai1t2, Deltaf1t2])",
            )  # fmt: skip
        parts = [self.build(element) for element in node.args[0].elts]
        if not parts or not all(is_matrix(p) for p in parts):
            raise self._locator.error(node, "vstack() stacks matrices, not numbers")
        if len({p.shape[1] for p in parts}) > 1:
            raise self._shape_error(
                node, f"{self._locator.quote(node)} stacks matrices of different column counts "
                f"({', '.join(shape_text(p.shape) for p in parts)}); stack matrices alike",
            )  # fmt: skip
        return Stack(*parts)

    def _conv_call(self, node: ast.Call, name: str) -> sp.MatrixExpr:
        """A convolution function: its operands built, its layer found from their shapes."""
        count = CONV_FUNCTIONS[name]
        if node.keywords or len(node.args) != count:
            raise self._locator.error(
                node,
                f"{name}() takes {count} matri{'ces' if count > 1 else 'x'} and no keywords "
                f"(the layer's sizes, stride and padding come from the network): "
                f"{self._locator.quote(node)}",
            )
        operands = [self.build(arg) for arg in node.args]
        for arg, value in zip(node.args, operands, strict=True):
            if not is_matrix(value):
                raise self._locator.error(
                    arg, f"{name}() takes matrices, but {self._locator.quote(arg)} is a number"
                )
        texts = [shorten(self._locator.segment(arg), 30) for arg in node.args]
        try:
            return build_conv_call(name, operands, texts, self._maps)
        except ConvCallError as problem:
            if problem.shapes:
                raise self._shape_error(node, str(problem)) from None
            raise self._locator.error(node, str(problem)) from None

    def _reduction(self, node: ast.Call, name: str) -> sp.MatrixExpr:
        """sum/mean over axis 0 (down each column), axis 1 (along each row) or everything."""
        if len(node.args) != 1:
            raise self._locator.error(
                node,
                f"{name}() takes one matrix and axis=0 or axis=1: {self._locator.quote(node)}; "
                f"write e.g. {name}(Delta2, axis=1)",
            )
        axis = self._axis(node, name)
        value = self.build(node.args[0])
        if not is_matrix(value):
            raise self._locator.error(node, f"{name}() takes a matrix, e.g. {name}(Delta2, axis=1)")
        rows, cols = value.shape
        factors: list[sp.MatrixExpr] = [value]
        count: sp.Expr = sp.S.One
        if axis in (0, None):
            factors.insert(0, ones(1, rows))
            count *= rows
        if axis in (1, None):
            factors.append(ones(cols, 1))
            count *= cols
        total = self._sympy(node, sp.MatMul, *factors)
        if name == "mean":
            return self._sympy(node, sp.MatMul, sp.Pow(count, -1), total)  # type: ignore[no-any-return]
        return total  # type: ignore[no-any-return]

    def _axis(self, node: ast.Call, name: str) -> int | None:
        axis: int | None = None
        for keyword in node.keywords:
            value = keyword.value
            literal = value.value if isinstance(value, ast.Constant) else None
            if keyword.arg == "keepdims" and isinstance(literal, bool):
                continue  # results always keep both dimensions
            if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
                operand = value.operand
                literal = -operand.value if isinstance(operand, ast.Constant) and isinstance(
                    operand.value, int) else None  # fmt: skip
            if keyword.arg == "axis" and literal in (0, 1, -1, -2) and type(literal) is int:
                axis = literal % 2
                continue
            raise self._locator.error(
                keyword.value if keyword.arg else node,
                f"{name}() accepts axis=0 or axis=1 (and keepdims=True): "
                f"{self._locator.quote(node)}; write e.g. {name}(Delta2, axis=1)",
            )
        return axis

    def _ones(self, node: ast.Call) -> sp.MatrixExpr:
        args = node.args
        if len(args) == 1 and isinstance(args[0], ast.Tuple):
            args = args[0].elts
        if len(args) != 2 or node.keywords:
            raise self._locator.error(
                node, f"ones() takes two sizes: {self._locator.quote(node)}; write e.g. ones(1, B)"
            )
        sizes = [self._size(arg) for arg in args]
        return ones(sizes[0], sizes[1])

    def _size(self, node: ast.expr) -> sp.Expr:
        value = self.build(node)
        batch = self._scalars.get("B")
        if value == batch or (isinstance(value, sp.Integer) and 1 <= int(value) <= MAX_ONES):
            return value  # type: ignore[no-any-return]
        raise self._locator.error(
            node,
            f"a size of ones() must be B or a whole number from 1 to {MAX_ONES}, not "
            f"{self._locator.quote(node)}",
        )

    # -- helpers --

    def _text(self, node: ast.AST) -> str:
        """Return an operand's source text, bracketed if it holds an operator outside brackets."""
        text = shorten(self._locator.segment(node), 30)
        depth = 0
        for char in text:
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
            if char == " " and depth == 0:
                return f"({text})"
        return text

    def _shape_error(self, node: ast.AST, message: str) -> FormulaShapeError:
        return FormulaShapeError(self._locator.at(node), message)

    def _sympy(self, node: ast.AST, build: Callable[..., Any], *args: Any) -> Any:
        """Call SymPy; its failures on pathological input become ParseErrors."""
        try:
            return build(*args)
        except RecursionError:
            raise
        except Exception as exc:  # SymPy raises many kinds (ShapeError, TypeError, ...)
            raise self._locator.error(
                node,
                f"SymPy could not build {self._locator.quote(node)} ({type(exc).__name__}); "
                "check the shapes and simplify the numbers",
            ) from exc


def describe_shape(value: sp.MatrixExpr) -> str:
    """Return a matrix expression's shape as ``2×B``."""
    return shape_text(value.shape)
