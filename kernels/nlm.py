"""Non-local means (pixelwise, patch distance over all channels), reflect borders.

Each pixel becomes the weighted mean of the pixels ``q`` in its ``search x search`` window, with

    d(p, q) = max(sum over the patch and channels of (I(p+k) - I(q+k))^2 - 2 sigma^2 C n, 0)
    w(p, q) = exp(-d(p, q) / (C n h^2)),  and w = 0 where that exponent exceeds 5,

for ``n = patch * patch`` terms per channel. This is scikit-image's fast-mode formulation
(Darbon et al. 2008; Froment 2014), except that the patch is centred (scikit-image sums over
``(patch - 1)^2`` pixels offset by one, divides by ``patch^2``, mirrors without repeating the
edge and uses Schraudolph's approximate exp); see tests/test_filters.py for the exact mapping.

The work is organised by search offset ``t``, as in that formulation: for each ``t`` a field of
squared differences between the image and the image shifted by ``t``; its vertical patch sums;
then, per pixel, the horizontal patch sum gives ``d`` and the weight, which is accumulated. Each
of those per-pixel steps is a :func:`fastdenoise.kernels.devices.pixel` function, called by the
CPU driver (bands of rows in parallel, fields kept in cache, row loops vectorised) and by the
CUDA kernels of :mod:`fastdenoise.kernels.gpu` (one launch per step and offset row, one thread
per pixel and offset).

The CPU driver also uses the symmetry of the weights (``w(p, p + t) = w(p + t, p)``): it makes
each weight once and adds it to both pixels, so it visits half the offsets (see ``_band``). The
CUDA kernels keep every offset per pixel (sharing a weight between two threads' pixels would
need atomics or a second pass); both call the same per-pixel functions.

Patch sums are direct sums in a fixed order (``patch`` adds per direction), not running sums
(2 adds per direction whatever the patch): a float32 running sum depends on where it starts,
which differs between a tile and the whole image, and tiled output must equal untiled output
bit for bit. At the default patch 3 the two cost the same; at 5 and 7 running sums would save
2 and 4 adds of roughly 20 per offset and pixel (the weight, its exp and the accumulation
dominate).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
from numba import prange

from .devices import pixel

CUTOFF = 5.0  # weights with a larger exponent are taken as 0 (as scikit-image does)
BAND = 16  # rows per CPU work item: keeps the per-offset fields in L1/L2


@pixel
def exp_neg(d):
    """exp(-d) for 0 <= d <= 5 in float32 (relative error < 3e-5), branch-free."""
    t = d * np.float32(1.0 / 16.0)  # exp(-d) = exp(-t)^16, exp(-t) by its Taylor series
    p = np.float32(1.0 / 120.0)
    p = np.float32(1.0 / 24.0) - t * p
    p = np.float32(1.0 / 6.0) - t * p
    p = np.float32(0.5) - t * p
    p = np.float32(1.0) - t * p
    p = np.float32(1.0) - t * p
    p = p * p
    p = p * p
    p = p * p
    return p * p


@pixel
def offset_sqdiff(img, c, y, x, dy, dx):
    """(I(y, x) - I(y + dy, x + dx))^2 on plane ``c``."""
    u = np.uintp
    d = img[u(c), u(y), u(x)] - img[u(c), u(y + dy), u(x + dx)]
    return d * d


@pixel
def box_down(field, y, x, size):
    """Sum of ``field[y:y+size, x]``."""
    u = np.uintp
    total = np.float32(0.0)
    for k in range(size):
        total += field[u(y + k), u(x)]
    return total


@pixel
def patch_weight(vsums, y, x, size, bias, scale):
    """Weight from the vertical sums ``vsums[y, x:x+size]`` of one patch's squared differences."""
    u = np.uintp
    total = np.float32(0.0)
    for k in range(size):
        total += vsums[u(y), u(x + k)]
    d = max(total - bias, np.float32(0.0)) * scale
    w = exp_neg(d)
    return w if d <= np.float32(CUTOFF) else np.float32(0.0)


