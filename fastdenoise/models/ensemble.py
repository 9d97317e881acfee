"""Self-ensemble (test-time augmentation): a model averaged over the 8 flips and rotations.

Opt-in (``--tta`` or ``-p tta=true``): it costs 8x the compute and typically buys a few
tenths of a dB, because the network's errors differ between orientations while the image
content does not.
"""

from __future__ import annotations

import numpy as np

from fastdenoise.datasets import dihedral, undo_dihedral
from fastdenoise.methods import Denoiser

TRANSFORMS = 8


class SelfEnsemble(Denoiser):
    """Runs ``inner`` on each dihedral transform of a tile and averages the results."""

    def __init__(self, inner: Denoiser) -> None:
        self.inner, self.plan = inner, inner.plan

    def prepare(self, image: np.ndarray) -> Denoiser:
        prepared = self.inner.prepare(image)
        return self if prepared is self.inner else SelfEnsemble(prepared)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        total = np.zeros(tile.shape, np.float32)
        for k in range(TRANSFORMS):
            out = self.inner(np.ascontiguousarray(dihedral(tile, k)))
            total += undo_dihedral(out, k)
        return total / np.float32(TRANSFORMS)

    def describe(self) -> str:
        return f"{self.inner.describe()} with x{TRANSFORMS} self-ensemble"
