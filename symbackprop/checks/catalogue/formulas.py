"""Mistakes diagnosed by rebuilding the wrong formula: signs, sigma', transposes, paths, layers.

Checks layer. Each entry rebuilds, from the correct derivation, the formula a student would
write after one classic slip and tells whether the user's formula fits it (at the probe points).
The registration order below is the diagnosis priority within the catalogue.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import sympy as sp

from symbackprop.checks.mistakes import (
    Candidate,
    Mistake,
    MistakeContext,
    close,
    delta_steps,
    first_match,
    grouped_candidates,
    register_mistake,
)
from symbackprop.derivation.steps import Step
from symbackprop.model import notation
from symbackprop.model.activations import ACTIVATIONS, Activation
from symbackprop.model.penalty import PENALTY
from symbackprop.model.printing import format_number, to_text
from symbackprop.model.program import NodeKind
from symbackprop.model.rulebook import Rule


def _name(expr: sp.Expr) -> str:
    return to_text(expr)


# --- the catalogue --------------------------------------------------------------------------------
def _zero_formula(context: MistakeContext) -> str | None:
    zero = np.zeros_like(context.given)
    if not np.all(close(context.given, zero)) or np.all(close(context.expected, zero)):
        return None
    return (
        f"your formula is 0 everywhere (at all {context.given.size} probe points) but the "
        "gradient is not; look for a factor 0 or terms that cancel"
    )


ZERO_FORMULA = register_mistake(Mistake("zero_formula", "a formula that is 0", _zero_formula))


def _sign_error(context: MistakeContext) -> str | None:
    gradient = context.gradient_step.rhs
    candidates: list[Candidate] = [("the whole expression has the wrong sign", -gradient)]
    for step in context.chain_adjoints():
        candidates.append(
            (
                f"the sign of {_name(step.lhs)} is flipped (y - a written for a - y?)",
                context.gradient_with({step.lhs: -step.rhs}),
            )
        )
    return first_match(context, candidates)


SIGN_ERROR = register_mistake(Mistake("sign_error", "sign error", _sign_error))


_CANCELLING = {
    Rule.SIGMOID_CROSS_ENTROPY: "sigmoid outputs and binary cross-entropy",
    Rule.SOFTMAX_CROSS_ENTROPY: "softmax outputs and cross-entropy",
}


def _cancelled_derivative_applied(context: MistakeContext) -> str | None:
    fused = [
        step
        for step in context.chain_adjoints()
        if step.node is not None and any(rule in _CANCELLING for rule in step.rules)
    ]
    return first_match(
        context,
        grouped_candidates(
            context,
            fused,
            lambda step: step.rhs * _output_prime(step),
            lambda where, step: (
                f"the output activation's derivative {_name(_output_prime(step))} is applied "
                f"again ({where}): with {_CANCELLING[_fused_rule(step)]} the loss cancels it, "
                f"so {_name(step.lhs)} = {_name(step.rhs)}"
            ),
        ),
    )


def _fused_rule(step: Step) -> Rule:
    return next(rule for rule in step.rules if rule in _CANCELLING)


def _output_prime(step: Step) -> sp.Expr:
    """a_j (1 - a_j): sigma'(z_j), or the diagonal of softmax's Jacobian, students reach for."""
    assert step.node is not None and step.layer is not None
    j = int(step.node.name.rsplit("_", 1)[1])
    a = sp.Symbol(notation.a_name(step.layer, j))
    return a * (1 - a)


CANCELLED_DERIVATIVE_APPLIED = register_mistake(
    Mistake(
        "cancelled_derivative_applied",
        "output derivative applied where the loss cancels it",
        _cancelled_derivative_applied,
    )
)


def _missing_activation_derivative(context: MistakeContext) -> str | None:
    return first_match(
        context,
        grouped_candidates(
            context,
            delta_steps(context),
            lambda step: step.factors[0],
            lambda where, step: (
                f"the activation derivative f'(z) = {_name(step.factors[1])} is missing "
                f"from the delta ({where})"
            ),
        ),
    )


MISSING_ACTIVATION_DERIVATIVE = register_mistake(
    Mistake(
        "missing_activation_derivative",
        "missing activation-derivative factor",
        _missing_activation_derivative,
    )
)


def _wrong_activation_derivative(context: MistakeContext) -> str | None:
    candidates: list[Candidate] = []
    wrong_forms: list[tuple[Callable[[sp.Expr], sp.Expr], str]] = [
        (lambda a: a, "f(z) = a"),
        (lambda a: 1 - a, "1 - a"),
    ]
    for wrong, what in wrong_forms:
        candidates += grouped_candidates(
            context,
            delta_steps(context),
            functools.partial(_with_activation, context, factor=wrong),
            functools.partial(_explain_wrong_derivative, what=what),
        )
    for activation in ACTIVATIONS.values():
        if not activation.is_layerwise:
            candidates += grouped_candidates(
                context,
                delta_steps(context),
                functools.partial(_with_derivative_of, context, activation=activation),
                functools.partial(_explain_other_derivative, context, activation=activation),
            )
    return first_match(context, candidates)


def _explain_wrong_derivative(where: str, step: Step, what: str) -> str:
    return f"the delta ({where}) uses {what} where f'(z) = {_name(step.factors[1])} belongs"


def _with_activation(
    context: MistakeContext, step: Step, *, factor: Callable[[sp.Expr], sp.Expr]
) -> sp.Expr | None:
    a = context.activation_of(step)
    return None if a is None else step.factors[0] * factor(a)


def _derivative_form(context: MistakeContext, step: Step, activation: Activation) -> sp.Expr | None:
    """Return f'(z) of ``activation`` written as its identity gives it (a(1 - a), 1 - a², step(z))
    with the a and z of the delta's own node, or None when that is the node's own f'(z)."""
    a = context.activation_of(step)
    if a is None:
        return None
    z = sp.Dummy("z")
    f = activation.apply(z)
    form = sp.diff(f, z)
    if f != z:
        form = form.xreplace({f: a})
    form = form.xreplace({z: step.node})
    return None if form == step.factors[1] else form


