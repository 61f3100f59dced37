"""The vectorized NumPy kernels of convolution and pooling (derivation engine).

Each takes flattened maps, one column per sample, and the operation's settings
(C, H, W, kh, kw, sh, sw, ph, pw) of its input map (see :mod:`symbackprop.model.conv_ops`).
Maps are held as (C, H, W, B), the batch last, which is the program's column layout reshaped
(no copy). The windows' entries are gathered side by side (im2col) with one strided copy per
kernel offset, so a convolution is one matrix product, and an adjoint adds them back with one
strided add per offset: the loops run over the kh kw offsets, never over pixels or samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from symbackprop.model.conv_ops import Geometry

FloatArray = np.ndarray


def _maps(X: FloatArray, g: Geometry, fill: float = 0.0) -> FloatArray:
    """Columns (C H W x B) -> padded maps (C, H + 2 ph, W + 2 pw, B); a view when unpadded.

    Keeping the batch last means no transpose at all between the program's columns and the
    maps: the reshape is free, and every product below is one matrix product.
    """
    maps = X.reshape(g.channels, g.height, g.width, X.shape[1])
    if g.ph or g.pw:
        pad = ((0, 0), (g.ph, g.ph), (g.pw, g.pw), (0, 0))
        maps = np.pad(maps, pad, constant_values=fill)
    return maps


def _offsets(g: Geometry) -> list[tuple[int, int, tuple[slice, slice]]]:
    """(i, j, rows and columns of the padded map read at kernel offset (i, j))."""
    rows, cols = g.sh * (g.out_height - 1) + 1, g.sw * (g.out_width - 1) + 1
    return [(i, j, (slice(i, i + rows, g.sh), slice(j, j + cols, g.sw)))
            for i in range(g.kh) for j in range(g.kw)]  # fmt: skip


def _patches(X: FloatArray, g: Geometry, fill: float = 0.0) -> FloatArray:
    """Every window's entries side by side: (C, kh, kw, H_out, W_out, B) (im2col).

    One strided copy per kernel offset (i, j): the entries every window reads at (i, j).
    """
    maps = _maps(X, g, fill)
    out = np.empty((g.channels, g.kh, g.kw, g.out_height, g.out_width, X.shape[1]))
    for i, j, (rows, cols) in _offsets(g):
        out[:, i, j] = maps[:, rows, cols]
    return out


def _scatter(patches: FloatArray, g: Geometry) -> FloatArray:
    """Add each window's entries (C, kh, kw, H_out, W_out, B) back where they were read.

    The adjoint of :func:`_patches`: one strided add per kernel offset, then the padding
    is cropped off.
    """
    samples = patches.shape[-1]
    padded = np.zeros((g.channels, g.height + 2 * g.ph, g.width + 2 * g.pw, samples))
    for i, j, (rows, cols) in _offsets(g):
        padded[:, rows, cols] += patches[:, i, j]
    inside = padded[:, g.ph : g.ph + g.height, g.pw : g.pw + g.width]
    return np.ascontiguousarray(inside).reshape(g.size, samples)


def _batch(A: FloatArray, samples: int) -> FloatArray:
    return A if A.shape[1] == samples else np.broadcast_to(A, (A.shape[0], samples))


def conv(X: FloatArray, K: FloatArray, *settings: int) -> FloatArray:
    """Z = X ⋆ K: the kernel rows times the patches, one matrix product."""
    g = Geometry(*settings)
    patches = _patches(X, g).reshape(g.channels * g.window, -1)
    return (K @ patches).reshape(K.shape[0] * g.positions, X.shape[1])


def conv_input_gradient(G: FloatArray, K: FloatArray, *settings: int) -> FloatArray:
    """dX = Δ ⋆_full rot180(K): Kᵀ Δ gives each window's share, added back where it was read."""
    g = Geometry(*settings)
    samples = G.shape[1]
    shares = K.T @ G.reshape(K.shape[0], g.positions * samples)
    return _scatter(shares.reshape(g.channels, g.kh, g.kw, g.out_height, g.out_width, samples), g)


def conv_kernel_gradient(X: FloatArray, G: FloatArray, *settings: int) -> FloatArray:
    """dK = X ⋆ Δ, summed over the batch: Δ times the patches' transpose, (O, C kh kw)."""
    g = Geometry(*settings)
    samples = max(X.shape[1], G.shape[1])
    patches = _patches(_batch(X, samples), g).reshape(g.channels * g.window, -1)
    delta = _batch(G, samples).reshape(-1, g.positions * samples)
    return delta @ patches.T


