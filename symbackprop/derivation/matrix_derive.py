"""derive() for a network of layers: the reverse sweep over its matrix program (derivation).

Adjoints are of the batch's total loss, B L = sum over samples of each sample's loss, so the
columns of Delta^(l) are the samples' own deltas (BP1-BP2 column by column) and a parameter's
gradient of the mean loss L divides by B once: dL/dW^(l) = (1/B) Delta^(l) A^(l-1)T (BP4).
Each adjoint sums what the assignments using its node send back (the local rules of
:mod:`symbackprop.derivation.matrix_rules`), so a residual's two paths and a normalisation's
mean and variance paths appear as terms of one sum, each with its rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symbackprop.derivation.matrix_rules import contributions, lift
from symbackprop.derivation.matrix_steps import MatrixPath, MatrixStep
from symbackprop.derivation.steps import LEARNING_RATE, LOSS, Stage
from symbackprop.model import notation
from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.functions import Sign
from symbackprop.model.losses import get_loss
from symbackprop.model.matrices import ColumnSoftmax, apply_scalar, ones
from symbackprop.model.matrix_program import BATCH, MatrixAssignment, MatrixProgram
from symbackprop.model.penalty import PENALTY
from symbackprop.model.rulebook import Rule
from symbackprop.model.tensor_ops import Block, Stack, StopGradient, stacked_embeds

_ROLE_RULES = {"residual": Rule.RESIDUAL_PATHS, "mean": Rule.NORM_MEAN_PATH,
               "variance": Rule.NORM_VARIANCE_PATH}  # fmt: skip


def adjoint_name(node: str) -> str:
    """Return the adjoint's name: Delta2 for a pre-activation Z2, dA1 for any other node.

    An LSTM gate's pre-activation Zi1t2 has the gate's own delta, Deltai1t2.
    """
    match = re.fullmatch(r"Z([ifgo]?)(\d+(?:t\d+)?)", node)
    if match:
        return f"Delta{match[1]}{match[2]}"
    return "d" + node


def gradient_name(parameter: str) -> str:
    return notation.gradient_name(parameter)


def matrix_steps(program: MatrixProgram) -> tuple[MatrixStep, ...]:
    """Return the forward, loss, adjoint, gradient and update steps of a matrix program."""
    forward = [_forward_step(a) for a in program.assignments]
    loss_step, seeds, fused = _loss_and_seed(program)
    adjoints = _sweep(program, seeds, fused)
    gradients = _gradient_steps(program, adjoints[1])
    updates = [_update_step(step) for step in gradients]
    return tuple(forward + [loss_step] + adjoints[0] + gradients + updates)


def _forward_step(assignment: MatrixAssignment) -> MatrixStep:
    return MatrixStep(
        assignment.lhs,
        assignment.rhs,
        Stage.FORWARD,
        assignment.layer,
        assignment.level,
        depends_on=_names(assignment.rhs),
        role=assignment.role,
    )


def _names(expr: sp.Basic) -> tuple[str, ...]:
    return tuple(sorted(str(m.name) for m in expr.atoms(sp.MatrixSymbol)))


# --- the loss and the adjoint it seeds -------------------------------------------------------
def _one_output_loss(loss_name: str, n: int) -> tuple[sp.Expr, sp.Symbol, sp.Symbol]:
    a, y = sp.symbols("a y", real=True)
    a_all = [a] + [sp.Symbol(f"a_{j}") for j in range(2, n + 1)]
    y_all = [y] + [sp.Symbol(f"y_{j}") for j in range(2, n + 1)]
    return get_loss(loss_name).terms(a_all, y_all)[0], a, y


def _loss_and_seed(
    program: MatrixProgram,
) -> tuple[MatrixStep, list[MatrixStep], set[sp.MatrixSymbol]]:
    """Return L = (1/B) 1^T E 1, the first adjoints and the nodes they skip.

    The first adjoint is dA^(out), or Delta = A - Y where the output activation and the loss
    cancel (fused); for a sequence whose every step ends in such an activation, one fused
    Delta<t> = A<t> - Y<t> per step (the stack and the activations are skipped).
    """
    out, Y = program.output, program.target
    # A sequence output (T, k): each step's loss is over its k features, summed over the steps.
    n = int(out.shape[0]) // program.output_steps
    term, a, y = _one_output_loss(program.loss_name, n)
    per_entry = lift(term, {a: out, y: Y})
    loss_rhs = ones(1, int(out.shape[0])) * per_entry * ones(BATCH, 1) / BATCH
    penalty_rules = program.penalty.rules()
    if penalty_rules:
        loss_rhs = loss_rhs + _penalty_term(program)
    loss_step = MatrixStep(LOSS, loss_rhs, Stage.LOSS, None, None,
                           (Rule.BATCH_MEAN, *penalty_rules), _names(loss_rhs))  # fmt: skip
    last = program.assignments[-1]
    fused_rule = _fused_rule(program, last)
    if fused_rule is not None:
        return loss_step, [_fused_seed(last, out - Y, fused_rule)], {last.lhs}
    per_step = _fused_steps(program, last)
    if per_step:
        seeds, start = [], 0
        for t, (assignment, rule) in enumerate(per_step, start=1):
            rows = int(assignment.lhs.shape[0])
            target = Block(Y, (start, start + rows, t))
            seeds.append(_fused_seed(assignment, assignment.lhs - target, rule))
            start += rows
        skipped = {last.lhs} | {assignment.lhs for assignment, _ in per_step}
        return loss_step, seeds[::-1], skipped  # the backward pass starts at the last step
    loss = get_loss(program.loss_name)
    rhs = lift(sp.diff(term, a), {a: out, y: Y})
    dA = sp.MatrixSymbol(adjoint_name(out.name), *out.shape)
    path = MatrixPath(LOSS, rhs, (loss.rule,))
    seed = MatrixStep(dA, rhs, Stage.ADJOINT, last.layer, last.level, (loss.rule,),
                      _names(rhs), (path,), node=out)  # fmt: skip
    return loss_step, [seed], set()


def _fused_seed(assignment: MatrixAssignment, rhs: sp.MatrixExpr, rule: Rule) -> MatrixStep:
    """Delta = A - Y of an output activation that the loss cancels."""
    pre = _argument_of(assignment.rhs)
    delta = sp.MatrixSymbol(adjoint_name(pre.name), *pre.shape)
    path = MatrixPath(LOSS, rhs, (rule,))
    return MatrixStep(delta, rhs, Stage.ADJOINT, assignment.layer, assignment.level, (rule,),
                      _names(rhs), (path,), node=pre)  # fmt: skip


def _argument_of(rhs: sp.Basic) -> sp.MatrixSymbol:
    argument = rhs.args[0] if isinstance(rhs, ColumnSoftmax) else rhs.expr
    assert isinstance(argument, sp.MatrixSymbol)
    return argument


def _fused_steps(
    program: MatrixProgram, last: MatrixAssignment
) -> list[tuple[MatrixAssignment, Rule]]:
    """Return each step's output activation and its fused rule when a sequence's stacked
    output is made of such activations only (per-step softmax with cross-entropy), else []."""
    if not isinstance(last.rhs, Stack) or program.output_steps != len(last.rhs.operands):
        return []
    by_name = {a.lhs: a for a in program.assignments}
    found = []
    for operand in last.rhs.operands:
        assignment = by_name.get(operand)
        rule = _fused_rule(program, assignment) if assignment is not None else None
        users = [a for a in program.assignments if operand in a.rhs.atoms(sp.MatrixSymbol)]
        if assignment is None or rule is None or users != [last]:
            return []
        found.append((assignment, rule))
    return found


def _penalty_term(program: MatrixProgram) -> sp.MatrixExpr:
    """Omega = (lambda/2) sum 1^T (W o W) 1 + lambda_1 sum 1^T |W| 1 over the weight matrices."""
    penalty, terms = program.penalty, []
    for parameter in program.penalized:
        W = parameter.symbol
        rows, cols = W.shape
        if penalty.weight_decay:
            squares = ones(1, rows) * sp.HadamardPower(W, 2) * ones(cols, 1)
            terms.append(_exact(penalty.weight_decay / 2) * squares)
        if penalty.l1:
            sizes = ones(1, rows) * apply_scalar(sp.Lambda(_T, sp.Abs(_T)), W) * ones(cols, 1)
            terms.append(_exact(penalty.l1) * sizes)
    return _sum(terms)


def _penalty_gradient(program: MatrixProgram, theta: sp.MatrixSymbol) -> sp.MatrixExpr | None:
    """dOmega/dW = lambda W + lambda_1 sign(W) for a penalised weight matrix, else None."""
    if theta not in {p.symbol for p in program.penalized} or program.penalty.is_zero:
        return None
    penalty, terms = program.penalty, []
    if penalty.weight_decay:
        terms.append(_exact(penalty.weight_decay) * theta)
    if penalty.l1:
        terms.append(_exact(penalty.l1) * apply_scalar(sp.Lambda(_T, Sign(_T)), theta))
    return _sum(terms)


def _exact(value: float) -> sp.Rational:
    # The decimal the user wrote (0.01 -> 1/100), so a typed 0.01*W2 is the term exactly.
    return sp.Rational(repr(value))


_T = sp.Symbol("t")


def _fused_rule(program: MatrixProgram, last: MatrixAssignment) -> Rule | None:
    """Return the rule giving Delta = A - Y when the output activation and the loss cancel."""
    name = _activation_of(last.rhs)
    if name is None:
        return None
    pre = last.rhs.args[0] if isinstance(last.rhs, ColumnSoftmax) else last.rhs.expr
    if not isinstance(pre, sp.MatrixSymbol):
        return None
    users = [a for a in program.assignments if pre in a.rhs.atoms(sp.MatrixSymbol)]
    if users != [last]:
        return None
    return get_loss(program.loss_name).fused_rule(name)


def _activation_of(rhs: sp.Basic) -> str | None:
    if isinstance(rhs, ColumnSoftmax):
        return "softmax"
    if isinstance(rhs, ElementwiseApplyFunction):
        t = rhs.function.variables[0]
        for entry in ACTIVATIONS.values():
            if not entry.is_layerwise and entry.apply(t) == rhs.function.expr:
                return entry.name
    return None


# --- the reverse sweep -----------------------------------------------------------------------
def _sweep(
    program: MatrixProgram, seeds: list[MatrixStep], fused: set[sp.MatrixSymbol]
) -> tuple[list[MatrixStep], dict[sp.MatrixSymbol, list[MatrixPath]]]:
    """Walk the assignments backwards; return the adjoint steps and each parameter's paths."""
    parameters = {p.symbol for p in program.parameters}
    nodes = {a.lhs: a for a in program.assignments}
    wanted = set(parameters) | set(nodes)
    paths: dict[sp.MatrixSymbol, list[MatrixPath]] = {}
    adjoint: dict[sp.MatrixSymbol, sp.MatrixSymbol] = {}
    steps = list(seeds)
    for seed in seeds:
        assert isinstance(seed.node, sp.MatrixSymbol)
        adjoint[seed.node] = seed.lhs
    for assignment in reversed(program.assignments):
        V = assignment.lhs
        if V in fused:
            continue
        if V not in adjoint:
            if V not in paths:
                continue  # the loss does not depend on this node
            steps.append(_adjoint_step(assignment, paths[V], nodes))
            adjoint[V] = steps[-1].lhs
        for part in contributions(assignment.rhs, adjoint[V], V, wanted):
            paths.setdefault(part.operand, []).append(MatrixPath(V, part.term, part.rules))
    return steps, {p: paths.get(p, []) for p in parameters}


