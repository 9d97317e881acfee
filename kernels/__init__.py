"""Numba kernels of the classical filters, one per-pixel source for the CPU and CUDA.

Every function takes and returns float32 planar ``(C, H, W)`` arrays and reflects borders
(scipy.ndimage ``reflect``). ``device`` is ``"cpu"`` or ``"cuda"``; map user choices
(``auto``/``cpu``/``cuda``) with :func:`resolve_device` first.

Importing the package does not import Numba: the public functions (:mod:`front`) import a
filter's Numba module when its JIT driver or CUDA twin runs, and not at all when an
ahead-of-time driver (:mod:`aot`) serves the call.
"""

from __future__ import annotations

from collections.abc import Callable

from . import jitcache  # noqa: F401  (first: sets Numba's cache folder, see jitcache)
from .devices import DeviceUnavailableError, cuda_available, resolve_device
from .front import (
    adaptive_median_filter,
    adaptive_median_pixels,
    median_filter,
    median_uint8,
    nlm_filter,
    wiener_filter,
)
from .layout import from_planes, to_planes

__all__ = [
    "DeviceUnavailableError",
    "adaptive_median_filter",
    "adaptive_median_pixels",
    "cuda_available",
    "cuda_kernels",
    "from_planes",
    "median_filter",
    "median_uint8",
    "nlm_filter",
    "resolve_device",
    "to_planes",
    "wiener_filter",
]


def cuda_kernels() -> dict[str, tuple[Callable, tuple]]:
    """Every CUDA kernel (Python source and argument types), for the PTX build check."""
    from .gpu import cuda_kernels as every_kernel  # imports numba.cuda

    return every_kernel()
