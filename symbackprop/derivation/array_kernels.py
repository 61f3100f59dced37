"""The structured operations' kernels, written once over an array namespace ``xp`` (derivation).

Every :class:`symbackprop.model.tensor_ops.TensorOp` names its kernel; the compiled steps call
``kernel(*operand_arrays, *settings)`` with the kernel bound to one library: NumPy's
(:mod:`symbackprop.derivation.tensor_kernels`), PyTorch's or JAX's (``numeric/``). Operands are
flattened, one column per sample. Maps are held as (C, H, W, B), the batch last, so going from
the program's columns to maps is a free reshape; the windows' entries are gathered side by side
(im2col) with one strided read per kernel offset, so a convolution is one matrix product, and
an adjoint adds them back with one strided add per offset: the loops run over the kh kw
offsets, never over pixels or samples. Nothing is written in place except through
``xp.add_at``, so the kernels also run under ``jax.jit``. ``xp`` offers NumPy's names for the
few functions used here, ``pad(array, widths, fill)`` and ``add_at(target, index, values)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from symbackprop.model.conv_ops import Geometry

Array = Any


def softmax_columns(xp: Any, Z: Array) -> Array:
    """Return softmax of each column; subtracting the column's largest entry avoids overflow."""
    e = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    return e / xp.sum(e, axis=0, keepdims=True)


def times_ones_right(xp: Any, X: Array, cols: int) -> Array:
    """X @ 1 (k x cols): each row's sum, repeated in every column."""
    sums = xp.sum(X, axis=1, keepdims=True) if X.shape[1] != 1 else X
    return sums if cols == 1 else xp.broadcast_to(sums, (X.shape[0], cols))


def times_ones_left(xp: Any, rows: int, X: Array) -> Array:
    """1 (rows x k) @ X: each column's sum, repeated in every row."""
    sums = xp.sum(X, axis=0, keepdims=True) if X.shape[0] != 1 else X
    return sums if rows == 1 else xp.broadcast_to(sums, (rows, X.shape[1]))


# --- rows of a matrix --------------------------------------------------------------------------
def block(xp: Any, X: Array, start: int, stop: int, step: int = 0) -> Array:
    """Rows start .. stop - 1 (``step`` only changes the printing)."""
    return X[start:stop]


def embed(xp: Any, G: Array, start: int, total: int) -> Array:
    """G placed at rows start onward of a total-row matrix of zeros."""
    above = xp.zeros((start, G.shape[1]))
    below = xp.zeros((total - start - G.shape[0], G.shape[1]))
    return xp.concatenate([above, G, below], axis=0)


def stack(xp: Any, *parts: Array) -> Array:
    """Matrices with the same columns stacked on top of each other."""
    columns = max(p.shape[1] for p in parts)
    return xp.concatenate([xp.broadcast_to(p, (p.shape[0], columns)) for p in parts], axis=0)


def identity(xp: Any, X: Array) -> Array:
    return X


# --- windows of a map --------------------------------------------------------------------------
def _maps(xp: Any, X: Array, g: Geometry, fill: float = 0.0) -> Array:
    """Columns (C H W x B) -> padded maps (C, H + 2 ph, W + 2 pw, B)."""
    maps = X.reshape(g.channels, g.height, g.width, X.shape[1])
    if g.ph or g.pw:
        maps = xp.pad(maps, ((0, 0), (g.ph, g.ph), (g.pw, g.pw), (0, 0)), fill)
    return maps


def _offsets(g: Geometry) -> list[tuple[int, int, tuple[slice, slice]]]:
    """(i, j, rows and columns of the padded map read at kernel offset (i, j))."""
    rows, cols = g.sh * (g.out_height - 1) + 1, g.sw * (g.out_width - 1) + 1
    return [(i, j, (slice(i, i + rows, g.sh), slice(j, j + cols, g.sw)))
            for i in range(g.kh) for j in range(g.kw)]  # fmt: skip


