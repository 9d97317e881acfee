"""The filter correctness checks against the CUDA kernels, under the simulator or on a GPU.

Collected by tests/test_cuda_kernels.py, which starts a separate pytest with
``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set before Numba is imported; the simulator
runs every CUDA thread in Python, so the images are tiny), and by bench/gpu_check.py on a real
NVIDIA GPU with ``FASTDENOISE_CUDA_DEVICE=1`` (and the simulator off).
"""

from __future__ import annotations

import os

import numba
import pytest

from tests import _filter_checks as checks

ON_DEVICE = os.environ.get("FASTDENOISE_CUDA_DEVICE") == "1"

if not (numba.config.ENABLE_CUDASIM or ON_DEVICE):
    pytest.skip(
        "run with NUMBA_ENABLE_CUDASIM=1, or FASTDENOISE_CUDA_DEVICE=1 on a GPU",
        allow_module_level=True,
    )

DEVICE = "cuda"


def test_runs_where_asked():
    """On the device run, these checks must reach the real GPU, not the simulator."""
    from numba import cuda

    assert cuda.is_available()
    if ON_DEVICE:
        assert not numba.config.ENABLE_CUDASIM, "FASTDENOISE_CUDA_DEVICE=1 with the simulator on"
        assert not cuda.get_current_device().__class__.__module__.startswith("numba.cuda.simulator")


def test_auto_picks_the_gpu():
    from fastdenoise.kernels import resolve_device

    assert resolve_device("auto") == "cuda"


def test_median_matches_scipy_exactly():
    checks.check_median_matches_scipy(DEVICE, [(1, 1, 1), (2, 5, 4)], sizes=(1, 3, 5, 9))


def test_median_integer_images_match_scipy():
    checks.check_median_integer_images(DEVICE, 5, 6)


def test_median_8bit_levels_match_scipy():
    checks.check_median_8bit_levels_match_scipy(DEVICE, [(1, 6, 5), (3, 5, 6)], tile=4)


def test_adaptive_median_matches_reference():
    checks.check_adaptive_median_matches_reference(DEVICE, [(1, 1, 1), (2, 7, 6)], (3, 5))


def test_adaptive_median_restores_salt_and_pepper():
    checks.check_salt_and_pepper_restored(DEVICE, 24)


def test_wiener_matches_scipy():
    checks.check_wiener_matches_scipy(DEVICE, 6, 7, sizes=(3,))


def test_nlm_matches_reference_formula():
    checks.check_nlm_matches_reference(DEVICE, 5, 6, patch=3, search=5)


def test_nlm_matches_skimage_within_005_db():
    checks.check_nlm_matches_skimage(DEVICE, 8, patch_size=5, distance=2)


def test_tiled_equals_untiled():
    cases = [
        ("median", {"size": 3}),
        ("adaptive-median", {"max_size": 3}),
        ("wiener", {"size": 3}),
        ("nlm", {"patch": 3, "search": 3}),
    ]
    checks.check_tiled_equals_untiled(DEVICE, 9, 8, 5, cases)
