"""int8 for ONNX Runtime: static QDQ quantization calibrated on bundled images.

Calibration data: noisy crops (AWGN at several sigmas, fixed seed) of three of scikit-image's
sample photos (public domain / CC0), bundled byte for byte in ``fastdenoise/samples`` so the
runtime install needs neither scikit-image nor a download. A noise-map-conditioned part
(FDNet's denoiser, ``image ‖ map`` on 2 or 6 channels) gets each crop with its true map, a
constant plane at the crop's sigma. Weights are quantized per output
channel (int8, symmetric), activations per tensor (uint8) with min/max calibration. The
quantized file is cached beside the fp32 export, keyed by the same weights hash plus the
calibration recipe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastdenoise.engines import cache, onnx_export

# "skimage:": the pixels of skimage.data's images of these names (part of the cache key)
RECIPE = {"images": "skimage:astronaut,chelsea,coffee", "crop": 128, "sigmas": [10, 25, 50]}


def calibration_image(name: str) -> np.ndarray:
    """One calibration photo, ``HxWx3`` uint8: the bundled copy of ``skimage.data.<name>()``."""
    import fastdenoise
    from fastdenoise.io import read_pixels

    return read_pixels(Path(fastdenoise.__file__).with_name("samples") / f"{name}.png", 3)


def calibration_batches(channels: int = 3, with_map: bool = False) -> Iterator[np.ndarray]:
    """``1xCxHxW`` float32 noisy crops (``channels`` 1 or 3) from the bundled photos; with
    ``with_map`` (a part that takes a noise map) each crop is followed by its noise map."""
    rng = np.random.default_rng(0)
    crop = int(RECIPE["crop"])
    for name in str(RECIPE["images"]).split(":")[1].split(","):
        image = calibration_image(name).astype(np.float32) / 255
        for sigma in RECIPE["sigmas"]:
            top = rng.integers(0, image.shape[0] - crop)
            left = rng.integers(0, image.shape[1] - crop)
            patch = image[top : top + crop, left : left + crop]
            patch = patch + rng.normal(0, sigma / 255, patch.shape).astype(np.float32)
            if channels == 1:
                patch = patch.mean(2, keepdims=True)
            if with_map:
                patch = np.concatenate([patch, np.full_like(patch, sigma / 255)], axis=2)
            yield np.ascontiguousarray(patch.transpose(2, 0, 1)[None], dtype=np.float32)


def quantize(
    fp32_path: str | Path, out_path: str | Path, channels: int = 3, with_map: bool = False
) -> None:
    """Write a statically quantized (QDQ, int8) copy of an fp32 ONNX file; ``channels`` and
    ``with_map`` describe its input as for :func:`calibration_batches`."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration_batches(channels, with_map)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {onnx_export.INPUT: batch}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quiet the quantizer's "consider pre-processing" advice
    try:
        quantize_static(
            str(fp32_path),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    finally:
        root.setLevel(level)


def cached_int8(model: Any, stem: str, folder: Path | None = None) -> cache.Entry:
    """The int8 ONNX file of ``model`` from the cache, quantized on a miss."""
    import onnxruntime

    fp32 = onnx_export.cached_export(model, stem, folder)
    with_map = bool(getattr(model, "takes_map", False))  # input: image, then its noise map
    channels = int(getattr(model, "channels", 3)) // (2 if with_map else 1)
    parts = {
        **onnx_export.key_parts(model),
        "kind": "onnx-int8",
        "recipe": RECIPE,
        "onnxruntime": onnxruntime.__version__,
    }
    return cache.get_or_build(
        f"{stem}-int8",
        ".onnx",
        parts,
        lambda tmp: quantize(fp32.path, tmp, channels, with_map),
        folder,
    )
