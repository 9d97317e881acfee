"""The 8-bit median (kernels/median_u8.py): proven networks, scipy's reflect bit for bit, and
the library taking it for uint8 images (``Median.run_native``) with the same result."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from fastdenoise.kernels import median_u8
from PIL import Image
from typer.testing import CliRunner

import fastdenoise
from fastdenoise import methods
from fastdenoise.tiler import from_float, run_tiled, to_float

SHAPES = [
    (1, 1, 1),
    (1, 1, 3),
    (1, 9, 3),  # one row: every window reflects several times
    (9, 1, 1),  # one column
    (2, 2, 1),
    (2, 3, 3),
    (3, 4, 2),  # two channels: neighbours two bytes apart
    (4, 5, 4),
    (5, 5, 3),
    (6, 7, 1),
    (17, 33, 3),  # odd number of rows: the 3x3 driver's last row is single
    (40, 71, 1),
]


@pytest.mark.parametrize("side", median_u8.SIZES)
def test_window_networks_are_proven_and_rederived(side):
    output, network = median_u8.WINDOW_NETWORKS[side]
    assert median_u8.is_window_median(side, output, list(network))
    assert median_u8.derive_window_network(side) == (output, list(network))
    wrong = list(network[:-1])  # the check is not vacuous: one comparator less fails
    assert not median_u8.is_window_median(side, output, wrong)


def _image(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    image[0] = rng.choice(np.array([0, 255], np.uint8), image[0].shape)  # impulses on borders
    image[:, -1] = rng.choice(np.array([0, 255], np.uint8), image[:, -1].shape)
    return image


@pytest.mark.parametrize("size", median_u8.SIZES)
def test_uint8_kernel_equals_scipy_reflect(size):
    rng = np.random.default_rng(21)
    for shape in SHAPES:
        image = _image(rng, shape)
        got = median_u8.median_uint8(image, size)
        assert got.dtype == np.uint8 and got.shape == shape
        expected = ndi.median_filter(image, size=(size, size, 1), mode="reflect")
        np.testing.assert_array_equal(got, expected, err_msg=f"{shape} size {size}")
    flat = np.full((30, 40, 3), 77, np.uint8)  # ties everywhere
    np.testing.assert_array_equal(median_u8.median_uint8(flat, size), flat)
    strided = _image(rng, (20, 30, 3))[::2, ::3]  # not contiguous
    expected = ndi.median_filter(strided, size=(size, size, 1), mode="reflect")
    np.testing.assert_array_equal(median_u8.median_uint8(strided, size), expected)


def test_uint8_kernel_declines_what_it_does_not_do():
    image = np.zeros((8, 8, 3), np.uint8)
    assert median_u8.median_uint8(image, 7) is None
    assert median_u8.median_uint8(image.astype(np.uint16), 3) is None
    assert median_u8.median_uint8(image.astype(np.float32), 3) is None


def test_every_level_survives_the_float_round_trip():
    # The native path returns the level itself; tiling returns from_float(to_float(level)).
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    np.testing.assert_array_equal(from_float(to_float(levels), np.uint8), levels)


@pytest.mark.parametrize("size", [3, 5])
def test_library_takes_the_uint8_path_gray_and_color(size):
    rng = np.random.default_rng(22)
    median = methods.get("median").build(size=size, device="cpu")
    for shape in [(1, 9), (2, 2), (23, 31), (23, 31, 3), (1, 1, 3)]:
        image = _image(rng, (*shape, 1) if len(shape) == 2 else shape).reshape(shape)
        footprint = (size, size, 1)[: image.ndim]
        expected = ndi.median_filter(image, size=footprint, mode="reflect")
        got = fastdenoise.denoise(image, "median", size=size, device="cpu", tile=8)
        assert got.dtype == np.uint8 and got.shape == image.shape
        np.testing.assert_array_equal(got, expected, err_msg=f"{shape}")
        hwc = image.reshape(image.shape[0], image.shape[1], -1)
        assert median.run_native(hwc, hwc.dtype) is not None  # the whole-image uint8 kernel ran
        # ... and equals the float32 tiles through the same kernels' float path
        tiled = run_tiled(hwc, _FloatOnly(median), tile=8)
        np.testing.assert_array_equal(tiled, expected.reshape(hwc.shape))


class _FloatOnly(methods.Denoiser):
    """A denoiser's float32 tile path alone (no ``run_native``)."""

    def __init__(self, inner: methods.Denoiser) -> None:
        self.inner = inner
        self.plan = inner.plan

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return self.inner(tile)


def test_other_cases_keep_the_float_kernels():
    image = np.zeros((8, 8, 3), np.uint8)
    u8 = np.dtype(np.uint8)
    median3 = methods.get("median").build(size=3, device="cpu")
    assert methods.get("median").build(size=7, device="cpu").run_native(image, u8) is None
    assert median3.run_native(image / 255.0, np.dtype(np.float64)) is None
    assert median3.run_native(image, np.dtype(np.float32)) is None  # uint8 in, float out
    wide = np.zeros((8, 8, 1), np.uint16)
    assert median3.run_native(wide, wide.dtype) is None
    rng = np.random.default_rng(23)
    gray16 = rng.integers(0, 65536, (13, 17), dtype=np.uint16)
    got = fastdenoise.denoise(gray16, "median", size=5, device="cpu", tile=8)
    np.testing.assert_array_equal(got, ndi.median_filter(gray16, size=5, mode="reflect"))


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_cli_median_on_8bit_png_equals_scipy(tmp_path, mode):
    from fastdenoise.cli import app

    rng = np.random.default_rng(24)
    shape = (21, 34) if mode == "L" else (21, 34, 3)
    image = _image(rng, (*shape, 1) if mode == "L" else shape).reshape(shape)
    Image.fromarray(image, mode).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "in.png"), "-o", str(out), "-m", "median", "-q"]
    )
    assert result.exit_code == 0, result.output
    got = np.asarray(Image.open(out))
    footprint = (3, 3, 1)[: image.ndim]
    np.testing.assert_array_equal(got, ndi.median_filter(image, size=footprint, mode="reflect"))
