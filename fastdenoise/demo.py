"""The embedded default: noisy versions of scikit-image's bundled photos (offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

DEMO_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "moon")


def write_demo_images(folder: Path, sigma: float = 25.0, seed: int = 0) -> list[Path]:
    """Write PNGs of ``skimage.data`` images with seeded Gaussian noise (sigma in 8-bit units)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for name in DEMO_IMAGES:
        clean = getattr(data, name)().astype(np.float64)
        noisy = np.clip(np.rint(clean + rng.normal(0.0, sigma, clean.shape)), 0, 255)
        path = folder / f"{name}.png"
        Image.fromarray(noisy.astype(np.uint8)).save(path)
        written.append(path)
    return written
