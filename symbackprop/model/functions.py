"""SymPy functions the textbooks use, each with its derivative (fdiff) and a stable NumPy form.

Model layer. The LaTeX form of each function is a ``_print_<Class>`` method of
:class:`symbackprop.model.printing.NotationPrinter`; the NumPy form is what compiled code calls.
Every function a user may write in an expression is registered in ``FUNCTIONS`` right below
its definition; the safe parser accepts exactly these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from symbackprop.model.registry import Registry
from symbackprop.model.rulebook import Rule

FloatArray = NDArray[np.float64]

# A tiny positive number for logarithms: log(0) would be -inf and 0 * -inf is NaN, so a
# probability that underflowed to exactly 0 is read as the smallest normal float instead.
_TINY = np.finfo(np.float64).tiny


def _is_number(x: sp.Expr) -> bool:
    return bool(x.is_number) and bool(x.is_real)


class Sigmoid(sp.Function):
    """sigma(x) = 1 / (1 + e^(-x)), whose derivative is sigma(x) (1 - sigma(x))."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        s = Sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        if _is_number(self.args[0]):
            return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)
        return None

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_real


def _sigmoid_numpy(z: FloatArray) -> FloatArray:
    # sigma(z) = 1 / (1 + e^-z) is accurate for every z; only e^-z can overflow (z < -709.78).
    # Capping -z at 709 keeps it finite, and there sigma < 1e-307 is zero to float64 precision.
    # One new array, then in place: as fast as the unguarded formula.
    t = np.negative(z, dtype=np.float64, out=np.empty(np.shape(z)))
    np.minimum(t, 709.0, out=t)
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


class Step(sp.Function):
    """H(x): 1 for x > 0, else 0 (the convention H(0) = 0, so relu'(0) = 0)."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _is_number(x):
            return sp.Integer(1) if x > 0 else sp.Integer(0)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # Zero everywhere except at the jump, where no derivative exists.
        return sp.Integer(0)

    def _eval_rewrite_as_Piecewise(  # noqa: N802 (SymPy looks this name up)
        self, x: sp.Expr, **kwargs: Any
    ) -> sp.Expr:
        return sp.Piecewise((1, x > 0), (0, True))


def _step_numpy(z: FloatArray) -> FloatArray:
    return (np.asarray(z) > 0).astype(np.float64)


class Relu(sp.Function):
    """relu(x) = max(x, 0), whose derivative is the step H(x) (taken as 0 at x = 0)."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _is_number(x):
            return x if x > 0 else sp.Integer(0)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return Step(self.args[0])

    def _eval_rewrite_as_Max(  # noqa: N802 (SymPy looks this name up)
        self, x: sp.Expr, **kwargs: Any
    ) -> sp.Expr:
        return sp.Max(x, 0)


def _relu_numpy(z: FloatArray) -> FloatArray:
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


LEAKY_SLOPE = sp.Rational(1, 100)


class LeakyStep(sp.Function):
    """The derivative of leaky_relu: 1 for x > 0, else the leak 0.01 (also at x = 0)."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _is_number(x):
            return sp.Integer(1) if x > 0 else LEAKY_SLOPE
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.Integer(0)

    def _eval_rewrite_as_Piecewise(  # noqa: N802 (SymPy looks this name up)
        self, x: sp.Expr, **kwargs: Any
    ) -> sp.Expr:
        return sp.Piecewise((1, x > 0), (LEAKY_SLOPE, True))


def _leaky_step_numpy(z: FloatArray) -> FloatArray:
    return np.where(np.asarray(z) > 0, 1.0, float(LEAKY_SLOPE))


class LeakyRelu(sp.Function):
    """leaky_relu(x) = x for x > 0, else 0.01 x."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _is_number(x):
            return x if x > 0 else LEAKY_SLOPE * x
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return LeakyStep(self.args[0])

    def _eval_rewrite_as_Piecewise(  # noqa: N802 (SymPy looks this name up)
        self, x: sp.Expr, **kwargs: Any
    ) -> sp.Expr:
        return sp.Piecewise((x, x > 0), (LEAKY_SLOPE * x, True))


