"""Adaptive median filter (Gonzalez & Woods), reflect borders.

For each pixel value ``z``, windows of side 3, 5, ... ``max_size`` are tried in turn. In the first
window whose median is not an extreme (``min < med < max``), the pixel keeps ``z`` when ``z`` is
not an extreme either (``min < z < max``: not an impulse) and is replaced by ``med`` otherwise.
When every window fails, the output is the median of the largest window.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .devices import pixel
from .front import adaptive_median_bands
from .layout import check_size, reflect_pad
from .median_u8 import reflect_index, window_function
from .rank import select

_median_of_sorted3 = window_function(3, pixel)  # proven in median_u8: 12 min/max


@pixel
def _sorted3(a, b, c):
    a, b = min(a, b), max(a, b)
    a, c = min(a, c), max(a, c)
    b, c = min(b, c), max(b, c)
    return a, b, c


@pixel
def min_median_max3(img, c, y, x, step):
    """(min, median, max) of the 3x3 window at ``img[c, y:y+3, x:x+3*step:step]``.

    Each row sorted (3 comparators), then the smallest low, the largest high and the median of
    the sorted rows (:mod:`fastdenoise.kernels.median_u8`'s network): 34 min/max, against 48
    for Batcher's network pruned to the three ranks.
    """
    u = np.uintp
    c = u(c)
    q0 = u(x)  # unsigned sums of the loop's x: consecutive in x, so the CPU loop vectorises
    q1 = q0 + u(step)
    q2 = q1 + u(step)
    a0, a1, a2 = _sorted3(img[c, u(y), q0], img[c, u(y), q1], img[c, u(y), q2])
    b0, b1, b2 = _sorted3(img[c, u(y + 1), q0], img[c, u(y + 1), q1], img[c, u(y + 1), q2])
    d0, d1, d2 = _sorted3(img[c, u(y + 2), q0], img[c, u(y + 2), q1], img[c, u(y + 2), q2])
    low = min(min(a0, b0), d0)
    high = max(max(a2, b2), d2)
    return low, _median_of_sorted3(a0, a1, a2, b0, b1, b2, d0, d1, d2), high


@pixel
def first_level(img, c, y, x, radius, step):
    """(decided, output, median) from the 3x3 window, branch-free: most pixels stop here.

    ``(y, x)`` is the top-left corner of the pixel's largest window (side ``2 radius + 1``);
    horizontal neighbours are ``step`` apart (1 in planes, the channel count in pixel rows).
    """
    u = np.uintp
    z = img[u(c), u(y + radius), u(x) + u(radius * step)]
    low, med, high = min_median_max3(img, c, y + radius - 1, u(x) + u((radius - 1) * step), step)
    decided = (low < med) & (med < high)
    keep = (low < z) & (z < high)
    return decided, (z if keep else med), med


@pixel
def window_min_median_max(img, c, y, x, side, step, buf):
    """(min, median, max) of the ``side x side`` window at ``(y, x)``, neighbours ``step`` apart
    (gathered into ``buf``, quickselect)."""
    u = np.uintp
    lowest = img[u(c), u(y), u(x)]
    highest = lowest
    n = 0
    for i in range(side):
        for j in range(side):
            v = img[u(c), u(y + i), u(x + j * step)]
            buf[n] = v
            lowest = min(lowest, v)
            highest = max(highest, v)
            n += 1
    return lowest, select(buf, n, n // 2), highest


@pixel
def larger_levels(img, c, y, x, radius, step, med, buf):
    """Output where the 3x3 median was an extreme: windows 5x5 up to the largest."""
    u = np.uintp
    cy = y + radius
    cx = x + radius * step
    z = img[u(c), u(cy), u(cx)]
    for r in range(2, radius + 1):
        low, med, high = window_min_median_max(img, c, cy - r, cx - r * step, 2 * r + 1, step, buf)
        if low < med and med < high:
            return z if (low < z and z < high) else med
    return med


@pixel
def adaptive_median_pixel(img, c, y, x, radius, step, buf):
    """Output at the pixel whose largest window is ``img[c, y:y+2r+1, x:x+(2r+1)*step:step]``."""
    decided, value, med = first_level(img, c, y, x, radius, step)
    if decided:
        return value
    return larger_levels(img, c, y, x, radius, step, med, buf)


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_strided_driver(padded, out, radius, step):
    """``out[c, y, x]`` for ``x`` along flat rows whose horizontal neighbours are ``step`` apart:
    planes (``step`` 1) or interleaved pixel rows (one plane, ``step`` = channels)."""
    planes, rows, cols = out.shape
    side = 2 * radius + 1
    for y in prange(rows):
        buf = np.empty(side * side, dtype=np.float32)
        decided = np.empty(cols, dtype=np.uint8)
        medians = np.empty(cols, dtype=np.float32)
        for c in range(planes):
            for x in range(cols):  # vectorised: no branches (nor a count: it stops that)
                decided[x], out[c, y, x], medians[x] = first_level(padded, c, y, x, radius, step)
            done = 0
            for x in range(cols):  # a vectorised count
                done += decided[x]
            if done == cols:  # the usual row on Gaussian noise: no window grows
                continue
            for x in range(cols):
                if not decided[x]:
                    out[c, y, x] = larger_levels(padded, c, y, x, radius, step, medians[x], buf)


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_driver(padded, out, radius):
    """Planes: ``padded`` is ``(C, H + 2r, W + 2r)``, reflected by ``radius`` (the driver above
    with ``step`` 1; its own loop, so that ahead-of-time builds see one function)."""
    planes, rows, cols = out.shape
    side = 2 * radius + 1
    for y in prange(rows):
        buf = np.empty(side * side, dtype=np.float32)
        decided = np.empty(cols, dtype=np.uint8)
        medians = np.empty(cols, dtype=np.float32)
        for c in range(planes):
            for x in range(cols):
                decided[x], out[c, y, x], medians[x] = first_level(padded, c, y, x, radius, 1)
            done = 0
            for x in range(cols):
                done += decided[x]
            if done == cols:
                continue
            for x in range(cols):
                if not decided[x]:
                    out[c, y, x] = larger_levels(padded, c, y, x, radius, 1, medians[x], buf)


@numba.njit(nogil=True, cache=True)
def _pad_band(pixels, top, radius, scale, padded):
    """``padded[0]``: pixel rows ``top - radius ..`` of ``pixels`` (``H x W x C``), reflected at
    the image's edges, times ``scale`` as float32 (the tiler's :func:`to_float`)."""
    rows, cols, step = pixels.shape
    height = padded.shape[1]
    width = cols * step
    scale = np.float32(scale)
    for i in range(height):
        source = pixels[reflect_index(top - radius + i, rows)].reshape(width)
        target = padded[0, i]
        inner = target[radius * step : radius * step + width]  # plain indices: vectorised
        for j in range(width):
            inner[j] = np.float32(source[j]) * scale
        for p in range(radius):
            left = reflect_index(p - radius, cols) * step
            right = reflect_index(cols + p, cols) * step
            for k in range(step):
                target[p * step + k] = np.float32(source[left + k]) * scale
                target[(radius + cols + p) * step + k] = np.float32(source[right + k]) * scale


@numba.njit(nogil=True, cache=True)
def _store_band(values, out, top, largest):
    """``out[top + i]`` from float32 rows ``values[0, i]``: ``out``'s dtype as the tiler's
    :func:`from_float` makes it (integers: clipped to [0, 1], times ``largest``, rounded;
    floats: the value plus 0.0, as the tiler's band sum makes ``-0.0`` into ``0.0``)."""
    count, width = values.shape[1], values.shape[2]
    top_value = np.float32(largest)
    for i in range(count):
        target = out[top + i].reshape(width)
        source = values[0, i]
        if largest > 0:
            for j in range(width):
                v = min(max(source[j], np.float32(0.0)), np.float32(1.0))
                target[j] = np.rint(v * top_value)
        else:
            for j in range(width):
                target[j] = source[j] + np.float32(0.0)


def adaptive_median_pixels(
    pixels: np.ndarray, max_size: int = 7, out_dtype: np.dtype | None = None
) -> np.ndarray:
    """The adaptive median of ``HxWxC`` pixels as ``out_dtype`` (default: theirs), on the CPU:
    :func:`fastdenoise.kernels.front.adaptive_median_bands` with this module's JIT band
    functions (rows go to threads as they free up)."""
    with numba.parallel_chunksize(4):
        return adaptive_median_bands(
            pixels, max_size, out_dtype, _pad_band, _cpu_strided_driver, _store_band
        )


def adaptive_median_filter(
    planes: np.ndarray, max_size: int = 7, device: str = "cpu"
) -> np.ndarray:
    """Adaptive median of each plane of a float32 ``(C, H, W)`` array (``max_size`` odd >= 3)."""
    max_size = check_size(max_size, "max_size")
    if max_size < 3:
        raise ValueError(f"max_size must be at least 3, got {max_size}")
    radius = max_size // 2
    padded = reflect_pad(planes, radius)
    if device == "cuda":
        from . import gpu

        return gpu.adaptive_median(padded, planes.shape, radius)
    out = np.empty(planes.shape, dtype=np.float32)
    with numba.parallel_chunksize(4):  # rows go to threads as they free up
        _cpu_driver(padded, out, radius)
    return out
