"""The real-noise level of a photo, read by the shipped FDNet estimator.

Fine-scale AWGN estimators (:mod:`fastdenoise.analyze`'s Haar/PCA ones) under-read the noise
of real photos 2-4x: demosaicing, in-camera noise reduction and JPEG correlate it spatially.
FDNet's estimator was trained on the camera simulation (correlated, signal-dependent noise,
JPEG) to predict the local RMS of ``noisy - clean`` per pixel and channel; the RMS of its map
over a few crops of the image is the image's noise level, the number a user comparing the
photo with a clean reference would measure.

It runs on ONNX Runtime through the model zoo, on at most ``MAX_CROPS`` crops of ``CROP``
pixels, so it costs about the same on a 1 MP and a 100 MP photo.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from fastdenoise.tiler import pad_to_multiple, to_float

ARCH, VARIANT = "fdnet", "real"
CROP = 256
MAX_CROPS = 9


def available() -> bool:
    """Whether the estimator's weights are shipped."""
    from fastdenoise.models import zoo

    return VARIANT in zoo.shipped(ARCH)


@functools.lru_cache(maxsize=2)
def _estimator(weights: str = "") -> Any:
    from fastdenoise import methods

    source = {"weights": weights} if weights else {"variant": VARIANT}
    built = methods.get(ARCH).build(engine="onnxruntime", device="cpu", **source)
    return built.estimator, built.plan.multiple


def crops(pixels: np.ndarray, size: int = CROP, count: int = MAX_CROPS) -> list[np.ndarray]:
    """Up to ``count`` crops of ``size`` pixels on an even grid (the whole image if smaller),
    no more per side than fit without overlapping: a 481x321 photo is read once, not 9 times."""
    height, width = pixels.shape[:2]
    per_side = max(1, int(np.sqrt(count)))

    def starts(length: int) -> np.ndarray:
        fits = min(per_side, max(1, length // size))
        return np.unique(np.linspace(0, max(0, length - size), fits).round().astype(int))

    return [pixels[y : y + size, x : x + size] for y in starts(height) for x in starts(width)]


def channel_rms(pixels: np.ndarray, weights: str = "") -> np.ndarray:
    """Per-channel noise RMS of an ``HxW[xC]`` image in 8-bit units (via the estimator).

    ``weights``: a trained FDNet file to use instead of the shipped one.
    """
    estimator, multiple = _estimator(weights)
    image = pixels[:, :, None] if pixels.ndim == 2 else pixels
    power, count = np.zeros(image.shape[2]), 0
    for crop in crops(image):
        tile = to_float(np.ascontiguousarray(crop))
        height, width = tile.shape[:2]
        noise_map = estimator(pad_to_multiple(tile, multiple))[:height, :width]
        power += (noise_map.astype(np.float64) ** 2).sum(axis=(0, 1))
        count += height * width
    return np.sqrt(power / max(count, 1)) * 255.0


def noise_rms(pixels: np.ndarray, weights: str = "") -> float:
    """The image's noise RMS over all channels, in 8-bit units."""
    return float(np.sqrt(np.mean(channel_rms(pixels, weights) ** 2)))
