"""Where kernels run, and the glue that compiles one per-pixel source for two targets.

Per-pixel math is a plain Python function decorated with :func:`pixel`, which makes it a Numba
``njit`` dispatcher (inlined into its caller at Numba-IR level, so the CPU drivers' row loops
can be vectorised). The CPU driver of each filter calls it inside a ``prange`` over rows; the
CUDA kernel of the same filter (:mod:`fastdenoise.kernels.gpu`) calls the very same dispatcher,
and Numba compiles it a second time, for the CUDA target, when the kernel is first launched.
``numba.cuda`` (seconds to import) is imported only when a CUDA path runs or a GPU driver is
present: :func:`cuda_available` first looks for the driver's device files.

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) kernels run as Python, so :func:`pixel`
returns the plain function there; the CPU drivers are not usable in such a process.

Importing this module does not import Numba (:func:`resolve_device` on a machine without an
NVIDIA driver, and the ahead-of-time drivers of :mod:`aot`, never need it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

DEVICES = ("auto", "cpu", "cuda")


def _cudasim() -> bool:
    """Numba's ``ENABLE_CUDASIM`` setting, from its environment variable while Numba is unloaded."""
    if "numba" in sys.modules:
        return bool(sys.modules["numba"].config.ENABLE_CUDASIM)
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0")


CUDASIM = _cudasim()
BLOCK = (32, 8, 1)  # threads per block along (x, y, plane)

F = TypeVar("F", bound=Callable[..., Any])


class DeviceUnavailableError(RuntimeError):
    """The requested device cannot be used on this machine; the message is one line."""


# Present wherever an NVIDIA driver is loaded on Linux (native, containers, WSL2).
LINUX_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg")


def driver_absent() -> bool:
    """True when no CUDA driver can be present (Linux without the driver's device files)."""
    if CUDASIM or not sys.platform.startswith("linux"):
        return False
    return not any(os.path.exists(path) for path in LINUX_DRIVER_FILES)


def cuda_available() -> bool:
    """True when Numba sees a usable CUDA GPU (or the CUDA simulator is on).

    Answers False without importing ``numba.cuda`` where :func:`driver_absent`.
    """
    if driver_absent():
        return False
    from numba import cuda

    return bool(cuda.is_available())


def resolve_device(device: str) -> str:
    """Map ``auto``/``cpu``/``cuda`` to the device that will run: ``"cpu"`` or ``"cuda"``."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "cuda":
        raise DeviceUnavailableError(
            "--device cuda: no CUDA GPU found (numba.cuda.is_available() is False); "
            "use --device cpu or auto"
        )
    return "cpu"


def pixel(fn: F) -> F:
    """Mark per-pixel math: one source, compiled by Numba for the CPU and for CUDA."""
    if CUDASIM:
        return fn
    import numba

    return numba.njit(fn, inline="always", nogil=True)  # type: ignore[return-value]


def launch_config(shape: tuple[int, ...]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Grid and block for one thread per element of a ``(planes, rows, cols)`` shape."""
    planes, rows, cols = shape
    block = (min(BLOCK[0], cols), min(BLOCK[1], rows), 1)  # small arrays: no idle threads
    grid = (-(-cols // block[0]), -(-rows // block[1]), planes)
    return grid, block


def cuda_map(kernel: Any, out_shape: tuple[int, int, int], *args: Any) -> np.ndarray:
    """Launch ``kernel(*args, out)`` with one thread per output element; return ``out``."""
    from numba import cuda

    device_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    out = cuda.device_array(out_shape, dtype=np.float32)
    grid, block = launch_config(out_shape)
    kernel[grid, block](*device_args, out)
    return out.copy_to_host()
