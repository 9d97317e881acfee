"""The embedded demo input: synthetic noisy photos plus the bundled real noisy ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from fastdenoise.demo import DEMO_IMAGES, real_samples, write_demo_images


def test_demo_writes_synthetic_and_real_samples(tmp_path: Path) -> None:
    written = write_demo_images(tmp_path / "noisy", seed=1)
    names = {p.name for p in written}
    assert {f"{n}.png" for n in DEMO_IMAGES} <= names
    real = real_samples()
    assert len(real) >= 3 and {p.name for p in real} <= names
    for sample in real:
        copied = tmp_path / "noisy" / sample.name
        assert copied.read_bytes() == sample.read_bytes()
        with Image.open(copied) as im:
            pixels = np.asarray(im)
        assert pixels.shape[:2] == (192, 192) and pixels.std() > 10  # a real photo, not blank
