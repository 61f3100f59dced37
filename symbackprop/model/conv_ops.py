"""Convolution and pooling as structured matrix operations, with their adjoints (model layer).

Every operand is a batch of flattened feature maps: one column per sample, the column holding
one sample's (C, H, W) map in C order (channel, then row, then column). A 1-D map (C, L) is
the case H = 1, so the same operations serve Conv1d and Conv2d. A kernel is a matrix
K (C_out x C_in kh kw), one row per output channel, PyTorch's (out, in, kh, kw) in C order.

The notation of the printed derivation: ``X ⋆ K`` is the cross-correlation PyTorch's Conv2d
computes (K slides over the zero-padded X), and its adjoints are

- to the input, the FULL convolution of the adjoint with the kernel rotated 180 degrees,
  ``Δ ⋆_full rot180(K)`` (Δ padded by k - 1 zeros all round, s - 1 zeros between its entries
  for a stride s; the forward's padding cropped off the result);
- to the kernel, the correlation of the input with the adjoint, ``X ⋆ Δ``: each weight
  collects every position it touched (summed over the batch; the gradient step divides by B).

Settings of every map operation: (C, H, W, kh, kw, sh, sw, ph, pw) of its INPUT map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sympy as sp

from symbackprop.model.rulebook import Rule
from symbackprop.model.tensor_ops import AdjointTerm, TensorOp, columns


@dataclass(frozen=True, slots=True)
class Geometry:
    """An input map (C, H, W) seen through windows (kh, kw) at stride (sh, sw), padding (ph, pw)."""

    channels: int
    height: int
    width: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.ph - self.kh) // self.sh + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.pw - self.kw) // self.sw + 1

    @property
    def positions(self) -> int:
        """The number of output positions (windows) per channel."""
        return self.out_height * self.out_width

    @property
    def size(self) -> int:
        """The input map's length, C H W."""
        return self.channels * self.height * self.width

    @property
    def window(self) -> int:
        return self.kh * self.kw

    def settings(self) -> tuple[int, ...]:
        return (self.channels, self.height, self.width, self.kh, self.kw,
                self.sh, self.sw, self.ph, self.pw)  # fmt: skip

    def channel_windows(self, samples: int) -> Iterator[tuple[int, int, list[int]]]:
        """Yield (sample, output row, the window's input rows) per window of every channel of
        every sample: what a pooling's entry-by-entry form walks (padding left out)."""
        for b in range(samples):
            for c in range(self.channels):
                base = c * self.height * self.width
                for position, inside in self.windows():
                    yield b, c * self.positions + position, [base + at for _, at in inside]

    def windows(self) -> Iterator[tuple[int, list[tuple[int, int]]]]:
        """Yield (output position, [(offset in the window, input position), ...]) per window.

        Positions are within one channel (y W_out + x, h W + w); offsets i kw + j. Entries
        in the zero padding are left out.
        """
        for y in range(self.out_height):
            for x in range(self.out_width):
                inside = []
                for i in range(self.kh):
                    for j in range(self.kw):
                        h, w = y * self.sh + i - self.ph, x * self.sw + j - self.pw
                        if 0 <= h < self.height and 0 <= w < self.width:
                            inside.append((i * self.kw + j, h * self.width + w))
                yield y * self.out_width + x, inside

    def mark(self) -> str:
        """Return the stride and padding when not 1 and 0 ("s=2, p=1"), else ""."""
        parts = []
        one_dimensional = self.height == 1 and self.kh == 1 and self.ph == 0
        for letter, pair, plain in (("s", (self.sh, self.sw), 1), ("p", (self.ph, self.pw), 0)):
            if pair != (plain, plain) and not (one_dimensional and pair[1] == plain):
                shown = pair[1] if one_dimensional or pair[0] == pair[1] else pair
                parts.append(f"{letter}={shown}".replace(" ", ""))
        return ", ".join(parts)


def geometry_of(settings: tuple[int, ...]) -> Geometry:
    return Geometry(*settings[:9])


class _MapOp(TensorOp):
    """An operation on maps whose settings are its input's :class:`Geometry`."""

    @property
    def geometry(self) -> Geometry:
        return geometry_of(self.settings)

    def _latex_mark(self, base: str) -> str:
        mark = self.geometry.mark()
        return f"{base}_{{{mark}}}" if mark else base

    def _text_mark(self) -> str:
        mark = self.geometry.mark()
        return f" [{mark}]" if mark else ""


def _samples(*operands: sp.Matrix) -> int:
    return max(o.cols for o in operands)


def _column(matrix: sp.Matrix, row: int, b: int) -> sp.Expr:
    return matrix[row, b if matrix.cols > 1 else 0]


