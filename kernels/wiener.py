"""Adaptive (local-statistics) Wiener filter; equals ``scipy.signal.wiener`` away from borders.

Per pixel, with the mean ``m`` and variance ``v`` of its ``size x size`` window and the noise
power ``noise``: ``m`` where ``v < noise``, else ``m + (1 - noise / v) * (z - m)``. Statistics are
accumulated in float64, as scipy does. Borders differ on purpose: scipy correlates with zero
padding (image edges darken); here windows are filled by reflection, like every other filter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
from numba import prange

from .devices import pixel

BAND = 16  # output rows per CPU work item


@pixel
def row_sums(img, c, y, x, size):
    """Sum and sum of squares (float64) of ``img[c, y, x:x+size]``."""
    u = np.uintp
    total = 0.0
    squares = 0.0
    for j in range(size):
        v = np.float64(img[u(c), u(y), u(x + j)])
        total += v
        squares += v * v
    return total, squares


@pixel
def wiener_value(total, squares, z, count, noise):
    """Output from a window's sum, sum of squares and count, and the pixel ``z``."""
    mean = total / count
    var = squares / count - mean * mean
    shrunk = mean + (1.0 - noise / max(var, 1e-300)) * (np.float64(z) - mean)
    return np.float32(mean if (var < noise or var <= 0.0) else shrunk)


@pixel
def wiener_pixel(img, c, y, x, size, noise):
    """Output for the window ``img[c, y:y+size, x:x+size]`` (its centre is the pixel)."""
    total = 0.0
    squares = 0.0
    for i in range(size):
        row_total, row_squares = row_sums(img, c, y + i, x, size)
        total += row_total
        squares += row_squares
    z = img[np.uintp(c), np.uintp(y + size // 2), np.uintp(x + size // 2)]
    return wiener_value(total, squares, z, size * size, noise)


@pixel
def column_sums(totals, squares, y, x, size):
    """``wiener_pixel``'s sums from stored row sums: rows ``y:y+size`` of column ``x``."""
    u = np.uintp
    total = 0.0
    square = 0.0
    for i in range(size):
        total += totals[u(y + i), u(x)]
        square += squares[u(y + i), u(x)]
    return total, square


@numba.njit(nogil=True, error_model="numpy")
def _band(padded, out, y0, y1, size, noise):
    """Rows ``y0:y1``: row sums once per row, then column sums (same order as the pixel)."""
    planes, _, cols = out.shape
    rows = y1 - y0
    totals = np.empty((rows + size - 1, cols), dtype=np.float64)
    squares = np.empty((rows + size - 1, cols), dtype=np.float64)
    half = size // 2
    for c in range(planes):
        for r in range(rows + size - 1):
            for x in range(cols):
                totals[r, x], squares[r, x] = row_sums(padded, c, y0 + r, x, size)
        for r in range(rows):
            for x in range(cols):
                total, square = column_sums(totals, squares, r, x, size)
                z = padded[c, y0 + r + half, np.uintp(x + half)]
                out[c, y0 + r, x] = wiener_value(total, square, z, size * size, noise)


@functools.cache
def _cpu_driver(size: int) -> Callable:
    """The parallel driver for one window side (a constant, so window loops unroll).

    A closure over an int is cached on disk like a top-level function: Numba keys the entry on
    the closure's values. Its ``prange`` chunk size is set by the caller.
    """

    @numba.njit(parallel=True, nogil=True, error_model="numpy", cache=True)
    def drive(padded, out, noise):
        rows = out.shape[1]
        for band in prange((rows + BAND - 1) // BAND):
            y0 = band * BAND
            _band(padded, out, y0, min(rows, y0 + BAND), size, noise)

    return drive


def run_cpu(padded: np.ndarray, out: np.ndarray, size: int, noise: float) -> None:
    """Fill ``out`` from ``padded`` (reflected by ``size // 2``) on every CPU thread.

    The public function, :func:`fastdenoise.kernels.front.wiener_filter`, checks and pads.
    """
    with numba.parallel_chunksize(1):  # bands go to threads as they free up
        _cpu_driver(size)(padded, out, noise)
