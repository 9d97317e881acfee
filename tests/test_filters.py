"""The classical filters on the CPU: references, dtypes, borders, tiling, parameters, devices.

The same checks run against the CUDA kernels under the simulator in tests/test_cuda_kernels.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fastdenoise.kernels import DeviceUnavailableError, cuda_available, resolve_device
from fastdenoise.kernels.devices import driver_absent
from fastdenoise.kernels.rank import batcher_pairs, pruned_network

import fastdenoise
from fastdenoise import filters, methods
from tests import _filter_checks as checks
from tests._references import gaussian_noisy, photo

SHAPES = [(1, 1, 1), (3, 2, 3), (1, 7, 5), (3, 23, 18)]


def test_median_matches_scipy_exactly():
    checks.check_median_matches_scipy("cpu", SHAPES, sizes=(1, 3, 5, 7, 9))


def test_median_integer_images_match_scipy():
    checks.check_median_integer_images("cpu", 19, 26)


def test_median_8bit_levels_match_scipy_through_the_uint8_kernel():
    from fastdenoise.kernels import median as kernel

    shapes = [(1, 5, 5), (3, 6, 9), (2, 23, 18), (4, 40, 33), (5, 17, 20)]
    checks.check_median_8bit_levels_match_scipy("cpu", shapes)
    rng = np.random.default_rng(16)
    levels = rng.integers(0, 256, (3, 12, 13)).astype(np.float32) / np.float32(255)
    assert kernel._level_median(levels, 5) is not None  # the uint8 path was the one tested
    assert kernel._level_median(levels, 7) is None  # other sizes: the kernel
    for stranger in (np.nextafter(levels[1, 11, 12], np.float32(2)), np.nan, 1.5, -0.0 - 1e-9):
        changed = levels.copy()
        changed[1, 11, 12] = stranger  # the last value read
        assert kernel._level_median(changed, 3) is None
    wide = rng.integers(0, 65536, (1, 9, 9)).astype(np.float32) / np.float32(65535)
    assert kernel._level_median(wide, 3) is None  # 16-bit: the kernel


def test_adaptive_median_matches_reference():
    checks.check_adaptive_median_matches_reference("cpu", [*SHAPES[:3], (2, 13, 11)], (3, 5, 7))


def test_adaptive_median_restores_salt_and_pepper():
    checks.check_salt_and_pepper_restored("cpu", 128)


def test_wiener_matches_scipy():
    checks.check_wiener_matches_scipy("cpu", 29, 34, sizes=(3, 5, 7))


def test_wiener_handles_tiny_images():
    checks.check_wiener_matches_scipy("cpu", 1, 2, sizes=(3,))


def test_nlm_matches_reference_formula():
    checks.check_nlm_matches_reference("cpu", 13, 17, patch=5, search=7)
    checks.check_nlm_matches_reference("cpu", 4, 3, patch=6, search=9)  # even patch, tiny image


def test_nlm_matches_skimage_within_005_db():
    checks.check_nlm_matches_skimage("cpu", 64, patch_size=7, distance=5)


def _psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    from tests._references import psnr

    return psnr(clean, estimate)


CASES = [
    ("median", {"size": 5}),
    ("median", {"size": 9}),
    ("adaptive-median", {"max_size": 5}),
    ("wiener", {"size": 5}),
    ("nlm", {"patch": 5, "search": 7}),
]


def test_tiled_equals_untiled():
    checks.check_tiled_equals_untiled("cpu", 45, 38, 16, CASES)


@pytest.mark.parametrize("method", ["median", "adaptive-median", "wiener", "nlm"])
@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((1, 1), np.uint8),
        ((2, 3, 3), np.uint16),
        ((5, 4, 1), np.float32),
        ((9, 7, 3), np.float64),
        ((31, 17), np.uint16),
    ],
)
def test_any_size_dtype_and_layout(method, shape, dtype):
    rng = np.random.default_rng(12)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    image = (rng.random(shape) * top).astype(dtype)
    out = fastdenoise.denoise(image, method, tile=8)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.all(np.isfinite(out.astype(np.float64)))
    if shape[0] * shape[1] == 1 and method != "nlm":
        np.testing.assert_array_equal(out, image)  # a lone pixel is its own window


def test_float_input_outside_unit_range_is_kept():
    image = np.array([[-0.2, 0.5, 1.3]], dtype=np.float32)
    out = fastdenoise.denoise(image, "median", size=1)
    np.testing.assert_array_equal(out, image)


def test_methods_are_registered_with_cli_parameters():
    registry = methods.available()
    expected = {
        "nlm": {"patch", "search", "h", "sigma"},
        "median": {"size"},
        "adaptive-median": {"max_size"},
        "wiener": {"size", "sigma"},
    }
    for name, params in expected.items():
        method = registry[name]
        assert method.kind == "filter"
        assert {p.name for p in method.params} == params
        assert all(p.help for p in method.params)
        assert method.build(device="cpu").device == "cpu"


@pytest.mark.parametrize(
    "method,params",
    [
        ("median", {"size": 4}),
        ("median", {"size": 27}),
        ("adaptive-median", {"max_size": 1}),
        ("wiener", {"size": 0}),
        ("wiener", {"sigma": -1.0}),
        ("nlm", {"search": 10}),
        ("nlm", {"h": 0.0}),
        ("nlm", {"patch": 0}),
    ],
)
def test_bad_parameters_are_rejected(method, params):
    with pytest.raises(ValueError):
        methods.get(method).build(device="cpu", **params)


def test_halo_is_the_radius_of_dependence():
    assert methods.get("median").build(size=7).plan.halo == 3
    assert methods.get("adaptive-median").build(max_size=9).plan.halo == 4
    assert methods.get("wiener").build(size=5).plan.halo == 2
    assert methods.get("nlm").build(patch=7, search=21).plan.halo == 13
    assert methods.get("nlm").build(patch=6, search=5).plan.halo == 5


def test_noise_level_is_estimated_once_per_image():
    clean = photo(160, 160, gray=True)
    noisy = np.clip(gaussian_noisy(clean, 25, seed=13), 0, 1)
    estimate = filters.estimate_noise((noisy * 255).round().astype(np.uint8)[..., None])
    assert 22 < estimate < 28
    nlm = methods.get("nlm").build()
    bound = nlm.prepare(noisy[..., None])
    assert bound.sigma == pytest.approx(filters.estimate_noise(noisy[..., None]))
    with pytest.raises(RuntimeError, match="prepare"):
        _ = nlm.plan  # the window follows the noise level, unknown before prepare
    assert bound.window() == (3, 15) and bound.plan.halo == 8  # the preset for sigma <= 30
    assert bound.strength(channels=1) == pytest.approx(0.9 * bound.sigma)
    assert bound.strength(channels=3) == pytest.approx(0.65 * bound.sigma)
    strong = methods.get("nlm").build(sigma=50, patch=7)
    assert strong.window() == (7, 21) and strong.strength(3) == pytest.approx(0.45 * 50)
    assert nlm.sigma is None  # the unbound denoiser is left as it was
    given = methods.get("wiener").build(sigma=10)
    assert given.prepare(noisy[..., None]) is given  # an explicit sigma overrides the estimate
    with pytest.raises(RuntimeError, match="prepare"):
        nlm(noisy[..., None])


def test_denoising_improves_gaussian_noise():
    clean = photo(64, 64)
    noisy = gaussian_noisy(clean, 25, seed=14)
    before = _psnr(clean / 255.0, noisy)
    for method in ("nlm", "wiener", "median"):
        after = _psnr(clean / 255.0, np.clip(fastdenoise.denoise(noisy, method), 0, 1))
        assert after > before + 2.0, method


def test_device_selection():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if cuda_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu")
    if cuda_available():
        pytest.skip("a CUDA GPU is present: --device cuda is valid here")
    with pytest.raises(DeviceUnavailableError) as error:
        methods.get("median").build(device="cuda")
    message = str(error.value)
    assert "\n" not in message and "--device cuda" in message and "no CUDA GPU" in message


def test_nothing_imports_numba_cuda_on_import_or_cpu_use():
    # A fresh interpreter: other tests (the PTX check) import numba.cuda on purpose. Where a GPU
    # driver is present, ``auto`` must ask numba.cuda; ``cpu`` never does.
    device = "auto" if driver_absent() else "cpu"
    script = (
        "import sys, numpy as np, fastdenoise\n"
        "for method in ('median', 'adaptive-median', 'wiener', 'nlm'):\n"
        f"    fastdenoise.denoise(np.zeros((4, 4), np.float32), method, device={device!r})\n"
        "leaked = [m for m in ('numba.cuda', 'fastdenoise.kernels.gpu') if m in sys.modules]\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_median_network_is_a_sorting_network_for_the_median():
    # 0-1 principle: a comparator network selects correctly iff it does on every 0/1 input.
    count = 9
    network = pruned_network(count, (count // 2,))
    assert len(network) < len(batcher_pairs(count))
    for bits in range(1 << count):
        values = [(bits >> i) & 1 for i in range(count)]
        for a, b, _, _ in network:
            values[a], values[b] = min(values[a], values[b]), max(values[a], values[b])
        assert values[count // 2] == sorted((bits >> i) & 1 for i in range(count))[count // 2]
