"""Is there noise the model would remove? A trial denoise of a few crops answers.

Noise estimators cannot tell a clean photo from a mildly noisy one: real camera noise is
spatially correlated and hides among texture, and clean references (film scans, JPEGs) read
as high as mild real noise (bench/results/noise_calibration.md). What the real-noise model
does can tell: on a noisy photo it removes about the noise's level everywhere, flat areas
included, while on a clean one it takes off texture and edges but leaves flat areas as they
are. So the model denoises a few crops, and the residual (input - output) in their flattest
blocks is the evidence: :func:`flat_residual`, in 8-bit units.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fastdenoise.tiler import to_float

BLOCK = 8  # pixels a side of the blocks ranked by flatness
FLAT_SHARE = 0.2  # the flattest fifth of blocks
# blocks with a mean outside this range (8-bit) touch clipping, where noise is cut off
MIN_MEAN, MAX_MEAN = 8.0, 247.0
CROP = 256
MAX_CROPS = 4


def _blocks(plane: np.ndarray) -> np.ndarray:
    """``HxWxC`` -> ``(blocks, BLOCK*BLOCK, C)``, dropping the ragged edge."""
    height, width = plane.shape[0] // BLOCK * BLOCK, plane.shape[1] // BLOCK * BLOCK
    rows, cols, channels = height // BLOCK, width // BLOCK, plane.shape[2]
    grid = plane[:height, :width].reshape(rows, BLOCK, cols, BLOCK, channels)
    return grid.transpose(0, 2, 1, 3, 4).reshape(rows * cols, BLOCK * BLOCK, channels)


def block_statistics(noisy: np.ndarray, denoised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block of float ``HxWxC`` images in [0, 1] whose input is away from clipping: the
    residual's RMS and the denoised block's flatness (mean per-channel standard deviation),
    both in 8-bit units."""
    given = _blocks(noisy.astype(np.float64) * 255.0)
    output = _blocks(denoised.astype(np.float64) * 255.0)
    residual = given - output
    means = given.mean(axis=(1, 2))
    keep = (means > MIN_MEAN) & (means < MAX_MEAN)
    rms = np.sqrt((residual[keep] ** 2).mean(axis=(1, 2)))
    flatness = output[keep].std(axis=1).mean(axis=1)
    return rms, flatness


def flat_residual(
    pixels: np.ndarray,
    denoise: Callable[[np.ndarray], np.ndarray],
    crop: int = CROP,
    count: int = MAX_CROPS,
) -> float:
    """Median residual RMS (8-bit units) in the flattest blocks of up to ``count`` crops.

    ``denoise`` maps a float32 ``HxWxC`` crop in [0, 1] to its denoised version. NaN when no
    block is away from clipping (an all-black or all-white image).
    """
    from fastdenoise.noisemap import crops

    image = pixels[:, :, None] if pixels.ndim == 2 else pixels
    residuals, flatness = [], []
    for piece in crops(image, size=crop, count=count):
        noisy = to_float(np.ascontiguousarray(piece))
        rms, flat = block_statistics(noisy, denoise(noisy))
        residuals.append(rms)
        flatness.append(flat)
    rms, flat = np.concatenate(residuals), np.concatenate(flatness)
    if rms.size == 0:
        return float("nan")
    flattest = np.argsort(flat, kind="stable")[: max(1, int(rms.size * FLAT_SHARE))]
    return float(np.median(rms[flattest]))
