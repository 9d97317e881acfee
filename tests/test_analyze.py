"""Noise identification on a generated set with known noise type and level."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from fastdenoise.analyze import identify

IMAGES = ("astronaut", "chelsea", "coffee", "camera", "rocket", "coins", "cat", "clock")


def _crop(name: str) -> np.ndarray:
    image = getattr(data, name)()
    image = image[:256, :256] if image.ndim == 2 else image[:256, :256, :3]
    return image.astype(np.float64) / 255.0


def _u8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _cases(clean: np.ndarray, rng: np.random.Generator):
    for sigma in (10, 15, 25, 50):
        yield "gaussian", sigma, _u8(clean + rng.normal(0, sigma / 255, clean.shape))
    for peak in (30.0, 100.0):
        yield "poisson", peak, _u8(rng.poisson(clean * peak) / peak)
    for level in (25, 50):
        yield "speckle", level, _u8(clean * (1 + rng.normal(0, level / 255, clean.shape)))
    hit = rng.random(clean.shape[:2]) < 0.05
    impulses = clean.copy()
    impulses[hit] = (
        rng.integers(0, 2, hit.sum())[:, None] if clean.ndim == 3 else rng.integers(0, 2, hit.sum())
    )
    yield "salt-and-pepper", 0.05, _u8(impulses)
    yield "clean", 0, _u8(clean)


@pytest.fixture(scope="module")
def verdicts():
    """The default (fine-scale) classifier's verdicts on synthetic noise."""
    rng = np.random.default_rng(7)
    rows = []
    for name in IMAGES:
        for kind, level, noisy in _cases(_crop(name), rng):
            rows.append((name, kind, level, identify(noisy, learned=False)))
    return rows


def test_noise_type_right_for_at_least_90_percent(verdicts):
    assert len(verdicts) >= 40
    right = [report.kind == kind for _, kind, _, report in verdicts]
    wrong = [
        (n, k, r.kind, r.evidence())
        for (n, k, _, r), ok in zip(verdicts, right, strict=True)
        if not ok
    ]
    assert np.mean(right) >= 0.90, wrong


def test_gaussian_sigma_within_15_percent(verdicts):
    errors = [
        abs(report.sigma - level) / level
        for _, kind, level, report in verdicts
        if kind == "gaussian"
    ]
    assert max(errors) <= 0.15, errors


def test_salt_and_pepper_fraction_is_measured(verdicts):
    fractions = [r.level for _, kind, _, r in verdicts if kind == "salt-and-pepper"]
    assert all(0.02 < f < 0.06 for f in fractions), fractions


def test_gray_float_and_uint16_inputs():
    clean = _crop("camera")
    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape)
    as16 = np.clip(np.rint(noisy * 65535), 0, 65535).astype(np.uint16)
    for image in (np.clip(noisy, 0, 1).astype(np.float32), as16):
        report = identify(image)
        assert report.kind == "gaussian"
        assert abs(report.sigma - 25) / 25 < 0.15


@pytest.mark.parametrize(("rms", "kind"), [(0.5, "clean"), (3.0, "gaussian")])
def test_learned_reading_decides_clean_or_noisy(monkeypatch, rms, kind):
    from fastdenoise import analyze, noisemap

    monkeypatch.setattr(noisemap, "noise_rms", lambda pixels, weights="": rms)
    clean = _u8(_crop("chelsea"))
    report = analyze.identify(clean, learned=True)
    assert report.kind == kind and report.rms == rms and report.level == rms
    assert f"noise RMS {rms:.2f}" in report.evidence()
    assert analyze.identify(clean, learned=False).rms is None


