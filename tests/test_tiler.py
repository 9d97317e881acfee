"""Tiling: exact filters match the untiled result; blending and padding behave."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastdenoise
from fastdenoise.tiler import split_evenly


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 1), (37, 53, 3), (64, 64, 1), (97, 31, 3)])
@pytest.mark.parametrize("tile", [4, 7, 16, 32])
def test_exact_filter_tiled_equals_untiled(rng, shape, tile):
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    whole = fastdenoise.denoise(image, "test-box", tile=None, radius=3)
    tiled = fastdenoise.denoise(image, "test-box", tile=tile, radius=3)
    np.testing.assert_array_equal(tiled, whole)


def test_too_small_halo_breaks_equality(rng):
    """The equality test can fail: a filter lying about its halo shows seams."""
    from tests.conftest import BoxBlur

    class Liar(BoxBlur):
        def __init__(self) -> None:
            super().__init__(radius=3)
            self.plan = type(self.plan)(halo=1)

    from fastdenoise.tiler import run_tiled

    image = rng.random((40, 40, 1)).astype(np.float32)
    assert not np.array_equal(run_tiled(image, Liar(), tile=8), run_tiled(image, Liar(), tile=0))


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 300, 3), (70, 45, 1), (130, 129, 3)])
@pytest.mark.parametrize("tile", [16, 33, 64])
def test_blend_weights_sum_to_one_and_pad_to_multiple(rng, shape, tile):
    image = rng.random(shape).astype(np.float32)
    out = fastdenoise.denoise(image, "test-identity", tile=tile)
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_blend_hides_a_constant_offset_per_tile(rng):
    """Tiles that disagree are cross-faded: no jump larger than the per-tile disagreement."""
    from fastdenoise.methods import Denoiser, TilePlan
    from fastdenoise.tiler import run_tiled

    class Offset(Denoiser):
        plan = TilePlan(halo=16, blend=True)

        def __call__(self, tile):
            return np.full_like(tile, tile.shape[0] * tile.shape[1] % 7 / 10)

    out = run_tiled(np.zeros((96, 96, 1), np.float32), Offset(), tile=32)[..., 0]
    steps = np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max()
    assert max(steps) < 0.1  # a hard seam would jump by up to 0.6


def test_split_evenly_covers_range_without_gaps():
    for length in (1, 7, 512, 513, 1000):
        cores = split_evenly(length, 256)
        assert cores[0][0] == 0 and cores[-1][1] == length
        assert all(a[1] == b[0] for a, b in itertools.pairwise(cores))
        assert max(b - a for a, b in cores) <= 256


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("gray2d", [True, False])
def test_denoise_keeps_shape_and_dtype(rng, dtype, gray2d):
    shape = (21, 34) if gray2d else (21, 34, 3)
    if np.dtype(dtype).kind == "u":
        image = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    else:
        image = rng.random(shape).astype(dtype)
    out = fastdenoise.denoise(image, "test-box", tile=8)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert not np.array_equal(out, image)


def test_denoise_rejects_bad_input():
    with pytest.raises(ValueError, match="HxW"):
        fastdenoise.denoise(np.zeros((4, 4, 4), np.uint8), "test-box")
    with pytest.raises(TypeError, match="dtype"):
        fastdenoise.denoise(np.zeros((4, 4), np.int32), "test-box")
    with pytest.raises(KeyError, match="unknown method"):
        fastdenoise.denoise(np.zeros((4, 4), np.uint8), "no-such-method")
    with pytest.raises(ValueError, match="no parameter"):
        fastdenoise.denoise(np.zeros((4, 4), np.uint8), "test-box", sigma=3)
