"""The CUDA twins of the CPU drivers: the same per-pixel functions, one thread per pixel.

Imported only when a CUDA path runs (``device="cuda"``, the PTX build check, the simulator
tests): importing ``numba.cuda`` costs seconds, so no CPU run pays for it. Each kernel calls the
very :func:`fastdenoise.kernels.devices.pixel` functions its filter module's CPU driver calls;
Numba compiles them a second time, for the CUDA target, when a kernel is first launched.
``cuda`` must stay a module global here: the CUDA simulator swaps it in kernels' globals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
from numba import cuda

from .adaptive_median import adaptive_median_pixel
from .devices import cuda_map, launch_config
from .layout import PLANES, SCRATCH
from .nlm import box_down, offset_sqdiff, patch_weight
from .rank import NETWORK_MAX, median_network, window_median
from .wiener import wiener_pixel

MAX_PLANES = 4  # NLM per-thread accumulators


@functools.cache
def median_kernel(size: int):
    """Median of every ``size x size`` window: a sorting network up to ``NETWORK_MAX``."""
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


@cuda.jit
def adaptive_median_kernel(padded, radius, out):
    """Adaptive median; ``padded`` is reflected by ``radius`` (half the largest window)."""
    x, y, c = cuda.grid(3)
    if c < out.shape[0] and y < out.shape[1] and x < out.shape[2]:
        buf = cuda.local.array(SCRATCH, numba.float32)
        out[c, y, x] = adaptive_median_pixel(padded, c, y, x, radius, 1, buf)


@cuda.jit
def wiener_kernel(padded, size, noise, out):
    """Wiener filter; ``padded`` is reflected by ``size // 2``."""
    x, y, c = cuda.grid(3)
    if c < out.shape[0] and y < out.shape[1] and x < out.shape[2]:
        out[c, y, x] = wiener_pixel(padded, c, y, x, size, noise)


@cuda.jit
def nlm_sqdiff_kernel(img, dy, reach, origin, diffs):
    """``diffs[z, r, x]``: offset ``(dy, z - reach)`` at padded ``(r + origin, x + origin)``."""
    x, r, z = cuda.grid(3)
    if z < diffs.shape[0] and r < diffs.shape[1] and x < diffs.shape[2]:
        total = np.float32(0.0)
        for c in range(img.shape[0]):
            total += offset_sqdiff(img, c, r + origin, x + origin, dy, z - reach)
        diffs[z, r, x] = total


@cuda.jit
def nlm_box_kernel(diffs, patch, vsums):
    """Vertical patch sums of each offset's squared differences."""
    x, r, z = cuda.grid(3)
    if z < vsums.shape[0] and r < vsums.shape[1] and x < vsums.shape[2]:
        vsums[z, r, x] = box_down(diffs[z], r, x, patch)


@cuda.jit
def nlm_accumulate_kernel(img, vsums, dy, reach, pad, patch, bias, scale, acc, wsum):
    """Weights of one row of offsets, accumulated into ``acc`` and ``wsum``."""
    x, y, _ = cuda.grid(3)
    if y < wsum.shape[0] and x < wsum.shape[1]:
        sums = cuda.local.array(MAX_PLANES, numba.float32)
        for c in range(img.shape[0]):
            sums[c] = np.float32(0.0)
        total = np.float32(0.0)
        for z in range(vsums.shape[0]):
            w = patch_weight(vsums[z], y, x, patch, bias, scale)
            total += w
            for c in range(img.shape[0]):
                sums[c] += w * img[c, y + pad + dy, x + pad + z - reach]
        wsum[y, x] += total
        for c in range(img.shape[0]):
            acc[c, y, x] += sums[c]


@cuda.jit
def nlm_normalize_kernel(acc, wsum, out):
    """``out = acc / wsum``."""
    x, y, c = cuda.grid(3)
    if c < out.shape[0] and y < out.shape[1] and x < out.shape[2]:
        out[c, y, x] = acc[c, y, x] / wsum[y, x]


def median(padded: np.ndarray, out_shape: tuple[int, int, int], size: int) -> np.ndarray:
    """Median filter on the GPU; ``padded`` is reflected by ``size // 2``."""
    return cuda_map(median_kernel(size), out_shape, padded)


def adaptive_median(padded: np.ndarray, out_shape: tuple[int, int, int], radius: int):
    """Adaptive median filter on the GPU."""
    return cuda_map(adaptive_median_kernel, out_shape, padded, radius)


def wiener(padded: np.ndarray, out_shape: tuple[int, int, int], size: int, noise: float):
    """Wiener filter on the GPU."""
    return cuda_map(wiener_kernel, out_shape, padded, size, noise)


def nlm(padded, out_shape, patch, search, bias, scale) -> np.ndarray:
    """Non-local means on the GPU: one launch per step and offset row (see kernels/nlm.py)."""
    _, rows, cols = out_shape
    reach = search // 2
    pad = reach + patch // 2
    origin = pad - (patch - 1) // 2
    offsets = 2 * reach + 1
    img = cuda.to_device(padded)
    diffs = cuda.device_array((offsets, rows + patch - 1, cols + patch - 1), dtype=np.float32)
    vsums = cuda.device_array((offsets, rows, cols + patch - 1), dtype=np.float32)
    acc = cuda.to_device(np.zeros(out_shape, dtype=np.float32))
    wsum = cuda.to_device(np.zeros((rows, cols), dtype=np.float32))
    out = cuda.device_array(out_shape, dtype=np.float32)
    for dy in range(-reach, reach + 1):
        nlm_sqdiff_kernel[launch_config(diffs.shape)](img, dy, reach, origin, diffs)
        nlm_box_kernel[launch_config(vsums.shape)](diffs, patch, vsums)
        nlm_accumulate_kernel[launch_config((1, rows, cols))](
            img, vsums, dy, reach, pad, patch, bias, scale, acc, wsum
        )
    nlm_normalize_kernel[launch_config(out_shape)](acc, wsum, out)
    return out.copy_to_host()


def cuda_kernels() -> dict[str, tuple[Callable, tuple]]:
    """Every CUDA kernel (Python source and argument types), for the PTX build check."""
    i64, f32, f64 = numba.int64, numba.float32, numba.float64
    grid2 = numba.types.Array(f32, 2, "C")
    sizes = (*range(3, NETWORK_MAX + 1, 2), NETWORK_MAX + 2)
    kernels: dict[str, tuple[Callable, tuple]] = {
        f"median{s}": (median_kernel(s).py_func, (PLANES, PLANES)) for s in sizes
    }
    kernels["adaptive_median"] = (adaptive_median_kernel.py_func, (PLANES, i64, PLANES))
    kernels["wiener"] = (wiener_kernel.py_func, (PLANES, i64, f64, PLANES))
    nlm_args = {
        "sqdiff": (nlm_sqdiff_kernel, (PLANES, i64, i64, i64, PLANES)),
        "box": (nlm_box_kernel, (PLANES, i64, PLANES)),
        "accumulate": (
            nlm_accumulate_kernel,
            (PLANES, PLANES, i64, i64, i64, i64, f32, f32, PLANES, grid2),
        ),
        "normalize": (nlm_normalize_kernel, (PLANES, grid2, PLANES)),
    }
    for name, (kernel, types) in nlm_args.items():
        kernels[f"nlm_{name}"] = (kernel.py_func, types)
    return kernels
