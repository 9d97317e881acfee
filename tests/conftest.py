"""Shared fixtures: generated images only (tests never need ../shared or the network)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from fastdenoise import methods
from fastdenoise.methods import Denoiser, Method, Param, TilePlan


@pytest.fixture(autouse=True, scope="session")
def _engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exported ONNX files and engines go to a temporary cache, never ~/.cache."""
    previous = os.environ.get("FASTDENOISE_CACHE")
    os.environ["FASTDENOISE_CACHE"] = str(tmp_path_factory.mktemp("engine-cache"))
    yield
    if previous is None:
        os.environ.pop("FASTDENOISE_CACHE", None)
    else:
        os.environ["FASTDENOISE_CACHE"] = previous


@pytest.fixture(autouse=True, scope="session")
def _no_ahead_of_time_kernels() -> Iterator[None]:
    """CLI runs in tests take the Numba JIT drivers and build no ahead-of-time modules (a
    minute of compiling per kernel source edit); tests/test_aot.py builds its own."""
    previous = os.environ.get("FASTDENOISE_AOT")
    os.environ["FASTDENOISE_AOT"] = "0"
    yield
    if previous is None:
        os.environ.pop("FASTDENOISE_AOT", None)
    else:
        os.environ["FASTDENOISE_AOT"] = previous


class BoxBlur(Denoiser):
    """A test-only exact filter: mean over a (2r+1)^2 window with mirrored borders."""

    def __init__(self, radius: int = 2, device: str = "auto") -> None:
        self.radius = radius
        self.plan = TilePlan(halo=radius)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        size = (2 * self.radius + 1, 2 * self.radius + 1, 1)
        return ndimage.uniform_filter(tile, size=size, mode="reflect")


class Identity(Denoiser):
    """A test-only model-like method: blends overlaps, size multiple 8."""

    plan = TilePlan(halo=8, multiple=8, blend=True)

    def __init__(self, device: str = "auto") -> None:
        pass

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if tile.shape[0] % 8 or tile.shape[1] % 8:
            raise AssertionError(f"tile {tile.shape} not padded to a multiple of 8")
        return tile.copy()


class Slow(BoxBlur):
    """A test-only filter that takes its time (for interrupt tests)."""

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        time.sleep(0.05)
        return super().__call__(tile)


methods.register(Method("test-slow", "filter", "test-only slow blur", Slow))
methods.register(
    Method("test-box", "filter", "test-only box blur", BoxBlur, (Param("radius", 2, "r", int),))
)
methods.register(Method("test-identity", "model", "test-only identity", Identity))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def noisy_rgb(rng: np.random.Generator, height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth gradient with noise, uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width]
    clean = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    return np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def photo_dir(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A folder tree of small PNG/JPEG images, one nested."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(noisy_rgb(rng)).save(root / "a.png")
    Image.fromarray(noisy_rgb(rng, 40, 30)).save(root / "b.jpg", quality=95)
    Image.fromarray(noisy_rgb(rng, 33, 17)).save(root / "sub" / "c.png")
    return root