@numba.njit(nogil=True, error_model="numpy")
def _band(img, out, y0, y1, patch, search, bias, scale):
    """Rows ``y0:y1`` of ``out``; ``img`` is padded by ``search // 2 + patch // 2``.

    Weights are symmetric, ``w(p, p + t) = w(p + t, p)``, so only half the offsets are visited
    (``t = (dy, dx)`` with ``dy > 0``, or ``dy = 0 < dx``; ``t = 0`` weighs 1): each weight is
    made once, for the pixel ``q`` whose offset ``t`` it is, and serves ``q`` (forward, the
    value at ``q + t``) and ``q + t`` (backward, the value at ``q``). For the band's own rows
    to be complete, weights are also made for the ``dy`` rows above it and ``|dx|`` columns
    beside it. Every pixel gets its terms in the same order wherever the band starts, so tiled
    output equals untiled output bit for bit.
    """
    u = np.uintp
    planes, _, cols = out.shape
    reach = search // 2
    above = (patch - 1) // 2
    pad = reach + patch // 2
    rows = y1 - y0
    diffs = np.empty((rows + reach + patch - 1, cols + reach + patch - 1), dtype=np.float32)
    vsums = np.empty((rows + reach, cols + reach + patch - 1), dtype=np.float32)
    weights = np.empty((rows + reach, cols + reach), dtype=np.float32)
    acc = np.empty((planes, rows, cols), dtype=np.float32)
    wsum = np.ones((rows, cols), dtype=np.float32)  # t = 0: the pixel itself, weight 1
    for c in range(planes):
        for r in range(rows):
            for x in range(cols):
                acc[c, r, x] = img[c, u(pad + y0 + r), u(pad + x)]
    for dy in range(0, reach + 1):
        for dx in range(-reach if dy > 0 else 1, reach + 1):
            # Weights of the pixels q = (y0 - dy + i, xl + j), i < rows + dy, j < cols + |dx|.
            xl = min(0, -dx)
            count = rows + dy
            width = cols + abs(dx)
            span = width + patch - 1
            top = pad + y0 - dy - above
            left = pad + xl - above
            for r in range(count + patch - 1):
                for x in range(span):
                    diffs[r, x] = offset_sqdiff(img, 0, top + r, left + x, dy, dx)
                for c in range(1, planes):
                    for x in range(span):
                        diffs[r, x] += offset_sqdiff(img, c, top + r, left + x, dy, dx)
            for r in range(count):
                for x in range(span):
                    vsums[r, x] = box_down(diffs, r, x, patch)
            for r in range(count):
                for x in range(width):
                    weights[r, x] = patch_weight(vsums, r, x, patch, bias, scale)
            # Pixel p = (y0 + r, x): forward from q = p (row r + dy of the weights), backward
            # from q = p - t (row r, column x - dx). Unsigned indices: no wrap-around checks,
            # so the row loops vectorise.
            ahead_left = pad + dx
            behind_left = pad - dx
            back = -dx - xl
            for r in range(rows):
                ahead = u(pad + y0 + r + dy)
                behind = u(pad + y0 + r - dy)
                forward_w = weights[u(r + dy)]
                backward_w = weights[u(r)]
                for x in range(cols):
                    wsum[r, x] += forward_w[u(x - xl)] + backward_w[u(x + back)]
                for c in range(planes):
                    for x in range(cols):
                        forward = forward_w[u(x - xl)] * img[c, ahead, u(ahead_left + x)]
                        backward = backward_w[u(x + back)] * img[c, behind, u(behind_left + x)]
                        acc[c, r, x] += forward + backward
    for c in range(planes):
        for r in range(rows):
            for x in range(cols):
                out[c, y0 + r, x] = acc[c, r, x] / wsum[r, x]


@functools.cache
def _cpu_driver(patch: int) -> Callable:
    """The parallel driver for one patch side (a constant, so patch loops unroll and vectorise).

    A closure over an int is cached on disk like a top-level function: Numba keys the entry on
    the closure's values. Its ``prange`` chunk size is set by the caller.
    """

    @numba.njit(parallel=True, nogil=True, error_model="numpy", cache=True)
    def drive(img, out, search, bias, scale):
        rows = out.shape[1]
        for band in prange((rows + BAND - 1) // BAND):
            y0 = band * BAND
            _band(img, out, y0, min(rows, y0 + BAND), patch, search, bias, scale)

    return drive


def run_cpu(
    padded: np.ndarray, out: np.ndarray, patch: int, search: int, bias: float, scale: float
) -> None:
    """Fill ``out`` from ``padded`` (reflected by ``search // 2 + patch // 2``) on every CPU
    thread. The public function, :func:`fastdenoise.kernels.front.nlm_filter`, checks, pads and
    turns ``h`` and ``sigma`` into ``bias`` and ``scale``."""
    with numba.parallel_chunksize(1):  # bands go to threads as they free up
        _cpu_driver(patch)(padded, out, search, bias, scale)
