"""Run a noise-map-conditioned network (FDNet) as a :class:`~fastdenoise.methods.Denoiser`.

Each tile goes through two single-input engines: the estimator (image -> noise std map) and
the conditioned denoiser (``image ‖ map`` -> clean image). Between them the map is replaced
by a fixed level when the user gives ``sigma`` (non-blind, FFDNet style) and scaled by
``strength``: 0 returns the input untouched, below 1 keeps more grain and texture, above 1
cleans harder.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdenoise.methods import Denoiser, TilePlan

MAX_STRENGTH = 4.0
MAX_SIGMA = 255.0


def check_controls(strength: float, sigma: float) -> None:
    """Refuse a strength outside [0, 4] or a noise level outside [0, 255] (8-bit units)."""
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"strength must be between 0 and {MAX_STRENGTH:g}, not {strength:g}")
    if not 0.0 <= sigma <= MAX_SIGMA:
        raise ValueError(f"sigma must be between 0 and {MAX_SIGMA:g} (8-bit units), not {sigma:g}")


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
    ) -> None:
        check_controls(strength, sigma)
        self.estimator, self.denoiser, self.plan, self.name = estimator, denoiser, plan, name
        self.channels = channels
        self.strength, self.sigma = float(strength), float(sigma)

    def noise_map(self, tile: np.ndarray) -> np.ndarray:
        """The map the denoiser gets for a tile: estimated or fixed, times ``strength``."""
        if self.sigma:
            level = np.float32(self.sigma / 255.0 * self.strength)
            return np.full(tile.shape, level, np.float32)
        estimate = self.estimator(tile)
        return estimate * np.float32(self.strength) if self.strength != 1.0 else estimate

    def _run(self, tile: np.ndarray) -> np.ndarray:
        return self.denoiser(np.concatenate([tile, self.noise_map(tile)], axis=2))

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        tile = np.asarray(tile, dtype=np.float32)
        if self.strength == 0.0:
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
        return f"{inner}, {level}, strength {self.strength:g}"


def build(
    net: Any,
    plan: TilePlan,
    name: str,
    engine: str,
    device: str,
    precision: str,
    threads: int,
    strength: float = 1.0,
    sigma: float = 0.0,
) -> ConditionedDenoiser:
    """Engines for both halves of ``net`` (an :class:`~fastdenoise.models.fdnet.FDNet`)."""
    from fastdenoise import engines
    from fastdenoise.models.fdnet import Conditioned, Estimator

    check_controls(strength, sigma)
    estimator = engines.create(
        engine, Estimator(net), plan, f"{name}-estimator", device, precision, threads
    )
    denoiser = engines.create(
        engine, Conditioned(net), plan, f"{name}-denoiser", device, precision, threads
    )
    return ConditionedDenoiser(estimator, denoiser, plan, name, strength, sigma, net.channels)
