"""The classical filters as registered methods: parameters, noise level, dispatch to kernels.

``nlm``, ``median``, ``adaptive-median`` and ``wiener`` run the Numba kernels of
:mod:`fastdenoise.kernels` on the CPU or a CUDA GPU. Noise-dependent defaults come from one
estimate per image (:func:`estimate_noise`, made in ``prepare``), so every tile of an image uses
the same settings and tiled output equals untiled output. Levels (``sigma``, ``h``) are on the
0-255 scale whatever the image's bit depth: ``sigma=25`` means 25/255 of full range.

The estimate is the product's one, :func:`fastdenoise.analyze.estimate_sigma` (the sigma
``fastdenoise analyze`` reports and ``-m auto`` passes on): good for white Gaussian noise, but
it under-reads the spatially correlated noise of real photos 2-8x, so for real photos pass
``sigma`` explicitly.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from fastdenoise.methods import Denoiser, Method, Param, TilePlan, register

SCALE = 255.0  # levels are given on the 0-255 scale
MIN_SIGMA = 0.25  # floor for noise-derived defaults (0-255 scale)
MIN_H = 1e-6  # nlm: a smaller h overflows the kernel's 1/h^2 in float32 (NaN output)


@dataclasses.dataclass(frozen=True)
class NLMPreset:
    """NLM defaults for noise up to ``max_sigma``; h is a multiple of sigma (gray needs more)."""

    max_sigma: float
    patch: int
    search: int
    h_gray: float
    h_color: float


# In the spirit of Buades, Coll & Morel's table (IPOL 2011, same distance normalisation), tuned
# on four images each of Kodak24 (color) and Set12 (gray) at sigma 15/25/50, searched to 15 or
# 21 pixels rather than 21/35 to stay fast.
NLM_PRESETS = (
    NLMPreset(30.0, patch=3, search=15, h_gray=0.9, h_color=0.65),
    NLMPreset(float("inf"), patch=5, search=21, h_gray=0.55, h_color=0.45),
)


def nlm_preset(sigma: float) -> NLMPreset:
    """The default NLM settings for a noise level on the 0-255 scale."""
    return next(p for p in NLM_PRESETS if sigma <= p.max_sigma)


SIGMA_HELP = "noise std on the 0-255 scale; default: estimated once per image"


def estimate_noise(image: np.ndarray) -> float:
    """Noise standard deviation of an ``HxWxC`` image, on the 0-255 scale: analyze's estimate.

    :func:`fastdenoise.analyze.estimate_sigma` of :func:`~fastdenoise.analyze.analysis_plane`
    (one channel, subsampled above 4 MP), exactly what ``fastdenoise analyze`` reports as the
    fine-scale sigma; 0.0 where no estimate can be made (an image under 16 pixels a side).
    """
    from fastdenoise.analyze import analysis_plane, estimate_sigma

    sigma = estimate_sigma(analysis_plane(image))
    return sigma if np.isfinite(sigma) else 0.0


@dataclasses.dataclass
class FilterDenoiser(Denoiser):
    """A classical filter: float32 ``HxWxC`` tiles in, planar kernels, same shape out."""

    device: str = "auto"
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        from fastdenoise.kernels import resolve_device

        self.device = resolve_device(self.device)

    @property
    def plan(self) -> TilePlan:  # type: ignore[override]
        return TilePlan(halo=self.halo())

    @abstractmethod
    def halo(self) -> int:
        """Radius of dependence: output pixels depend on input pixels this far away."""

    @abstractmethod
    def run(self, planes: np.ndarray) -> np.ndarray:
        """Filter a float32 ``(C, H, W)`` array."""

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        from fastdenoise.kernels import from_planes, to_planes

        return from_planes(self.run(to_planes(tile)))

    def describe(self) -> str:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        settings = ", ".join(
            f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
            for name, value in values.items()
            if name != "device"
        )
        return f"{self.name}({settings}) on {self.device}"


class SquareWindow:
    """Mixin for filters over one odd ``size x size`` window: checks ``size``; halo size // 2."""

    size: int

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[misc]
        from fastdenoise.kernels.layout import check_size

        self.size = check_size(self.size)

    def halo(self) -> int:
        return self.size // 2


@dataclasses.dataclass
class Median(SquareWindow, FilterDenoiser):
    size: int = 3
    name: ClassVar[str] = "median"

    def run(self, planes: np.ndarray) -> np.ndarray:
        from fastdenoise.kernels import median_filter

        return median_filter(planes, self.size, self.device)

    def run_native(self, pixels: np.ndarray, out_dtype: np.dtype) -> np.ndarray | None:
        """8-bit images, sizes 3 and 5, on the CPU: the uint8 kernel on the whole image."""
        if self.device != "cpu" or pixels.dtype != np.uint8 or out_dtype != np.uint8:
            return None
        from fastdenoise.kernels import median_uint8  # None for sizes without a uint8 kernel

        return median_uint8(pixels, self.size)


