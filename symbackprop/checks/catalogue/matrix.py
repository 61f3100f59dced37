"""Matrix-level mistakes, rebuilt from a network of layers' derivation, in diagnosis priority.

Checks layer. Each entry either rebuilds the steps a person would write after one slip (the
edits below are generic: negate a step, drop one Hadamard factor, drop one path of a sum over
paths, drop one constant, transpose one operand, swap ``*`` and ``@``) and compares the result
with the user's formula, or compares a transform of the user's formula (its transpose, its sum
over the batch, a ratio) with the right one. Edits are made on the derivation's own steps, so
the catalogue covers every network of layers and names the mistake in the network's names.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.checks.catalogue import conv
from symbackprop.checks.matrix_mistakes import (
    Candidate,
    MatrixMistake,
    MatrixMistakeContext,
    equation,
    first_match,
    register_matrix_mistake,
)
from symbackprop.checks.matrix_probing import close
from symbackprop.checks.matrix_text import formula_text
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.steps import Stage
from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.matrices import elementwise
from symbackprop.model.parsing.shapes import shape_text
from symbackprop.model.rulebook import Rule

FloatArray = np.ndarray
_T = sp.Symbol("t")


def _replace(expr: sp.Basic, old: sp.Basic, new: sp.Basic) -> sp.Basic | None:
    """Return ``expr`` with one subexpression replaced, or None if the shapes no longer fit."""
    try:
        return expr.xreplace({old: new})
    except (ValueError, TypeError):  # SymPy's ShapeError is a ValueError
        return None


# --- the catalogue --------------------------------------------------------------------------------
def _undefined(context: MatrixMistakeContext) -> str | None:
    for given, point in zip(context.given, context.points, strict=True):
        if not np.all(np.isfinite(given)):
            return (
                f"your formula is undefined (nan or inf) for a batch of {point.batch}: look for "
                "a division by 0 (B - 1 at B = 1?) or a log or sqrt of a negative number"
            )
    return None


UNDEFINED = register_matrix_mistake(
    MatrixMistake("undefined", "a formula that is not finite", _undefined)
)


def _zero_formula(context: MatrixMistakeContext) -> str | None:
    if all(np.all(g == 0) for g in context.given) and not all(
        np.allclose(e, 0) for e in context.expected
    ):
        return f"your formula is 0 at every probe point but {context.what} is not"
    return None


ZERO_FORMULA = register_matrix_mistake(
    MatrixMistake("zero_formula", "a formula that is 0", _zero_formula)
)


# the convolution's own slips: specific, so before the generic edits below
KERNEL_NOT_FLIPPED = register_matrix_mistake(
    MatrixMistake("kernel_not_flipped", "kernel not flipped", conv.kernel_not_flipped)
)
INPUT_GRADIENT_PADDING = register_matrix_mistake(
    MatrixMistake(
        "input_gradient_padding", "valid correlation for a full one", conv.input_gradient_padding
    )
)
KERNEL_OPERANDS_SWAPPED = register_matrix_mistake(
    MatrixMistake(
        "kernel_operands_swapped", "correlation operands swapped", conv.kernel_operands_swapped
    )
)
BIAS_WITHOUT_POSITION_SUM = register_matrix_mistake(
    MatrixMistake(
        "bias_without_position_sum",
        "bias gradient not summed over positions",
        conv.bias_without_position_sum,
    )
)


def _transposed_result(context: MatrixMistakeContext) -> str | None:
    given, expected = context.given_expr.shape, context.target.rhs.shape
    if given != (expected[1], expected[0]) or not context.given_matches(lambda g, p: g.T):
        return None
    own = _owner_shape(context)
    if given != expected:
        where = f"{context.what} has {own} shape {shape_text(expected)}"
        return (
            f"your formula gives {shape_text(given)}, the transpose of the answer, but {where}: "
            "the product is in the wrong order (swap the factors and transpose both, since "
            "(A Cᵀ)ᵀ = C Aᵀ)"
        )
    return f"your formula is the transpose of {context.what}: swap the order of the product"


TRANSPOSED_RESULT = register_matrix_mistake(
    MatrixMistake("transposed_result", "transposed result", _transposed_result)
)


def _owner_shape(context: MatrixMistakeContext) -> str:
    node = context.target.node
    name = getattr(node, "name", context.target.name)
    return f"{name}'s" if context.target.stage is Stage.GRADIENT else "its node's"


def _batch_sum(context: MatrixMistakeContext) -> str | None:
    """The sum over the batch (a column's worth) missing, or taken over the wrong axis."""
    given, expected = context.given_expr.shape, context.target.rhs.shape
    if expected[1] == 1 and given == (expected[0], _batch_symbol(context)):
        if context.given_matches(lambda g, p: g.sum(axis=1, keepdims=True)):
            return (
                f"the sum over the batch is missing: your formula is {shape_text(given)}, one "
                f"column per sample, but {context.what} is {shape_text(expected)}; sum the "
                "columns with sum(..., axis=1)"
            )
        if context.given_matches(lambda g, p: g.sum(axis=1, keepdims=True) / p.batch):
            return (
                f"the mean over the batch is missing: your formula is {shape_text(given)}, one "
                f"column per sample, but {context.what} is {shape_text(expected)}; take "
                "sum(..., axis=1) / B"
            )
    return _wrong_axis(context)


def _wrong_axis(context: MatrixMistakeContext) -> str | None:
    """sum(M, axis=0) where sum(M, axis=1) belongs (or the reverse)."""
    for node in sp.preorder_traversal(context.given_expr):
        if not isinstance(node, sp.MatMul):
            continue
        coefficient, factors = node.as_coeff_matrices()
        if len(factors) < 2:
            continue
        if isinstance(factors[0], sp.OneMatrix) and factors[0].shape[0] == 1:
            inner = sp.MatMul(*factors[1:])
            swapped = coefficient * inner * sp.OneMatrix(inner.shape[1], 1)
            wrong, right = 0, 1
        elif isinstance(factors[-1], sp.OneMatrix) and factors[-1].shape[1] == 1:
            inner = sp.MatMul(*factors[:-1])
            swapped = coefficient * sp.OneMatrix(1, inner.shape[0]) * inner
            wrong, right = 1, 0
        else:
            continue
        fixed = _replace(context.given_expr, node, swapped)
        if fixed is not None and context.is_right(fixed):
            return (
                f"sum(..., axis={wrong}) sums over the {_axis_name(wrong)}, but {context.what} "
                f"sums over the {_axis_name(right)}: write sum({formula_text(inner)}, "
                f"axis={right})"
            )
    return None


def _axis_name(axis: int) -> str:
    return "rows (the features of each sample)" if axis == 0 else "columns (the batch)"


def _batch_symbol(context: MatrixMistakeContext) -> sp.Expr:
    return context.derivation.program.input.shape[1]


BATCH_SUM = register_matrix_mistake(
    MatrixMistake("missing_batch_sum", "batch sum missing or over the wrong axis", _batch_sum)
)


def _statistics_axis(context: MatrixMistakeContext) -> str | None:
    """Every sum and mean taken over the other axis: batch norm's statistics for layer norm's."""
    swapped = _swap_axes(context.given_expr)
    if swapped is None or swapped == context.given_expr or not context.is_right(swapped):
        return None
    return (
        "your sums and means run over the wrong axis: with every axis=0 and axis=1 swapped "
        f"your formula gives {context.what} (batch norm averages each feature over the batch, "
        "axis=1; layer norm averages each sample over its features, axis=0)"
    )


def _swap_axes(expr: sp.Basic) -> sp.Basic | None:
    """Return ``expr`` with each broadcast reduction M 1 (c×c) turned into 1 (r×r) M and back.

    A mean keeps being a mean: its 1/c becomes 1/r. Returns None if the shapes stop fitting.
    """
    if not expr.args or isinstance(expr, (sp.MatrixSymbol, sp.OneMatrix)):
        return expr
    if isinstance(expr, sp.MatMul):
        coefficient, factors = expr.as_coeff_matrices()
        inner = [_swap_axes(f) for f in factors]
        if any(f is None for f in inner):
            return None
        left, right = inner[0], inner[-1]
        if len(inner) > 1 and isinstance(right, sp.OneMatrix) and right.is_square:
            body = _product_of(inner[:-1])
            rows, count = body.shape[0], right.shape[0]
            return _mean_count(coefficient, count, rows) * sp.OneMatrix(rows, rows) * body
        if len(inner) > 1 and isinstance(left, sp.OneMatrix) and left.is_square:
            body = _product_of(inner[1:])
            cols, count = body.shape[1], left.shape[0]
            return _mean_count(coefficient, count, cols) * body * sp.OneMatrix(cols, cols)
        return coefficient * _product_of(inner)
    args = [_swap_axes(arg) for arg in expr.args]
    if any(arg is None for arg in args):
        return None
    try:
        return expr.func(*args)
    except (ValueError, TypeError):
        return None


def _product_of(factors: list[sp.Basic]) -> sp.Basic:
    return factors[0] if len(factors) == 1 else sp.MatMul(*factors)


def _mean_count(coefficient: sp.Expr, old: sp.Expr, new: sp.Expr) -> sp.Expr:
    """Return the coefficient of a mean over ``new`` entries for one over ``old`` entries."""
    scaled = sp.simplify(coefficient * old)
    return scaled / new if not scaled.has(old) else coefficient


STATISTICS_AXIS = register_matrix_mistake(
    MatrixMistake("statistics_axis", "statistics over the wrong axis", _statistics_axis)
)


def _ratios(context: MatrixMistakeContext) -> list[float | None] | None:
    """Return, per probe point, r with given = r * expected (None where both are 0), if any."""
    ratios: list[float | None] = []
    for given, expected in zip(context.given, context.expected, strict=True):
        if given.shape != expected.shape or not np.all(np.isfinite(given)):
            return None
        norm = float(np.sum(expected * expected))
        if close(given, 0 * given) and close(expected, 0 * expected):
            ratios.append(None)  # 0 = r * 0 (attention over one position): says nothing
            continue
        if norm == 0:
            return None
        ratio = float(np.sum(given * expected)) / norm
        if not close(given, ratio * expected):
            return None
        ratios.append(ratio)
    if sum(r is not None for r in ratios) < 2:
        return None
    return ratios


def _batch_mean(context: MatrixMistakeContext) -> str | None:
    ratios = _ratios(context)
    if ratios is None:
        return None
    batches = [p.batch for p in context.points]
    pairs = [(r, b) for r, b in zip(ratios, batches, strict=True) if r is not None]
    if all(np.isclose(r, b) for r, b in pairs):
        return (
            f"the 1/B of the mean over the batch is missing: your formula is B times "
            f"{context.what} = {formula_text(context.target.rhs)} (the adjoints are of the "
            "batch's total loss, so a gradient of the mean loss divides by B once)"
        )
    if all(np.isclose(r * b, 1) for r, b in pairs):
        return (
            f"your formula divides by B once too often: it is {context.what} / B; the "
            "adjoints already carry one sample's delta per column"
        )
    return None


BATCH_MEAN = register_matrix_mistake(
    MatrixMistake("missing_batch_mean", "missing or extra 1/B", _batch_mean)
)


def _sign_error(context: MatrixMistakeContext) -> str | None:
    ratios = _ratios(context)
    if ratios is not None and all(r is None or np.isclose(r, -1) for r in ratios):
        return "the whole formula has the wrong sign"
    candidates: list[Candidate] = [
        (
            f"the sign of {step.name} is flipped ({equation(step)}; Y - A written for A - Y?)",
            {step.name: -step.rhs},
        )
        for step in context.chain()
        if step.name != context.target.name
    ]
    return first_match(context, candidates)


SIGN_ERROR = register_matrix_mistake(MatrixMistake("sign_error", "sign error", _sign_error))


def _is_derivative(factor: sp.Basic) -> bool:
    return isinstance(factor, ElementwiseApplyFunction) and isinstance(
        factor.function.expr, sp.Derivative
    )


def _hadamard_drops(
    context: MatrixMistakeContext, want_derivative: bool
) -> Iterator[tuple[MatrixStep, sp.Basic, sp.Basic]]:
    """Yield (step, dropped factor, rhs without it) for each factor of each Hadamard product."""
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if not isinstance(node, sp.HadamardProduct):
                continue
            for i, factor in enumerate(node.args):
                if _is_derivative(factor) != want_derivative:
                    continue
                rest = [f for j, f in enumerate(node.args) if j != i]
                kept = rest[0] if len(rest) == 1 else sp.HadamardProduct(*rest)
                yield step, factor, _replace(step.rhs, node, kept)


def _missing_activation_derivative(context: MatrixMistakeContext) -> str | None:
    roles = {a.lhs: a.role for a in context.derivation.program.assignments}
    candidates = (
        (
            f"the factor {_derivative_name(factor)}({formula_text(factor.expr)}) = "
            f"{formula_text(factor)}{_gate_words(roles.get(factor.expr, ''))} is missing from "
            f"{equation(step)}",
            {step.name: rhs},
        )
        for step, factor, rhs in _hadamard_drops(context, want_derivative=True)
    )
    return first_match(context, candidates)


def _derivative_name(factor: ElementwiseApplyFunction) -> str:
    """Return f' named as a teacher does: tanh', sigmoid' (f' for an unnamed function)."""
    name = _activation_name(factor)
    return f"{name}'" if name is not None else "f'"


def _gate_words(role: str) -> str:
    """Return " (the forget gate's derivative)" for an LSTM gate's pre-activation, else ""."""
    gates = {"I": "input", "F": "forget", "G": "candidate (cell input)", "O": "output"}
    parts = role.split()
    if len(parts) >= 2 and parts[0] == "gate" and parts[1] in gates:
        return f" (the {gates[parts[1]]} gate's derivative)"
    return ""


MISSING_ACTIVATION_DERIVATIVE = register_matrix_mistake(
    MatrixMistake(
        "missing_activation_derivative",
        "missing f'(Z) factor",
        _missing_activation_derivative,
    )
)


def _wrong_activation_derivative(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _wrong_derivatives(context))


def _wrong_derivatives(context: MatrixMistakeContext) -> Iterator[Candidate]:
    """Yield f(Z) for f'(Z), another activation's derivative, and f' taken at A = f(Z)."""
    outputs = _activation_outputs(context)
    for step in context.steps_to_edit():
        for factor in [n for n in sp.preorder_traversal(step.rhs) if _is_derivative(n)]:
            right = formula_text(factor)
            name = _activation_name(factor)
            if name is not None:
                itself = elementwise(name, factor.expr)
                yield (
                    f"{formula_text(itself)} stands where f'(Z) = {right} belongs in "
                    f"{equation(step)}",
                    {step.name: _replace(step.rhs, factor, itself)},
                )
                output = outputs.get(factor.expr)
                if output is not None:
                    yield from _identities_of(step, factor, output)
                    at_output = elementwise(name, output, derivative=True)
                    yield (
                        f"f' is taken at the activation: {formula_text(at_output)} where "
                        f"{right} belongs in {equation(step)}",
                        {step.name: _replace(step.rhs, factor, at_output)},
                    )
            for entry in ACTIVATIONS.values():
                if entry.is_layerwise or entry.name == name:
                    continue
                other = elementwise(entry.name, factor.expr, derivative=True)
                yield (
                    f"{formula_text(other)} stands where {right} belongs in {equation(step)}",
                    {step.name: _replace(step.rhs, factor, other)},
                )


def _identities_of(
    step: MatrixStep, factor: ElementwiseApplyFunction, output: sp.MatrixSymbol
) -> Iterator[Candidate]:
    """Yield f'(Z) written from a wrong identity in the activation A: A, 1 - A, A(1 - A), 1 - A²."""
    one = sp.OneMatrix(*output.shape)
    forms = [
        output,
        one - output,
        sp.HadamardProduct(output, one - output),
        one - sp.HadamardPower(output, 2),
    ]
    for form in forms:
        yield (
            f"{formula_text(form)} stands where f'({formula_text(factor.expr)}) = "
            f"{formula_text(factor)} belongs in {equation(step)}",
            {step.name: _replace(step.rhs, factor, form)},
        )


def _activation_name(factor: ElementwiseApplyFunction) -> str | None:
    body = factor.function.expr.expr.subs(factor.function.variables[0], _T)
    for entry in ACTIVATIONS.values():
        if not entry.is_layerwise and entry.apply(_T) == body:
            return entry.name
    return None


def _activation_outputs(context: MatrixMistakeContext) -> dict[sp.Basic, sp.MatrixSymbol]:
    """Return {Z: A} for every elementwise activation A = f(Z) of the program."""
    return {
        a.rhs.expr: a.lhs
        for a in context.derivation.program.assignments
        if isinstance(a.rhs, ElementwiseApplyFunction)
    }


WRONG_ACTIVATION_DERIVATIVE = register_matrix_mistake(
    MatrixMistake(
        "wrong_activation_derivative",
        "wrong activation derivative",
        _wrong_activation_derivative,
    )
)


def _missing_path(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _path_drops(context))


def _path_drops(context: MatrixMistakeContext) -> Iterator[Candidate]:
    """Yield each adjoint with one path left out; then each normalisation without both
    statistics paths (mean and variance treated as constants)."""
    roles = {a.lhs: a.role for a in context.derivation.program.assignments}
    layers = {a.lhs: a.layer for a in context.derivation.program.assignments}
    times = {a.lhs: a.step for a in context.derivation.program.assignments}
    statistics: dict[str | None, dict[str, sp.Basic]] = {}
    steps = [s for s in context.steps_to_edit() if len(s.paths) > 1]
    for step in steps:
        for i, path in enumerate(step.paths):
            kept = [p.term for j, p in enumerate(step.paths) if j != i]
            rhs = kept[0] if len(kept) == 1 else sp.MatAdd(*kept)
            if step.stage is Stage.GRADIENT:
                rhs = rhs / _batch_symbol(context)
            role = roles.get(path.via, "")
            if role in ("mean", "variance"):
                statistics.setdefault(layers.get(path.via), {})[step.name] = rhs
            timed = _time_step_words(step, times.get(path.via), times.get(step.node))
            yield (
                timed
                or f"{_path_name(path.via, role)} is left out of {step.name}: "
                f"{equation(step)} sums {len(step.paths)} paths, one per use of "
                f"{formula_text(step.node) if step.node is not None else step.name}",
                {step.name: rhs},
            )
    yield from _stopped_recurrence(context, times)
    for layer, overrides in statistics.items():
        if len(overrides) > 1:
            yield (
                f"the mean and variance paths of the normalisation (layer {layer}) are left "
                "out: the batch statistics were treated as constants",
                overrides,
            )


def _time_step_words(step: MatrixStep, via_step: int | None, own_step: int | None) -> str:
    """Name a dropped path of a recurrent layer as a teacher would, or return ""."""
    if via_step is None:
        return ""
    if step.stage is Stage.GRADIENT:
        return (
            f"time step {via_step} is missing from the sum over steps in {step.name}: a weight "
            f"shared by every step gets one term per step ({len(step.paths)} here), "
            f"{equation(step)}"
        )
    if own_step is not None and via_step > own_step:
        return (
            f"the recurrent path from step {via_step} back to step {own_step} is left out of "
            f"{step.name}: only step {own_step}'s own output was counted, but the state also "
            f"feeds the next step; {equation(step)}"
        )
    return ""


def _stopped_recurrence(
    context: MatrixMistakeContext, times: dict[sp.Basic, int | None]
) -> Iterator[Candidate]:
    """Yield each hidden state whose ONLY path is the recurrent one, left out (set to 0)."""
    for step in context.steps_to_edit():
        own = times.get(step.node)
        if len(step.paths) != 1 or own is None or step.stage is not Stage.ADJOINT:
            continue
        later = times.get(step.paths[0].via)
        if later is None or later <= own:
            continue
        yield (
            f"the gradient stops at step {later}: {equation(step)}, the recurrent path from "
            f"step {later} back to step {own} (the state's only path when the loss is at the "
            f"last step), is left out, so no blame reaches steps 1 to {own}",
            {step.name: sp.ZeroMatrix(*step.rhs.shape)},
        )


def _path_name(via: sp.Basic, role: str) -> str:
    name = formula_text(via)
    named = {
        "residual": f"the residual (skip) path through {name}",
        "mean": f"the mean path (through {name})",
        "variance": f"the variance path (through {name})",
    }
    return named.get(role, f"the path through {name}")


MISSING_PATH = register_matrix_mistake(
    MatrixMistake("missing_path", "a path of the sum over paths left out", _missing_path)
)


def _missing_factor(context: MatrixMistakeContext) -> str | None:
    candidates = (
        (f"the factor {formula_text(factor)} is missing from {equation(step)}", {step.name: rhs})
        for step, factor, rhs in _hadamard_drops(context, want_derivative=False)
    )
    return first_match(context, candidates)


MISSING_FACTOR = register_matrix_mistake(
    MatrixMistake("missing_factor", "a Hadamard factor left out", _missing_factor)
)


def _missing_term(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _term_drops(context))


def _term_drops(context: MatrixMistakeContext) -> Iterator[Candidate]:
    """Yield each step with one term of one of its sums left out."""
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if not isinstance(node, sp.MatAdd) or node == step.rhs and len(step.paths) > 1:
                continue  # the sum over paths is the missing-path entry's
            for i, term in enumerate(node.args):
                rest = [t for j, t in enumerate(node.args) if j != i]
                kept = rest[0] if len(rest) == 1 else sp.MatAdd(*rest)
                why = ""
                if Rule.SOFTMAX_COLUMNS in step.rules:
                    why = " (the -s sᵀ part of the softmax Jacobian diag(s) - s sᵀ)"
                yield (
                    f"the term {formula_text(term)}{why} is missing from {equation(step)}",
                    {step.name: _replace(step.rhs, node, kept)},
                )


MISSING_TERM = register_matrix_mistake(
    MatrixMistake("missing_term", "a term of a sum left out", _missing_term)
)


def _missing_sum(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _sum_drops(context))


def _sum_drops(context: MatrixMistakeContext) -> Iterator[Candidate]:
    """Yield each step with one broadcast sum left out: sum(M, axis=0) written as M."""
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if not isinstance(node, sp.MatMul):
                continue
            coefficient, factors = node.as_coeff_matrices()
            kept = [f for f in factors if not isinstance(f, sp.OneMatrix)]
            if len(kept) == len(factors) or not kept:
                continue
            body = kept[0] if len(kept) == 1 else sp.MatMul(*kept)
            if body.shape != node.shape:
                continue
            yield (
                f"the sum in {formula_text(node)} is left out (written as "
                f"{formula_text(coefficient * body)}): {equation(step)}",
                {step.name: _replace(step.rhs, node, coefficient * body)},
            )


MISSING_SUM = register_matrix_mistake(MatrixMistake("missing_sum", "a sum left out", _missing_sum))


def _missing_constant(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _constant_drops(context))


def _constant_drops(context: MatrixMistakeContext) -> Iterator[Candidate]:
    roles = {a.lhs: a.role for a in context.derivation.program.assignments}
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if not isinstance(node, sp.MatMul):
                continue
            coefficient, factors = node.as_coeff_matrices()
            if coefficient in (1, -1):
                continue
            bare = sp.MatMul(*factors) if len(factors) > 1 else factors[0]
            scores = [p.via for p in step.paths if roles.get(p.via) == "scores"]
            why = f" (the 1/sqrt(d_k) scaling of the scores {scores[0]})" if scores else ""
            yield (
                f"the constant factor {coefficient}{why} is missing from {equation(step)}",
                {step.name: _replace(step.rhs, node, bare)},
            )
            if coefficient.could_extract_minus_sign():
                yield (
                    f"the constant factor {-coefficient} (of {coefficient}) is missing from "
                    f"{equation(step)}",
                    {step.name: _replace(step.rhs, node, -bare)},
                )


MISSING_CONSTANT = register_matrix_mistake(
    MatrixMistake("missing_constant", "a constant factor left out", _missing_constant)
)


def _wrong_node(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _node_swaps(context))


def _node_swaps(context: MatrixMistakeContext) -> Iterator[Candidate]:
    """Yield each forward node of a step replaced by the node it is computed from (Z for
    A = f(Z), the input of a layer for its output), then by any other node of its shape."""
    program = context.derivation.program
    sources: dict[sp.Basic, list[sp.Basic]] = {}
    for assignment in program.assignments:
        operands = sorted(assignment.rhs.atoms(sp.MatrixSymbol), key=str)
        same = [m for m in operands if m.shape == assignment.lhs.shape]
        sources[assignment.lhs] = same
    nodes = [program.input, *(a.lhs for a in program.assignments)]
    for step in context.steps_to_edit():
        for used in sorted(step.rhs.atoms(sp.MatrixSymbol), key=str):
            if used not in sources:
                continue
            others = [n for n in nodes if n.shape == used.shape and n != used]
            for other in dict.fromkeys([*sources[used], *others]):
                yield (
                    f"{formula_text(other)} stands where {formula_text(used)} belongs in "
                    f"{equation(step)}",
                    {step.name: _replace(step.rhs, used, other)},
                )


WRONG_NODE = register_matrix_mistake(
    MatrixMistake("wrong_node", "one matrix used for another", _wrong_node)
)


def _transpose_slip(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _transposes(context))


def _transposes(context: MatrixMistakeContext) -> Iterator[Candidate]:
    """Yield each transpose dropped, and each square factor of a product transposed."""
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if isinstance(node, sp.Transpose) and node.arg.shape == node.shape:
                yield (
                    f"the transpose of {formula_text(node.arg)} is missing: {equation(step)}",
                    {step.name: _replace(step.rhs, node, node.arg)},
                )
            if isinstance(node, sp.MatMul):
                coefficient, factors = node.as_coeff_matrices()
                for i, factor in enumerate(factors):
                    square = factor.shape[0] == factor.shape[1]
                    if isinstance(factor, sp.MatrixSymbol) and square:
                        changed = [*factors[:i], factor.T, *factors[i + 1 :]]
                        yield (
                            f"{factor.name} is transposed where it should not be: "
                            f"{equation(step)}",
                            {step.name: _replace(step.rhs, node, coefficient * sp.MatMul(
                                *changed))},
                        )  # fmt: skip


TRANSPOSE_SLIP = register_matrix_mistake(
    MatrixMistake("transpose", "a missing or extra transpose", _transpose_slip)
)


def _product_kind(context: MatrixMistakeContext) -> str | None:
    return first_match(context, _product_swaps(context))


def _product_swaps(context: MatrixMistakeContext) -> Iterator[Candidate]:
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if isinstance(node, sp.HadamardProduct) and len(node.args) == 2:
                left, right = node.args
                if left.shape[1] == right.shape[0] and (left.shape[0], right.shape[1]) == (
                    node.shape
                ):
                    yield (
                        f"the matrix product {formula_text(left)} @ {formula_text(right)} "
                        f"stands where the elementwise product belongs: {equation(step)}",
                        {step.name: _replace(step.rhs, node, sp.MatMul(left, right))},
                    )
            if isinstance(node, sp.MatMul):
                coefficient, factors = node.as_coeff_matrices()
                if any(isinstance(f, sp.OneMatrix) for f in factors):
                    continue  # a sum or a broadcast, not a product a person writes with @
                if len(factors) == 2 and factors[0].shape == factors[1].shape:
                    swapped = coefficient * sp.HadamardProduct(*factors)
                    yield (
                        f"the elementwise product {formula_text(factors[0])} * "
                        f"{formula_text(factors[1])} stands where the matrix product belongs: "
                        f"{equation(step)}",
                        {step.name: _replace(step.rhs, node, swapped)},
                    )


PRODUCT_KIND = register_matrix_mistake(
    MatrixMistake("product_kind", "elementwise and matrix product confused", _product_kind)
)


def _constant_factor(context: MatrixMistakeContext) -> str | None:
    ratios = _ratios(context)
    known = [r for r in ratios or [] if r is not None]
    if not known or not all(np.isclose(r, known[0]) for r in known):
        return None
    return (
        f"your formula is {known[0]:.4g} times {context.what}; look for a constant factor "
        "that is missing or extra"
    )


CONSTANT_FACTOR = register_matrix_mistake(
    MatrixMistake("constant_factor", "off by a constant factor", _constant_factor)
)


def _wrong_shape(context: MatrixMistakeContext) -> str | None:
    given, expected = context.given_expr.shape, context.target.rhs.shape
    if given == expected:
        return None
    return (
        f"your formula gives {shape_text(given)} but {context.what} is {shape_text(expected)} "
        f"({_owner_shape(context)} shape)"
    )


WRONG_SHAPE = register_matrix_mistake(
    MatrixMistake("wrong_shape", "a result of the wrong shape", _wrong_shape)
)
