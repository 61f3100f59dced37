"""The layer view of a layered network's derivation: forward equations and BP1-BP4 as matrices.

Derivation engine. Each equation is SymPy matrix algebra over W^(l), b^(l), z^(l), a^(l) and
delta^(l); sigma(z) and sigma'(z) are elementwise applications of the layer's activation and
of its derivative, and the output delta uses the loss's gradient (or a - y where the loss and
the output activation cancel).
"""

from __future__ import annotations

import sympy as sp

from symbackprop.derivation.steps import LOSS, Equation
from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.functions import Sign
from symbackprop.model.losses import get_loss
from symbackprop.model.matrices import apply_scalar, elementwise
from symbackprop.model.network import Network

_T = sp.Symbol("t")


def _vector(name: str, n: int) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(name, n, 1)


def layer_equations(network: Network) -> tuple[Equation, ...]:
    """Return z = W a + b and a = f(z) per layer, BP1 (output), BP2 (hidden), BP3 and BP4."""
    arch = network.architecture
    if arch is None:
        raise SymbackpropError(
            "matrix equations need a layered network (mlp); a custom program has only the "
            "scalar steps (d.steps)"
        )
    sizes, depth = arch.sizes, arch.depth
    W = {l_: sp.MatrixSymbol(notation.weight_matrix_name(l_), sizes[l_], sizes[l_ - 1])
         for l_ in range(1, depth + 1)}  # fmt: skip
    z = {l_: _vector(f"z{l_}", sizes[l_]) for l_ in range(1, depth + 1)}
    a = {l_: _vector(f"a{l_}", sizes[l_]) for l_ in range(0, depth + 1)}
    delta = {l_: _vector(f"delta{l_}", sizes[l_]) for l_ in range(1, depth + 1)}
    equations = []
    for layer in range(1, depth + 1):
        rhs: sp.Basic = W[layer] * a[layer - 1]
        if arch.bias != "none":
            rhs = rhs + _vector(notation.bias_vector_name(layer), sizes[layer])
        equations.append(Equation("forward", layer, z[layer], rhs))
        activation_of = elementwise(arch.activations[layer - 1], z[layer], derivative=False)
        equations.append(Equation("forward", layer, a[layer], activation_of))
    loss = get_loss(arch.loss)
    if loss.fused_rule(arch.activations[-1]) is not None:
        output = a[depth] - _vector("y", sizes[depth])
    else:
        gradient = _vector(notation.loss_gradient_vector_name(depth), sizes[depth])
        prime = elementwise(arch.activations[-1], z[depth], derivative=True)
        output = sp.HadamardProduct(gradient, prime, evaluate=False)
    equations.append(Equation("BP1", depth, delta[depth], output))
    for layer in range(depth - 1, 0, -1):
        back = W[layer + 1].T * delta[layer + 1]
        prime = elementwise(arch.activations[layer - 1], z[layer], derivative=True)
        equations.append(Equation("BP2", layer, delta[layer], sp.HadamardProduct(back, prime)))
    for layer in range(depth, 0, -1):
        if arch.bias == "per_neuron":
            b = _vector(notation.bias_vector_name(layer), sizes[layer])
            equations.append(Equation("BP3", layer, sp.Derivative(LOSS, b, evaluate=False),
                                      delta[layer]))  # fmt: skip
        elif arch.bias == "shared":
            ones = sp.OneMatrix(sizes[layer], 1)
            b_shared = sp.Symbol(notation.bias_name(layer))
            equations.append(Equation("BP3", layer, sp.Derivative(LOSS, b_shared, evaluate=False),
                                      ones.T * delta[layer]))  # fmt: skip
        weight_gradient = sp.Derivative(LOSS, W[layer], evaluate=False)
        rhs_w: sp.Basic = delta[layer] * a[layer - 1].T
        if arch.penalty.weight_decay:
            rhs_w = rhs_w + arch.penalty.gradient(_T).coeff(_T) * W[layer]  # lambda W
        if arch.penalty.l1:
            sign = apply_scalar(sp.Lambda(_T, Sign(_T)), W[layer])
            rhs_w = rhs_w + arch.penalty.gradient(_T).coeff(Sign(_T)) * sign
        equations.append(Equation("BP4", layer, weight_gradient, rhs_w))
    return tuple(equations)