def flip(K: FloatArray, out_channels: int, in_channels: int, kh: int, kw: int) -> FloatArray:
    """rot180(K) with its channels swapped: (C_out, C_in kh kw) -> (C_in, C_out kh kw)."""
    windows = K.reshape(out_channels, in_channels, kh, kw)[:, :, ::-1, ::-1]
    return np.ascontiguousarray(windows.transpose(1, 0, 2, 3)).reshape(in_channels, -1)


def full_correlate(G: FloatArray, flipped: FloatArray, *settings: int) -> FloatArray:
    """Δ ⋆_full F for F = flipped in the flipped layout: the input gradient with K = flip(F)."""
    g = Geometry(*settings)
    K = flip(flipped, g.channels, flipped.shape[1] // g.window, g.kh, g.kw)
    return conv_input_gradient(G, K, *settings)


def swapped_kernel_correlation(G: FloatArray, X: FloatArray, *settings: int) -> FloatArray:
    """Δ ⋆ X: the kernel gradient X ⋆ Δ with each window rotated 180 degrees."""
    g = Geometry(*settings)
    gradient = conv_kernel_gradient(X, G, *settings)
    turned = gradient.reshape(gradient.shape[0], g.channels, g.kh, g.kw)[:, :, ::-1, ::-1]
    return np.ascontiguousarray(turned).reshape(gradient.shape)


def channel_broadcast(b: FloatArray, positions: int) -> FloatArray:
    """b ⊗ 1_P: each channel's entry repeated over its P positions."""
    return np.repeat(b, positions, axis=0)


def channel_sum(G: FloatArray, positions: int) -> FloatArray:
    """Each channel's P rows summed."""
    return G.reshape(-1, positions, G.shape[1]).sum(axis=1)


def _windows(X: FloatArray, g: Geometry, fill: float) -> FloatArray:
    """Each channel's windows: (C, kh kw, H_out, W_out, B)."""
    shape = (g.channels, g.window, g.out_height, g.out_width, X.shape[1])
    return _patches(X, g, fill).reshape(shape)


def max_pool(X: FloatArray, *settings: int) -> FloatArray:
    """The maximum of every window (padding is -inf, so it never wins)."""
    g = Geometry(*settings)
    return _windows(X, g, -np.inf).max(axis=1).reshape(-1, X.shape[1])


def max_pool_winners(X: FloatArray, *settings: int) -> FloatArray:
    """Which entry of each window wins (the first maximum): a max pool's kink signature."""
    return _windows(X, Geometry(*settings), -np.inf).argmax(axis=1)


def max_pool_route(G: FloatArray, X: FloatArray, *settings: int) -> FloatArray:
    """Each window's adjoint to its first maximum (as PyTorch), 0 to the others."""
    g = Geometry(*settings)
    samples = max(G.shape[1], X.shape[1])
    winner = _windows(_batch(X, samples), g, -np.inf).argmax(axis=1)  # the first maximum
    delta = _batch(G, samples).reshape(g.channels, g.out_height, g.out_width, samples)
    offsets = np.arange(g.window).reshape(1, -1, 1, 1, 1)
    routed = np.where(winner[:, None] == offsets, delta[:, None], 0.0)
    return _scatter(routed.reshape(g.channels, g.kh, g.kw, *routed.shape[2:]), g)


def avg_pool(X: FloatArray, *settings: int) -> FloatArray:
    """The mean of every window, the padding's zeros counted (PyTorch's count_include_pad)."""
    g = Geometry(*settings)
    return _windows(X, g, 0.0).mean(axis=1).reshape(-1, X.shape[1])


def avg_pool_spread(G: FloatArray, *settings: int) -> FloatArray:
    """Each window's adjoint spread evenly: 1/(kh kw) to each of its entries."""
    g = Geometry(*settings)
    share = G.reshape(g.channels, 1, 1, g.out_height, g.out_width, G.shape[1]) / g.window
    shape = (g.channels, g.kh, g.kw, g.out_height, g.out_width, G.shape[1])
    return _scatter(np.broadcast_to(share, shape), g)


CONV_KERNELS: dict[str, Callable[..., Any]] = {
    "conv": conv,
    "conv_input_gradient": conv_input_gradient,
    "conv_kernel_gradient": conv_kernel_gradient,
    "flip": flip,
    "full_correlate": full_correlate,
    "swapped_kernel_correlation": swapped_kernel_correlation,
    "channel_broadcast": channel_broadcast,
    "channel_sum": channel_sum,
    "max_pool": max_pool,
    "max_pool_route": max_pool_route,
    "avg_pool": avg_pool,
    "avg_pool_spread": avg_pool_spread,
}