def _with_derivative_of(
    context: MistakeContext, step: Step, *, activation: Activation
) -> sp.Expr | None:
    form = _derivative_form(context, step, activation)
    return None if form is None else step.factors[0] * form


def _explain_other_derivative(
    context: MistakeContext, where: str, step: Step, *, activation: Activation
) -> str:
    form = _derivative_form(context, step, activation)
    shown = _name(form) if form is not None else "its derivative"
    return (
        f"the delta ({where}) uses the {activation.name} derivative {shown} where this "
        f"layer's f'(z) = {_name(step.factors[1])} belongs"
    )


WRONG_ACTIVATION_DERIVATIVE = register_mistake(
    Mistake(
        "wrong_activation_derivative",
        "wrong activation derivative",
        _wrong_activation_derivative,
    )
)


def _extra_factor(context: MistakeContext) -> str | None:
    steps = delta_steps(context)
    candidates = list(
        grouped_candidates(
            context,
            steps,
            lambda step: step.rhs * step.factors[1],
            lambda where, step: (
                f"f'(z) = {_name(step.factors[1])} appears twice in the delta ({where})"
            ),
        )
    )
    candidates += grouped_candidates(
        context,
        steps,
        lambda step: _with_activation(context, step, factor=lambda a: step.rhs * a),
        lambda where, step: f"the delta ({where}) has an extra factor a",
    )
    gradient = context.gradient_step.rhs
    network = context.derivation.network
    extras = [a.lhs for a in network.assignments if a.kind is NodeKind.ACTIVATION]
    for extra in extras + list(network.inputs):
        candidates.append((f"an extra factor {_name(extra)}", gradient * extra))
    return first_match(context, candidates)


EXTRA_FACTOR = register_mistake(Mistake("extra_factor", "extra factor", _extra_factor))


def _transposed(context: MistakeContext, weight: sp.Expr) -> sp.Symbol | None:
    """Return w_kj for a weight w_jk (None when it is not a weight or w_kj does not exist)."""
    indices = notation.parse_weight_name(weight.name) if weight.is_Symbol else None
    if indices is None:
        return None
    layer, j, k = indices
    name = notation.weight_name(layer, k, j)
    return sp.Symbol(name) if name in context.derivation.network.parameter_names() else None


def _transposed_delta(context: MistakeContext, step: Step) -> sp.Expr | None:
    terms = []
    for path in step.paths:
        swapped = _transposed(context, path.local)
        if swapped is None:
            return None
        terms.append(path.adjoint * swapped)
    new = sp.Add(*terms) * step.factors[1]
    return None if new == step.rhs else new


def _transposed_weight(context: MistakeContext) -> str | None:
    candidates: list[Candidate] = []
    swapped = _transposed(context, context.wrt)
    if swapped is not None and swapped != context.wrt:
        candidates.append(
            (
                f"this is the gradient of {_name(swapped)}: the indices j and k are swapped",
                context.derivation.gradient(swapped.name),
            )
        )
    candidates += grouped_candidates(
        context,
        delta_steps(context),
        lambda step: _transposed_delta(context, step),
        lambda where, step: (
            f"the sum over downstream neurons in the delta ({where}) uses w_jk where "
            "w_kj belongs (BP2 needs the transpose)"
        ),
    )
    return first_match(context, candidates)


TRANSPOSED_WEIGHT = register_mistake(
    Mistake("transposed_weight", "transposed weight index", _transposed_weight)
)


