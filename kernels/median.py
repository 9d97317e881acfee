"""Median filter over a square window, reflect borders; equals ``scipy.ndimage.median_filter``.

Per-pixel math: :func:`fastdenoise.kernels.rank.median_network` (windows up to 7x7) or
:func:`fastdenoise.kernels.rank.window_median` (larger windows), each compiled for the CPU
drivers below and for the CUDA kernel in :mod:`fastdenoise.kernels.gpu`.

8-bit values, sizes 3 and 5, on the CPU: the uint8 kernels of
:mod:`fastdenoise.kernels.median_u8` (vectorised sorting networks on 32 bytes at a time, several
times faster than any float32 kernel, and faster than OpenCV's ``medianBlur``): the same result
bit for bit. A median is an element of its window and the map from 8-bit level ``k`` to its
float32 value is increasing, so when every value is exactly one of the 256 levels
(``k * float32(1/255)`` as the readers make them, or ``k / 255``), filtering the levels and
mapping back is exact. One vectorised pass checks that and makes the levels; any other value
(16-bit, float, NaN), any other size and CUDA take the kernels below. (uint8 images through
the library skip the float32 round trip altogether: ``Median.run_native``.)
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numba import prange

from .layout import check_size, reflect_pad
from .median_u8 import SIZES as UINT8_SIZES
from .median_u8 import median_uint8
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


@numba.njit(nogil=True, cache=True)
def _level(k, divide):
    """The float32 value of 8-bit level ``k``: ``k * float32(1/255)`` as the readers make it
    (:func:`fastdenoise.tiler.to_float`) or, with ``divide``, ``k / 255`` (126 levels differ)."""
    return k / np.float32(255.0) if divide else k * np.float32(1.0 / 255.0)


@numba.njit(nogil=True, cache=True)
def _to_levels(values, levels, divide):
    """``levels[y, j] = k`` where ``values[y, j]`` is level ``k`` (both 2-D, same shape).

    False as soon as a row holds a value that is no level (checked branch-free along a row).
    """
    rows, width = values.shape
    for y in range(rows):
        bad = False
        for j in range(width):
            v = values[y, j]
            k = min(max(np.rint(v * np.float32(255.0)), np.float32(0.0)), np.float32(255.0))
            bad |= _level(k, divide) != v  # NaN is never equal
            levels[y, j] = np.uint8(k)
        if bad:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _from_levels(levels, out, divide):
    """``out[y, j]``: the float32 value of ``levels[y, j]``."""
    rows, width = out.shape
    for y in range(rows):
        for j in range(width):
            out[y, j] = _level(np.float32(levels[y, j]), divide)


def _level_median(planes: np.ndarray, size: int) -> np.ndarray | None:
    """The median through the uint8 kernel when every value is an 8-bit level, else None."""
    count, rows, cols = planes.shape
    if size not in UINT8_SIZES or planes.dtype != np.float32 or planes.size == 0:
        return None
    hwc = np.ascontiguousarray(np.moveaxis(planes, 0, -1))  # the tiler's planes view H x W x C
    values = hwc.reshape(rows, cols * count)
    levels = np.empty((rows, cols, count), dtype=np.uint8)
    flat = levels.reshape(rows, cols * count)
    divide = next((d for d in (False, True) if _to_levels(values, flat, d)), None)
    if divide is None:
        return None
    median = median_uint8(levels, size)
    out = np.empty((rows, cols, count), dtype=np.float32)
    _from_levels(median.reshape(rows, -1), out.reshape(rows, -1), divide)
    return np.moveaxis(out, -1, 0)


def median_filter(planes: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """Median of every ``size x size`` window of each plane of a float32 ``(C, H, W)`` array."""
    size = check_size(size)
    radius = size // 2
    if device != "cuda":
        exact = _level_median(planes, size)
        if exact is not None:
            return exact
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
