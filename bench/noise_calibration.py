"""Is the noise estimator calibrated on real photos? Estimate vs measured RMS; confusion.

For every real noisy set with a reference (Nam_patches, PolyU_crops, the SIDD block) it
compares the learned estimator's reading (:mod:`fastdenoise.noisemap`) and the fine-scale
AWGN estimate (:func:`fastdenoise.analyze.estimate_sigma`) with the measured RMS of
``noisy - reference`` (8-bit units, all channels), and counts readings within 25%. On clean
references (CBSD68, Kodak24, the sets' ``gt/`` folders) and reference-less real sets (NC12,
RNI15) it counts how many images each reading calls noisy (level >= the clean threshold).
On every set it also runs `auto`'s own clean/noisy call (the shipped weights): the trial
denoise's flat-area residual (:mod:`fastdenoise.trial`) and how many files `auto` would copy
unchanged.

    .venv/bin/python bench/noise_calibration.py --data ../shared/data \
        -o bench/results/noise_calibration.md
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

from fastdenoise import methods, noisemap
from fastdenoise.analyze import analysis_plane, estimate_sigma
from fastdenoise.auto import CLEAN_RESIDUAL, AutoDenoiser, trial_residual
from fastdenoise.datasets import find_pairs, list_images
from fastdenoise.io import read_pixels

PAIRED = ("Nam_patches", "PolyU_crops", "SIDD_val_block_DANet")
CLEAN = ("CBSD68", "Kodak24", "Nam_patches/gt", "PolyU_crops/gt", "SIDD_val_block_DANet/gt")
UNPAIRED = ("NC12", "RNI15")


def sidd_pair(root: Path) -> list[tuple[Path, Path]]:
    return [(root / "noisy.png", root / "gt.png")]


def readings(image: np.ndarray, weights: str) -> tuple[float, float]:
    """(learned estimate, fine-scale AWGN estimate) in 8-bit units."""
    return noisemap.noise_rms(image, weights), estimate_sigma(analysis_plane(image))


class AutoCall:
    """`auto`'s decision per image, and the trial residual of the shipped real-noise model."""

    def __init__(self) -> None:
        self.auto = AutoDenoiser(device="cpu")
        self.model = methods.get(noisemap.ARCH).build(variant=noisemap.VARIANT, device="cpu")

    def __call__(self, image: np.ndarray) -> tuple[float, bool]:
        residual, _ = trial_residual(self.model.prepare(image), image)
        return residual, self.auto.prepare(image).unchanged

    @staticmethod
    def cells(calls: list[tuple[float, bool]]) -> str:
        residuals = np.array([r for r, _ in calls])
        unchanged = sum(u for _, u in calls)
        return (
            f"{np.median(residuals):.2f} ({residuals.min():.2f}-{residuals.max():.2f}) "
            f"| {unchanged}/{len(calls)}"
        )


def within_25(reading: np.ndarray, measured: np.ndarray) -> int:
    """How many readings are within 25% of the measured value."""
    return int((np.abs(reading / measured - 1) <= 0.25).sum())


def paired_rows(data: Path, weights: str, threshold: float, call: AutoCall) -> list[str]:
    rows = []
    for name in PAIRED:
        root = data / name
        pairs = sidd_pair(root) if name.startswith("SIDD") else find_pairs(root)
        measured, learned, fine, calls = [], [], [], []
        for noisy_path, clean_path in pairs:
            noisy, clean = read_pixels(noisy_path, 3), read_pixels(clean_path, 3)
            diff = noisy.astype(np.float64) - clean.astype(np.float64)
            measured.append(float(np.sqrt(np.mean(diff**2))))
            est, sig = readings(noisy, weights)
            learned.append(est)
            fine.append(sig)
            calls.append(call(noisy))
        m, e, f = (np.array(v) for v in (measured, learned, fine))
        rows.append(
            f"| {name} | {len(m)} | {m.mean():.2f} | {e.mean():.2f} | {np.median(e / m):.2f} "
            f"| {within_25(e, m)}/{len(m)} | {int((e >= threshold).sum())}/{len(m)} "
            f"| {f.mean():.2f} | {np.median(f / m):.2f} | {within_25(f, m)}/{len(m)} "
            f"| {int((f >= 2.0).sum())}/{len(m)} | {call.cells(calls)} |"
        )
    return rows


def called_noisy_rows(data: Path, weights: str, threshold: float, call: AutoCall) -> list[str]:
    rows = []
    for name in (*CLEAN, *UNPAIRED):
        files = list_images(data / name) if (data / name).is_dir() else []
        if name.startswith("SIDD"):
            files = [data / "SIDD_val_block_DANet" / "gt.png"]
        images = [read_pixels(p, 3) for p in files]
        values = np.array([readings(image, weights) for image in images])
        calls = [call(image) for image in images]
        kind = "clean reference" if name in CLEAN else "real noisy, no reference"
        noisy_learned = int((values[:, 0] >= threshold).sum())
        noisy_fine = int((values[:, 1] >= 2.0).sum())
        rows.append(
            f"| {name} | {kind} | {len(files)} | {np.median(values[:, 0]):.2f} "
            f"| {noisy_learned} | {len(files) - noisy_learned} "
            f"| {np.median(values[:, 1]):.2f} | {noisy_fine} | {call.cells(calls)} |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--weights", default="", help="an FDNet file instead of the shipped one")
    parser.add_argument("--threshold", type=float, default=None, help="clean below (8-bit)")
    parser.add_argument("-o", "--out", type=Path)
    args = parser.parse_args(argv)
    from fastdenoise.analyze import CLEAN_RMS

    threshold = CLEAN_RMS if args.threshold is None else args.threshold
    call = AutoCall()
    lines = [
        "# Noise estimator calibration on real photos",
        "",
        f"`{' '.join(['python', *sys.argv])}` ({platform.processor() or platform.machine()}); "
        f"weights: {args.weights or 'shipped fdnet real'}; clean threshold {threshold:g}.",
        "",
        "Readings in 8-bit units. *learned*: FDNet's estimator (RMS of its map); *fine*: the "
        "fine-scale Haar/PCA AWGN estimate. *within 25%*: images whose reading is within 25% "
        "of the measured RMS of noisy - reference.",
        "",
        "| set | images | measured RMS | learned | learned/measured (median) | within 25% "
        "| called noisy | fine | fine/measured (median) | within 25% | called noisy "
        "| trial residual (median, range) | auto: unchanged |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *paired_rows(args.data, args.weights, threshold, call),
        "",
        f"Called noisy: learned reading >= {threshold:g}; fine reading >= 2.0 (the old rule). "
        f"*trial residual*: what the shipped fdnet real takes off the flattest fifth of 8x8 "
        f"blocks of the image (up to 512 px a side; else 4 crops of 256), 8-bit RMS; `auto` "
        f"calls a colour photo that reads clean-looking at fine scale clean under "
        f"{CLEAN_RESIDUAL:g}. *auto: unchanged*: files `fastdenoise run` would copy as they are.",
        "",
        "| set | kind | images | learned (median) | called noisy | called clean "
        "| fine (median) | fine: called noisy | trial residual (median, range) "
        "| auto: unchanged |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *called_noisy_rows(args.data, args.weights, threshold, call),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
