"""The kernels' public functions: checks, padding, and which compiled driver runs.

Importing this module does not import Numba. On the CPU each function first asks :mod:`aot`
for an ahead-of-time driver (the CLI's processes, for their first second or so of work), and
otherwise runs the Numba JIT driver of the filter's module (:mod:`median`,
:mod:`adaptive_median`, :mod:`wiener`, :mod:`nlm`), which imports Numba; ``device="cuda"`` runs
the CUDA twins of :mod:`gpu`. Both CPU paths compile the same driver source, and give the same
output bit for bit. ``median`` and ``adaptive-median`` keep their own front functions in their
modules (median's OpenCV route for 8-bit values among them): here they are only preceded by
the ahead-of-time drivers, which take the same checks and padding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from . import aot
from .layout import check_size, reflect_pad

MEDIAN_NETWORKS = (3, 5, 7)  # median sizes with a sorting-network driver (rank.NETWORK_MAX)
UINT8_SIZES = (3, 5)  # median sizes with a uint8 driver (median_u8.SIZES)
UINT8_CHUNK = 16  # rows per step of a uint8 driver run serially (even: 3x3 does row pairs)


def median_filter(planes: np.ndarray, size: int, device: str = "cpu") -> np.ndarray:
    """Median of every ``size x size`` window of each plane of a float32 ``(C, H, W)`` array."""
    if device != "cuda":
        size = check_size(size)
        network = size in MEDIAN_NETWORKS
        fn = aot.driver("median", f"network{size}" if network else "select")
        if fn is not None:
            padded = reflect_pad(planes, size // 2)
            out = np.empty(planes.shape, dtype=np.float32)
            if network:
                aot.call(fn, padded, out)
            else:
                aot.call(fn, padded, out, size)
            return out
    from .median import median_filter as jit_median

    return jit_median(planes, size, device)


def median_uint8(pixels: np.ndarray, size: int) -> np.ndarray | None:
    """Median of every ``size x size`` window of ``HxWxC`` uint8 pixels, per channel.

    :func:`fastdenoise.kernels.median_u8.median_uint8`, preceded by its drivers' ahead-of-time
    build: a new uint8 array, or None where this path does not apply (dtype, shape or size).
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or size not in UINT8_SIZES:
        return None
    fn = aot.driver("median_u8", f"size{size}") if pixels.size else None
    if fn is None:
        from .median_u8 import median_uint8 as jit_median_uint8

        return jit_median_uint8(pixels, size)
    rows, cols, channels = pixels.shape
    img = np.ascontiguousarray(pixels).reshape(rows, cols * channels)
    out = np.empty((rows, cols, channels), dtype=np.uint8)
    aot.call(fn, img, out.reshape(rows, cols * channels), channels, UINT8_CHUNK)
    return out


ADAPTIVE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)  # pixels in and out
ADAPTIVE_BAND = 64  # rows per band of the whole-image path (its padded copy: this plus the halo)
_CODES = {np.dtype(np.uint8): "u1", np.dtype(np.uint16): "u2"}
_CODES |= {np.dtype(np.float32): "f4", np.dtype(np.float64): "f8"}


def adaptive_median_pixels(
    pixels: np.ndarray, max_size: int = 7, out_dtype: np.dtype | None = None
) -> np.ndarray:
    """The adaptive median of ``HxWxC`` pixels as ``out_dtype`` (default: theirs), on the CPU.

    :func:`adaptive_median_bands` with the ahead-of-time builds of its three band functions,
    or :func:`fastdenoise.kernels.adaptive_median.adaptive_median_pixels` (the JIT ones).
    """
    kind, target = np.dtype(pixels.dtype), np.dtype(out_dtype or pixels.dtype)
    names = ("pad", "strided", "store")
    codes = (_CODES.get(kind), None, _CODES.get(target))
    found = [
        aot.driver("adaptive_median", f"{name}_{code}" if code else name)
        for name, code in zip(names, codes, strict=True)
    ]
    if any(fn is None for fn in found) or not pixels.size:
        from .adaptive_median import adaptive_median_pixels as jit_adaptive_median_pixels

        return jit_adaptive_median_pixels(pixels, max_size, out_dtype)
    pad_band, filter_band, store_band = (functools.partial(aot.call, fn) for fn in found)
    return adaptive_median_bands(pixels, max_size, out_dtype, pad_band, filter_band, store_band)