# --- convolution ---------------------------------------------------------------------------------
class Conv(_MapOp):
    """The cross-correlation X ⋆ K of maps X (C_in H W x B) with a kernel K (C_out x C_in kh kw)."""

    n_operands = 2
    kernel = "conv"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        K = self.operands[1]
        return (sp.Integer(int(K.shape[0]) * self.geometry.positions), columns(self.operands[0]))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        X, K = self.operands
        return [
            (0, ConvInputGradient(G, K, self.settings), (Rule.CONV_INPUT_GRADIENT,)),
            (1, ConvKernelGradient(X, G, self.settings), (Rule.CONV_KERNEL_GRADIENT,)),
        ]

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        X, K = operands
        g = self.geometry
        out = sp.zeros(K.rows * g.positions, _samples(X))
        for b in range(out.cols):
            for o in range(K.rows):
                for position, inside in g.windows():
                    out[o * g.positions + position, b] = sp.Add(*(
                        K[o, c * g.window + offset] * _column(X, c * g.height * g.width + at, b)
                        for c in range(g.channels) for offset, at in inside
                    ))  # fmt: skip
        return out

    def latex(self, operands: list[str]) -> str:
        star = self._latex_mark(r"\star")
        return f"{operands[0]} {star} {operands[1]}"

    def text(self, operands: list[str]) -> str:
        return f"{operands[0]} ⋆ {operands[1]}{self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"correlate({operands[0]}, {operands[1]})"