def _leaky_relu_numpy(z: FloatArray) -> FloatArray:
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, float(LEAKY_SLOPE) * z)


class Sign(sp.Function):
    """sign(x): 1 for x > 0, -1 for x < 0, 0 at 0 (the L1 penalty's derivative, as torch's)."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if _is_number(x):
            return sp.Integer(1 if x > 0 else (-1 if x < 0 else 0))
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # Zero everywhere except at the jump, where no derivative exists.
        return sp.Integer(0)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_rewrite_as_Piecewise(  # noqa: N802 (SymPy looks this name up)
        self, x: sp.Expr, **kwargs: Any
    ) -> sp.Expr:
        return sp.Piecewise((1, x > 0), (-1, x < 0), (0, True))


def _sign_numpy(z: FloatArray) -> FloatArray:
    return np.sign(np.asarray(z, dtype=np.float64))


class Softplus(sp.Function):
    """softplus(x) = log(1 + e^x), whose derivative is sigma(x)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return Sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.log(1 + sp.exp(x))

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        if _is_number(self.args[0]):
            return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)
        return None


def _softplus_numpy(z: FloatArray) -> FloatArray:
    return np.logaddexp(0.0, np.asarray(z, dtype=np.float64))


class Tanh(sp.Function):
    """tanh(x) = (e^x - e^(-x)) / (e^x + e^(-x)), whose derivative is 1 - tanh(x)^2.

    SymPy's own tanh asks whether its argument is real by expanding it, which takes seconds for
    a long sum of symbols; here a real argument gives a real value, and that is all.
    """

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_zero:
            return sp.Integer(0)
        if x.could_extract_minus_sign():
            return -cls(-x)  # tanh is odd: tanh(-z) = -tanh(z), as SymPy writes it
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return 1 - Tanh(self.args[0]) ** 2

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return (sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x))

    def _eval_rewrite_as_tanh(self, x: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.tanh(x)

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        if _is_number(self.args[0]):
            return sp.tanh(self.args[0])._eval_evalf(prec)
        return None

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


def _tanh_numpy(z: FloatArray) -> FloatArray:
    return np.tanh(np.asarray(z, dtype=np.float64))


class Softmax(sp.Function):
    """softmax_i(z_1, ..., z_n) = e^(z_i) / sum_k e^(z_k); args are (i, z_1, ..., z_n), i 1-based.

    d softmax_i / d z_k = softmax_i (delta_ik - softmax_k).
    """

    @classmethod
    def eval(cls, i: sp.Expr, *z: sp.Expr) -> sp.Expr | None:
        if not (i.is_Integer and 1 <= int(i) <= len(z)):
            raise ValueError("softmax needs an index between 1 and the number of its arguments")
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex < 2:
            raise sp.ArgumentIndexError(self, argindex)
        i = int(self.args[0])
        k = argindex - 1
        zs = self.args[1:]
        s_i = Softmax(i, *zs)
        s_k = Softmax(k, *zs)
        return s_i * (1 - s_k) if i == k else -s_i * s_k

    def _eval_rewrite_as_exp(self, i: sp.Expr, *z: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.exp(z[int(i) - 1]) / sp.Add(*[sp.exp(zk) for zk in z])

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        if all(_is_number(zk) for zk in self.args[1:]):
            return self.rewrite(sp.exp)._eval_evalf(prec)
        return None


def _softmax_numpy(i: int, *z: FloatArray) -> FloatArray:
    # Subtracting the largest z keeps every exponent <= 0, so nothing overflows.
    stacked = np.stack(np.broadcast_arrays(*[np.asarray(zk, dtype=np.float64) for zk in z]))
    shifted = stacked - stacked.max(axis=0)
    e = np.exp(shifted)
    return e[int(i) - 1] / e.sum(axis=0)


def _safe_log(x: FloatArray) -> FloatArray:
    x = np.asarray(x, dtype=np.float64)
    return np.log(np.where((x >= 0) & (x < _TINY), _TINY, x))


def _safe_exp(x: FloatArray) -> FloatArray:
    # e^709 is the largest finite float64; beyond it the value is clipped, not inf.
    return np.exp(np.minimum(np.asarray(x, dtype=np.float64), 709.0))


@dataclass(frozen=True, slots=True)
class Function:
    """A function a user may call in an expression: its SymPy form and its NumPy form."""

    name: str  # the name users write, e.g. "sigmoid"
    sympy_form: Callable[..., sp.Expr]
    numpy_name: str  # the name SymPy's printers use for it in generated code
    numpy_form: Callable[..., FloatArray] | None  # None: NumPy's own function serves
    rule: Rule = Rule.ELEMENTARY  # what a derivation cites when it differentiates this function
    arity: int = 1

    @property
    def numpy_form_required(self) -> Callable[..., FloatArray]:
        """Return the NumPy form; only for entries that have their own."""
        if self.numpy_form is None:
            raise ValueError(f"function {self.name!r} uses NumPy's own form")
        return self.numpy_form


FUNCTIONS: Registry[Function] = Registry("function")


def register_function(entry: Function) -> Function:
    """Add a function to the registry the parser and the compiler read."""
    return FUNCTIONS.register(entry)


SIGMOID = register_function(
    Function("sigmoid", Sigmoid, "Sigmoid", _sigmoid_numpy, Rule.SIGMOID_IDENTITY)
)
STEP = register_function(Function("step", Step, "Step", _step_numpy))
RELU = register_function(Function("relu", Relu, "Relu", _relu_numpy, Rule.RELU_STEP))
LEAKY_STEP = register_function(Function("leaky_step", LeakyStep, "LeakyStep", _leaky_step_numpy))
LEAKY_RELU = register_function(
    Function("leaky_relu", LeakyRelu, "LeakyRelu", _leaky_relu_numpy, Rule.LEAKY_RELU_STEP)
)
SIGN = register_function(Function("sign", Sign, "Sign", _sign_numpy))
SOFTPLUS = register_function(
    Function("softplus", Softplus, "Softplus", _softplus_numpy, Rule.SOFTPLUS_SIGMOID)
)
TANH = register_function(Function("tanh", Tanh, "Tanh", _tanh_numpy, Rule.TANH_IDENTITY))
EXP = register_function(Function("exp", sp.exp, "exp", _safe_exp, Rule.EXP_DERIVATIVE))
LOG = register_function(Function("log", sp.log, "log", _safe_log, Rule.LOG_DERIVATIVE))
SQRT = register_function(Function("sqrt", sp.sqrt, "sqrt", None))
ABS = register_function(Function("abs", sp.Abs, "Abs", None))


def rule_of(function_class: type) -> Rule:
    """Return the rule a derivation cites when it differentiates a call of this function."""
    if function_class is Softmax:
        return Rule.SOFTMAX_JACOBIAN
    for entry in FUNCTIONS.values():
        if entry.sympy_form is function_class:
            return entry.rule
    return Rule.ELEMENTARY


def get_function(name: str) -> Function:
    """Look a function up by the name users write; suggest the closest on a miss."""
    return FUNCTIONS.lookup(name)


def numpy_namespace() -> dict[str, Callable[..., Any]]:
    """Return the names compiled code calls, mapped to their stable NumPy forms."""
    namespace: dict[str, Callable[..., Any]] = {"Softmax": _softmax_numpy}
    for entry in FUNCTIONS.values():
        if entry.numpy_form is not None:
            namespace[entry.numpy_name] = entry.numpy_form
    return namespace
