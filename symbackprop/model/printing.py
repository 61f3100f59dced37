"""The one printer of the package: SymPy -> LaTeX and terminal text in the book's notation.

Model layer. Names come from :mod:`symbackprop.model.notation`; each function of
:mod:`symbackprop.model.functions` has its ``_print_<Class>`` method here. HTML, Markdown and
worksheets reuse the LaTeX this printer writes.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symbackprop.model import notation
from symbackprop.model.tensor_ops import TensorOp


def _ordered_terms(expr: sp.Add) -> list[sp.Expr]:
    """Order a sum as a book does: z = w1 x1 + w2 x2 + b, then w - eta g, a - y, 1 - a.

    Weight-times-input products come first, then positive terms, then negative ones; within
    each group SymPy's print order is kept, except that terms alike but for their indices
    follow the indices as numbers (y1, y2, ..., y10, not y1, y10, y2)."""
    terms = _natural_order(expr.as_ordered_terms())

    def is_weighted_input(term: sp.Expr) -> bool:
        factors = term.args if term.is_Mul else ()
        return len(factors) >= 2 and all(f.is_Symbol for f in factors)

    def rank(term: sp.Expr) -> tuple[int, list[object]]:
        if is_weighted_input(term):
            # w_{1,3} d_1 + w_{2,3} d_2 + ... + w_{10,3} d_10: indices compared as numbers.
            return (0, _natural_key(str(term)))
        return (2 if term.could_extract_minus_sign() else 1, [])

    return sorted(terms, key=rank)


def _natural_order(terms: list[sp.Expr]) -> list[sp.Expr]:
    """Sort terms that differ only in their digits by those digits as numbers, in place."""
    shapes: dict[str, list[sp.Expr]] = {}
    for term in terms:
        shapes.setdefault(re.sub(r"\d+", "#", str(term)), []).append(term)
    ordered = {shape: iter(sorted(alike, key=lambda t: _natural_key(str(t))))
               for shape, alike in shapes.items()}  # fmt: skip
    return [next(ordered[re.sub(r"\d+", "#", str(term))]) for term in terms]


def _natural_key(text: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _matrix_terms(expr: sp.Basic) -> list[sp.Basic]:
    """Order a matrix sum as a book does: X ⋆ K + b 1ᵀ, W A + b 1ᵀ, A − Y.

    A bias broadcast over the batch (a product ending in 1ᵀ) comes after the other terms, and
    negative terms come last; otherwise SymPy's order is kept."""

    def is_broadcast(term: sp.Basic) -> bool:
        if not isinstance(term, sp.MatMul):
            return False
        last = term.args[-1]
        return isinstance(last, sp.OneMatrix) and last.shape[0] == 1

    return sorted(expr.args, key=lambda t: (t.could_extract_minus_sign(), is_broadcast(t)))


