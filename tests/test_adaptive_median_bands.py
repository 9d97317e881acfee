"""The adaptive median's whole-image path (kernels/adaptive_median.py, ``run_native``): bands of
interleaved rows give the reference result and exactly what the tiler gives, every dtype."""

from __future__ import annotations

import numpy as np
import pytest
from fastdenoise.kernels import adaptive_median as kernel
from fastdenoise.kernels import front

import fastdenoise
from fastdenoise import methods
from fastdenoise.tiler import run_tiled
from tests._references import adaptive_median_reference, salt_and_pepper

SHAPES = [(1, 1, 1), (1, 7, 3), (7, 1, 1), (2, 3, 3), (9, 11, 3), (13, 8, 1), (21, 17, 3)]


def _ties(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Few distinct values (windows grow) and some random ones, float32 in [0, 1]."""
    image = (rng.integers(0, 4, shape) / 3).astype(np.float32)
    image[::2, 1::3] = rng.random(image[::2, 1::3].shape, dtype=np.float32)
    return image


def _reference(image: np.ndarray, max_size: int) -> np.ndarray:
    planes = [adaptive_median_reference(image[..., c], max_size) for c in range(image.shape[2])]
    return np.stack(planes, -1)


@pytest.mark.parametrize("band", [2, 5, front.ADAPTIVE_BAND])
def test_bands_equal_the_reference(monkeypatch, band):
    monkeypatch.setattr(front, "ADAPTIVE_BAND", band)  # band edges inside the test images
    rng = np.random.default_rng(31)
    for shape in SHAPES:
        image = _ties(rng, shape)
        for max_size in (3, 5, 7):
            got = kernel.adaptive_median_pixels(image, max_size)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, _reference(image, max_size), f"{shape} {max_size}")


class _FloatOnly(methods.Denoiser):
    """A denoiser's float32 tile path alone (no ``run_native``)."""

    def __init__(self, inner: methods.Denoiser) -> None:
        self.inner = inner
        self.plan = inner.plan

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return self.inner(tile)


@pytest.mark.parametrize("max_size", [3, 7])
def test_native_path_equals_the_tiles_bit_for_bit(max_size):
    rng = np.random.default_rng(32)
    denoiser = methods.get("adaptive-median").build(max_size=max_size, device="cpu")
    clean = (rng.random((37, 29, 3)) * 255).astype(np.uint8)
    noisy8, _ = salt_and_pepper(clean, 0.3, seed=33)
    noisy16 = noisy8.astype(np.uint16) * 257 + rng.integers(0, 2, noisy8.shape, np.uint16)
    noisy32 = (noisy8 / 255 + rng.normal(0, 0.05, noisy8.shape)).astype(np.float32)
    noisy32[0, 0, 0] = -0.0
    for pixels in (noisy8, noisy16, noisy32, noisy8[..., :1]):
        for out_dtype in (pixels.dtype, np.dtype(np.float32), np.dtype(np.float64)):
            native = denoiser.run_native(pixels, out_dtype)
            assert native is not None and native.dtype == out_dtype
            tiled = run_tiled(pixels, _FloatOnly(denoiser), tile=8, out_dtype=out_dtype)
            assert native.tobytes() == tiled.tobytes(), (pixels.dtype, out_dtype)


def test_library_float64_in_float64_out_unchanged():
    rng = np.random.default_rng(34)
    noisy = rng.random((19, 23, 3)) + rng.normal(0, 0.1, (19, 23, 3))
    got = fastdenoise.denoise(noisy, "adaptive-median", max_size=5, device="cpu")
    assert got.dtype == np.float64
    expected = _reference(noisy.astype(np.float32), 5).astype(np.float64)
    np.testing.assert_array_equal(got, expected)


def test_cuda_keeps_the_planar_kernels():
    denoiser = methods.get("adaptive-median").build(max_size=5, device="cpu")
    denoiser.device = "cuda"  # as resolved on a GPU machine
    assert denoiser.run_native(np.zeros((4, 4, 3), np.uint8), np.dtype(np.uint8)) is None