def _adjoint_step(
    assignment: MatrixAssignment,
    paths: Sequence[MatrixPath],
    nodes: dict[sp.MatrixSymbol, MatrixAssignment],
) -> MatrixStep:
    V = assignment.lhs
    rhs = stacked_embeds([p.term for p in paths]) or _sum(p.term for p in paths)
    rules = list(dict.fromkeys(r for p in paths for r in p.rules))
    if len(paths) > 1:
        rules.insert(0, Rule.SUM_OVER_PATHS)
        for path in paths:
            role = nodes[path.via].role if path.via in nodes else ""
            if role in _ROLE_RULES:
                rules.insert(1, _ROLE_RULES[role])
    rules += _through_time(assignment, paths, nodes)
    symbol = sp.MatrixSymbol(adjoint_name(V.name), *V.shape)
    return MatrixStep(symbol, rhs, Stage.ADJOINT, assignment.layer, assignment.level,
                      tuple(dict.fromkeys(rules)), _names(rhs), tuple(paths), node=V)  # fmt: skip


# --- backpropagation through time: what a recurrent layer's adjoints cite ----------------------
def _step_of(via: sp.Basic, nodes: dict[sp.MatrixSymbol, MatrixAssignment]) -> int | None:
    return nodes[via].step if via in nodes else None  # type: ignore[index]


