"""Median filter over a square window, reflect borders; equals ``scipy.ndimage.median_filter``.

Per-pixel math: :func:`fastdenoise.kernels.rank.median_network` (windows up to 7x7) or
:func:`fastdenoise.kernels.rank.window_median` (larger windows), each compiled for the CPU
driver below and for the CUDA kernel below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
from numba import cuda, prange

from .devices import cuda_map
from .layout import PLANES, SCRATCH, check_size, reflect_pad
from .rank import NETWORK_MAX, median_network, window_median


@functools.cache
def _cpu_network_driver(size: int) -> Callable:
    window = median_network(size)

    @numba.njit(parallel=True, nogil=True)
    def drive(padded, out):
        planes, rows, cols = out.shape
        previous = numba.set_parallel_chunksize(4)  # rows go to threads as they free up
        for y in prange(rows):
            for c in range(planes):
                for x in range(cols):
                    out[c, y, x] = window(padded, c, y, x)
        numba.set_parallel_chunksize(previous)

    return drive


@numba.njit(parallel=True, nogil=True)
def _cpu_select_driver(padded, out, size):
    planes, rows, cols = out.shape
    previous = numba.set_parallel_chunksize(4)
    for y in prange(rows):
        buf = np.empty(size * size, dtype=np.float32)
        for c in range(planes):
            for x in range(cols):
                out[c, y, x] = window_median(padded, c, y, x, size, buf)
    numba.set_parallel_chunksize(previous)


@functools.cache
def _cuda_kernel(size: int):
    if size <= NETWORK_MAX:
        window = median_network(size)

        def network_kernel(padded, out):
            x, y, c = cuda.grid(3)
            if c < out.shape[0] and y < out.shape[1] and x < out.shape[2]:
                out[c, y, x] = window(padded, c, y, x)

        return cuda.jit(network_kernel)

    def select_kernel(padded, out):
        x, y, c = cuda.grid(3)
        if c < out.shape[0] and y < out.shape[1] and x < out.shape[2]:
            buf = cuda.local.array(SCRATCH, numba.float32)
            out[c, y, x] = window_median(padded, c, y, x, size, buf)

    return cuda.jit(select_kernel)


def median_filter(planes: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """Median of every ``size x size`` window of each plane of a float32 ``(C, H, W)`` array."""
    size = check_size(size)
    radius = size // 2
    padded = reflect_pad(planes, radius)
    if device == "cuda":
        return cuda_map(_cuda_kernel(size), planes.shape, padded)
    out = np.empty(planes.shape, dtype=np.float32)
    if size <= NETWORK_MAX:
        _cpu_network_driver(size)(padded, out)
    else:
        _cpu_select_driver(padded, out, size)
    return out


def cuda_kernels() -> dict[str, tuple[Callable, tuple]]:
    """Every CUDA kernel of this module with argument types (for the PTX build check)."""
    sizes = (*range(3, NETWORK_MAX + 1, 2), NETWORK_MAX + 2)
    return {f"median{s}": (_cuda_kernel(s).py_func, (PLANES, PLANES)) for s in sizes}
