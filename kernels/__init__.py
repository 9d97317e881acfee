"""Numba kernels of the classical filters, one per-pixel source for the CPU and CUDA.

Every function takes and returns float32 planar ``(C, H, W)`` arrays and reflects borders
(scipy.ndimage ``reflect``). ``device`` is ``"cpu"`` or ``"cuda"``; map user choices
(``auto``/``cpu``/``cuda``) with :func:`resolve_device` first.
"""

from __future__ import annotations

from collections.abc import Callable

from .adaptive_median import adaptive_median
from .devices import DeviceUnavailableError, cuda_available, resolve_device
from .layout import from_planes, to_planes
from .median import median
from .nlm import nlm
from .wiener import wiener

__all__ = [
    "DeviceUnavailableError",
    "adaptive_median",
    "cuda_available",
    "cuda_kernels",
    "from_planes",
    "median",
    "nlm",
    "resolve_device",
    "to_planes",
    "wiener",
]


def cuda_kernels() -> dict[str, tuple[Callable, tuple]]:
    """Every CUDA kernel (Python source and argument types), for the PTX build check."""
    from . import adaptive_median, median, nlm, wiener

    kernels: dict[str, tuple[Callable, tuple]] = {}
    for module in (median, adaptive_median, wiener, nlm):
        kernels.update(module.cuda_kernels())
    return kernels