class ConvInputGradient(_MapOp):
    """The adjoint of a correlation's input: Δ ⋆_full rot180(K), a transposed convolution."""

    n_operands = 2
    kernel = "conv_input_gradient"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (sp.Integer(self.geometry.size), columns(self.operands[0]))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        G, K = operands
        g = self.geometry
        out = sp.zeros(g.size, G.cols)
        for b in range(G.cols):
            for o in range(K.rows):
                for position, inside in g.windows():
                    delta = G[o * g.positions + position, b]
                    for c in range(g.channels):
                        for offset, at in inside:
                            row = c * g.height * g.width + at
                            out[row, b] += K[o, c * g.window + offset] * delta
        return out

    def latex(self, operands: list[str]) -> str:
        full = self._latex_mark(r"\star") + r"^{\text{full}}"
        return rf"{operands[0]} {full} \operatorname{{rot}}_{{180}}\left({operands[1]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"{operands[0]} ⋆full rot180({operands[1]}){self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"full_correlate({operands[0]}, flip({operands[1]}))"


class ConvKernelGradient(_MapOp):
    """The adjoint of a correlation's kernel: X ⋆ Δ, summed over the batch (C_out x C_in kh kw)."""

    n_operands = 2
    kernel = "conv_kernel_gradient"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        G = self.operands[1]
        out_channels = int(G.shape[0]) // self.geometry.positions
        return (sp.Integer(out_channels), sp.Integer(self.geometry.channels * self.geometry.window))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        X, G = operands
        g = self.geometry
        out_channels = G.rows // g.positions
        out = sp.zeros(out_channels, g.channels * g.window)
        for b in range(_samples(X, G)):
            for o in range(out_channels):
                for position, inside in g.windows():
                    delta = _column(G, o * g.positions + position, b)
                    for c in range(g.channels):
                        for offset, at in inside:
                            x = _column(X, c * g.height * g.width + at, b)
                            out[o, c * g.window + offset] += x * delta
        return out

    def latex(self, operands: list[str]) -> str:
        star = self._latex_mark(r"\star")
        return f"{operands[0]} {star} {operands[1]}"

    def text(self, operands: list[str]) -> str:
        return f"{operands[0]} ⋆ {operands[1]}{self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"correlate_kernel({operands[0]}, {operands[1]})"


# --- a bias per channel --------------------------------------------------------------------------
class ChannelBroadcast(TensorOp):
    """A bias b (C x 1) repeated over a map's P positions: b ⊗ 1_P (C P x 1).

    Settings: (P,).
    """

    n_operands = 1
    kernel = "channel_broadcast"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        b = self.operands[0]
        return (sp.Integer(int(b.shape[0]) * self.settings[0]), columns(b))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        return [(0, ChannelSum(G, self.settings), (Rule.CONV_BIAS_SUM,))]

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        b = operands[0]
        positions = self.settings[0]
        return sp.Matrix(b.rows * positions, b.cols, lambda r, k: b[r // positions, k])

    def latex(self, operands: list[str]) -> str:
        return rf"\left({operands[0]} \otimes \mathbf{{1}}_{{{self.settings[0]}}}\right)"

    def text(self, operands: list[str]) -> str:
        return f"({operands[0]} ⊗ 1_{self.settings[0]})"

    def formula(self, operands: list[str]) -> str:
        return f"channel_repeat({operands[0]})"


class ChannelSum(TensorOp):
    """Each channel's P positions summed: (C P x B) -> (C x B), the adjoint of b ⊗ 1_P."""

    n_operands = 1
    kernel = "channel_sum"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        G = self.operands[0]
        return (sp.Integer(int(G.shape[0]) // self.settings[0]), columns(G))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        G = operands[0]
        positions = self.settings[0]
        rows = G.rows // positions
        return sp.Matrix(
            rows, G.cols, lambda r, k: sp.Add(*G[r * positions : (r + 1) * positions, k])
        )

    def latex(self, operands: list[str]) -> str:
        return rf"\operatorname{{sum}}_{{\text{{pos}}}}\left({operands[0]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"sum_pos({operands[0]})"

    def formula(self, operands: list[str]) -> str:
        return f"channel_sum({operands[0]})"


# --- pooling -------------------------------------------------------------------------------------
class MaxPool(_MapOp):
    """The maximum of each window of each channel (padding never wins: it is -inf)."""

    n_operands = 1
    kernel = "max_pool"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        g = self.geometry
        return (sp.Integer(g.channels * g.positions), columns(self.operands[0]))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        X = self.operands[0]
        return [(0, MaxPoolRoute(G, X, self.settings), (Rule.MAX_POOL_ROUTE,))]

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        X = operands[0]
        g = self.geometry
        out = sp.zeros(g.channels * g.positions, X.cols)
        for b, row, rows in g.channel_windows(X.cols):
            out[row, b] = sp.Max(*(X[r, b] for r in rows))
        return out

    def latex(self, operands: list[str]) -> str:
        name = rf"\operatorname{{maxpool}}_{{{_pool_subscript(self.geometry)}}}"
        return rf"{name}\left({operands[0]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"maxpool{_window_text(self.geometry)}({operands[0]}){self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"max_pool({operands[0]})"


class MaxPoolRoute(_MapOp):
    """Each window's adjoint sent to its winner in X (the first maximum), 0 to the others."""

    n_operands = 2
    kernel = "max_pool_route"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (sp.Integer(self.geometry.size), columns(self.operands[0]))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        G, X = operands
        g = self.geometry
        out = sp.zeros(g.size, G.cols)
        for b, row, rows in g.channel_windows(G.cols):
            entries = [X[r, b] for r in rows]
            for k, r in enumerate(rows):
                out[r, b] += _wins(entries, k) * G[row, b]
        return out

    def latex(self, operands: list[str]) -> str:
        route = rf"\operatorname{{route}}_{{\max}}^{{{_pool_subscript(self.geometry)}}}"
        return rf"{route}\left({operands[0]} \to \operatorname{{argmax}} {operands[1]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"route_max({operands[0]} → argmax {operands[1]}){self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"route_to_max({operands[0]}, {operands[1]})"


def _wins(entries: list[sp.Expr], k: int) -> sp.Expr:
    """1 where entry k is its window's first maximum, else 0 (a Piecewise over symbols)."""
    condition = sp.And(*(entries[k] > e for e in entries[:k]),
                       *(entries[k] >= e for e in entries[k + 1 :]))  # fmt: skip
    return sp.Piecewise((1, condition), (0, True))


class AvgPool(_MapOp):
    """The mean of each window of each channel, padding counted (count_include_pad)."""

    n_operands = 1
    kernel = "avg_pool"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        g = self.geometry
        return (sp.Integer(g.channels * g.positions), columns(self.operands[0]))

    def adjoint_terms(self, G: sp.MatrixExpr, lhs: sp.MatrixSymbol) -> list[AdjointTerm]:
        return [(0, AvgPoolSpread(G, self.settings), (Rule.AVG_POOL_SPREAD,))]

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        X = operands[0]
        g = self.geometry
        out = sp.zeros(g.channels * g.positions, X.cols)
        for b, row, rows in g.channel_windows(X.cols):
            out[row, b] = sp.Add(*(X[r, b] for r in rows)) / g.window
        return out

    def latex(self, operands: list[str]) -> str:
        name = rf"\operatorname{{avgpool}}_{{{_pool_subscript(self.geometry)}}}"
        return rf"{name}\left({operands[0]}\right)"

    def text(self, operands: list[str]) -> str:
        return f"avgpool{_window_text(self.geometry)}({operands[0]}){self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"avg_pool({operands[0]})"


class AvgPoolSpread(_MapOp):
    """Each window's adjoint spread evenly over its window: 1/(kh kw) to each entry."""

    n_operands = 1
    kernel = "avg_pool_spread"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (sp.Integer(self.geometry.size), columns(self.operands[0]))

    def explicit(self, *operands: sp.Matrix) -> sp.Matrix:
        G = operands[0]
        g = self.geometry
        out = sp.zeros(g.size, G.cols)
        for b, row, rows in g.channel_windows(G.cols):
            for r in rows:
                out[r, b] += G[row, b] / g.window
        return out

    def latex(self, operands: list[str]) -> str:
        spread = rf"\operatorname{{spread}}_{{{_pool_subscript(self.geometry)}}}"
        return rf"\frac{{1}}{{{self.geometry.window}}}\,{spread}\left({operands[0]}\right)"

    def text(self, operands: list[str]) -> str:
        spread = f"spread{_window_text(self.geometry)}"
        return f"(1/{self.geometry.window}) {spread}({operands[0]}){self._text_mark()}"

    def formula(self, operands: list[str]) -> str:
        return f"spread_evenly({operands[0]})"


def _window_text(g: Geometry) -> str:
    """The window's size as printed: "2x2", or "3" for a 1-D window."""
    return str(g.kw) if g.height == 1 and g.kh == 1 else f"{g.kh}x{g.kw}"


def _pool_subscript(g: Geometry) -> str:
    """The window, then the stride and padding where they are not the defaults."""
    mark = g.mark()
    window = _window_text(g).replace("x", r"\times ")
    return f"{window}, {mark}" if mark else window
