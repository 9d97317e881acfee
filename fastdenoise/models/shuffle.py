"""Pixel-shuffle inference for strongly correlated real noise (Zhou et al., CVPRW 2020).

Camera pipelines correlate noise over a few pixels, which a denoiser trained on white noise
takes for texture. Taking every ``stride``-th pixel (``stride**2`` sub-images) spreads the
correlated noise out until it looks white to the network at a fraction of the resolution;
each sub-image is denoised on its own and the results are put back in place.
"""

from __future__ import annotations

import numpy as np

from fastdenoise.methods import Denoiser, TilePlan


class PixelShuffleDenoiser(Denoiser):
    """Runs ``inner`` on the ``stride**2`` pixel-shuffled sub-images of each tile."""

    def __init__(self, inner: Denoiser, stride: int = 2) -> None:
        if stride < 1:
            raise ValueError(f"shuffle stride must be 1 or more, not {stride}")
        self.inner, self.stride = inner, stride
        plan = inner.plan
        self.plan = TilePlan(plan.halo * stride, plan.multiple * stride, plan.blend)

    def prepare(self, image: np.ndarray) -> Denoiser:
        prepared = self.inner.prepare(image)
        return self if prepared is self.inner else PixelShuffleDenoiser(prepared, self.stride)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        s = self.stride
        out = np.empty(tile.shape, np.float32)
        for dy in range(s):
            for dx in range(s):
                sub = np.ascontiguousarray(tile[dy::s, dx::s])
                out[dy::s, dx::s] = self.inner(sub)
        return out

    def describe(self) -> str:
        return f"{self.inner.describe()} on {self.stride}x{self.stride} pixel-shuffled sub-images"
