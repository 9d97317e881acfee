"""Plain reference implementations and test images for the filter checks (no Numba)."""

from __future__ import annotations

import numpy as np
from skimage import data


def adaptive_median_reference(plane: np.ndarray, max_size: int) -> np.ndarray:
    """Gonzalez & Woods' adaptive median, pixel by pixel with numpy (reflect borders)."""
    reach = max_size // 2
    padded = np.pad(plane, reach, mode="symmetric")
    out = np.empty_like(plane)
    for y in range(plane.shape[0]):
        for x in range(plane.shape[1]):
            z = plane[y, x]
            for r in range(1, reach + 1):
                window = padded[
                    y + reach - r : y + reach + r + 1, x + reach - r : x + reach + r + 1
                ]
                low, med, high = window.min(), np.median(window), window.max()
                if low < med < high:
                    out[y, x] = z if low < z < high else med
                    break
            else:
                out[y, x] = med
    return out


def nlm_reference(
    image: np.ndarray, patch: int, search: int, h: float, sigma: float, mode: str = "symmetric"
) -> np.ndarray:
    """Non-local means as documented in fastdenoise.kernels.nlm, in float64 with exact exp.

    ``image`` is ``HxWxC``; the patch spans ``-(patch-1)//2 .. patch//2`` around each pixel.
    """
    image = image.astype(np.float64)
    height, width, channels = image.shape
    reach, above, below = search // 2, (patch - 1) // 2, patch // 2
    pad = reach + below + 1
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode=mode)
    terms = channels * patch * patch
    acc = np.zeros_like(image)
    wsum = np.zeros((height, width))
    rows = np.arange(height)[:, None] + pad
    cols = np.arange(width)[None, :] + pad
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            shifted = np.roll(padded, (-dy, -dx), axis=(0, 1))
            diff = ((padded - shifted) ** 2).sum(-1)
            table = np.pad(diff.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            box = (
                table[rows + below + 1, cols + below + 1]
                - table[rows - above, cols + below + 1]
                - table[rows + below + 1, cols - above]
                + table[rows - above, cols - above]
            )
            d = np.maximum(box - 2 * sigma**2 * terms, 0) / (terms * h * h)
            w = np.where(d > 5.0, 0.0, np.exp(-d))
            acc += w[..., None] * shifted[pad : pad + height, pad : pad + width]
            wsum += w
    return acc / wsum[..., None]


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB of float images on the [0, 1] scale."""
    mse = np.mean((np.asarray(clean, np.float64) - np.asarray(estimate, np.float64)) ** 2)
    return float(10 * np.log10(1.0 / mse))


def photo(height: int, width: int, gray: bool = False) -> np.ndarray:
    """A uint8 crop of scikit-image's astronaut (RGB) or camera (gray) photo."""
    if gray:
        return data.camera()[200 : 200 + height, 220 : 220 + width]
    return data.astronaut()[90 : 90 + height, 160 : 160 + width]


def gaussian_noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``clean`` (uint8) on [0, 1] plus unclipped Gaussian noise of ``sigma`` grey levels."""
    rng = np.random.default_rng(seed)
    return (clean / 255.0 + rng.normal(0.0, sigma / 255.0, clean.shape)).astype(np.float32)


def salt_and_pepper(clean: np.ndarray, fraction: float, seed: int = 0):
    """``clean`` with ``fraction`` of its pixels set to 0 or 255; returns (noisy, mask)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(clean.shape[:2]) < fraction
    noisy = clean.copy()
    values = np.where(rng.random(int(mask.sum())) < 0.5, 0, 255).astype(clean.dtype)
    noisy[mask] = values[:, None] if clean.ndim == 3 else values
    return noisy, mask
