"""Convolution operations a checked formula may use that the derivation never stages (model layer).

A person who derives a convolution's gradients by hand writes them with a few operations of
their own: the kernel flipped, ``flip(K)``; the full correlation of the adjoint with it,
``full_correlate(Delta, flip(K))``; or, by a slip, the operands of the kernel's correlation
swapped, ``correlate_kernel(Delta, X)``. Each is a :class:`~symbackprop.model.tensor_ops.TensorOp`
with the settings of the convolution layer it belongs to, so the checker evaluates it with the
vectorized kernels of :mod:`symbackprop.derivation.array_kernels` and prints it back as typed.

- ``flip(K)``: K (C_out x C_in kh kw) rotated 180 degrees in each window and its channels
  swapped: (C_in x C_out kh kw), the kernel of the transposed convolution;
- ``full_correlate(Delta, F)``: the full correlation of Δ (the layer's output map) with a
  kernel F in the flipped layout (C_in x C_out kh kw): Δ padded by k - 1 zeros all round (and
  s - 1 zeros between its entries for a stride s), the forward's padding cropped off the result.
  With F = flip(K) it is the input gradient, ``ConvInputGradient(Δ, K)``;
- ``correlate_kernel(Delta, X)``: Δ ⋆ X, which is X ⋆ Δ reflected: the kernel gradient with
  each window rotated 180 degrees.
"""

from __future__ import annotations

import sympy as sp

from symbackprop.model.conv_ops import ConvInputGradient, ConvKernelGradient, _MapOp
from symbackprop.model.tensor_ops import TensorOp, columns


class Flip(TensorOp):
    """A kernel rotated 180 degrees with its channels swapped. Settings: (C_out, C_in, kh, kw)."""

    n_operands = 1
    kernel = "flip"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        out_channels, in_channels, kh, kw = self.settings
        return (sp.Integer(in_channels), sp.Integer(out_channels * kh * kw))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        K = operands[0]
        out_channels, in_channels, kh, kw = self.settings
        window = kh * kw
        flipped = sp.zeros(in_channels, out_channels * window)
        for o in range(out_channels):
            for c in range(in_channels):
                for i in range(kh):
                    for j in range(kw):
                        turned = (kh - 1 - i) * kw + (kw - 1 - j)
                        flipped[c, o * window + turned] = K[o, c * window + i * kw + j]
        return flipped

    def latex(self, operands: list[str]) -> str:
        return rf"\operatorname{{rot}}_{{180}}\left({operands[0]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"rot180({operands[0]})"

    def formula(self, operands: list[str]) -> str:
        return f"flip({operands[0]})"


def _unflipped(flipped: sp.Matrix, in_channels: int, kh: int, kw: int) -> sp.Matrix:
    """Return the forward kernel K of a kernel flip(K) (flipping twice gives K back)."""
    out_channels = flipped.cols // (kh * kw)
    symbol = sp.MatrixSymbol("F", flipped.rows, flipped.cols)
    return Flip(symbol, (in_channels, out_channels, kh, kw)).explicit(flipped)


class FullCorrelate(_MapOp):
    """Δ ⋆_full F with F in the flipped layout: the input gradient when F = flip(K)."""

    n_operands = 2
    kernel = "full_correlate"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (sp.Integer(self.geometry.size), columns(self.operands[0]))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        G, flipped = operands
        g = self.geometry
        K = _unflipped(flipped, g.channels, g.kh, g.kw)
        return ConvInputGradient(self.operands[0], sp.MatrixSymbol("K", *K.shape),
                                 self.settings).explicit(G, K)  # fmt: skip

    def latex(self, operands: list[str]) -> str:
        full = self._latex_mark(r"\star") + r"^{\text{full}}"
        return f"{operands[0]} {full} {operands[1]}"

    def text(self, operands: list[str]) -> str:
        return f"{operands[0]} ⋆full {operands[1]}{self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"full_correlate({operands[0]}, {operands[1]})"


class SwappedKernelCorrelation(_MapOp):
    """Δ ⋆ X: the kernel's correlation with its operands swapped, X ⋆ Δ rotated 180 degrees."""

    n_operands = 2
    kernel = "swapped_kernel_correlation"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        G = self.operands[0]
        out_channels = int(G.shape[0]) // self.geometry.positions
        return (sp.Integer(out_channels), sp.Integer(self.geometry.channels * self.geometry.window))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        G, X = operands
        g = self.geometry
        right = ConvKernelGradient(self.operands[1], self.operands[0], self.settings)
        gradient = right.explicit(X, G)
        turned = sp.zeros(*gradient.shape)
        for column in range(gradient.cols):
            c, offset = divmod(column, g.window)
            i, j = divmod(offset, g.kw)
            source = c * g.window + (g.kh - 1 - i) * g.kw + (g.kw - 1 - j)
            turned[:, column] = gradient[:, source]
        return turned

    def latex(self, operands: list[str]) -> str:
        star = self._latex_mark(r"\star")
        return f"{operands[0]} {star} {operands[1]}"

    def text(self, operands: list[str]) -> str:
        return f"{operands[0]} ⋆ {operands[1]}{self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"correlate_kernel({operands[0]}, {operands[1]})"
