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
from numba import cuda, prange

from .devices import cuda_map, pixel
from .layout import PLANES, check_size, reflect_pad


@pixel
def wiener_pixel(img, c, y, x, size, noise):
    """Output for the window ``img[c, y:y+size, x:x+size]`` (its centre is the pixel)."""
    u = np.uintp
    total = 0.0
    squares = 0.0
    for i in range(size):
        for j in range(size):
            v = np.float64(img[u(c), u(y + i), u(x + j)])
            total += v
            squares += v * v
    count = size * size
    mean = total / count
    var = squares / count - mean * mean
    if var < noise or var <= 0.0:
        return np.float32(mean)
    z = np.float64(img[u(c), u(y + size // 2), u(x + size // 2)])
    return np.float32(mean + (1.0 - noise / var) * (z - mean))


@numba.njit(parallel=True, nogil=True)
def _cpu_driver(padded, out, size, noise):
    planes, rows, cols = out.shape
    for y in prange(rows):
        for c in range(planes):
            for x in range(cols):
                out[c, y, x] = wiener_pixel(padded, c, y, x, size, noise)


@functools.cache
def _cuda_kernel():
    def kernel(padded, size, noise, out):
        x, y, c = cuda.grid(3)
        if c < out.shape[0] and y < out.shape[1] and x < out.shape[2]:
            out[c, y, x] = wiener_pixel(padded, c, y, x, size, noise)

    return cuda.jit(kernel)


def wiener_filter(planes: np.ndarray, size: int, noise: float, device: str = "cpu") -> np.ndarray:
    """Wiener filter of each plane of a float32 ``(C, H, W)`` array.

    ``noise`` is the noise power (variance) on the array's own scale, like scipy's ``noise``.
    """
    size = check_size(size)
    if not noise >= 0:
        raise ValueError(f"noise power must be >= 0, got {noise}")
    padded = reflect_pad(planes, size // 2)
    if device == "cuda":
        return cuda_map(_cuda_kernel(), planes.shape, padded, size, float(noise))
    out = np.empty(planes.shape, dtype=np.float32)
    _cpu_driver(padded, out, size, float(noise))
    return out


def cuda_kernels() -> dict[str, tuple[Callable, tuple]]:
    """Every CUDA kernel of this module with argument types (for the PTX build check)."""
    args = (PLANES, numba.int64, numba.float64, PLANES)
    return {"wiener": (_cuda_kernel().py_func, args)}