def _penalty_gradient(context: MistakeContext) -> str | None:
    gradient = context.gradient_step
    penalty = next((path for path in gradient.paths if path.via == PENALTY), None)
    if penalty is None:
        return None
    term = _name(penalty.term)
    candidates: list[Candidate] = [
        (
            f"the weight penalty's gradient is missing: the loss has the term Ω "
            f"({context.derivation.network.penalty.describe()}), so the gradient gains "
            f"∂Ω/∂{_name(context.wrt)} = {term}",
            gradient.rhs - penalty.term,
        )
    ]
    if not context.derivation.network.penalty.l1:
        candidates += [
            (
                f"the weight penalty's gradient is halved: ∂/∂w (λ/2)w² = λw, so the gradient "
                f"gains {term}",
                gradient.rhs - penalty.term / 2,
            ),
            (
                f"the weight penalty's gradient is doubled: the ½ of (λ/2)w² cancels the 2, so "
                f"the gradient gains {term}",
                gradient.rhs + penalty.term,
            ),
        ]
    return first_match(context, candidates)


PENALTY_GRADIENT = register_mistake(
    Mistake("penalty_gradient", "forgotten or mis-scaled penalty gradient", _penalty_gradient)
)


def _missing_path(context: MistakeContext) -> str | None:
    candidates: list[Candidate] = []
    gradient = context.gradient_step
    if len(gradient.paths) > 1:
        for path in gradient.paths:
            candidates.append(
                (
                    f"the path through {_name(path.via)} is missing from the sum",
                    gradient.rhs - path.term,
                )
            )
    for step in context.chain_adjoints():
        if len(step.paths) < 2:
            continue
        for path in step.paths:
            if len(step.factors) == 2:
                new = (step.factors[0] - path.term) * step.factors[1]
            else:
                new = step.rhs - path.term
            candidates.append(
                (
                    f"{_name(step.lhs)} misses the path through {_name(path.via)} in its sum "
                    "over downstream neurons",
                    context.gradient_with({step.lhs: new}),
                )
            )
    return first_match(context, candidates)


MISSING_PATH = register_mistake(
    Mistake("missing_path", "missing path in the sum over downstream neurons", _missing_path)
)


def _updated_delta(context: MistakeContext, step: Step) -> sp.Expr | None:
    eta = sp.Float(context.learning_rate)
    params = set(context.derivation.network.params)
    terms = []
    for path in step.paths:
        if path.local not in params:
            return None
        gradient = sp.Symbol(notation.gradient_name(path.local.name))
        terms.append(path.adjoint * (path.local - eta * gradient))
    return sp.Add(*terms) * step.factors[1]


def _updated_weights(context: MistakeContext) -> str | None:
    eta = format_number(context.learning_rate)
    return first_match(
        context,
        grouped_candidates(
            context,
            delta_steps(context),
            lambda step: _updated_delta(context, step),
            lambda where, step: (
                f"the delta ({where}) uses updated weights w - η ∂L/∂w (η = {eta}); "
                "backpropagate through the weights of the forward pass"
            ),
        ),
    )


UPDATED_WEIGHTS = register_mistake(
    Mistake("updated_weights", "updated weights used in a hidden delta", _updated_weights)
)


def _layer_index(context: MistakeContext) -> dict[sp.Symbol, tuple[str, int, int]]:
    """Map each a (x for layer 0) and delta symbol of a layered network to (kind, layer, j)."""
    arch = context.derivation.network.architecture
    index: dict[sp.Symbol, tuple[str, int, int]] = {}
    if arch is None:
        return index
    for k in range(1, arch.sizes[0] + 1):
        index[sp.Symbol(notation.input_name(k))] = ("a", 0, k)
    for layer in range(1, arch.depth + 1):
        for j in range(1, arch.sizes[layer] + 1):
            index[sp.Symbol(notation.a_name(layer, j))] = ("a", layer, j)
            index[sp.Symbol(notation.delta_name(layer, j))] = ("delta", layer, j)
    return index


def _other_layers(
    index: Mapping[sp.Symbol, tuple[str, int, int]], symbol: sp.Expr
) -> Iterator[sp.Symbol]:
    if symbol not in index:
        return
    kind, layer, j = index[symbol]
    for other, (other_kind, other_layer, other_j) in index.items():
        if other_kind == kind and other_j == j and abs(other_layer - layer) == 1:
            yield other


def _wrong_layer_term(context: MistakeContext) -> str | None:
    index = _layer_index(context)
    gradient = context.gradient_step
    candidates: list[Candidate] = []
    for path in gradient.paths:
        for other in _other_layers(index, path.local):
            candidates.append(
                (
                    f"{_name(other)} is used as the weight's input where {_name(path.local)} "
                    "(the previous layer's activation) belongs",
                    gradient.rhs.xreplace({path.local: other}),
                )
            )
        for other in _other_layers(index, path.adjoint):
            candidates.append(
                (
                    f"{_name(other)} is the delta of the wrong layer; {_name(path.adjoint)} "
                    "belongs here",
                    gradient.rhs.xreplace({path.adjoint: other}),
                )
            )
    return first_match(context, candidates)


WRONG_LAYER_TERM = register_mistake(
    Mistake("wrong_layer_term", "a term from the wrong layer", _wrong_layer_term)
)
