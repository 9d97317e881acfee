"""Median filter over a square window, reflect borders; equals ``scipy.ndimage.median_filter``.

Per-pixel math: :func:`fastdenoise.kernels.rank.median_network` (windows up to 7x7) or
:func:`fastdenoise.kernels.rank.window_median` (larger windows), each compiled for the CPU
drivers below and for the CUDA kernel in :mod:`fastdenoise.kernels.gpu`.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numba import prange

from .layout import check_size, reflect_pad
from .rank import NETWORK_MAX, median_network, window_median

_median3 = median_network(3)
_median5 = median_network(5)
_median7 = median_network(7)

# One top-level driver per network (not a closure over it): Numba can only cache functions
# whose compiled code depends on nothing but their file's globals and arguments. The chunk size
# of their ``prange`` is set by the caller (inside jitted code it would defeat the cache).


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_median3(padded, out):
    planes, rows, cols = out.shape
    for y in prange(rows):
        for c in range(planes):
            for x in range(cols):
                out[c, y, x] = _median3(padded, c, y, x)


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_median5(padded, out):
    planes, rows, cols = out.shape
    for y in prange(rows):
        for c in range(planes):
            for x in range(cols):
                out[c, y, x] = _median5(padded, c, y, x)


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_median7(padded, out):
    planes, rows, cols = out.shape
    for y in prange(rows):
        for c in range(planes):
            for x in range(cols):
                out[c, y, x] = _median7(padded, c, y, x)


NETWORK_DRIVERS: dict[int, Callable] = {3: _cpu_median3, 5: _cpu_median5, 7: _cpu_median7}
assert max(NETWORK_DRIVERS) == NETWORK_MAX


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_select_driver(padded, out, size):
    planes, rows, cols = out.shape
    for y in prange(rows):
        buf = np.empty(size * size, dtype=np.float32)
        for c in range(planes):
            for x in range(cols):
                out[c, y, x] = window_median(padded, c, y, x, size, buf)


def median_filter(planes: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """Median of every ``size x size`` window of each plane of a float32 ``(C, H, W)`` array."""
    size = check_size(size)
    radius = size // 2
    padded = reflect_pad(planes, radius)
    if device == "cuda":
        from . import gpu

        return gpu.median(padded, planes.shape, size)
    out = np.empty(planes.shape, dtype=np.float32)
    with numba.parallel_chunksize(4):  # rows go to threads as they free up
        if size in NETWORK_DRIVERS:
            NETWORK_DRIVERS[size](padded, out)
        else:
            _cpu_select_driver(padded, out, size)
    return out