@dataclasses.dataclass
class AdaptiveMedian(FilterDenoiser):
    max_size: int = 7
    name: ClassVar[str] = "adaptive-median"

    def __post_init__(self) -> None:
        super().__post_init__()
        from fastdenoise.kernels.layout import check_size

        self.max_size = check_size(self.max_size, "max_size")
        if self.max_size < 3:
            raise ValueError(f"max_size must be at least 3, got {self.max_size}")

    def halo(self) -> int:
        return self.max_size // 2

    def run(self, planes: np.ndarray) -> np.ndarray:
        from fastdenoise.kernels import adaptive_median_filter

        return adaptive_median_filter(planes, self.max_size, self.device)

    def run_native(self, pixels: np.ndarray, out_dtype: np.dtype) -> np.ndarray | None:
        """On the CPU: the whole image in bands of interleaved rows (no per-tile copies)."""
        from fastdenoise.kernels.front import ADAPTIVE_DTYPES as DTYPES
        from fastdenoise.kernels.front import adaptive_median_pixels

        if self.device != "cpu" or pixels.dtype not in DTYPES or out_dtype not in DTYPES:
            return None
        return adaptive_median_pixels(pixels, self.max_size, out_dtype)


@dataclasses.dataclass
class NoiseAware(FilterDenoiser):
    """A filter whose settings follow the noise level (given, or estimated per image)."""

    sigma: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma is not None:
            self.sigma = float(self.sigma)
            if not self.sigma >= 0:
                raise ValueError(f"sigma must be >= 0, got {self.sigma}")

    def prepare(self, image: np.ndarray) -> Denoiser:
        if self.sigma is not None:
            return self
        return dataclasses.replace(self, sigma=estimate_noise(image))

    def noise_level(self) -> float:
        """Sigma on the 0-255 scale (estimating needs the whole image: call ``prepare``)."""
        if self.sigma is None:
            raise RuntimeError(f"{self.name}: call prepare(image) first, or give sigma")
        return self.sigma


@dataclasses.dataclass
class Wiener(SquareWindow, NoiseAware):
    size: int = 5
    name: ClassVar[str] = "wiener"

    def run(self, planes: np.ndarray) -> np.ndarray:
        from fastdenoise.kernels import wiener_filter

        noise = (self.noise_level() / SCALE) ** 2
        return wiener_filter(planes, self.size, noise, self.device)


@dataclasses.dataclass
class NonLocalMeans(NoiseAware):
    patch: int | None = None
    search: int | None = None
    h: float | None = None
    name: ClassVar[str] = "nlm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.patch is not None:
            self.patch = _whole(self.patch, "patch")
            if not 1 <= self.patch <= 15:
                raise ValueError(f"patch must be an integer from 1 to 15, got {self.patch}")
        if self.search is not None:
            self.search = _whole(self.search, "search")
            if self.search < 1 or self.search % 2 == 0:
                raise ValueError(f"search must be an odd integer >= 1, got {self.search}")
        if self.h is not None:
            self.h = float(self.h)
            if not self.h > 0:
                raise ValueError(f"h must be > 0, got {self.h}")

    def window(self) -> tuple[int, int]:
        """(patch, search): as given, else from the noise level's preset."""
        if self.patch is not None and self.search is not None:
            return self.patch, self.search
        preset = nlm_preset(self.noise_level())
        return self.patch or preset.patch, self.search or preset.search

    def halo(self) -> int:
        patch, search = self.window()
        return search // 2 + patch // 2

    def strength(self, channels: int) -> float:
        """h on the 0-255 scale: as given, else the preset's multiple of sigma."""
        if self.h is not None:
            return max(self.h, MIN_H)
        preset = nlm_preset(self.noise_level())
        factor = preset.h_gray if channels == 1 else preset.h_color
        return factor * max(self.noise_level(), MIN_SIGMA)

    def run(self, planes: np.ndarray) -> np.ndarray:
        from fastdenoise.kernels import nlm_filter

        patch, search = self.window()
        h = self.strength(planes.shape[0]) / SCALE
        sigma = self.noise_level() / SCALE
        return nlm_filter(planes, patch, search, h, sigma, self.device)


def _whole(value: Any, name: str) -> int:
    """An integer parameter; 3.5 is refused rather than truncated to 3."""
    if int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value}")
    return int(value)


def _method(cls: type[FilterDenoiser], summary: str, *params: Param) -> Method:
    def factory(device: str = "auto", **values: Any) -> Denoiser:
        return cls(device=device, **values)

    return register(Method(cls.name, "filter", summary, factory, params))


_method(
    NonLocalMeans,
    "Non-local means: averages pixels whose surrounding patches look alike (Gaussian noise).",
    Param("patch", None, "side of the compared patches; default: 3 (sigma <= 30) or 5", int),
    Param("search", None, "side of the search window (odd); default: 15 (sigma <= 30) or 21", int),
    Param("h", None, "strength, 0-255 scale; default: 0.65 sigma (gray 0.9) to 30", float),
    Param("sigma", None, SIGMA_HELP + "; subtracted from patch distances", float),
)
_method(
    Median,
    "Median of each window: removes impulse (salt-and-pepper) noise, keeps edges.",
    Param("size", 3, "window side, pixels (odd)", int),
)
_method(
    AdaptiveMedian,
    "Adaptive median: grows the window until its median is not an impulse; replaces "
    "only impulses (salt-and-pepper noise up to high densities).",
    Param("max_size", 7, "largest window side, pixels (odd, >= 3)", int),
)
_method(
    Wiener,
    "Adaptive Wiener: shrinks each pixel toward its local mean where the local variance is "
    "near the noise power (scipy.signal.wiener with reflected borders).",
    Param("size", 5, "window side, pixels (odd)", int),
    Param("sigma", None, SIGMA_HELP + "; noise power is (sigma/255)^2", float),
)