def adaptive_median_bands(
    pixels: np.ndarray,
    max_size: int,
    out_dtype: np.dtype | None,
    pad_band: Callable[..., None],
    filter_band: Callable[..., None],
    store_band: Callable[..., None],
) -> np.ndarray:
    """The whole-image adaptive median, in bands of rows, given its three band functions.

    Exactly what the tiler gives (the float32 values of :func:`fastdenoise.tiler.to_float`,
    filtered, back through ``from_float``) without its per-tile copies: each band is read once
    into a reflect-padded float32 copy of interleaved pixel rows (``pad_band``), filtered
    there (``filter_band``) and written once into the output (``store_band``). ``pixels`` and
    ``out_dtype``: uint8, uint16, float32 or float64 (float64 is rounded to float32 first).
    """
    max_size = check_size(max_size, "max_size")
    if max_size < 3:
        raise ValueError(f"max_size must be at least 3, got {max_size}")
    kind, target = np.dtype(pixels.dtype), np.dtype(out_dtype or pixels.dtype)
    if kind not in ADAPTIVE_DTYPES or target not in ADAPTIVE_DTYPES:
        raise TypeError(f"adaptive median: {kind} to {target} is not supported")
    radius = max_size // 2
    rows, cols, channels = pixels.shape
    pixels = np.ascontiguousarray(pixels)
    scale = np.float32(1 / np.iinfo(kind).max) if kind.kind == "u" else np.float32(1.0)
    largest = np.iinfo(target).max if target.kind == "u" else 0
    out = np.empty(pixels.shape, dtype=target)
    band = min(rows, ADAPTIVE_BAND)
    padded = np.empty((1, band + 2 * radius, (cols + 2 * radius) * channels), np.float32)
    values = np.empty((1, band, cols * channels), np.float32)
    for top in range(0, rows, band):
        count = min(band, rows - top)
        window = padded[:, : count + 2 * radius]
        pad_band(pixels, top, radius, scale, window)
        done = values[:, :count]
        filter_band(window, done, radius, channels)
        store_band(done, out, top, largest)
    return out


def adaptive_median_filter(
    planes: np.ndarray, max_size: int = 7, device: str = "cpu"
) -> np.ndarray:
    """Adaptive median of each plane of a float32 ``(C, H, W)`` array (``max_size`` odd >= 3)."""
    if device != "cuda":
        max_size = check_size(max_size, "max_size")
        if max_size < 3:
            raise ValueError(f"max_size must be at least 3, got {max_size}")
        fn = aot.driver("adaptive_median", "driver")
        if fn is not None:
            padded = reflect_pad(planes, max_size // 2)
            out = np.empty(planes.shape, dtype=np.float32)
            aot.call(fn, padded, out, max_size // 2)
            return out
    from .adaptive_median import adaptive_median_filter as jit_adaptive_median

    return jit_adaptive_median(planes, max_size, device)


def wiener_filter(planes: np.ndarray, size: int, noise: float, device: str = "cpu") -> np.ndarray:
    """Wiener filter of each plane of a float32 ``(C, H, W)`` array.

    ``noise`` is the noise power (variance) on the array's own scale, like scipy's ``noise``.
    """
    size = check_size(size)
    if not noise >= 0:
        raise ValueError(f"noise power must be >= 0, got {noise}")
    padded = reflect_pad(planes, size // 2)
    if device == "cuda":
        from . import gpu

        return gpu.wiener(padded, planes.shape, size, float(noise))
    out = np.empty(planes.shape, dtype=np.float32)
    fn = aot.driver("wiener", f"size{size}")
    if fn is not None:
        aot.call(fn, padded, out, float(noise))
    else:
        from . import wiener

        wiener.run_cpu(padded, out, size, float(noise))
    return out


def nlm_filter(
    planes: np.ndarray,
    patch: int,
    search: int,
    h: float,
    sigma: float = 0.0,
    device: str = "cpu",
) -> np.ndarray:
    """Non-local means of a float32 ``(C, H, W)`` array; ``h`` and ``sigma`` on its own scale.

    ``patch`` is the side of the compared patches (an even side p reaches p/2 - 1 pixels up and
    left, p/2 down and right), ``search`` the odd side of the window of candidate pixels. The
    weights are defined in :mod:`fastdenoise.kernels.nlm`.
    """
    if int(patch) != patch or not 1 <= patch <= 15:
        raise ValueError(f"patch must be an integer from 1 to 15, got {patch}")
    if int(search) != search or search < 1 or search % 2 == 0:
        raise ValueError(f"search must be an odd integer >= 1, got {search}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    patch, search = int(patch), int(search)
    terms = planes.shape[0] * patch * patch
    bias = np.float32(2.0 * sigma * sigma * terms)
    scale = np.float32(1.0 / (terms * h * h))
    padded = reflect_pad(planes, search // 2 + patch // 2)
    if device == "cuda":
        from . import gpu

        return gpu.nlm(padded, planes.shape, patch, search, bias, scale)
    out = np.empty(planes.shape, dtype=np.float32)
    fn = aot.driver("nlm", f"patch{patch}")
    if fn is not None:
        aot.call(fn, padded, out, search, bias, scale)
    else:
        from . import nlm

        nlm.run_cpu(padded, out, patch, search, bias, scale)
    return out
