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
from .layout import check_size, reflect_pad
from .rank import min_median_max_network, window_min_median_max

_first_window = min_median_max_network(3)


@pixel
def first_level(img, c, y, x, radius):
    """(decided, output, median) from the 3x3 window, branch-free: most pixels stop here.

    ``(y, x)`` is the top-left corner of the pixel's largest window (side ``2 radius + 1``).
    """
    u = np.uintp
    z = img[u(c), u(y + radius), u(x + radius)]
    low, med, high = _first_window(img, c, y + radius - 1, x + radius - 1)
    decided = (low < med) & (med < high)
    keep = (low < z) & (z < high)
    return decided, (z if keep else med), med


@pixel
def larger_levels(img, c, y, x, radius, med, buf):
    """Output where the 3x3 median was an extreme: windows 5x5 up to the largest."""
    u = np.uintp
    cy = y + radius
    cx = x + radius
    z = img[u(c), u(cy), u(cx)]
    for r in range(2, radius + 1):
        low, med, high = window_min_median_max(img, c, cy - r, cx - r, 2 * r + 1, buf)
        if low < med and med < high:
            return z if (low < z and z < high) else med
    return med


@pixel
def adaptive_median_pixel(img, c, y, x, radius, buf):
    """Output at the pixel whose largest window is ``img[c, y:y+2r+1, x:x+2r+1]``."""
    decided, value, med = first_level(img, c, y, x, radius)
    if decided:
        return value
    return larger_levels(img, c, y, x, radius, med, buf)


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_driver(padded, out, radius):
    planes, rows, cols = out.shape
    side = 2 * radius + 1
    for y in prange(rows):
        buf = np.empty(side * side, dtype=np.float32)
        decided = np.empty(cols, dtype=np.bool_)
        medians = np.empty(cols, dtype=np.float32)
        for c in range(planes):
            for x in range(cols):  # vectorised: no branches
                decided[x], out[c, y, x], medians[x] = first_level(padded, c, y, x, radius)
            for x in range(cols):
                if not decided[x]:
                    out[c, y, x] = larger_levels(padded, c, y, x, radius, medians[x], buf)


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
