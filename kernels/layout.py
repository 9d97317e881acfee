"""Array layout for the kernels: planar float32 ``(C, H, W)``, reflected borders, windows."""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_SIZE = 25  # largest window side
SCRATCH = MAX_SIZE * MAX_SIZE  # CUDA per-thread scratch (values of the largest window)


def __getattr__(name: str) -> Any:
    """``PLANES``: the Numba type of a C-contiguous float32 ``(C, H, W)`` array, for PTX build
    checks (made on first use: importing this module does not import Numba)."""
    if name == "PLANES":
        from numba import types

        return types.Array(types.float32, 3, "C")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_planes(tile: np.ndarray) -> np.ndarray:
    """``HxWxC`` pixels as a float32 ``(C, H, W)`` view (the kernels copy it once, padding)."""
    return np.moveaxis(np.asarray(tile, dtype=np.float32), -1, 0)


def from_planes(planes: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` back to a C-contiguous ``HxWxC`` array (the tiler adds it up faster)."""
    return np.ascontiguousarray(np.moveaxis(planes, 0, -1))


def reflect_pad(planes: np.ndarray, before: int, after: int | None = None) -> np.ndarray:
    """Pad rows and columns by mirroring about the edge, edge pixel repeated.

    This is scipy.ndimage's ``reflect`` (numpy's ``symmetric``): ``d c b a | a b c d | d c b a``,
    repeated as often as needed for pads wider than the image. Returns C-contiguous float32.
    """
    after = before if after is None else after
    planes = np.asarray(planes, dtype=np.float32)
    _, rows, cols = planes.shape
    if max(before, after) > min(rows, cols):  # several reflections: numpy knows how
        widths = ((0, 0), (before, after), (before, after))
        return np.ascontiguousarray(np.pad(planes, widths, mode="symmetric"))
    out = np.empty((planes.shape[0], rows + before + after, cols + before + after), np.float32)
    out[:, before : before + rows, before : before + cols] = planes
    top, bottom = before, before + rows  # rows first, then columns over the padded rows
    out[:, :top] = out[:, top : top + before][:, ::-1]
    out[:, bottom:] = out[:, bottom - after : bottom][:, ::-1]
    left, right = before, before + cols
    out[:, :, :left] = out[:, :, left : left + before][:, :, ::-1]
    out[:, :, right:] = out[:, :, right - after : right][:, :, ::-1]
    return out


def check_size(size: int, name: str = "size", largest: int = MAX_SIZE) -> int:
    """Validate an odd window side in ``1..largest``."""
    if int(size) != size or size < 1 or size % 2 == 0 or size > largest:
        raise ValueError(f"{name} must be an odd integer from 1 to {largest}, got {size}")
    return int(size)