def _through_time(
    assignment: MatrixAssignment,
    paths: Sequence[MatrixPath],
    nodes: dict[sp.MatrixSymbol, MatrixAssignment],
) -> list[Rule]:
    """Name the paths of a time step's node: to the next step and to this step's output."""
    if assignment.step is None:
        return []
    rules = []
    later = [p for p in paths if (_step_of(p.via, nodes) or 0) > assignment.step]
    if later and len(paths) > len(later):
        cell = assignment.role == "cell state"
        rules.append(Rule.CELL_STATE_PATHS if cell else Rule.HIDDEN_STATE_PATHS)
    V = assignment.lhs
    if any(StopGradient(V) in a.rhs.atoms(StopGradient) for a in nodes.values()):
        rules.append(Rule.TRUNCATED_PATH)
    return rules


def _sum(terms: object) -> sp.MatrixExpr:
    listed = list(terms)  # type: ignore[call-overload]
    return listed[0] if len(listed) == 1 else sp.MatAdd(*listed)


def _gradient_steps(
    program: MatrixProgram, paths: dict[sp.MatrixSymbol, list[MatrixPath]]
) -> list[MatrixStep]:
    steps = []
    nodes = {a.lhs: a for a in program.assignments}
    layer_of = {p.symbol: _layer_of(program, p.state_name) for p in program.parameters}
    for parameter in program.parameters:
        theta = parameter.symbol
        own = paths[theta]
        penalty = _penalty_gradient(program, theta)
        if not own and penalty is None:
            continue  # the loss does not use it (W_hh of a 1-step RNN): its gradient is 0
        rhs = _sum(p.term for p in own) / BATCH if own else sp.ZeroMatrix(*theta.shape)
        rules = [Rule.BATCH_MEAN] + [r for p in own for r in p.rules] if own else []
        if penalty is not None:
            rhs = penalty if not own else rhs + penalty
            own = [*own, MatrixPath(PENALTY, penalty, program.penalty.rules())]
            rules += program.penalty.rules()
        if len(own) > 1:
            rules.insert(0, Rule.SUM_OVER_PATHS)
        if len({_step_of(path.via, nodes) for path in own} - {None}) > 1:
            rules.insert(1, Rule.SUM_OVER_STEPS)
        symbol = sp.MatrixSymbol(gradient_name(theta.name), *theta.shape)
        layer, level = layer_of[theta]
        steps.append(MatrixStep(symbol, rhs, Stage.GRADIENT, layer, level,
                                tuple(dict.fromkeys(rules)), _names(rhs), tuple(own), theta,
                                parameter.state_name))  # fmt: skip
    return steps


def _layer_of(program: MatrixProgram, state_name: str) -> tuple[str, int | None]:
    prefix = state_name.rsplit(".", 1)[0]
    for assignment in program.assignments:
        if assignment.layer == prefix or prefix.startswith(assignment.layer + "."):
            return assignment.layer, assignment.level
    return prefix, None


def _update_step(gradient: MatrixStep) -> MatrixStep:
    theta = gradient.node
    assert isinstance(theta, sp.MatrixSymbol)
    symbol = sp.MatrixSymbol(notation.updated_name(theta.name), *theta.shape)
    rhs = theta - LEARNING_RATE * gradient.lhs
    return MatrixStep(symbol, rhs, Stage.UPDATE, gradient.layer, gradient.level,
                      (Rule.GRADIENT_DESCENT,), _names(rhs), node=theta,
                      state_name=gradient.state_name)  # fmt: skip
