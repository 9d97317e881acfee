"""Where a denoiser's remaining error sits: a colour cast, low-frequency blotches, or detail.

    .venv/bin/python bench/error_structure.py PAIRS -m mwcnn:variant=real --shot 0.06 \
        --camera demosaic=malvar

For every noisy/clean pair of a folder (the SIDD block goes in as ``gt/`` and ``noisy/``
holding its two files) and, with ``--shot``, for the camera simulation at that level on the
same clean images (``bench --noise camera:LEVEL``, quantised to 8 bits like a saved photo),
prints for the noisy input and each method the error ``output - clean`` in 8-bit levels: its
mean per channel (a cast), its std around that mean, the std left after a Gaussian low-pass of
2, 4 and 8 pixels (what survives there is blotches, not grain), and the PSNR the output would
have without its per-channel mean error (a diagnostic of what the cast costs, not a fix).
Comparing the real rows with the simulated ones tells a domain gap (the model is fine on its
own simulation and not on the camera) from a weakness it has on both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fastdenoise.bench import add_noise, real_set
from fastdenoise.cli import method_spec
from fastdenoise.evaluate import method_fn, to_uint8

LOW_PASS = (2, 4, 8)


def error_stats(output: np.ndarray, clean: np.ndarray) -> dict[str, np.ndarray | float]:
    """Cast, spread and low-frequency share of ``output - clean`` (uint8 images)."""
    error = output.astype(np.float32) - clean.astype(np.float32)
    mean = error.mean(axis=(0, 1))
    centred = error - mean
    low = [cv2.GaussianBlur(centred, (0, 0), s).std(axis=(0, 1)).mean() for s in LOW_PASS]

    def psnr(e: np.ndarray) -> float:
        return float(10 * np.log10(255.0**2 / np.mean(np.square(e, dtype=np.float64))))

    return {
        "psnr": psnr(error),
        "mean": mean,
        "std": float(centred.std(axis=(0, 1)).mean()),
        "low": np.array(low),
        "psnr_no_cast": psnr(centred),
    }


def row(label: str, stats: dict[str, np.ndarray | float]) -> str:
    mean = " / ".join(f"{v:+.1f}" for v in stats["mean"])
    low = " / ".join(f"{v:.1f}" for v in stats["low"])
    return (
        f"| {label} | {stats['psnr']:.2f} | {mean} | {stats['std']:.1f} | {low} "
        f"| {stats['psnr_no_cast']:.2f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="folder of real noisy/clean pairs")
    parser.add_argument("-m", "--method", action="append", default=[], help="NAME[:k=v,...]")
    parser.add_argument("--shot", type=float, nargs="*", default=[], help="camera levels")
    parser.add_argument("--camera", default="", help="extra camera options, e.g. demosaic=malvar")
    args = parser.parse_args(argv)
    samples = [s for s in real_set(args.pairs) if s.clean.shape[-1] == 3]
    if not samples:
        raise SystemExit(f"no colour noisy/clean pairs in {args.pairs}")
    inputs = [(f"{args.pairs.name}/{s.name}", s.clean, s.noisy) for s in samples]
    for shot in args.shot:
        spec = f"camera:{shot:g}" + (f",{args.camera}" if args.camera else "")
        for index, s in enumerate(samples):
            noisy = to_uint8(add_noise(s.clean, "camera", shot, index, args.camera))
            inputs.append((f"{spec} on {s.name}", s.clean, noisy))
    methods = []  # each built once (a model loads its weights once), run on every input
    for spec in args.method:
        name, params = method_spec(spec)
        methods.append((spec, method_fn(name, **params)))
    print(
        "| input: method | PSNR dB | mean error R / G / B | std | low-pass "
        + " / ".join(f"{s}" for s in LOW_PASS)
        + " px std | PSNR without the cast |\n|---|---:|---|---:|---|---:|"
    )
    for label, clean, noisy in inputs:
        print(row(f"{label}: noisy", error_stats(noisy, clean)))
        for spec, denoise in methods:
            output = denoise(noisy)
            print(row(f"{label}: {spec}", error_stats(output, clean)), flush=True)


if __name__ == "__main__":
    main()