def _patches(xp: Any, X: Array, g: Geometry, fill: float = 0.0) -> Array:
    """Every window's entries side by side: (C, kh, kw, H_out, W_out, B) (im2col)."""
    maps = _maps(xp, X, g, fill)
    reads = [maps[:, rows, cols] for _, _, (rows, cols) in _offsets(g)]
    shape = (g.channels, g.kh, g.kw, g.out_height, g.out_width, X.shape[1])
    return xp.stack(reads, axis=1).reshape(shape)


def _scatter(xp: Any, patches: Array, g: Geometry) -> Array:
    """Add each window's entries (C, kh, kw, H_out, W_out, B) back where they were read."""
    samples = patches.shape[-1]
    padded = xp.zeros((g.channels, g.height + 2 * g.ph, g.width + 2 * g.pw, samples))
    for i, j, (rows, cols) in _offsets(g):
        padded = xp.add_at(padded, (slice(None), rows, cols), patches[:, i, j])
    inside = padded[:, g.ph : g.ph + g.height, g.pw : g.pw + g.width]
    return inside.reshape(g.size, samples)


def _batch(xp: Any, A: Array, samples: int) -> Array:
    return A if A.shape[1] == samples else xp.broadcast_to(A, (A.shape[0], samples))


# --- convolution -------------------------------------------------------------------------------
def conv(xp: Any, X: Array, K: Array, *settings: int) -> Array:
    """Z = X ⋆ K: the kernel rows times the patches, one matrix product."""
    g = Geometry(*settings)
    patches = _patches(xp, X, g).reshape(g.channels * g.window, -1)
    return (K @ patches).reshape(K.shape[0] * g.positions, X.shape[1])


def conv_input_gradient(xp: Any, G: Array, K: Array, *settings: int) -> Array:
    """dX = Δ ⋆_full rot180(K): Kᵀ Δ gives each window's share, added back where it was read."""
    g = Geometry(*settings)
    samples = G.shape[1]
    shares = K.T @ G.reshape(K.shape[0], g.positions * samples)
    shape = (g.channels, g.kh, g.kw, g.out_height, g.out_width, samples)
    return _scatter(xp, shares.reshape(shape), g)


def conv_kernel_gradient(xp: Any, X: Array, G: Array, *settings: int) -> Array:
    """dK = X ⋆ Δ, summed over the batch: Δ times the patches' transpose, (O, C kh kw)."""
    g = Geometry(*settings)
    samples = max(X.shape[1], G.shape[1])
    patches = _patches(xp, _batch(xp, X, samples), g).reshape(g.channels * g.window, -1)
    delta = _batch(xp, G, samples).reshape(-1, g.positions * samples)
    return delta @ patches.T


def flip(xp: Any, K: Array, out_channels: int, in_channels: int, kh: int, kw: int) -> Array:
    """rot180(K) with its channels swapped: (C_out, C_in kh kw) -> (C_in, C_out kh kw)."""
    windows = xp.flip(K.reshape(out_channels, in_channels, kh, kw), (2, 3))
    return xp.transpose(windows, (1, 0, 2, 3)).reshape(in_channels, -1)


