"""The library face: ``denoise(array, method, **params)`` on plain numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdenoise import methods
from fastdenoise.tiler import DEFAULT_TILE, run_tiled

_SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def as_hwc(array: np.ndarray) -> np.ndarray:
    """View an ``HxW`` or ``HxWxC`` array (C in 1, 3) as ``HxWxC``."""
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim == 3 and array.shape[2] in (1, 3):
        return array
    raise ValueError(
        f"expected an HxW (gray) or HxWx1/HxWx3 array, got shape {array.shape}; "
        "pass alpha separately (it is not denoised)"
    )


def denoise(
    image: np.ndarray,
    method: str = "median",
    *,
    tile: int | None = DEFAULT_TILE,
    device: str = "auto",
    **params: Any,
) -> np.ndarray:
    """Denoise a numpy image and return an array of the same shape and dtype.

    Parameters
    ----------
    image : ndarray
        ``HxW`` or ``HxWxC`` (C = 1 or 3, RGB order), uint8, uint16 or float in ``[0, 1]``.
        Float input may lie outside ``[0, 1]`` (e.g. unclipped synthetic noise); float output
        is not clipped.
    method : str
        A registered method name (see ``fastdenoise methods``).
    tile : int or None
        Tile size for bounded memory; ``None`` or 0 processes the image whole.
    device : str
        ``auto``, ``cpu`` or ``cuda``, for methods that can use a GPU.
    **params
        Method parameters, e.g. ``size=5`` for ``median``.

    Examples
    --------
    >>> import numpy as np, fastdenoise
    >>> noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> fastdenoise.denoise(noisy, "median", size=3).shape
    (32, 32, 3)
    """
    array = np.asarray(image)
    if not array.dtype.isnative:  # big-endian float32 from a FITS/TIFF reader, for one
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"unsupported dtype {array.dtype}; use uint8, uint16 or float")
    if array.size == 0:
        raise ValueError(f"empty image of shape {array.shape}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("image contains NaN or infinite values; replace them first")
    pixels = as_hwc(array)
    if pixels.dtype == np.float64:
        pixels = pixels.astype(np.float32)
    denoiser = methods.get(method).build(device=device, **params)
    bound = denoiser.prepare(pixels)
    # float64 in, float64 out: the tiler (or a whole-image path) widens as it writes
    out_dtype = array.dtype if array.dtype == np.float64 else pixels.dtype
    out = run_tiled(pixels, bound, tile=tile, out_dtype=out_dtype)
    return out.reshape(array.shape).astype(np.asarray(image).dtype, copy=False)
