"""Run a noise-map-conditioned network (FDNet) as a :class:`~fastdenoise.methods.Denoiser`.

Each tile goes through two single-input engines: the estimator (image -> noise std map) and
the conditioned denoiser (``image ‖ map`` -> clean image). Between them the map is replaced
by a fixed level when the user gives ``sigma`` (non-blind, FFDNet style) and scaled by
``strength``: 0 returns the input untouched, below 1 keeps more grain and texture, above 1
cleans harder. ``chroma`` sets the colour-noise strength apart from the luminance one (the two
sliders photographers know): the tile is then denoised at both strengths and the result
takes its luma (BT.601 Y) from the first and its colour from the second.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdenoise.methods import Denoiser, TilePlan

MAX_STRENGTH = 4.0
MAX_SIGMA = 255.0


LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601 Y


def check_controls(strength: float, sigma: float, chroma: float = -1.0) -> None:
    """Refuse strengths outside [0, 4] (chroma -1 = same as strength) or a noise level
    outside [0, 255] (8-bit units)."""
    for name, value in (("strength", strength), ("chroma", chroma)):
        if name == "chroma" and value == -1.0:
            continue
        if not 0.0 <= value <= MAX_STRENGTH:
            raise ValueError(f"{name} must be between 0 and {MAX_STRENGTH:g}, not {value:g}")
    if not 0.0 <= sigma <= MAX_SIGMA:
        raise ValueError(f"sigma must be between 0 and {MAX_SIGMA:g} (8-bit units), not {sigma:g}")


def with_luma_of(colour: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """``colour`` with its BT.601 luma replaced by that of ``luma`` (chroma kept exactly)."""
    shift = (luma - colour) @ LUMA
    return colour + shift[:, :, None]


class ConditionedDenoiser(Denoiser):
    """Estimator + conditioned denoiser engines with the strength and sigma controls."""

    def __init__(
        self,
        estimator: Denoiser,
        denoiser: Denoiser,
        plan: TilePlan,
        name: str,
        strength: float = 1.0,
        sigma: float = 0.0,
        channels: int = 3,
        chroma: float = -1.0,
    ) -> None:
        check_controls(strength, sigma, chroma)
        self.estimator, self.denoiser, self.plan, self.name = estimator, denoiser, plan, name
        self.channels = channels
        self.strength, self.sigma = float(strength), float(sigma)
        self.chroma = self.strength if chroma == -1.0 else float(chroma)
        self.unchanged = self.strength == 0.0 and self.chroma == 0.0

    def base_map(self, tile: np.ndarray) -> np.ndarray:
        """The noise std map of a tile at strength 1: estimated, or the fixed ``sigma``."""
        if self.sigma:
            return np.full(tile.shape, np.float32(self.sigma / 255.0), np.float32)
        return self.estimator(tile)

    def noise_map(self, tile: np.ndarray) -> np.ndarray:
        """The map the denoiser gets for a tile: the base map times ``strength``."""
        return self.base_map(tile) * np.float32(self.strength)

    def _at(self, tile: np.ndarray, base: np.ndarray, scale: float) -> np.ndarray:
        if scale == 0.0:
            return tile
        return self.denoiser(np.concatenate([tile, base * np.float32(scale)], axis=2))

    def _run(self, tile: np.ndarray) -> np.ndarray:
        base = self.base_map(tile)
        luma = self._at(tile, base, self.strength)
        if self.chroma == self.strength or tile.shape[2] != 3:
            return luma
        return with_luma_of(self._at(tile, base, self.chroma), luma)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        tile = np.asarray(tile, dtype=np.float32)
        if self.strength == 0.0 and self.chroma == 0.0:
            return tile
        have = tile.shape[2]
        if have == self.channels:
            return self._run(tile)
        if self.channels == 3 and have == 1:  # gray photo, colour network
            return self._run(np.repeat(tile, 3, axis=2)).mean(axis=2, keepdims=True)
        if self.channels == 1:  # colour photo, gray network: channel by channel
            return np.concatenate([self._run(tile[:, :, i : i + 1]) for i in range(have)], 2)
        raise ValueError(f"{self.name} expects {self.channels} channels, got {have}")

    def describe(self) -> str:
        level = f"sigma {self.sigma:g}" if self.sigma else "estimated noise map"
        inner = self.denoiser.describe().replace(f"{self.name}-denoiser", self.name)
        chroma = f", chroma {self.chroma:g}" if self.chroma != self.strength else ""
        return f"{inner}, {level}, strength {self.strength:g}{chroma}"


def runtime_parts(net: Any) -> dict[str, Any]:
    """The networks the runtime executes for ``net``, by part name.

    A noise-map-conditioned network (FDNet) runs as its ``estimator`` and its conditioned
    ``denoiser`` (two single-input views); any other network as one ``model``. The same
    names key the shipped graphs (``zoo.load_graphs``) and the exported files.
    """
    if getattr(net, "conditioned", False):
        from fastdenoise.models.fdnet import Conditioned, Estimator

        return {"estimator": Estimator(net), "denoiser": Conditioned(net)}
    return {"model": net}


def part_stem(stem: str, part: str) -> str:
    """The cache/file stem of one runtime part: ``stem`` itself, or ``stem-<part>``."""
    return stem if part == "model" else f"{stem}-{part}"
