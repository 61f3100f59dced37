"""NumPy code generated from a matrix derivation's steps, run vectorized over the batch.

Derivation engine. Every step ``lhs = rhs`` becomes one line of Python over NumPy arrays
(``@`` for products, ``*`` for Hadamard products, ``.T``; a product with the ones vector
becomes a sum or a broadcast, never a product with a materialised matrix of ones). The source
is built only from the derivation's own SymPy trees and generated names, never from user text.
A :class:`Target` (NumPy by default) supplies the helpers the source calls and turns each
elementwise body into a function, so the same source can run over another array library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import LOSS, Stage
from symbackprop.derivation.tensor_kernels import KERNELS
from symbackprop.model.functions import numpy_namespace
from symbackprop.model.matrices import ColumnSoftmax
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.tensor_ops import TensorOp

FloatArray = np.ndarray


def softmax_columns(Z: FloatArray) -> FloatArray:
    """Return softmax of each column; subtracting the column's largest entry avoids overflow."""
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return np.asarray(e / e.sum(axis=0, keepdims=True))


def _times_ones_right(X: FloatArray, cols: int) -> FloatArray:
    """X @ 1 (k x cols): each row's sum, repeated in every column."""
    sums = X.sum(axis=1, keepdims=True) if X.shape[1] != 1 else X
    return sums if cols == 1 else np.broadcast_to(sums, (X.shape[0], cols))


def _times_ones_left(rows: int, X: FloatArray) -> FloatArray:
    """1 (rows x k) @ X: each column's sum, repeated in every row."""
    sums = X.sum(axis=0, keepdims=True) if X.shape[0] != 1 else X
    return sums if rows == 1 else np.broadcast_to(sums, (rows, X.shape[1]))


class _Source:
    """Translate one SymPy matrix expression to a Python expression over NumPy arrays."""

    def __init__(
        self,
        functions: dict[str, Callable[..., Any]],
        named: dict[sp.Basic, str] | None = None,
        elementwise: Elementwise | None = None,
    ) -> None:
        self.functions = functions
        self.named = named or {}  # forward right-hand sides -> the name they were given
        self.elementwise = elementwise or _elementwise_numpy

    def of(self, expr: sp.Basic) -> str:
        if isinstance(expr, sp.MatrixSymbol):
            return str(expr.name)
        if isinstance(expr, sp.Symbol):
            return "B" if expr == BATCH else str(expr.name)
        if expr.is_number:
            return repr(float(expr))
        if isinstance(expr, sp.OneMatrix):
            return f"_np.ones(({_dim(expr.shape[0])}, {_dim(expr.shape[1])}))"
        if isinstance(expr, sp.ZeroMatrix):  # a typed formula that cancels to 0
            return f"_np.zeros(({_dim(expr.shape[0])}, {_dim(expr.shape[1])}))"
        if isinstance(expr, (sp.MatAdd, sp.Add)):
            return "(" + " + ".join(self.of(t) for t in expr.args) + ")"
        if isinstance(expr, sp.MatMul):
            return self._product(expr)
        if isinstance(expr, sp.Mul):
            return "(" + " * ".join(self.of(f) for f in expr.args) + ")"
        if isinstance(expr, sp.Pow):
            return f"({self.of(expr.base)} ** {self.of(expr.exp)})"
        if isinstance(expr, sp.Transpose):
            return f"{self.of(expr.arg)}.T"
        if isinstance(expr, sp.HadamardProduct):
            return "(" + " * ".join(self.of(f) for f in expr.args) + ")"
        if isinstance(expr, sp.HadamardPower):
            return f"({self.of(expr.args[0])} ** {self.of(expr.args[1])})"
        if isinstance(expr, ElementwiseApplyFunction):
            return self._elementwise(expr)
        if isinstance(expr, ColumnSoftmax):
            return f"_softmax_columns({self.of(expr.argument)})"
        if isinstance(expr, TensorOp):
            arguments = [self.of(o) for o in expr.operands] + [str(s) for s in expr.settings]
            return f"_kernels[{expr.kernel!r}]({', '.join(arguments)})"
        raise AssertionError(
            f"no NumPy form for {type(expr).__name__}; a bug: only the above are ever built"
        )

    def _product(self, expr: sp.MatMul) -> str:
        coefficient, factors = expr.as_coeff_matrices()
        text: str | None = None
        pending_rows: str | None = None  # a leading 1 (rows x k) waiting for its right operand
        for factor in factors:
            if isinstance(factor, sp.OneMatrix):
                if text is None:
                    pending_rows = _dim(factor.shape[0])
                else:
                    text = f"_times_ones_right({text}, {_dim(factor.shape[1])})"
                continue
            operand = self.of(factor)
            text = operand if text is None else f"({text} @ {operand})"
            if pending_rows is not None:
                text = f"_times_ones_left({pending_rows}, {text})"
                pending_rows = None
        if text is None:
            shape = expr.shape
            text = f"_np.ones(({_dim(shape[0])}, {_dim(shape[1])}))"
        return text if coefficient == 1 else f"({self.of(coefficient)} * {text})"

    def _elementwise(self, expr: ElementwiseApplyFunction) -> str:
        """f(Z), or f'(Z) written in f's own value where it can be (sigma' = A o (1 - A))."""
        name = f"_f{len(self.functions)}"
        variable, body = expr.function.variables[0], expr.function.expr
        argument = self.of(expr.expr)
        if not isinstance(body, sp.Derivative):
            self.functions[name] = self.elementwise([variable], body)
            return f"{name}({argument})"
        applied = body.expr
        derivative = body.doit()
        value_name = self.named.get(
            ElementwiseApplyFunction(sp.Lambda(variable, applied), expr.expr)
        )
        value = sp.Symbol("_value")
        if value_name is not None and derivative.has(applied):
            self.functions[name] = self.elementwise(
                [variable, value], derivative.subs(applied, value)
            )
            return f"{name}({argument}, {value_name})"
        self.functions[name] = self.elementwise([variable], derivative)
        return f"{name}({argument})"


