"""What `-m auto` does on real noisy photos: how many it leaves unchanged, what it runs, and
whether it scores what its model scores (the real sets with a reference in ../shared/data);
and what it costs clean references (how many it leaves unchanged, PSNR of its output against
the clean input).

    .venv/bin/python bench/auto_real.py --data ../shared/data -o bench/results/auto_real.md
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

from fastdenoise import methods
from fastdenoise.analyze import identify
from fastdenoise.auto import AutoDenoiser, is_gray
from fastdenoise.datasets import find_pairs, list_images
from fastdenoise.evaluate import scores
from fastdenoise.io import read_pixels
from fastdenoise.tiler import run_tiled

SETS = ("Nam_patches", "PolyU_crops", "SIDD_val_block_DANet")
CLEAN = ("CBSD68", "Kodak24", "Nam_patches/gt", "PolyU_crops/gt")


def pairs_of(data: Path, name: str) -> list[tuple[Path, Path]]:
    root = data / name
    if (root / "noisy.png").exists():
        return [(root / "noisy.png", root / "gt.png")]
    return find_pairs(root)


def run_set(data: Path, name: str, auto: AutoDenoiser, passed: list[str]) -> tuple[str, list[str]]:
    """One table row for a set and the per-choice counts; a row in ``passed`` for each image
    auto left unchanged, with what the model it would otherwise run scores there."""
    choices: collections.Counter[str] = collections.Counter()
    unchanged, psnr_in, psnr_out = 0, [], []
    for noisy_path, clean_path in pairs_of(data, name):
        noisy, clean = read_pixels(noisy_path, 3), read_pixels(clean_path, 3)
        bound = auto.prepare(noisy)
        label = bound.describe()
        choices[label.split(" (")[0].removeprefix("auto -> ")] += 1
        unchanged += bool(getattr(bound, "unchanged", False))
        out = noisy if bound.unchanged else run_tiled(noisy, bound, out_dtype=noisy.dtype)
        psnr_in.append(scores(noisy, clean)[0])
        psnr_out.append(scores(out, clean)[0])
        if bound.unchanged:
            passed.append(passed_row(name, noisy_path.name, noisy, clean, auto))
    chosen = "; ".join(f"{k} x{v}" for k, v in choices.most_common())
    row = (
        f"| {name} | {len(psnr_in)} | {unchanged} | {np.mean(psnr_in):.2f} "
        f"| {np.mean(psnr_out):.2f} | {chosen} |"
    )
    return row, list(choices)


def passed_row(
    name: str, file: str, noisy: np.ndarray, clean: np.ndarray, auto: AutoDenoiser
) -> str:
    """An image auto left unchanged: its fine-scale sigma, and the model's PSNR on it."""
    report = identify(noisy)
    method, params = auto.choose(report, gray=is_gray(noisy))
    model = methods.get(method).build(device="cpu", **params).prepare(noisy)
    denoised = run_tiled(noisy, model, out_dtype=noisy.dtype)
    return (
        f"| {name} | {file} | {report.sigma:.2f} | {scores(noisy, clean)[0]:.2f} "
        f"| {scores(denoised, clean)[0]:.2f} ({method}) |"
    )


def clean_row(data: Path, name: str, auto: methods.Denoiser) -> str:
    """One row for a clean reference set: left unchanged, and PSNR of auto's output vs input."""
    unchanged, psnr = 0, []
    for path in list_images(data / name):
        clean = read_pixels(path, 3)
        bound = auto.prepare(clean)
        unchanged += bool(getattr(bound, "unchanged", False))
        if not bound.unchanged:
            psnr.append(scores(run_tiled(clean, bound, out_dtype=clean.dtype), clean)[0])
    changed = f"{np.mean(psnr):.2f} | {np.min(psnr):.2f}" if psnr else "- | -"
    return f"| {name} | {unchanged + len(psnr)} | {unchanged} | {changed} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("-o", "--out", type=Path)
    parser.add_argument("--learned", action="store_true", help="FDNet's reading decides clean")
    args = parser.parse_args(argv)
    auto = AutoDenoiser(device="cpu", learned=args.learned)
    passed: list[str] = []
    rows = [run_set(args.data, name, auto, passed)[0] for name in SETS]
    clean_rows = [clean_row(args.data, name, auto) for name in CLEAN]
    text = "\n".join(
        [
            "# `-m auto` on real noisy photos",
            "",
            f"`{' '.join(['python', *sys.argv])}`",
            "",
            "| set | images | left unchanged | noisy PSNR | auto PSNR | what auto ran |",
            "|---|---:|---:|---:|---:|---|",
            *rows,
            "",
            "Clean references (PSNR of auto's output against the clean input, changed images):",
            "",
            "| set | images | left unchanged | mean PSNR | min PSNR |",
            "|---|---:|---:|---:|---:|",
            *clean_rows,
            "",
            "Noisy images auto left unchanged, and what the model it runs elsewhere scores on",
            "them (fine-scale sigma in 8-bit units; PSNR in dB against the reference):",
            "",
            "| set | file | sigma | left unchanged | model |",
            "|---|---|---:|---:|---:|",
            *passed,
            "",
        ]
    )
    print(text)
    if args.out:
        mode = "a" if args.learned and args.out.exists() else "w"
        with args.out.open(mode) as handle:
            handle.write(
                text if mode == "w" else "\nWith FDNet's learned reading deciding:\n\n" + text
            )


if __name__ == "__main__":
    main()
