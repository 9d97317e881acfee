"""Tiling: run a denoiser over an image in bounded memory.

The image is cut into a grid of *cores* (about ``tile`` pixels square). Each core is processed
with ``plan.halo`` pixels of real image context around it (clipped at the image border, where
the denoiser's own border handling applies, exactly as on the whole image). Two ways to
stitch:

* exact (filters): only the core of each processed region is kept. When ``halo`` is at least
  the filter's radius of dependence, the result equals the untiled result bit for bit.
* blend (models): each region keeps ``halo // 2`` pixels beyond its core and neighbours
  cross-fade over that overlap with linear weights that sum to one, which hides seams.

Rows are finished band by band: only one band of float32 accumulators (tile height plus
overlap, full width) exists at a time, and finished rows are converted straight into the
output array of the caller's dtype.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from fastdenoise.methods import Denoiser

DEFAULT_TILE = 512


def split_evenly(length: int, tile: int) -> list[tuple[int, int]]:
    """Split ``range(length)`` into near-equal cores of at most ``tile`` pixels."""
    count = max(1, math.ceil(length / tile))
    bounds = [round(i * length / count) for i in range(count + 1)]
    return list(itertools.pairwise(bounds))


def _ramp_weights(core: tuple[int, int], length: int, margin: int) -> tuple[int, np.ndarray]:
    """Kept span start and per-pixel weights of one core along one axis."""
    start, stop = core
    kept_start, kept_stop = max(start - margin, 0), min(stop + margin, length)
    positions = np.arange(kept_start, kept_stop, dtype=np.float64) + 0.5
    weights = np.ones(kept_stop - kept_start, dtype=np.float64)
    if margin:
        if start > 0:
            rising = (positions - (start - margin)) / (2 * margin)
            weights = np.minimum(weights, rising)
        if stop < length:
            falling = ((stop + margin) - positions) / (2 * margin)
            weights = np.minimum(weights, falling)
    return kept_start, weights.astype(np.float32)


def pad_to_multiple(region: np.ndarray, multiple: int) -> np.ndarray:
    """Pad height and width (bottom/right, mirrored) up to a multiple."""
    if multiple <= 1:
        return region
    height, width = region.shape[:2]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not (pad_h or pad_w):
        return region
    return np.pad(region, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")


def to_float(pixels: np.ndarray) -> np.ndarray:
    """Native pixels (uint8/uint16/float) to float32 in the library's [0, 1] convention."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) * np.float32(1 / 255)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) * np.float32(1 / 65535)
    return pixels.astype(np.float32, copy=False)


def from_float(values: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """float32 [0, 1] back to ``dtype``: integers are clipped and rounded, floats kept.

    With ``out`` (of ``dtype``) the result is written there and ``values`` is the scratch
    space (clipped, scaled and rounded in place): no float32 temporaries, which at every
    band's end of a 100 MP run cost ~100 MiB above its resident memory (issue 21).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        values = np.clip(values, 0.0, 1.0, out=None if out is None else values)
        values *= np.iinfo(dtype).max
        np.rint(values, out=values)
    if out is None:
        return values.astype(dtype, copy=False)
    out[...] = values
    return out


def run_tiled(
    pixels: np.ndarray,
    denoiser: Denoiser,
    tile: int | None = DEFAULT_TILE,
    out_dtype: np.dtype | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Denoise ``HxWxC`` native pixels tile by tile; returns an array of ``out_dtype``.

    ``tile`` of None or 0 processes the whole image as one region. ``on_progress`` receives
    the number of core pixels finished after each tile.
    """
    if pixels.ndim != 3:
        raise ValueError(f"expected HxWxC pixels, got shape {pixels.shape}")
    height, width, channels = pixels.shape
    out_dtype = np.dtype(out_dtype or pixels.dtype)
    whole = getattr(denoiser, "run_native", None)  # duck-typed denoisers may lack it
    native = whole(pixels, out_dtype) if whole is not None else None
    if native is not None:  # a whole-image kernel on the native values (no float copies)
        if on_progress is not None:
            on_progress(height * width)
        return native
    plan = denoiser.plan
    tile = tile or max(height, width)
    rows, cols = split_evenly(height, tile), split_evenly(width, tile)
    margin = 0
    if plan.blend and (len(rows) > 1 or len(cols) > 1):
        shortest = min(b - a for a, b in rows + cols)
        margin = min(plan.halo // 2, shortest // 2)
    col_weights = [_ramp_weights(core, width, margin) for core in cols]

    out = np.empty((height, width, channels), dtype=out_dtype)
    carry: np.ndarray | None = None
    for band_index, (top, bottom) in enumerate(rows):
        band_start, row_weights = _ramp_weights((top, bottom), height, margin)
        band = np.zeros((row_weights.size, width, channels), dtype=np.float32)
        if carry is not None:
            band[: carry.shape[0]] += carry
        for (left, right), (kept_left, weights_x) in zip(cols, col_weights, strict=True):
            y0, y1 = max(top - plan.halo, 0), min(bottom + plan.halo, height)
            x0, x1 = max(left - plan.halo, 0), min(right + plan.halo, width)
            region = pad_to_multiple(to_float(pixels[y0:y1, x0:x1]), plan.multiple)
            result = np.asarray(denoiser(region), dtype=np.float32)
            if result.shape != region.shape:
                raise RuntimeError(
                    f"{denoiser.describe()} returned shape {result.shape} for {region.shape}"
                )
            ky, kx = band_start - y0, kept_left - x0
            kept = result[ky : ky + row_weights.size, kx : kx + weights_x.size]
            if margin:
                kept = kept * (row_weights[:, None, None] * weights_x[None, :, None])
            band[:, kept_left : kept_left + weights_x.size] += kept
            if on_progress is not None:
                on_progress((bottom - top) * (right - left))
        last = band_index == len(rows) - 1
        done = band.shape[0] if last else (bottom - margin) - band_start
        from_float(band[:done], out_dtype, out=out[band_start : band_start + done])
        carry = None if last else band[done:]
    return out
