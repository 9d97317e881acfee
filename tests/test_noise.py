"""Noise synthesis: levels, ranges, the camera pipeline and spec parsing."""

from __future__ import annotations

import numpy as np
import pytest

from fastdenoise import noise


@pytest.fixture
def image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:80]
    return np.stack([x / 80, y / 64, 0.5 + 0 * x], -1).astype(np.float32)


def test_gaussian_level_and_unclipped(image: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = noise.gaussian(image, rng, sigma=25)
    assert noisy.dtype == np.float32 and noisy.shape == image.shape
    assert abs((noisy - image).std() * 255 - 25) < 0.5
    assert noisy.min() < 0 or noisy.max() > 1  # not clipped


def test_gaussian_sigma_range_is_drawn_per_call(image: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    levels = [(noise.gaussian(image, rng, sigma=(0, 55)) - image).std() * 255 for _ in range(40)]
    assert min(levels) < 10 and max(levels) > 45 and max(levels) < 56


def test_poisson_is_unbiased_and_scales_with_peak(image: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    low = noise.poisson(image, rng, peak=5) - image
    high = noise.poisson(image, rng, peak=500) - image
    assert abs(low.mean()) < 0.02
    assert low.std() > 5 * high.std()


def test_speckle_is_multiplicative() -> None:
    rng = np.random.default_rng(2)
    dark = noise.speckle(np.zeros((16, 16, 1), np.float32), rng, sigma=50)
    assert np.all(dark == 0)


def test_salt_pepper_fraction(image: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    out = noise.salt_pepper(image, rng, amount=0.2)
    hit = np.any(out != image, axis=2)
    assert 0.15 < hit.mean() < 0.25
    assert set(np.unique(out[hit])) <= {0.0, 1.0}


def test_mosaic_demosaic_keeps_flat_color() -> None:
    flat = np.ones((16, 16, 3), np.float32) * np.array([0.2, 0.5, 0.7], np.float32)
    raw = noise.mosaic(flat)
    assert raw[0, 0] == pytest.approx(0.2) and raw[0, 1] == pytest.approx(0.5)
    assert raw[1, 1] == pytest.approx(0.7)
    for method in noise.DEMOSAIC_METHODS:
        np.testing.assert_allclose(noise.demosaic(raw, method), flat, atol=2e-4)


def test_malvar_demosaic_is_exact_on_smooth_colour_and_keeps_negative_raw() -> None:
    y, x = np.mgrid[0:32, 0:32] / 32
    ramp = np.stack([0.3 + 0.2 * x, 0.5 + 0.1 * y, 0.2 + 0.3 * x * y], -1).astype(np.float32)
    out = noise.demosaic(noise.mosaic(ramp), "malvar")
    np.testing.assert_allclose(out[2:-2, 2:-2], ramp[2:-2, 2:-2], atol=1e-5)
    dark = noise.demosaic(np.full((8, 8), -0.1, np.float32), "malvar")
    np.testing.assert_allclose(dark, -0.1, atol=1e-6)  # signed below black, as the raw is


def test_malvar_demosaic_correlates_noise_across_channels() -> None:
    """Gradient-corrected demosaicing carries green's noise into red and blue, as phone
    pipelines do; OpenCV's edge-aware method leaves the channels nearly independent."""
    clean = np.full((128, 128, 3), 0.4, np.float32)

    def red_green_corr(method: str) -> float:
        params = noise.CameraParams(shot=(1e-2, 1e-2), row_prob=0, ccm=0, demosaic=method)
        residual = noise.camera(clean, np.random.default_rng(6), params) - clean
        return float(np.corrcoef(residual[:, :, 0].ravel(), residual[:, :, 1].ravel())[0, 1])

    assert red_green_corr("malvar") > 0.3
    assert abs(red_green_corr("ea")) < 0.15


def test_srgb_curves_invert() -> None:
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(noise.linear_to_srgb(noise.srgb_to_linear(x)), x, atol=1e-5)


@pytest.mark.parametrize("shape", [(64, 80, 3), (33, 47, 3), (31, 20, 1)])
def test_camera_output_is_8bit_and_noisier_with_more_shot_noise(shape: tuple) -> None:
    clean = np.random.default_rng(4).random(shape).astype(np.float32)
    rng = np.random.default_rng(5)
    weak = noise.camera(clean, rng, noise.CameraParams(shot=(1e-4, 1e-4), row_prob=0))
    strong = noise.camera(clean, rng, noise.CameraParams(shot=(2e-2, 2e-2), row_prob=0))
    for out in (weak, strong):
        assert out.shape == clean.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
        np.testing.assert_allclose(out * 255, np.rint(out * 255), atol=1e-3)
    assert np.abs(strong - clean).mean() > 2 * np.abs(weak - clean).mean()


def test_camera_noise_is_spatially_correlated_after_demosaic() -> None:
    clean = np.full((96, 96, 3), 0.4, np.float32)
    params = noise.CameraParams(shot=(1e-2, 1e-2), row_prob=0, ccm=0, bits=0)
    residual = noise.camera(clean, np.random.default_rng(6), params) - clean
    g = residual[:, :, 1]
    corr = np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1]
    assert corr > 0.2  # white noise would give ~0


def test_heavy_camera_noise_leaves_no_colour_cast_in_shadows() -> None:
    """Dark pixels swing below black; clipping them in the raw (before white balance scales
    red and blue) would brighten and tint noisy shadows, and a network would learn the cast.
    The sRGB curve is concave, so noise may darken the mean a little (as it does in real
    phone photos), alike in all channels."""
    clean = np.full((128, 128, 3), 0.3, np.float32)
    params = noise.CameraParams(shot=(3e-2, 3e-2), row_prob=0, ccm=0)
    rng = np.random.default_rng(8)
    bias = np.mean([(noise.camera(clean, rng, params) - clean).mean((0, 1)) for _ in range(4)], 0)
    assert bias.max() < 0.005 and np.ptp(bias) < 0.01, bias


def test_camera_with_jpeg_and_blur(image: np.ndarray) -> None:
    out = noise.camera(image, np.random.default_rng(7), noise.CameraParams(jpeg=1.0, blur=1.0))
    assert out.shape == image.shape
    gray = noise.camera(image[:, :, :1], np.random.default_rng(7), noise.CameraParams(blur=1.0))
    assert gray.shape == image[:, :, :1].shape


def test_parse_specs_and_mixtures(image: np.ndarray) -> None:
    rng = np.random.default_rng(8)
    assert noise._value("0-55") == (0.0, 55.0)
    assert noise._value("1e-4-1.2e-2") == (1e-4, 1.2e-2)
    assert noise._value("25") == 25.0
    fn = noise.parse("gaussian:sigma=0|salt_pepper:amount=0.5")
    outcomes = {bool(np.any(fn(image, rng) != image)) for _ in range(30)}
    assert outcomes == {True, False}
    cam = noise.parse("camera:shot=1e-3-2e-3,jpeg=0.5,bits=10")
    assert cam(image, rng).shape == image.shape


def test_camera_fixed_level_equals_a_one_point_range(image: np.ndarray) -> None:
    fixed = noise.parse("camera:shot=0.02,blur_sigma=0.8,blur=1")(image, np.random.default_rng(3))
    ranged = noise.parse("camera:shot=0.02-0.02,blur_sigma=0.8-0.8,blur=1")
    np.testing.assert_array_equal(fixed, ranged(image, np.random.default_rng(3)))
    milder = noise.parse("camera:shot=0.002,blur_sigma=0.8,blur=1")(image, np.random.default_rng(3))
    assert np.abs(milder - image).mean() < np.abs(fixed - image).mean()


def test_camera_demosaic_mixture_draws_each_method(image: np.ndarray) -> None:
    seen = set()
    for seed in range(12):
        mixed = noise.parse("camera:demosaic=ea+malvar")(image, np.random.default_rng(seed))
        for method in ("ea", "malvar"):
            alone = noise.parse(f"camera:demosaic={method}")(image, np.random.default_rng(seed))
            if np.array_equal(mixed, alone):
                seen.add(method)
    assert seen == {"ea", "malvar"}


@pytest.mark.parametrize(
    "spec", ["blur", "gaussian:sigma", "camera:nope=1", "camera:demosaic=vng", "camera:demosaic=2"]
)
def test_bad_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        noise.parse(spec)


def test_camera_params_reject_an_unknown_demosaic() -> None:
    with pytest.raises(ValueError, match="unknown demosaic vng"):
        noise.CameraParams(demosaic="ea+vng")


def test_same_seed_same_noise(image: np.ndarray) -> None:
    fn = noise.parse("camera:jpeg=0.5|gaussian:sigma=0-55")
    a = [fn(image, np.random.default_rng(9)) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
