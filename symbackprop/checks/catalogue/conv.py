"""Classic slips in a convolution's hand-derived gradients, rebuilt from the derivation (checks).

The detectors of the matrix catalogue's convolution entries (registered, in priority, by
:mod:`symbackprop.checks.catalogue.matrix`): the input gradient's kernel not flipped, the input
gradient's padding wrong (a 'valid' correlation of Δ where the full one belongs), the kernel
gradient's operands swapped (Δ ⋆ X for X ⋆ Δ), and a bias gradient without the sum over each
channel's positions. Each rebuilds the step a person writes after the slip from the
derivation's own operations, so it names the layer's own matrices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sympy as sp

from symbackprop.checks.matrix_mistakes import (
    Candidate,
    MatrixMistakeContext,
    equation,
    first_match,
)
from symbackprop.checks.matrix_text import formula_text
from symbackprop.derivation.matrix_steps import MatrixStep
from symbackprop.derivation.tensor_kernels import channel_sum
from symbackprop.model.conv_formula_ops import Flip, FullCorrelate, SwappedKernelCorrelation
from symbackprop.model.conv_ops import ChannelSum, Conv, ConvInputGradient, ConvKernelGradient
from symbackprop.model.parsing.shapes import shape_text


def _replaced(expr: sp.Basic, old: sp.Basic, new: sp.Basic) -> sp.Basic | None:
    try:
        return expr.xreplace({old: new})
    except (ValueError, TypeError):
        return None


def _ops(context: MatrixMistakeContext, kind: type) -> Iterator[tuple[MatrixStep, Any]]:
    """Yield (step, operation) for each operation of a kind in the steps a slip may edit."""
    for step in context.steps_to_edit():
        for node in sp.preorder_traversal(step.rhs):
            if isinstance(node, kind):
                yield step, node


def kernel_not_flipped(context: MatrixMistakeContext) -> str | None:
    """Δ ⋆_full K where Δ ⋆_full rot180(K) belongs (channels as the transposed conv has them)."""
    return first_match(context, _unflipped(context))


def _unflipped(context: MatrixMistakeContext) -> Iterator[Candidate]:
    for step, op in _ops(context, ConvInputGradient):
        G, K = op.operands
        if K.shape[0] != op.geometry.channels:
            continue  # K where flip(K) belongs does not fit then: the parser's shape verdict
        unturned = FullCorrelate(G, K, op.settings)
        yield (
            f"the kernel is not flipped in {step.name}: the input gradient is the full "
            f"correlation of {formula_text(G)} with rot180({formula_text(K)}), "
            f"full_correlate({formula_text(G)}, flip({formula_text(K)})), not with "
            f"{formula_text(K)} itself; {equation(step)}",
            {step.name: _replaced(step.rhs, op, unturned)},
        )


def input_gradient_padding(context: MatrixMistakeContext) -> str | None:
    """A 'valid' correlation of Δ with the flipped kernel where the full one belongs."""
    valid = [op for op in sp.preorder_traversal(context.given_expr) if _is_valid_of_delta(op)]
    if not valid:
        return None
    for step, op in _ops(context, ConvInputGradient):
        G, K = op.operands
        if not any(v.operands[0] == G for v in valid):
            continue
        g = op.geometry
        given, expected = context.given_expr.shape, context.target.rhs.shape
        pad = g.kh - 1 - g.ph, g.kw - 1 - g.pw
        padding = f"{pad[1]}" if pad[0] == pad[1] or g.height == 1 else f"{pad[0]}x{pad[1]}"
        zeros = (f" and {g.sh - 1 if g.height > 1 else g.sw - 1} zeros between its entries "
                 "(the stride)" if (g.sh, g.sw) != (1, 1) else "")  # fmt: skip
        shapes = ""
        if given != expected:
            shapes = (f"your formula gives {shape_text(given)} but {context.what} is "
                      f"{shape_text(expected)}; ")  # fmt: skip
        return (
            f"{shapes}the input gradient of {step.name} is the FULL correlation: pad "
            f"{formula_text(G)} with {padding} zeros all round{zeros} (k - 1 = {g.kw - 1}, less "
            f"the forward's padding {g.pw}) before correlating with flip({formula_text(K)}), not "
            f"a 'valid' one; write full_correlate({formula_text(G)}, flip({formula_text(K)}))"
        )
    return None


def _is_valid_of_delta(op: sp.Basic) -> bool:
    """A 'valid' correlation (stride 1, no padding) with a kernel that is flipped or a kernel."""
    if not isinstance(op, Conv):
        return False
    g = op.geometry
    return (g.sh, g.sw, g.ph, g.pw) == (1, 1, 0, 0) and (
        isinstance(op.operands[1], (Flip, sp.MatrixSymbol))
    )


def kernel_operands_swapped(context: MatrixMistakeContext) -> str | None:
    """Δ ⋆ X where X ⋆ Δ belongs: the kernel gradient rotated 180 degrees."""
    return first_match(context, _swapped(context))


def _swapped(context: MatrixMistakeContext) -> Iterator[Candidate]:
    for step, op in _ops(context, ConvKernelGradient):
        X, G = op.operands
        yield (
            f"the operands of the kernel's correlation are swapped in {step.name}: "
            f"{formula_text(G)} ⋆ {formula_text(X)} is {formula_text(X)} ⋆ {formula_text(G)} "
            f"rotated 180°; each weight collects the input it saw times the delta there, "
            f"correlate_kernel({formula_text(X)}, {formula_text(G)}); {equation(step)}",
            {step.name: _replaced(step.rhs, op, SwappedKernelCorrelation(G, X, op.settings))},
        )


def bias_without_position_sum(context: MatrixMistakeContext) -> str | None:
    """A convolution's bias gradient with one entry per position: its channel's sum left out."""
    sums = [op for op in sp.preorder_traversal(context.target.rhs) if isinstance(op, ChannelSum)]
    expected = context.target.rhs.shape
    for op in sums:
        positions = op.settings[0]
        if context.given_expr.shape != (expected[0] * positions, expected[1]):
            continue
        if not context.given_matches(lambda g, p: channel_sum(g, positions)):  # noqa: B023
            continue
        return (
            f"the sum over positions is missing from {context.what}: a channel's bias is added "
            f"at each of its {positions} positions, so its gradient sums the deltas over them; "
            f"your formula gives {shape_text(context.given_expr.shape)}, one entry per "
            f"position; wrap it in channel_sum(...)"
        )
    return None
