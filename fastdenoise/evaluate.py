"""The evaluation protocol (docs/DESIGN.md), as small reusable functions.

* Synthetic AWGN: clean uint8 -> float64 in ``[0, 1]``; noise from
  ``np.random.default_rng(1000 * sigma + i).normal(0, sigma / 255, shape)`` with ``i`` the
  image's index in the sorted file list; the noisy float input is *not* clipped.
* Real noise: the noisy uint8 file goes in as is.
* Output clipped to ``[0, 1]`` and rounded to uint8; PSNR/SSIM from ``skimage.metrics``
  against the uint8 ground truth (``data_range=255``, ``channel_axis`` for color, no crop).

A *denoise function* maps a native ``HxWxC`` array (float64 for AWGN, uint8 for real noise)
to an array of the same shape; :func:`method_fn` and :func:`module_fn` make one from a
registered method or a torch module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from fastdenoise.datasets import Pair, list_images
from fastdenoise.io import read_pixels
from fastdenoise.tiler import DEFAULT_TILE, pad_to_multiple, run_tiled, to_float

DenoiseFn = Callable[[np.ndarray], np.ndarray]


def awgn(clean: np.ndarray, sigma: float, index: int) -> np.ndarray:
    """The protocol's noisy input: float64, unclipped, seeded by ``sigma`` and ``index``."""
    rng = np.random.default_rng(int(1000 * sigma + index))
    return clean.astype(np.float64) / 255.0 + rng.normal(0.0, sigma / 255.0, clean.shape)


def to_uint8(output: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 1]`` and round to uint8 (uint8 input is returned as is)."""
    if output.dtype == np.uint8:
        return output
    return np.rint(np.clip(output, 0.0, 1.0) * 255.0).astype(np.uint8)


def scores(output: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM of a uint8 ``HxWxC`` output against uint8 ground truth."""
    out, gt = to_uint8(output), np.asarray(truth, dtype=np.uint8)
    if out.shape != gt.shape:
        raise ValueError(f"output shape {out.shape} != ground truth {gt.shape}")
    psnr = peak_signal_noise_ratio(gt, out, data_range=255)
    if gt.shape[2] == 1:
        ssim = structural_similarity(gt[:, :, 0], out[:, :, 0], data_range=255)
    else:
        ssim = structural_similarity(gt, out, data_range=255, channel_axis=2)
    return float(psnr), float(ssim)


@dataclass
class Result:
    """Scores on one set: means plus per-image values."""

    name: str
    psnr: float
    ssim: float
    input_psnr: float
    seconds: float
    images: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.name}: PSNR {self.psnr:.2f} dB (input {self.input_psnr:.2f}), "
            f"SSIM {self.ssim:.4f}, {len(self.images)} images, {self.seconds:.1f} s"
        )


def _collect(name: str, rows: list[dict[str, Any]], seconds: float) -> Result:
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    return Result(name, mean("psnr"), mean("ssim"), mean("input_psnr"), seconds, rows)


def _evaluate_folder(
    fn: DenoiseFn,
    folder: str | Path,
    make_noisy: Callable[[np.ndarray, int], np.ndarray],
    name: str,
    channels: int | None,
    indices: Sequence[int] | None,
) -> Result:
    """Score ``fn`` on the clean images of ``folder``, noisy inputs from ``make_noisy``."""
    files = list_images(folder)
    chosen = range(len(files)) if indices is None else indices
    rows, start = [], time.perf_counter()
    for i in chosen:
        clean = read_pixels(files[i], channels)
        noisy = make_noisy(clean, i)
        psnr, ssim = scores(fn(noisy), clean)
        rows.append(
            {
                "file": files[i].name,
                "psnr": psnr,
                "ssim": ssim,
                "input_psnr": scores(noisy, clean)[0],
            }
        )
    return _collect(f"{Path(folder).name} {name}", rows, time.perf_counter() - start)


