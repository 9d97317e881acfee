"""A Denoiser base for engines that run ``1xCxHxW`` float32 numpy arrays."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from fastdenoise.methods import Denoiser, TilePlan


class ArrayDenoiser(Denoiser):
    """Adapts tiles to the network's channels and calls :meth:`infer`.

    Gray tiles on a color model are replicated to three channels and averaged back; color
    tiles on a gray model are denoised channel by channel (batch 1 each, so engines with a
    fixed batch dimension work).
    """

    plan: TilePlan
    channels: int
    name: str

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a contiguous float32 ``1xCxHxW`` array."""

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(np.asarray(tile, dtype=np.float32).transpose(2, 0, 1))
        if chw.shape[0] == self.channels:
            out = self.infer(chw[None])[0]
        elif self.channels == 3 and chw.shape[0] == 1:
            out = self.infer(np.ascontiguousarray(np.repeat(chw, 3, 0)[None]))[0]
            out = out.mean(0, keepdims=True)
        elif self.channels == 1:
            out = np.concatenate([self.infer(chw[None, i : i + 1])[0] for i in range(len(chw))])
        else:
            raise ValueError(f"{self.name} expects {self.channels} channels, got {chw.shape[0]}")
        return np.ascontiguousarray(out.transpose(1, 2, 0), dtype=np.float32)