def test_noise_map_crops_cover_the_image_evenly():
    from fastdenoise.noisemap import crops

    image = np.zeros((1000, 800, 3), np.uint8)
    pieces = crops(image, size=256, count=9)
    assert len(pieces) == 9 and all(p.shape == (256, 256, 3) for p in pieces)
    assert len(crops(image[:, :700], size=256, count=9)) == 6  # 3 rows, 2 columns fit
    assert crops(image[:100, :120], size=256)[0].shape == (100, 120, 3)  # small: whole image
    # no more per side than fit without overlap: a CBSD68-sized photo is read once
    assert len(crops(image[:321, :481], size=256, count=9)) == 1
    assert len(crops(image[:600, :481], size=256, count=9)) == 2


def test_learned_path_calls_synthetic_noise_noisy_and_reads_its_level():
    from fastdenoise import noisemap

    if not noisemap.available():
        pytest.skip("no fdnet weights shipped: the learned reading is not used")
    rng = np.random.default_rng(3)
    for name in ("astronaut", "coffee"):
        clean = _crop(name)
        for sigma in (10, 25):
            report = identify(_u8(clean + rng.normal(0, sigma / 255, clean.shape)), learned=True)
            assert report.kind != "clean" and report.rms is not None
            assert 0.5 * sigma < report.rms < 1.5 * sigma, (name, sigma, report.evidence())


def test_precomputed_chi2_quantiles_match_scipy():
    from scipy import special

    from fastdenoise.analyze import CHI2_QUANTILES

    for (dof, quantile), value in CHI2_QUANTILES.items():
        assert value == pytest.approx(2.0 * special.gammaincinv(dof / 2.0, quantile), rel=1e-14)


def test_median3x3_equals_scipy_reflect():
    from scipy import ndimage

    from fastdenoise.analyze import median3x3

    rng = np.random.default_rng(0)
    for shape in [(1, 1), (1, 5), (2, 2), (7, 3), (300, 517), (600, 40)]:
        for plane in (rng.random(shape) * 255, rng.integers(0, 4, shape).astype(np.float64)):
            expected = ndimage.median_filter(plane, size=3, mode="reflect")
            assert np.array_equal(median3x3(plane, band=64), expected), shape


def _pca_sigma_reference(plane: np.ndarray, patch: int = 7, max_patches: int = 60_000) -> float:
    """The straightforward float64 path: every strided window as a row, then np.cov."""
    windows = np.lib.stride_tricks.sliding_window_view(plane, (patch, patch))
    step = max(1, int(np.sqrt(windows.shape[0] * windows.shape[1] / max_patches)))
    patches = windows[::step, ::step].reshape(-1, patch * patch)
    low, high = plane.min(), plane.max()
    inside = (patches.min(axis=1) > low + 0.5) & (patches.max(axis=1) < high - 0.5)
    if inside.sum() > 10 * patch * patch:
        patches = patches[inside]
    if len(patches) <= patch * patch:
        return 0.0
    eigen = np.clip(np.sort(np.linalg.eigvalsh(np.cov(patches, rowvar=False)))[::-1], 0, None)
    for start in range(eigen.size):
        tail = eigen[start:]
        if (tail > tail.mean()).sum() >= (tail < tail.mean()).sum():
            return float(np.sqrt(tail.mean()))
    return float(np.sqrt(eigen[-1]))


@pytest.mark.parametrize("sigma", [5, 25, 50])
@pytest.mark.parametrize("shape", [(600, 700), (64, 48), (16, 16), (7, 9)])
def test_pca_sigma_matches_the_full_float64_path(sigma, shape):
    from fastdenoise.analyze import analysis_plane, estimate_sigma, pca_sigma

    rng = np.random.default_rng(sigma)
    clean = np.tile(_crop("astronaut"), (3, 3, 1))[: shape[0], : shape[1]]
    noisy = clean + rng.normal(0, sigma / 255, clean.shape)
    for image in (_u8(noisy), noisy.astype(np.float32)):  # clipped 8-bit, unclipped float
        plane = analysis_plane(image)
        assert pca_sigma(plane) == pytest.approx(_pca_sigma_reference(plane), rel=1e-4, abs=1e-4)
        assert np.isfinite(estimate_sigma(plane))