def evaluate_awgn(
    fn: DenoiseFn,
    folder: str | Path,
    sigma: float,
    channels: int | None = None,
    indices: Sequence[int] | None = None,
    eight_bit: bool = False,
) -> Result:
    """Score ``fn`` on a clean folder with the protocol's seeded AWGN at ``sigma``.

    ``indices`` picks images by their index in the sorted list (seeds stay the protocol's).
    ``eight_bit``: the users' protocol: the noisy image clipped and rounded to uint8, as a
    saved PNG is, before ``fn`` sees it.
    """
    if eight_bit:
        noisy = lambda clean, i: to_uint8(awgn(clean, sigma, i))  # noqa: E731
        return _evaluate_folder(fn, folder, noisy, f"sigma {sigma:g} 8-bit", channels, indices)
    noisy = lambda clean, i: awgn(clean, sigma, i)  # noqa: E731
    return _evaluate_folder(fn, folder, noisy, f"sigma {sigma:g}", channels, indices)


def evaluate_synthetic(
    fn: DenoiseFn,
    folder: str | Path,
    spec: str,
    channels: int | None = None,
    indices: Sequence[int] | None = None,
) -> Result:
    """Score ``fn`` on a clean folder with a :mod:`fastdenoise.noise` spec (seeded by index).

    The noisy input is the synthesiser's float32 output (camera noise is already 8-bit).
    """
    from fastdenoise.noise import parse

    make = parse(spec)

    def noisy(clean: np.ndarray, i: int) -> np.ndarray:
        return make(to_float(clean), np.random.default_rng(i)).astype(np.float64)

    return _evaluate_folder(fn, folder, noisy, spec, channels, indices)


def evaluate_pairs(
    fn: DenoiseFn, pairs: Sequence[Pair], name: str = "pairs", channels: int | None = None
) -> Result:
    """Score ``fn`` on real ``(noisy, clean)`` uint8 file pairs."""
    rows, start = [], time.perf_counter()
    for noisy_path, clean_path in pairs:
        noisy, clean = read_pixels(noisy_path, channels), read_pixels(clean_path, channels)
        if noisy.dtype != np.uint8 or clean.dtype != np.uint8:
            raise ValueError(f"the protocol scores 8-bit files; got {noisy.dtype} in {noisy_path}")
        psnr, ssim = scores(fn(noisy), clean)
        rows.append(
            {
                "file": noisy_path.name,
                "psnr": psnr,
                "ssim": ssim,
                "input_psnr": scores(noisy, clean)[0],
            }
        )
    return _collect(name, rows, time.perf_counter() - start)


def method_fn(method: str, tile: int | None = DEFAULT_TILE, **params: Any) -> DenoiseFn:
    """A denoise function for a registered method (built once, run through the tiler)."""
    from fastdenoise import methods

    denoiser = methods.get(method).build(**params)

    def run(array: np.ndarray) -> np.ndarray:
        pixels = array.astype(np.float32) if array.dtype == np.float64 else array
        return run_tiled(pixels, denoiser.prepare(pixels), tile=tile, out_dtype=pixels.dtype)

    return run


def module_fn(module: Any, multiple: int = 1, device: str = "cpu") -> DenoiseFn:
    """A denoise function for a torch module on whole images (mirror-padded to ``multiple``),
    run as the torch engine runs it: a gray image on a colour module is replicated and
    averaged back, as `run` does."""
    from fastdenoise.engines.torch_engine import TorchDenoiser
    from fastdenoise.methods import TilePlan

    denoiser = TorchDenoiser(module, TilePlan(multiple=multiple), device=device)

    def run(array: np.ndarray) -> np.ndarray:
        pixels = to_float(array.astype(np.float32) if array.dtype == np.float64 else array)
        height, width = pixels.shape[:2]
        return denoiser(pad_to_multiple(pixels, multiple))[:height, :width]

    return run