class NotationPrinter(LatexPrinter):
    """LaTeX in textbook notation: w^{(2)}_{11}, delta^{(2)}_{1}, sigma(z), dL/da."""

    printmethod = "_symbackprop_latex"

    def __init__(self, values: dict[str, float] | None = None, matrix: bool = False) -> None:
        # With numbers in place of symbols, 0.15 0.05 must read 0.15 \cdot 0.05.
        super().__init__({"order": "none", "mul_symbol": "dot" if values else None})
        self.values = values or {}
        # matrix: a network of layers' matrix program (Z^{(2)}, \bar{A}^{(1)}, ^{\top}, \odot);
        # otherwise the per-neuron names and the MLP's layer view (z^{(2)}, ^{T}, \circ).
        self.matrix = matrix

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        if expr.name in self.values:
            return _shown(self.values[expr.name], number_latex)
        if self.matrix:
            return notation.program_latex(expr.name)
        return notation.latex_name(expr.name)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        if self.matrix:
            return notation.program_latex(str(expr.name))
        return notation.latex_matrix_name(str(expr.name))

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        return str(super()._print_Add(sp.Add(*_ordered_terms(expr), evaluate=False), "none"))

    def _print_MatAdd(self, expr: sp.Basic) -> str:
        terms = _matrix_terms(expr)
        if self.matrix:
            return _joined_terms([self._print(t) for t in terms])

        text = " + ".join(self._print(t) for t in terms)
        return text.replace("+ -", "- ")

    def _print_OneMatrix(self, expr: sp.Basic) -> str:
        if self.matrix:
            # 1 (n x 1) sums the columns' entries, 1^T (1 x B) broadcasts a column, 1 1^T both.
            if expr.shape[0] == 1:
                return "\\mathbf{1}^{\\top}"
            return "\\mathbf{1}" if expr.shape[1] == 1 else "\\mathbf{1}\\mathbf{1}^{\\top}"
        return "\\mathbf{1}^{T}" if expr.shape[0] == 1 else "\\mathbf{1}"

    # --- matrix programs ------------------------------------------------------------------
    def _print_MatMul(self, expr: sp.Basic) -> str:
        if not self.matrix:
            return str(super()._print_MatMul(expr))
        coefficient, factors = expr.as_coeff_matrices()
        sign = ""
        if coefficient.could_extract_minus_sign():
            sign, coefficient = "- ", -coefficient
        parts = [] if coefficient == 1 else [self._print(coefficient)]
        parts += [self._grouped(f, (sp.MatAdd, sp.HadamardProduct)) for f in factors]
        return sign + " ".join(parts)

    def _print_Transpose(self, expr: sp.Basic) -> str:
        if not self.matrix:
            return str(super()._print_Transpose(expr))
        return self._superscripted(expr.arg, "\\top")

    def _print_HadamardProduct(self, expr: sp.Basic) -> str:
        if not self.matrix:
            return str(super()._print_HadamardProduct(expr))
        kinds = (sp.MatAdd, sp.MatMul, sp.HadamardProduct)
        return " \\odot ".join(self._grouped(f, kinds) for f in expr.args)

    def _print_HadamardPower(self, expr: sp.Basic) -> str:
        if not self.matrix:
            return str(super()._print_HadamardPower(expr))
        base, exponent = expr.args
        return f"\\left({self._print(base)}\\right)^{{\\circ\\,{_exponent(exponent)}}}"

    def _print_ColumnSoftmax(self, expr: sp.Basic) -> str:
        argument = self._print(expr.args[0])
        return f"\\operatorname{{softmax}}_{{\\mathrm{{col}}}}\\left({argument}\\right)"

    def _print_TensorOp(self, expr: TensorOp) -> str:
        return expr.latex([self._print(o) for o in expr.operands])

    def _grouped(self, factor: sp.Basic, kinds: tuple[type, ...]) -> str:
        """Print a factor, in parentheses when it is one of ``kinds`` (not a lone name)."""
        text = self._print(factor)
        if isinstance(factor, kinds) and not isinstance(factor, (sp.MatrixSymbol, sp.OneMatrix)):
            if not isinstance(factor, (sp.Transpose, ElementwiseApplyFunction)):
                return f"({text})"
        return text

    def _superscripted(self, base: sp.Basic, mark: str) -> str:
        """Put a mark (\\top) on a name's own superscript: W^{(2)\\top}; else (...)^{mark}."""
        text = self._print(base)
        if isinstance(base, (sp.MatrixSymbol, sp.OneMatrix)):
            match = re.fullmatch(r"(.*)\^\{([^{}]*)\}", text)
            if match:
                return f"{match[1]}^{{{match[2]}{mark}}}"
            return f"{text}^{{{mark}}}"
        return f"\\left({text}\\right)^{{{mark}}}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        ordered = expr if expr.args and expr.args[0] == -1 else _ordered_factors(expr)
        if self.values or not any(_is_word(self._print(f)) for f in _named_factors(expr)):
            return str(super()._print_Mul(ordered))
        # g gate would run together as "ggate": a product with a word in it gets a dot.
        settings = self._settings
        juxtaposed = settings["mul_symbol_latex"]
        settings["mul_symbol_latex"] = r" \cdot "
        try:
            return str(super()._print_Mul(ordered))
        finally:
            settings["mul_symbol_latex"] = juxtaposed

    def _print_Pow(self, expr: sp.Pow) -> str:
        base = expr.base
        if base.is_Symbol and base.name.startswith(notation.gradient_name("")) and not self.values:
            # A gradient squared (RMSProp, Adam): the fraction in parentheses, then the power.
            inner = self._print(base)
            return f"\\left({inner}\\right)^{{{self._print(expr.exp)}}}"
        return str(super()._print_Pow(expr))

    def _print_Sigmoid(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\sigma", expr, exp)

    def _print_Relu(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\operatorname{relu}", expr, exp)

    def _print_LeakyRelu(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\operatorname{lrelu}", expr, exp)

    def _print_Softplus(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\operatorname{softplus}", expr, exp)

    def _print_Step(self, expr: sp.Expr, exp: str | None = None) -> str:
        # The indicator 1[z > 0]: the step is 0 at z = 0 (the convention for relu'(0)).
        inner = f"\\mathbf{{1}}\\left[{self._print(expr.args[0])} > 0\\right]"
        return f"{inner}^{{{exp}}}" if exp else inner

    def _print_LeakyStep(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\operatorname{lrelu}'", expr, exp)

    def _print_Tanh(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\tanh", expr, exp)

    def _print_Sign(self, expr: sp.Expr, exp: str | None = None) -> str:
        return self._function("\\operatorname{sign}", expr, exp)

    def _print_Softmax(self, expr: sp.Expr, exp: str | None = None) -> str:
        index = self._print(expr.args[0])
        args = ", ".join(self._print(z) for z in expr.args[1:])
        inner = f"\\operatorname{{softmax}}_{{{index}}}\\left({args}\\right)"
        return f"{inner}^{{{exp}}}" if exp else inner

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        # f(z) applied elementwise, or f'(z) when the lambda's body is a derivative.
        body = expr.function.expr
        argument = self._print(expr.expr)
        if isinstance(body, sp.Derivative):
            name = self._function_name(body.expr)
            return f"{name}'\\left({argument}\\right)"
        return f"{self._function_name(body)}\\left({argument}\\right)"

    def _function_name(self, applied: sp.Expr) -> str:
        names = {"Sigmoid": "\\sigma", "tanh": "\\tanh", "Tanh": "\\tanh",
                 "Relu": "\\operatorname{relu}",
                 "LeakyRelu": "\\operatorname{lrelu}", "Softplus": "\\operatorname{softplus}",
                 "softmax": "\\operatorname{softmax}", "log": "\\log"}  # fmt: skip
        if applied.is_Symbol:
            return "\\operatorname{id}"
        return names.get(type(applied).__name__, f"\\operatorname{{{type(applied).__name__}}}")

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        if len(expr.variables) == 1 and (expr.expr.is_Symbol or expr.variables[0].is_Matrix):
            top = self._print(expr.expr)
            bottom = self._print(expr.variables[0])
            return f"\\frac{{\\partial {top}}}{{\\partial {bottom}}}"
        return str(super()._print_Derivative(expr))

    def _function(self, name: str, expr: sp.Expr, exp: str | None) -> str:
        inner = f"{name}\\left({self._print(expr.args[0])}\\right)"
        return f"{name}^{{{exp}}}\\left({self._print(expr.args[0])}\\right)" if exp else inner


_SUPERSCRIPT = str.maketrans("0123456789-/", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻ᐟ")


def _named_factors(expr: sp.Mul) -> list[sp.Symbol]:
    """The symbols that are factors of a product, or bases of its powers (gate in gate**2)."""
    bases = [f.base if f.is_Pow else f for f in expr.args]
    return [base for base in bases if base.is_Symbol]


def _is_word(tex: str) -> bool:
    """Does a printed name start with an upright word of several letters (\\mathrm{gate})?"""
    return tex.startswith(r"\mathrm{")


def _joined_terms(printed: list[str]) -> str:
    """Join printed terms with +, negative ones last and + - turned into -: W - eta dW."""
    terms = sorted(printed, key=lambda t: t.startswith("- "))
    text = terms[0]
    for term in terms[1:]:
        text += f" - {term[2:]}" if term.startswith("- ") else f" + {term}"
    return text


def _exponent(exponent: sp.Basic) -> str:
    """Print an elementwise power's exponent inline: 2, -1/2, -3/2."""
    if isinstance(exponent, sp.Rational) and not exponent.is_Integer:
        return f"{exponent.p}/{exponent.q}"
    return str(exponent)


_LONE_STAR = re.compile(r"(?<!\*)\*(?!\*)")


def format_number(value: float) -> str:
    """Format a value as the book prints it: 9 decimals, trailing zeros dropped."""
    value = float(value)
    if value == 0:
        return "0"
    if 1e-4 <= abs(value) < 1e6:
        text = f"{value:.9f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return f"{value:.9g}"


def number_parts(value: float, significant: int | None = None) -> tuple[str, int]:
    """Split a value as the book prints it into a mantissa and a power of ten: (3.75, -5).

    The power is 0 for values format_number writes without one; ``significant`` digits force
    the scientific form (relative errors: 3.2 x 10^-10)."""
    value = float(value)
    if significant is None:
        text = format_number(value)
    elif value == 0 or not math.isfinite(value):
        return format_number(value), 0
    else:
        text = f"{value:.{significant - 1}e}"
    if "e" not in text:
        return text, 0
    mantissa, exponent = text.split("e")
    return mantissa, int(exponent)


def number_text(value: float, significant: int | None = None) -> str:
    """Format a value for reading as text: 0.3775, 3.75065275×10⁻⁵ (never 3.75065275e-05)."""
    mantissa, exponent = number_parts(value, significant)
    return mantissa if exponent == 0 else f"{mantissa}×10{str(exponent).translate(_SUPERSCRIPT)}"


def number_latex(value: float, significant: int | None = None) -> str:
    """Format a value as LaTeX: 0.3775, 3.75065275 \\times 10^{-5}."""
    mantissa, exponent = number_parts(value, significant)
    return mantissa if exponent == 0 else f"{mantissa} \\times 10^{{{exponent}}}"


def _ordered_factors(expr: sp.Mul) -> sp.Mul:
    """Order a product as a book does: numbers, then weights and biases, then the rest (w delta)."""

    def rank(factor: sp.Expr) -> int:
        if factor.is_Number:
            return 0
        if factor.is_Symbol and (
            notation.is_parameter_like(factor.name) or factor.name == notation.LEARNING_RATE
        ):
            return 1
        return 2

    return sp.Mul(*sorted(sp.Mul.make_args(expr), key=rank), evaluate=False)


class TextPrinter(StrPrinter):
    """Terminal text in textbook notation with Unicode: δ⁽²⁾₁ = (a⁽²⁾₁ - y₁)·a⁽²⁾₁·(1 - a⁽²⁾₁)."""

    printmethod = "_symbackprop_text"

    def __init__(self, values: dict[str, float] | None = None, matrix: bool = False) -> None:
        super().__init__({"order": "none"})
        self.values = values or {}
        self.matrix = matrix  # a matrix program's names and operations (see NotationPrinter)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr.name in self.values:
            return _shown(self.values[expr.name])
        if self.matrix:
            return notation.program_unicode(expr.name)
        return notation.unicode_name(expr.name)

    # --- matrix programs (only reached with matrix=True: scalar programs have no matrices) --
    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        if self.matrix:
            return notation.program_unicode(str(expr.name))
        return str(expr.name)

    def _print_MatAdd(self, expr: sp.Basic) -> str:
        if not self.matrix:
            return str(super()._print_MatAdd(expr))
        terms = _matrix_terms(expr)
        return _joined_terms([self._print(t) for t in terms]).replace(" - ", " − ")

    def _print_MatMul(self, expr: sp.Basic) -> str:
        if not self.matrix:
            return str(super()._print_MatMul(expr))
        coefficient, factors = expr.as_coeff_matrices()
        sign = ""
        if coefficient.could_extract_minus_sign():
            sign, coefficient = "- ", -coefficient
        parts = [] if coefficient == 1 else [self._coefficient(coefficient)]
        parts += [self._grouped(f, (sp.MatAdd, sp.HadamardProduct)) for f in factors]
        return sign + " ".join(parts)

    def _coefficient(self, coefficient: sp.Basic) -> str:
        text = self._print(coefficient)
        return f"({text})" if "/" in text or " " in text else text

    def _print_OneMatrix(self, expr: sp.Basic) -> str:
        if expr.shape[0] == 1:
            return "𝟏ᵀ"
        return "𝟏" if expr.shape[1] == 1 else "𝟏𝟏ᵀ"

    def _print_Transpose(self, expr: sp.Basic) -> str:
        text = self._print(expr.arg)
        if isinstance(expr.arg, (sp.MatrixSymbol, sp.OneMatrix)):
            return text + "ᵀ"
        return f"({text})ᵀ"

    def _print_HadamardProduct(self, expr: sp.Basic) -> str:
        kinds = (sp.MatAdd, sp.MatMul, sp.HadamardProduct)
        return " ⊙ ".join(self._grouped(f, kinds) for f in expr.args)

    def _print_HadamardPower(self, expr: sp.Basic) -> str:
        base, exponent = expr.args
        power = _exponent(exponent).translate(_SUPERSCRIPT)
        return f"({self._print(base)})∘{power}"

    def _print_ColumnSoftmax(self, expr: sp.Basic) -> str:
        return f"softmax_col({self._print(expr.args[0])})"

    def _print_TensorOp(self, expr: TensorOp) -> str:
        return expr.text([self._print(o) for o in expr.operands])

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        body = expr.function.expr
        argument = self._print(expr.expr)
        if isinstance(body, sp.Derivative):
            return f"{_text_function_name(body.expr)}′({argument})"
        return f"{_text_function_name(body)}({argument})"

    def _grouped(self, factor: sp.Basic, kinds: tuple[type, ...]) -> str:
        text = self._print(factor)
        return f"({text})" if isinstance(factor, kinds) else text

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        return str(super()._print_Add(sp.Add(*_ordered_terms(expr), evaluate=False), "none"))

    def _print_Mul(self, expr: sp.Mul) -> str:
        if expr.args and expr.args[0] == -1:
            return "-" + self._print_Mul(-expr) if (-expr).is_Mul else str(super()._print_Mul(expr))
        return _LONE_STAR.sub("·", str(super()._print_Mul(_ordered_factors(expr))))

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        exponent = expr.exp
        if (exponent.is_Integer and int(exponent) >= 2) or exponent.is_Symbol:
            base = self.parenthesize(expr.base, sp.printing.precedence.PRECEDENCE["Pow"])
            if expr.base.is_Symbol and "/" in base:
                base = f"({base})"  # (∂L/∂w)², not ∂L/∂w²
            if exponent.is_Symbol:
                return f"{base}^{self._print(exponent)}"  # Adam's beta1^t
            return f"{base}{str(int(exponent)).translate(_SUPERSCRIPT)}"
        return str(super()._print_Pow(expr, rational))

    def _print_Sigmoid(self, expr: sp.Expr) -> str:
        return f"σ({self._print(expr.args[0])})"

    def _print_Step(self, expr: sp.Expr) -> str:
        return f"1[{self._print(expr.args[0])} > 0]"

    def _print_LeakyStep(self, expr: sp.Expr) -> str:
        return f"lrelu′({self._print(expr.args[0])})"

    def _print_Tanh(self, expr: sp.Expr) -> str:
        return f"tanh({self._print(expr.args[0])})"

    def _print_Sign(self, expr: sp.Expr) -> str:
        return f"sign({self._print(expr.args[0])})"

    def _print_Relu(self, expr: sp.Expr) -> str:
        return f"relu({self._print(expr.args[0])})"

    def _print_LeakyRelu(self, expr: sp.Expr) -> str:
        return f"lrelu({self._print(expr.args[0])})"

    def _print_Softplus(self, expr: sp.Expr) -> str:
        return f"softplus({self._print(expr.args[0])})"

    def _print_Softmax(self, expr: sp.Expr) -> str:
        args = ", ".join(self._print(z) for z in expr.args[1:])
        return f"softmax{str(expr.args[0])}({args})"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        if len(expr.variables) == 1 and expr.expr.is_Symbol:
            return f"∂{self._print(expr.expr)}/∂{self._print(expr.variables[0])}"
        return str(super()._print_Derivative(expr))


def _text_function_name(applied: sp.Expr) -> str:
    if applied.is_Symbol:
        return "id"
    names = {"Sigmoid": "σ", "Relu": "relu", "LeakyRelu": "lrelu", "Softplus": "softplus"}
    name = type(applied).__name__
    return names.get(name, name.lower())


def _shown(value: float, show: Callable[[float], str] = number_text) -> str:
    text = show(value)
    return f"({text})" if text.startswith("-") else text


# A negative number shown for a symbol is parenthesised, which doubles the parentheses of a
# call whose whole argument it is: tanh((-0.23)) -> tanh(-0.23).
_DOUBLED_LATEX = re.compile(r"\\left\(\((-[0-9.]+(?: \\times 10\^\{-?\d+\})?)\)\s*\\right\)")
_LEADING_MINUS = re.compile(r"(^|\()- ")
_DOUBLED_TEXT = re.compile(r"\(\((-[0-9.]+(?:×10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?)\)\)")


def to_latex(expr: sp.Basic, values: dict[str, float] | None = None, matrix: bool = False) -> str:
    """Print an expression as LaTeX in the book's notation (with ``values``: the numbers).

    ``matrix``: an expression of a network of layers' matrix program (Z^{(2)}, W^{(2)\\top})."""
    if not values and expr.__hash__ is not None:  # a mutable Matrix is not hashable
        return _symbolic_latex(expr, matrix)
    text = str(NotationPrinter(values, matrix).doprint(expr))
    return _DOUBLED_LATEX.sub(r"\\left(\1\\right)", text) if values else text


@functools.lru_cache(maxsize=4096)
def _symbolic_latex(expr: sp.Basic, matrix: bool) -> str:
    """The LaTeX of an expression without numbers, printed once: a class's worksheets and a
    report's sections print the same formulas again and again."""
    return str(NotationPrinter(None, matrix).doprint(expr))


def to_text(expr: sp.Basic, values: dict[str, float] | None = None, matrix: bool = False) -> str:
    """Print an expression as one line of Unicode terminal text (with ``values``: numbers)."""
    text = str(TextPrinter(values, matrix).doprint(expr))
    if matrix:
        text = _LEADING_MINUS.sub(r"\1−", text)
    return _DOUBLED_TEXT.sub(r"(\1)", text) if values else text
