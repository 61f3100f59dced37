"""The vectorized NumPy kernels of convolution and pooling (derivation engine).

Each takes flattened maps, one column per sample, and the operation's settings
(C, H, W, kh, kw, sh, sw, ph, pw) of its input map (see :mod:`symbackprop.model.conv_ops`).
Windows are views (``sliding_window_view``) contracted with ``tensordot``; a scatter back onto
the input loops over the kh kw offsets of the kernel, never over pixels or samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from symbackprop.model.conv_ops import Geometry

FloatArray = np.ndarray


def _maps(X: FloatArray, channels: int, g: Geometry) -> FloatArray:
    """Columns (C H W x B) -> maps (B, C, H, W)."""
    return X.T.reshape(X.shape[1], channels, g.height, g.width)


def _columns(maps: FloatArray) -> FloatArray:
    """Maps (B, C, H, W) -> columns (C H W x B)."""
    return np.ascontiguousarray(maps.reshape(maps.shape[0], -1).T)


def _windows(X: FloatArray, g: Geometry, fill: float = 0.0) -> FloatArray:
    """The windows of the padded maps: (B, C, H_out, W_out, kh, kw), a view where it can be."""
    maps = _maps(X, g.channels, g)
    if g.ph or g.pw:
        pad = ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw))
        maps = np.pad(maps, pad, constant_values=fill)
    view = sliding_window_view(maps, (g.kh, g.kw), axis=(2, 3))
    return view[:, :, :: g.sh, :: g.sw][:, :, : g.out_height, : g.out_width]


def _scatter(parts: Callable[[int, int], FloatArray], g: Geometry, samples: int) -> FloatArray:
    """Add ``parts(i, j)`` (B, C, H_out, W_out) at every kernel offset; crop the padding.

    The entry at window position (y, x) and offset (i, j) lands on padded row y sh + i and
    column x sw + j: one strided slice per offset.
    """
    padded = np.zeros((samples, g.channels, g.height + 2 * g.ph, g.width + 2 * g.pw))
    rows, cols = g.sh * (g.out_height - 1) + 1, g.sw * (g.out_width - 1) + 1
    for i in range(g.kh):
        for j in range(g.kw):
            padded[:, :, i : i + rows : g.sh, j : j + cols : g.sw] += parts(i, j)
    return _columns(padded[:, :, g.ph : g.ph + g.height, g.pw : g.pw + g.width])


def conv(X: FloatArray, K: FloatArray, *settings: int) -> FloatArray:
    """Z = X ⋆ K: (B, C, Ho, Wo, kh, kw) windows contracted with K (O, C, kh, kw)."""
    g = Geometry(*settings)
    kernel = K.reshape(K.shape[0], g.channels, g.kh, g.kw)
    out = np.tensordot(_windows(X, g), kernel, axes=([1, 4, 5], [1, 2, 3]))  # (B, Ho, Wo, O)
    return _columns(out.transpose(0, 3, 1, 2))


def conv_input_gradient(G: FloatArray, K: FloatArray, *settings: int) -> FloatArray:
    """dX = Δ ⋆_full rot180(K), computed as the scatter of Δ K back onto every input it read."""
    g = Geometry(*settings)
    out_channels = K.shape[0]
    delta = G.T.reshape(G.shape[1], out_channels, g.out_height, g.out_width)
    kernel = K.reshape(out_channels, g.channels, g.kh, g.kw)

    def part(i: int, j: int) -> FloatArray:
        return np.tensordot(delta, kernel[:, :, i, j], axes=([1], [0])).transpose(0, 3, 1, 2)

    return _scatter(part, g, G.shape[1])


def conv_kernel_gradient(X: FloatArray, G: FloatArray, *settings: int) -> FloatArray:
    """dK = X ⋆ Δ, summed over the batch: (O, C kh kw)."""
    g = Geometry(*settings)
    samples = max(X.shape[1], G.shape[1])
    X = np.broadcast_to(X, (X.shape[0], samples))
    delta = np.broadcast_to(G, (G.shape[0], samples)).T.reshape(
        samples, -1, g.out_height, g.out_width
    )
    grad = np.tensordot(delta, _windows(X, g), axes=([0, 2, 3], [0, 2, 3]))  # (O, C, kh, kw)
    return grad.reshape(grad.shape[0], -1)


def channel_broadcast(b: FloatArray, positions: int) -> FloatArray:
    """b ⊗ 1_P: each channel's entry repeated over its P positions."""
    return np.repeat(b, positions, axis=0)


def channel_sum(G: FloatArray, positions: int) -> FloatArray:
    """Each channel's P rows summed."""
    return G.reshape(-1, positions, G.shape[1]).sum(axis=1)


def max_pool(X: FloatArray, *settings: int) -> FloatArray:
    """The maximum of every window (padding is -inf, so it never wins)."""
    g = Geometry(*settings)
    windows = _windows(X, g, fill=-np.inf)
    flat = windows.reshape(*windows.shape[:4], g.window)
    return _columns(flat.max(axis=4))


def max_pool_route(G: FloatArray, X: FloatArray, *settings: int) -> FloatArray:
    """Each window's adjoint to its first maximum (as PyTorch), 0 to the others."""
    g = Geometry(*settings)
    samples = max(G.shape[1], X.shape[1])
    X = np.broadcast_to(X, (X.shape[0], samples))
    windows = _windows(X, g, fill=-np.inf)
    winner = windows.reshape(*windows.shape[:4], g.window).argmax(axis=4)  # first maximum
    delta = np.broadcast_to(G, (G.shape[0], samples)).T.reshape(windows.shape[:4])
    return _scatter(lambda i, j: np.where(winner == i * g.kw + j, delta, 0.0), g, samples)


def avg_pool(X: FloatArray, *settings: int) -> FloatArray:
    """The mean of every window, the padding's zeros counted (PyTorch's count_include_pad)."""
    g = Geometry(*settings)
    return _columns(_windows(X, g).mean(axis=(4, 5)))


def avg_pool_spread(G: FloatArray, *settings: int) -> FloatArray:
    """Each window's adjoint spread evenly: 1/(kh kw) to each of its entries."""
    g = Geometry(*settings)
    share = G.T.reshape(G.shape[1], g.channels, g.out_height, g.out_width) / g.window
    return _scatter(lambda i, j: share, g, G.shape[1])


CONV_KERNELS: dict[str, Callable[..., Any]] = {
    "conv": conv,
    "conv_input_gradient": conv_input_gradient,
    "conv_kernel_gradient": conv_kernel_gradient,
    "channel_broadcast": channel_broadcast,
    "channel_sum": channel_sum,
    "max_pool": max_pool,
    "max_pool_route": max_pool_route,
    "avg_pool": avg_pool,
    "avg_pool_spread": avg_pool_spread,
}
