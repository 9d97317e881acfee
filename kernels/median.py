"""Median filter over a square window, reflect borders; equals ``scipy.ndimage.median_filter``.

Per-pixel math: :func:`fastdenoise.kernels.rank.median_network` (windows up to 7x7) or
:func:`fastdenoise.kernels.rank.window_median` (larger windows), each compiled for the CPU
drivers below and for the CUDA kernel in :mod:`fastdenoise.kernels.gpu`.

8-bit values, sizes 3 and 5, on the CPU: OpenCV's ``medianBlur`` (vectorised sorting networks
on uint8, several times faster than any float32 kernel) on a copy reflect-padded by the radius,
cropped: the same result bit for bit. A median is an element of its window and the map from
8-bit level ``k`` to its float32 value is increasing, so when every value is exactly one of the
256 levels (``k * float32(1/255)`` as the readers make them, or ``k / 255``), filtering the
levels and mapping back is exact. One vectorised pass checks that and makes the levels; any
other value (16-bit, float, NaN), any other size and CUDA take the kernels below.
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


OPENCV_SIZES = (3, 5)  # cv2.medianBlur's uint8 sorting-network sizes (larger: histograms)


@numba.njit(nogil=True, cache=True)
def _level(k, divide):
    """The float32 value of 8-bit level ``k``: ``k * float32(1/255)`` as the readers make it
    (:func:`fastdenoise.tiler.to_float`) or, with ``divide``, ``k / 255`` (126 levels differ)."""
    return k / np.float32(255.0) if divide else k * np.float32(1.0 / 255.0)


@numba.njit(nogil=True, cache=True)
def _to_levels(values, levels, radius, divide):
    """``levels[y + radius, radius * C + j] = k`` where ``values[y, j]`` is level ``k``.

    ``values`` is ``H x (W C)``, ``levels`` the same padded by ``radius`` pixels each side.
    False as soon as a row holds a value that is no level (checked branch-free along a row).
    """
    rows, width = values.shape
    left = radius * (levels.shape[1] - width) // (2 * radius)
    for y in range(rows):
        bad = False
        for j in range(width):
            v = values[y, j]
            k = min(max(np.rint(v * np.float32(255.0)), np.float32(0.0)), np.float32(255.0))
            bad |= _level(k, divide) != v  # NaN is never equal
            levels[y + radius, left + j] = np.uint8(k)
        if bad:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _from_levels(levels, out, radius, divide):
    """``out[y, j]``: the float32 value of ``levels[y + radius, radius * C + j]``."""
    rows, width = out.shape
    left = radius * (levels.shape[1] - width) // (2 * radius)
    for y in range(rows):
        for j in range(width):
            out[y, j] = _level(np.float32(levels[y + radius, left + j]), divide)


def _opencv_median(planes: np.ndarray, size: int) -> np.ndarray | None:
    """The median through ``cv2.medianBlur`` when every value is an 8-bit level, else None."""
    count, rows, cols = planes.shape
    radius = size // 2
    if size not in OPENCV_SIZES or min(rows, cols) < size or planes.dtype != np.float32:
        return None
    hwc = np.ascontiguousarray(np.moveaxis(planes, 0, -1))  # the tiler's planes view H x W x C
    values = hwc.reshape(rows, cols * count)
    padded = np.empty((rows + 2 * radius, cols + 2 * radius, count), dtype=np.uint8)
    flat = padded.reshape(rows + 2 * radius, -1)
    divide = next((d for d in (False, True) if _to_levels(values, flat, radius, d)), None)
    if divide is None:
        return None
    import cv2

    # Reflect (scipy's reflect, cv2.BORDER_REFLECT: d c b a | a b c d), rows then columns.
    top, bottom = radius, radius + rows
    padded[:top] = padded[top : 2 * top][::-1]
    padded[bottom:] = padded[bottom - radius : bottom][::-1]
    padded[:, :radius] = padded[:, radius : 2 * radius][:, ::-1]
    padded[:, radius + cols :] = padded[:, cols : cols + radius][:, ::-1]
    cv2.setNumThreads(numba.get_num_threads())
    if count in (1, 3, 4):  # channels medianBlur filters together
        median = cv2.medianBlur(padded if count > 1 else padded[..., 0], size)
    else:
        median = np.stack(
            [cv2.medianBlur(np.ascontiguousarray(padded[..., c]), size) for c in range(count)],
            axis=-1,
        )
    out = np.empty((rows, cols, count), dtype=np.float32)
    _from_levels(median.reshape(rows + 2 * radius, -1), out.reshape(rows, -1), radius, divide)
    return np.moveaxis(out, -1, 0)


def median_filter(planes: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """Median of every ``size x size`` window of each plane of a float32 ``(C, H, W)`` array."""
    size = check_size(size)
    radius = size // 2
    if device != "cuda":
        exact = _opencv_median(planes, size)
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