def _dim(size: sp.Expr) -> str:
    return "B" if size == BATCH else str(int(size))


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


NUMPY = Target(
    "numpy",
    {
        "_np": np,
        "_kernels": KERNELS,
        "_softmax_columns": softmax_columns,
        "_times_ones_right": _times_ones_right,
        "_times_ones_left": _times_ones_left,
    },
    _elementwise_numpy,
)


def generate(
    steps: Sequence[MatrixStep],
    inputs: Sequence[str],
    outputs: Sequence[str],
    name: str,
    target: Target = NUMPY,
) -> Callable[..., tuple[Any, ...]]:
    """Return a function of ``inputs`` that runs ``steps`` in order and returns ``outputs``."""
    functions: dict[str, Callable[..., Any]] = {}
    named = {step.rhs: step.name for step in steps if step.stage is Stage.FORWARD}
    source = _Source(functions, named, target.elementwise)
    lines = [f"def {name}({', '.join(inputs)}):"]
    for step in steps:
        if step.lhs == LOSS:
            continue
        lines.append(f"    {step.name} = {source.of(step.rhs)}")
    lines.append(f"    return ({', '.join(outputs)},)")
    namespace = _namespace(functions, target)
    code = compile("\n".join(lines), f"<symbackprop matrix program {name}>", "exec")
    exec(code, namespace)  # noqa: S102 (source generated from the derivation's own trees)
    return namespace[name]  # type: ignore[no-any-return]


def expression_function(expr: sp.Basic, names: Sequence[str]) -> Callable[..., Any]:
    """Return a function of the named arrays (and ``B``) that evaluates one matrix expression."""
    functions: dict[str, Callable[..., Any]] = {}
    body = _Source(functions).of(expr)
    step_source = f"def _expression({', '.join(names)}):\n    return {body}"
    namespace = _namespace(functions)
    exec(compile(step_source, "<symbackprop expression>", "exec"), namespace)  # noqa: S102
    return namespace["_expression"]  # type: ignore[no-any-return]


def _namespace(functions: dict[str, Callable[..., Any]], target: Target = NUMPY) -> dict[str, Any]:
    return {**target.helpers, **functions}
