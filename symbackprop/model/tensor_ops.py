"""Structured matrix operations: one class per operation on whole feature maps or sequences.

Model layer. A convolution, a pooling, a slice of a sequence's rows: each is a SymPy matrix
expression (a :class:`TensorOp`) over flattened operands, one column per sample, that carries
everything the rest of the package needs to know about it, so that the reverse sweep, the NumPy
code generator, the per-element view, the printers and the checker's text each reach it through
one ``isinstance(expr, TensorOp)`` branch:

- ``shape`` (SymPy's), from the operands and the integer settings;
- :meth:`TensorOp.adjoint_terms`: the local rule, the term sent back to each operand given the
  adjoint ``G`` of the result, and the rules it cites;
- :meth:`TensorOp.explicit`: the result entry by entry, from explicit SymPy matrices of the
  operands (the per-element view and the symbolic oracle of the tests);
- ``kernel``: the name of the vectorized NumPy function (``derivation/tensor_kernels.py``) called
  as ``kernel(*operand_arrays, *settings)``;
- :meth:`TensorOp.latex`, :meth:`TensorOp.text`, :meth:`TensorOp.formula`: how it is printed in
  LaTeX, in terminal text, and as a user would type it (NumPy-style) in the checker.

The args of a ``TensorOp`` are its operands followed by one ``sp.Tuple`` of integer settings
(sizes, stride, padding, ...), so SymPy can rebuild it with ``expr.func(*expr.args)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import sympy as sp

from symbackprop.model.rulebook import Rule

AdjointTerm = tuple[int, sp.MatrixExpr, tuple[Rule, ...]]  # (operand index, term, rules)
_HOOKS = ("explicit", "latex", "text")


class TensorOp(sp.MatrixExpr):  # type: ignore[misc]
    """Base of the structured operations; subclasses define the hooks below."""

    n_operands: ClassVar[int] = 1
    kernel: ClassVar[str] = ""

    def __new__(cls, *args: object) -> TensorOp:
        operands, settings = args[: cls.n_operands], args[cls.n_operands :]
        if len(settings) == 1 and isinstance(settings[0], (sp.Tuple, tuple)):
            settings = tuple(settings[0])
        packed = sp.Tuple(*(sp.Integer(int(s)) for s in settings))  # type: ignore[call-overload]
        return sp.Basic.__new__(cls, *operands, packed)  # type: ignore[no-any-return]

    @property
    def operands(self) -> tuple[sp.MatrixExpr, ...]:
        return tuple(self.args[:-1])

    @property
    def settings(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.args[-1])

    # --- hooks every concrete operation defines (checked when its class is made) -------------
    # ``shape`` (SymPy's property), ``explicit(*operands)``, ``latex(operand_texts)`` and
    # ``text(operand_texts)``; ``adjoint_terms(G, lhs)`` where the operation can stand in a
    # forward pass (an adjoint-only operation such as a convolution's input gradient has none,
    # and the sweep never meets it).
    if TYPE_CHECKING:

        def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
            """Return, for each operand the result depends on, the term it receives from G."""

        def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
            """Return the result entry by entry, given the operands as explicit matrices."""

        def latex(self, operands: list[str]) -> str:
            """Return the operation in LaTeX, given its operands' LaTeX."""

        def text(self, operands: list[str]) -> str:
            """Return the operation as terminal text, given its operands' text."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.kernel:
            return  # a shared base of several operations (the map operations' settings)
        missing = [hook for hook in _HOOKS if not callable(getattr(cls, hook, None))]
        if cls.shape is sp.MatrixExpr.shape:  # SymPy's own, which only raises
            missing.append("shape")
        if missing:
            raise TypeError(f"{cls.__name__} needs {', '.join(missing)} to be an operation")

    def formula(self, operands: list[str]) -> str:
        """Return the operation as a user types it in the checker (NumPy-style names)."""
        return f"{type(self).__name__.lower()}({', '.join(operands)})"

    def _sympystr(self, printer: object) -> str:
        # str() and repr(): the class and its operands, as a developer reads it.
        return f"{type(self).__name__}({', '.join(str(a) for a in self.args)})"


def columns(expr: sp.MatrixExpr) -> sp.Expr:
    """Return the column count (the batch, B) of a matrix expression."""
    return expr.shape[1]


# --- rows of a matrix: a time step of a sequence, a gate of an LSTM ------------------------------
class Block(TensorOp):
    """Rows ``start`` to ``stop - 1`` of a matrix: a sequence's step, one gate's rows.

    Settings (start, stop) or (start, stop, t): with a time step t the block is the sequence's
    step t and prints as one (X⟨t⟩), not as a range of rows.
    """

    n_operands = 1
    kernel = "block"

    @property
    def start(self) -> int:
        return self.settings[0]

    @property
    def stop(self) -> int:
        return self.settings[1]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (sp.Integer(self.stop - self.start), columns(self.operands[0]))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        total = int(self.operands[0].shape[0])
        return [(0, Embed(G, (self.start, total)), (Rule.BLOCK_ROWS,))]

    @property
    def step(self) -> int | None:
        """The time step this block is (from 1), or None for plain rows."""
        return self.settings[2] if len(self.settings) > 2 else None

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        return operands[0][self.start : self.stop, :]

    def latex(self, operands: list[str]) -> str:
        if self.step is not None:
            return rf"{{{operands[0]}}}_{{\langle {self.step}\rangle}}"
        return rf"\left[{operands[0]}\right]_{{{self.start + 1}:{self.stop}}}"

    def text(self, operands: list[str]) -> str:
        if self.step is not None:
            return f"{operands[0]}⟨{self.step}⟩"
        return f"{operands[0]}[{self.start + 1}:{self.stop}]"

    def formula(self, operands: list[str]) -> str:
        return f"{operands[0]}[{self.start}:{self.stop}]"


class Embed(TensorOp):
    """A matrix placed at rows ``start`` onward of a ``total``-row matrix of zeros."""

    n_operands = 1
    kernel = "embed"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (sp.Integer(self.settings[1]), columns(self.operands[0]))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        start, rows = self.settings[0], int(self.operands[0].shape[0])
        return [(0, Block(G, (start, start + rows)), (Rule.BLOCK_ROWS,))]

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        inner = operands[0]
        start, total = self.settings
        out = sp.zeros(total, inner.cols)
        out[start : start + inner.rows, :] = inner
        return out

    def latex(self, operands: list[str]) -> str:
        start, total = self.settings
        rows = int(self.operands[0].shape[0])
        return (
            rf"\operatorname{{embed}}_{{{start + 1}:{start + rows}}}^{{{total}}}"
            rf"\left({operands[0]}\right)"
        )

    def text(self, operands: list[str]) -> str:
        start, total = self.settings
        rows = int(self.operands[0].shape[0])
        return f"embed[{start + 1}:{start + rows} of {total}]({operands[0]})"


class Stack(TensorOp):
    """Matrices with the same columns stacked on top of each other (a sequence's steps)."""

    kernel = "stack"

    def __new__(cls, *args: object) -> TensorOp:
        operands = [a for a in args if not isinstance(a, (sp.Tuple, tuple))]
        obj = sp.Basic.__new__(cls, *operands, sp.Tuple())
        return obj  # type: ignore[no-any-return]

    @property
    def operands(self) -> tuple[sp.MatrixExpr, ...]:
        return tuple(self.args[:-1])

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        rows = sum(int(o.shape[0]) for o in self.operands)
        return (sp.Integer(rows), columns(self.operands[0]))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        terms: list[AdjointTerm] = []
        start = 0
        for index, operand in enumerate(self.operands):
            stop = start + int(operand.shape[0])
            terms.append((index, Block(G, (start, stop)), (Rule.BLOCK_ROWS,)))
            start = stop
        return terms

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        return sp.Matrix.vstack(*operands)

    def latex(self, operands: list[str]) -> str:
        return r"\begin{bmatrix}" + r" \\ ".join(operands) + r"\end{bmatrix}"

    def text(self, operands: list[str]) -> str:
        return "[" + "; ".join(operands) + "]"

    def formula(self, operands: list[str]) -> str:
        return "vstack([" + ", ".join(operands) + "])"


def stacked_embeds(terms: list[sp.MatrixExpr]) -> sp.MatrixExpr | None:
    """Return Stack(...) when ``terms`` are Embeds of blocks that tile their matrix, else None.

    dZ = embed(dI) + embed(dF) + embed(dG) + embed(dO) reads better as the four gates' deltas
    stacked, which is what it is.
    """
    if len(terms) < 2 or not all(isinstance(t, Embed) for t in terms):
        return None
    placed = sorted(terms, key=lambda t: t.settings[0])
    total, at = placed[0].settings[1], 0
    for term in placed:
        start, size = term.settings[0], int(term.operands[0].shape[0])
        if start != at or term.settings[1] != total:
            return None
        at = start + size
    return Stack(*(t.operands[0] for t in placed)) if at == total else None


class StopGradient(TensorOp):
    """The value of a matrix through which no gradient flows back (truncated BPTT's cut)."""

    kernel = "identity"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.operands[0].shape  # type: ignore[no-any-return]

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        return []

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        return operands[0]

    def latex(self, operands: list[str]) -> str:
        return rf"\operatorname{{stopgrad}}\left({operands[0]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"stopgrad({operands[0]})"