def full_correlate(xp: Any, G: Array, flipped: Array, *settings: int) -> Array:
    """Δ ⋆_full F for F = flipped in the flipped layout: the input gradient with K = flip(F)."""
    g = Geometry(*settings)
    K = flip(xp, flipped, g.channels, flipped.shape[1] // g.window, g.kh, g.kw)
    return conv_input_gradient(xp, G, K, *settings)


def swapped_kernel_correlation(xp: Any, G: Array, X: Array, *settings: int) -> Array:
    """Δ ⋆ X: the kernel gradient X ⋆ Δ with each window rotated 180 degrees."""
    g = Geometry(*settings)
    gradient = conv_kernel_gradient(xp, X, G, *settings)
    turned = xp.flip(gradient.reshape(gradient.shape[0], g.channels, g.kh, g.kw), (2, 3))
    return turned.reshape(gradient.shape)


def channel_broadcast(xp: Any, b: Array, positions: int) -> Array:
    """b ⊗ 1_P: each channel's entry repeated over its P positions."""
    return xp.repeat(b, positions, axis=0)


def channel_sum(xp: Any, G: Array, positions: int) -> Array:
    """Each channel's P rows summed."""
    return xp.sum(G.reshape(-1, positions, G.shape[1]), axis=1)


# --- pooling -----------------------------------------------------------------------------------
def _windows(xp: Any, X: Array, g: Geometry, fill: float) -> Array:
    """Each channel's windows: (C, kh kw, H_out, W_out, B)."""
    shape = (g.channels, g.window, g.out_height, g.out_width, X.shape[1])
    return _patches(xp, X, g, fill).reshape(shape)


def max_pool(xp: Any, X: Array, *settings: int) -> Array:
    """The maximum of every window (padding is -inf, so it never wins)."""
    g = Geometry(*settings)
    return xp.max(_windows(xp, X, g, -float("inf")), axis=1).reshape(-1, X.shape[1])


def max_pool_winners(xp: Any, X: Array, *settings: int) -> Array:
    """Which entry of each window wins (the first maximum): a max pool's kink signature."""
    return xp.argmax(_windows(xp, X, Geometry(*settings), -float("inf")), axis=1)


def max_pool_route(xp: Any, G: Array, X: Array, *settings: int) -> Array:
    """Each window's adjoint to its first maximum (as PyTorch), 0 to the others."""
    g = Geometry(*settings)
    samples = max(G.shape[1], X.shape[1])
    winner = xp.argmax(_windows(xp, _batch(xp, X, samples), g, -float("inf")), axis=1)
    delta = _batch(xp, G, samples).reshape(g.channels, g.out_height, g.out_width, samples)
    offsets = xp.arange(g.window).reshape(1, -1, 1, 1, 1)
    routed = xp.where(winner[:, None] == offsets, delta[:, None], 0.0)
    return _scatter(xp, routed.reshape(g.channels, g.kh, g.kw, *routed.shape[2:]), g)


def avg_pool(xp: Any, X: Array, *settings: int) -> Array:
    """The mean of every window, the padding's zeros counted (PyTorch's count_include_pad)."""
    g = Geometry(*settings)
    return xp.mean(_windows(xp, X, g, 0.0), axis=1).reshape(-1, X.shape[1])


def avg_pool_spread(xp: Any, G: Array, *settings: int) -> Array:
    """Each window's adjoint spread evenly: 1/(kh kw) to each of its entries."""
    g = Geometry(*settings)
    share = G.reshape(g.channels, 1, 1, g.out_height, g.out_width, G.shape[1]) / g.window
    shape = (g.channels, g.kh, g.kw, g.out_height, g.out_width, G.shape[1])
    return _scatter(xp, xp.broadcast_to(share, shape), g)


_KERNELS: dict[str, Callable[..., Any]] = {
    "block": block,
    "embed": embed,
    "stack": stack,
    "identity": identity,
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


def kernels(xp: Any) -> dict[str, Callable[..., Any]]:
    """Return every ported kernel bound to the namespace ``xp``, by the name a TensorOp gives."""
    return {name: functools.partial(kernel, xp) for name, kernel in _KERNELS.items()}


def helpers(xp: Any) -> dict[str, Any]:
    """Return the names generated matrix code calls, bound to ``xp`` (see matrix_codegen)."""
    return {
        "_np": xp,
        "_kernels": kernels(xp),
        "_softmax_columns": functools.partial(softmax_columns, xp),
        "_times_ones_right": functools.partial(times_ones_right, xp),
        "_times_ones_left": functools.partial(times_ones_left, xp),
    }
