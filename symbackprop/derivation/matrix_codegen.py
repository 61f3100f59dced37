"""A matrix derivation's steps compiled to functions over arrays, vectorized over the batch.

Derivation engine. Every step ``lhs = rhs`` becomes one function of the named arrays, built as
a tree of closures from the step's SymPy tree (``@`` for products, ``*`` for Hadamard
products, ``.T``; a product with the ones vector becomes a sum or a broadcast, never a product
with a materialised matrix of ones). No source text is written or evaluated, and nothing comes
from user text. A :class:`Target` (NumPy by default) supplies the array namespace, the kernels
and helpers, and turns each elementwise body into a function, so the same steps run over
another array library.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import LOSS, Stage
from symbackprop.derivation.tensor_kernels import HELPERS
from symbackprop.model.functions import numpy_namespace
from symbackprop.model.matrices import ColumnSoftmax
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.tensor_ops import TensorOp

FloatArray = np.ndarray


Env = dict[str, Any]  # the named matrices (and B) of one call
Node = Callable[[Env], Any]  # one compiled expression: its value in an environment


class _Builder:
    """Turn one SymPy matrix expression into a Python function of the named arrays.

    The function is a tree of closures built from the derivation's own SymPy tree (``@`` for
    products, ``*`` for Hadamard products, ``.T``; a product with the ones vector becomes a sum
    or a broadcast): no source text is written or evaluated.
    """

    def __init__(
        self,
        helpers: Mapping[str, Any],
        named: dict[sp.Basic, str] | None = None,
        elementwise: Elementwise | None = None,
    ) -> None:
        self.xp = helpers["_np"]
        self.kernels = helpers["_kernels"]
        self.softmax = helpers["_softmax_columns"]
        self.ones_right = helpers["_times_ones_right"]
        self.ones_left = helpers["_times_ones_left"]
        self.named = named or {}  # forward right-hand sides -> the name they were given
        self.elementwise = elementwise or _elementwise_numpy

    def of(self, expr: sp.Basic) -> Node:  # noqa: C901 (one branch per matrix operation)
        if isinstance(expr, sp.MatrixSymbol):
            return _lookup(str(expr.name))
        if isinstance(expr, sp.Symbol):
            return _lookup("B" if expr == BATCH else str(expr.name))
        if expr.is_number:
            return _constant(float(expr))
        if isinstance(expr, (sp.OneMatrix, sp.ZeroMatrix)):  # zeros: a typed formula's 0
            fill = self.xp.ones if isinstance(expr, sp.OneMatrix) else self.xp.zeros
            rows, cols = _dim(expr.shape[0]), _dim(expr.shape[1])
            return lambda env: fill((rows(env), cols(env)))
        if isinstance(expr, (sp.MatAdd, sp.Add)):
            return _folded(operator.add, [self.of(t) for t in expr.args])
        if isinstance(expr, sp.MatMul):
            return self._product(expr)
        if isinstance(expr, (sp.Mul, sp.HadamardProduct)):
            return _folded(operator.mul, [self.of(f) for f in expr.args])
        if isinstance(expr, (sp.Pow, sp.HadamardPower)):
            base, exponent = self.of(expr.args[0]), self.of(expr.args[1])
            return lambda env: base(env) ** exponent(env)
        if isinstance(expr, sp.Transpose):
            inner = self.of(expr.arg)
            return lambda env: inner(env).T
        if isinstance(expr, ElementwiseApplyFunction):
            return self._elementwise(expr)
        if isinstance(expr, ColumnSoftmax):
            argument, softmax = self.of(expr.argument), self.softmax
            return lambda env: softmax(argument(env))
        if isinstance(expr, TensorOp):
            kernel, settings = self.kernels[expr.kernel], expr.settings
            operands = [self.of(o) for o in expr.operands]
            return lambda env: kernel(*(o(env) for o in operands), *settings)
        raise AssertionError(
            f"no array form for {type(expr).__name__}; a bug: only the above are ever built"
        )

    def _product(self, expr: sp.MatMul) -> Node:
        coefficient, factors = expr.as_coeff_matrices()
        node: Node | None = None
        pending_rows: Node | None = None  # a leading 1 (rows x k) waiting for its right operand
        for factor in factors:
            if isinstance(factor, sp.OneMatrix):
                if node is None:
                    pending_rows = _dim(factor.shape[0])
                else:
                    node = _call(self.ones_right, node, _dim(factor.shape[1]))
                continue
            operand = self.of(factor)
            node = operand if node is None else _folded(operator.matmul, [node, operand])
            if pending_rows is not None:
                node = _call(self.ones_left, pending_rows, node)
                pending_rows = None
        if node is None:
            node = self.of(sp.OneMatrix(*expr.shape))
        return node if coefficient == 1 else _folded(operator.mul, [self.of(coefficient), node])

    def _elementwise(self, expr: ElementwiseApplyFunction) -> Node:
        """f(Z), or f'(Z) written in f's own value where it can be (sigma' = A o (1 - A))."""
        variable, body = expr.function.variables[0], expr.function.expr
        argument = self.of(expr.expr)
        if not isinstance(body, sp.Derivative):
            return _call(self.elementwise([variable], body), argument)
        applied = body.expr
        derivative = body.doit()
        value_name = self.named.get(
            ElementwiseApplyFunction(sp.Lambda(variable, applied), expr.expr)
        )
        value = sp.Symbol("_value")
        if value_name is not None and derivative.has(applied):
            function = self.elementwise([variable, value], derivative.subs(applied, value))
            return _call(function, argument, _lookup(value_name))
        return _call(self.elementwise([variable], derivative), argument)


def _lookup(name: str) -> Node:
    return lambda env: env[name]


def _constant(value: Any) -> Node:
    return lambda env: value


def _call(function: Callable[..., Any], *arguments: Node) -> Node:
    return lambda env: function(*(a(env) for a in arguments))


def _folded(combine: Callable[[Any, Any], Any], parts: list[Node]) -> Node:
    """The parts combined left to right: a + b + c, a * b, a @ b."""
    if len(parts) == 2:
        first, second = parts
        return lambda env: combine(first(env), second(env))

    def run(env: Env) -> Any:
        value = parts[0](env)
        for part in parts[1:]:
            value = combine(value, part(env))
        return value

    return run


def _dim(size: sp.Expr) -> Node:
    return _lookup("B") if size == BATCH else _constant(int(size))


Elementwise = Callable[[list[sp.Symbol], sp.Expr], Callable[..., Any]]


def _elementwise_numpy(variables: list[sp.Symbol], body: sp.Expr) -> Callable[..., FloatArray]:
    scalar = sp.lambdify(variables, body, modules=[numpy_namespace(), "numpy"], docstring_limit=0)

    def apply(X: FloatArray, *values: FloatArray) -> FloatArray:
        # A constant derivative (identity' = 1) comes back as a number: give it X's shape.
        return np.broadcast_to(np.asarray(scalar(X, *values), dtype=np.float64), X.shape)

    return apply


@dataclass(frozen=True, slots=True)
class Target:
    """An array library the generated source runs on.

    ``helpers`` binds the names the source calls (``_np.ones``/``_np.zeros``, ``_kernels``,
    ``_softmax_columns``, ``_times_ones_right``, ``_times_ones_left``); ``elementwise`` turns
    one elementwise body (its variables, its SymPy expression) into a function over arrays.
    """

    name: str
    helpers: Mapping[str, Any]
    elementwise: Elementwise


NUMPY = Target("numpy", HELPERS, _elementwise_numpy)


def generate(
    steps: Sequence[MatrixStep],
    inputs: Sequence[str],
    outputs: Sequence[str],
    name: str,
    target: Target = NUMPY,
) -> Callable[..., tuple[Any, ...]]:
    """Return a function of ``inputs`` that runs ``steps`` in order and returns ``outputs``.

    An output named "None" is returned as None (a program with nothing to watch).
    """
    named = {step.rhs: step.name for step in steps if step.stage is Stage.FORWARD}
    builder = _Builder(target.helpers, named, target.elementwise)
    program = [(step.name, builder.of(step.rhs)) for step in steps if step.lhs != LOSS]
    arguments, results = tuple(inputs), tuple(outputs)

    def run(*values: Any) -> tuple[Any, ...]:
        env = dict(zip(arguments, values, strict=True))
        for lhs, node in program:
            env[lhs] = node(env)
        return tuple(None if out == "None" else env[out] for out in results)

    run.__name__ = run.__qualname__ = name
    return run


def expression_function(expr: sp.Basic, names: Sequence[str]) -> Callable[..., Any]:
    """Return a function of the named arrays (and ``B``) that evaluates one matrix expression."""
    node = _Builder(NUMPY.helpers).of(expr)
    arguments = tuple(names)

    def run(*values: Any) -> Any:
        return node(dict(zip(arguments, values, strict=True)))

    return run
