"""Correctness checks of the filter kernels, shared by the CPU tests and the CUDA-simulator run.

Each check takes the device (``"cpu"`` or ``"cuda"``) and asserts against an independent
reference: scipy, scikit-image or the plain implementations in :mod:`tests._references`.
Image sizes are chosen by the caller (the CUDA simulator runs kernels in Python: keep them tiny).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import scipy.signal
from fastdenoise.kernels import adaptive_median_filter, median_filter, nlm_filter, wiener_filter
from skimage import data
from skimage.restoration import denoise_nl_means

import fastdenoise
from tests._references import (
    adaptive_median_reference,
    gaussian_noisy,
    nlm_reference,
    photo,
    psnr,
    salt_and_pepper,
)


def _planes(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    return rng.random(shape, dtype=np.float32)


def check_median_matches_scipy(device: str, shapes, sizes) -> None:
    """Kernel output equals ``scipy.ndimage.median_filter(mode='reflect')`` bit for bit."""
    rng = np.random.default_rng(3)
    for shape in shapes:
        planes = _planes(rng, shape)
        for size in sizes:
            expected = ndi.median_filter(planes, size=(1, size, size), mode="reflect")
            got = median_filter(planes, size, device)
            np.testing.assert_array_equal(got, expected, err_msg=f"{shape} size {size}")


def check_median_integer_images(device: str, height: int, width: int) -> None:
    """uint8 gray/color and uint16 through ``fastdenoise.denoise`` equal scipy exactly."""
    rng = np.random.default_rng(4)
    gray8 = rng.integers(0, 256, (height, width), dtype=np.uint8)
    color8 = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (height, width), dtype=np.uint16)
    for image, footprint in ((gray8, (3, 3)), (color8, (3, 3, 1)), (gray16, (3, 3))):
        got = fastdenoise.denoise(image, "median", size=3, device=device, tile=None)
        assert got.dtype == image.dtype and got.shape == image.shape
        np.testing.assert_array_equal(got, ndi.median_filter(image, size=footprint, mode="reflect"))


def check_median_8bit_levels_match_scipy(device: str, shapes, sizes=(3, 5), tile: int = 16):
    """8-bit-valued float32 images (both level conventions) equal scipy's reflect median.

    On the CPU these take the uint8 kernels (kernels/median.py): whole images, borders included,
    and tiled runs through ``fastdenoise.denoise`` are compared with scipy bit for bit.
    """
    rng = np.random.default_rng(15)
    for shape in shapes:
        levels = rng.integers(0, 256, shape, dtype=np.uint8)
        levels[..., 0, :] = rng.choice([0, 255], levels[..., 0, :].shape)  # impulses on a border
        for values in (levels * np.float32(1 / 255), (levels / 255).astype(np.float32)):
            for size in sizes:
                expected = ndi.median_filter(values, size=(1, size, size), mode="reflect")
                got = median_filter(values, size, device)
                np.testing.assert_array_equal(got, expected, err_msg=f"{shape} size {size}")
                if shape[0] not in (1, 3):  # the library takes gray and RGB
                    continue
                image = np.moveaxis(values, 0, -1)
                tiled = fastdenoise.denoise(image, "median", size=size, device=device, tile=tile)
                np.testing.assert_array_equal(tiled, np.moveaxis(expected, 0, -1))


def check_adaptive_median_matches_reference(device: str, shapes, max_sizes) -> None:
    """Kernel output equals the plain reference, on images with many ties (windows grow)."""
    rng = np.random.default_rng(5)
    for shape in shapes:
        planes = (rng.integers(0, 4, shape) / 3).astype(np.float32)
        planes[..., ::2, 1::3] = rng.random(planes[..., ::2, 1::3].shape, dtype=np.float32)
        for max_size in max_sizes:
            got = adaptive_median_filter(planes, max_size, device)
            expected = np.stack([adaptive_median_reference(p, max_size) for p in planes])
            np.testing.assert_array_equal(got, expected, err_msg=f"{shape} max {max_size}")


def check_salt_and_pepper_restored(device: str, side: int) -> float:
    """30% impulses: at least 95% of corrupted pixels end within 10 grey levels of clean.

    On scikit-image's moon photo (smooth, like most of a photo's area). Where the texture
    within a 3x3 window spans more than 10 levels, no median can be that close: on the
    textured cameraman the classical filter restores 82% (a 3x3 median 80%).
    """
    clean = data.moon()[:side, :side]
    noisy, mask = salt_and_pepper(clean, 0.30, seed=6)
    out = fastdenoise.denoise(noisy, "adaptive-median", max_size=7, device=device, tile=None)
    error = np.abs(out.astype(int) - clean.astype(int))[mask]
    restored = float(np.mean(error <= 10))
    assert restored >= 0.95, f"only {restored:.1%} of corrupted pixels restored"
    return restored


def _scipy_wiener(planes: np.ndarray, size: int, noise: float, reflect: bool) -> np.ndarray:
    """scipy.signal.wiener per channel; with ``reflect``, on a reflect-padded copy, cropped."""
    radius = size // 2
    out = []
    for plane in planes.astype(np.float64):
        if reflect:
            padded = np.pad(plane, radius, mode="symmetric")
            filtered = scipy.signal.wiener(padded, size, noise)
            out.append(filtered[radius : radius + plane.shape[0], radius : radius + plane.shape[1]])
        else:
            out.append(scipy.signal.wiener(plane, size, noise))
    return np.stack(out)


def check_wiener_matches_scipy(device: str, height: int, width: int, sizes=(3, 5)) -> None:
    """Equals scipy.signal.wiener to 1e-5, gray and per channel.

    scipy pads with zeros, this filter reflects: everywhere the two are compared with scipy run
    on a reflect-padded copy, and in the interior (no border involved) with plain scipy.
    """
    rng = np.random.default_rng(7)
    noise = 0.02
    for channels in (1, 3):
        planes = _planes(rng, (channels, height, width))
        for size in sizes:
            got = wiener_filter(planes, size, noise, device)
            reflected = _scipy_wiener(planes, size, noise, reflect=True)
            np.testing.assert_allclose(got, reflected, rtol=0, atol=1e-5)
            r = size // 2
            zero_padded = _scipy_wiener(planes, size, noise, reflect=False)
            inner = (slice(None), slice(r, height - r), slice(r, width - r))
            np.testing.assert_allclose(got[inner], zero_padded[inner], rtol=0, atol=1e-5)
        # The registered method, noise power given as sigma on the 0-255 scale.
        image = np.moveaxis(planes, 0, -1)
        got = fastdenoise.denoise(
            image, "wiener", size=3, sigma=255 * noise**0.5, device=device, tile=None
        )
        expected = np.moveaxis(_scipy_wiener(planes, 3, noise, reflect=True), 0, -1)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def check_nlm_matches_reference(device: str, height: int, width: int, patch: int, search: int):
    """Kernel output equals the float64 reference of the documented formula (to 1e-4)."""
    rng = np.random.default_rng(8)
    for channels in (1, 3):
        image = rng.random((height, width, channels))
        h, sigma = 0.25, 0.08
        got = nlm_filter(
            np.moveaxis(image, -1, 0).astype(np.float32), patch, search, h, sigma, device
        )
        expected = nlm_reference(image, patch, search, h, sigma)
        np.testing.assert_allclose(np.moveaxis(got, 0, -1), expected, rtol=0, atol=1e-4)


def check_nlm_matches_skimage(device: str, side: int, patch_size: int, distance: int) -> list:
    """Equals scikit-image's fast ``denoise_nl_means`` within 0.05 dB PSNR, gray and color.

    scikit-image's fast mode sums squared differences over a ``(s-1) x (s-1)`` patch (rows and
    columns ``-s//2+1 .. s//2`` around the pixel) but divides by ``s^2``; our ``patch = s - 1``
    with ``h * s / (s - 1)`` is that same distance. The remaining differences are its
    approximate exp (Schraudolph's, a few % off) and its border (mirror without the edge
    pixel); the border is taken out of the comparison by giving both filters the same
    mirrored margin, wide enough that neither filter's own padding is reached.

    At literally the same arguments (``patch=7`` against ``patch_size=7``) the two differ by
    design: scikit-image's distances are 36/49 of ours, so it smooths as if h were 7/6 larger.
    On a 96x96 crop at sigma 25 with ``search=11``/``patch_distance=5`` and h = k sigma, ours
    minus scikit-image's PSNR is -0.67/-0.15/+0.46 dB (gray) and -0.29/+0.34/+0.68 dB (color)
    for k = 0.6/0.8/1.0; bench/results/filters.md compares each at its best h on Kodak24.
    """
    sigma = 25 / 255
    h = 0.8 * sigma
    margin = patch_size // 2 + distance + 2
    results = []
    for gray in (True, False):
        clean = photo(side, side, gray=gray) / 255.0
        noisy = gaussian_noisy(photo(side, side, gray=gray), 25, seed=9).astype(np.float64)
        widths = [(margin, margin)] * 2 + ([] if gray else [(0, 0)])
        padded = np.pad(noisy, widths, mode="reflect")
        reference = denoise_nl_means(
            padded,
            patch_size=patch_size,
            patch_distance=distance,
            h=h,
            sigma=sigma,
            channel_axis=None if gray else -1,
        )
        image = padded[..., None] if gray else padded
        ours = nlm_filter(
            np.moveaxis(image, -1, 0).astype(np.float32),
            patch_size - 1,
            2 * distance + 1,
            h * patch_size / (patch_size - 1),
            sigma,
            device,
        )
        ours = np.moveaxis(ours, 0, -1).reshape(reference.shape)
        crop = (slice(margin, margin + side), slice(margin, margin + side))
        gap = psnr(clean, ours[crop]) - psnr(clean, reference[crop])
        assert abs(gap) < 0.05, f"PSNR differs by {gap:+.3f} dB (gray={gray})"
        assert np.mean(np.abs(ours[crop] - reference[crop])) < 1e-3
        results.append(gap)
    return results


def check_tiled_equals_untiled(device: str, height: int, width: int, tile: int, cases) -> None:
    """``fastdenoise.denoise`` gives the same output tiled and whole, for each method."""
    rng = np.random.default_rng(10)
    image = rng.random((height, width, 3), dtype=np.float32)
    for method, params in cases:
        whole = fastdenoise.denoise(image, method, tile=None, device=device, **params)
        tiled = fastdenoise.denoise(image, method, tile=tile, device=device, **params)
        np.testing.assert_array_equal(tiled, whole, err_msg=f"{method} {params}")
