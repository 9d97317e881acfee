"""The trial denoise: residual in the flattest blocks tells noise from texture."""

from __future__ import annotations

import math

import numpy as np

from fastdenoise import trial


def _scene(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Half flat gray, half strong random texture, in [0, 1]."""
    scene = np.full((size, size, 3), 0.5)
    scene[:, size // 2 :] = rng.uniform(0.2, 0.8, (size, size - size // 2, 3))
    return scene


def test_flat_residual_reads_the_noise_a_perfect_denoiser_removes(rng):
    clean = _scene(rng)
    noisy = clean + rng.normal(0, 3 / 255, clean.shape)
    reading = trial.flat_residual(noisy, lambda crop: clean[: crop.shape[0], : crop.shape[1]])
    assert 2.5 < reading < 3.5


def test_texture_taken_off_a_clean_photo_is_not_read_as_noise(rng):
    clean = _scene(rng)

    def smooth(crop: np.ndarray) -> np.ndarray:  # removes the texture, keeps the flat half
        out = crop.copy()
        out[:, crop.shape[1] // 2 :] = crop[:, crop.shape[1] // 2 :].mean()
        return out

    assert trial.flat_residual(clean, smooth) < 0.01
    residual = (clean - smooth(clean))[:, 128:] * 255
    assert np.sqrt((residual**2).mean()) > 20  # the texture residual was large


def test_blocks_at_clipping_are_left_out_and_an_all_black_image_reads_nan(rng):
    black = np.zeros((64, 64, 3), np.uint8)
    assert math.isnan(trial.flat_residual(black, lambda crop: crop + 0.1))
    clean = _scene(rng)
    clean[:128] = 1.0  # a blown-out sky: the "denoiser" darkens it, which is no noise
    shifted = trial.flat_residual(clean, lambda crop: np.where(crop >= 1.0, 0.99, crop))
    assert shifted < 0.01


def test_uint8_and_gray_inputs_are_read_in_8bit_units(rng):
    plane = np.clip(np.rint(127 + rng.normal(0, 4, (128, 128))), 0, 255).astype(np.uint8)
    seen: list[tuple[tuple[int, ...], np.dtype]] = []

    def flatten(crop: np.ndarray) -> np.ndarray:
        seen.append((crop.shape, crop.dtype))
        return np.full_like(crop, 127 / 255)

    assert 3.5 < trial.flat_residual(plane, flatten) < 4.5
    assert seen == [((128, 128, 1), np.dtype(np.float32))]
