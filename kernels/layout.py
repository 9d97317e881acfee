"""Array layout for the kernels: planar float32 ``(C, H, W)``, reflected borders, windows."""

from __future__ import annotations

import numpy as np
from numba import types

# Argument type of a C-contiguous float32 (C, H, W) array, for PTX build checks.
PLANES = types.Array(types.float32, 3, "C")
MAX_SIZE = 25  # largest window side
SCRATCH = MAX_SIZE * MAX_SIZE  # CUDA per-thread scratch (values of the largest window)


def to_planes(tile: np.ndarray) -> np.ndarray:
    """``HxWxC`` pixels to a C-contiguous float32 ``(C, H, W)`` array."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(tile, dtype=np.float32), -1, 0))


def from_planes(planes: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` back to ``HxWxC``."""
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1))


def reflect_pad(planes: np.ndarray, before: int, after: int | None = None) -> np.ndarray:
    """Pad rows and columns by mirroring about the edge, edge pixel repeated.

    This is scipy.ndimage's ``reflect`` (numpy's ``symmetric``): ``d c b a | a b c d | d c b a``,
    repeated as often as needed for pads wider than the image.
    """
    after = before if after is None else after
    if before == 0 and after == 0:
        return np.ascontiguousarray(planes, dtype=np.float32)
    widths = ((0, 0), (before, after), (before, after))
    return np.ascontiguousarray(np.pad(planes, widths, mode="symmetric"), dtype=np.float32)


def check_size(size: int, name: str = "size", largest: int = MAX_SIZE) -> int:
    """Validate an odd window side in ``1..largest``."""
    if int(size) != size or size < 1 or size % 2 == 0 or size > largest:
        raise ValueError(f"{name} must be an odd integer from 1 to {largest}, got {size}")
    return int(size)
