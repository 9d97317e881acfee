"""The embedded default: noisy versions of scikit-image's bundled photos, plus three small
real noisy photos (NC12, Apache-2.0; see ``samples/NOTICE.md``), all offline.

Synthetic Gaussian noise looks nothing like a camera's (spatially correlated, signal
dependent, JPEG-compressed), so the demo carries both kinds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

DEMO_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "moon")
SAMPLES_DIR = Path(__file__).with_name("samples")


def real_samples() -> list[Path]:
    """The bundled real noisy photos."""
    return sorted(SAMPLES_DIR.glob("real_*.png"))


def write_demo_images(folder: Path, sigma: float = 25.0, seed: int = 0) -> list[Path]:
    """Write PNGs of ``skimage.data`` images with seeded Gaussian noise (sigma in 8-bit units)
    and copy the bundled real noisy photos beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for name in DEMO_IMAGES:
        clean = getattr(data, name)().astype(np.float64)
        noisy = np.clip(np.rint(clean + rng.normal(0.0, sigma, clean.shape)), 0, 255)
        path = folder / f"{name}.png"
        Image.fromarray(noisy.astype(np.uint8)).save(path)
        written.append(path)
    for sample in real_samples():
        target = folder / sample.name
        shutil.copyfile(sample, target)
        written.append(target)
    return written
