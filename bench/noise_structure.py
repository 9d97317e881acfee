"""How real noise compares with the camera simulation: strength, bias and structure.

    .venv/bin/python bench/noise_structure.py PAIRS_FOLDER --shot 0.012 0.06
    .venv/bin/python bench/noise_structure.py PAIRS_FOLDER --shot 0.06 --camera demosaic=malvar

For every noisy/clean pair of a folder (any layout ``find_pairs`` reads; the SIDD block goes
in as ``gt/`` and ``noisy/`` holding its two files), and for the camera simulation
(``bench --noise camera:LEVEL``, seeded the same way) on the same clean images, averaged over
``--draws`` seeds (each draw has its own colour matrix and gains; ``--camera`` adds options
of the ``camera:`` noise spec, e.g. ``demosaic=malvar``), prints the residual
``noisy - clean`` in 8-bit levels: its std and mean per channel (the mean is the bias the gamma
puts on strong noise), its correlation across channels and between horizontal neighbours (lag
1 and 2). A simulation can match a camera's strength and still miss its structure; the
`mwcnn real` card uses this table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fastdenoise.bench import add_noise, real_set


def residual_stats(clean: np.ndarray, noisy: np.ndarray) -> dict[str, np.ndarray]:
    """Std and mean per channel, cross-channel and lag-1/2 correlation of ``noisy - clean``."""
    scale = 1.0 if noisy.dtype == np.uint8 else 255.0  # real files are 8-bit, add_noise is [0, 1]
    residual = noisy.astype(np.float64) * scale - clean.astype(np.float64)
    flat = residual.reshape(-1, 3)
    cross = np.corrcoef(flat.T)

    def lag(step: int) -> float:
        pairs = [(residual[:, :-step, c].ravel(), residual[:, step:, c].ravel()) for c in range(3)]
        return float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in pairs]))

    return {
        "std": flat.std(axis=0),
        "mean": flat.mean(axis=0),
        "cross": np.array([cross[0, 1], cross[0, 2], cross[1, 2]]),
        "lag": np.array([lag(1), lag(2)]),
    }


def row(label: str, stats: dict[str, np.ndarray]) -> str:
    def cell(values: np.ndarray, digits: int) -> str:
        return " / ".join(f"{v:.{digits}f}" for v in values)

    return (
        f"| {label} | {cell(stats['std'], 1)} | {cell(stats['mean'], 1)} | "
        f"{cell(stats['cross'], 2)} | {cell(stats['lag'], 2)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path, help="folder of real noisy/clean pairs")
    parser.add_argument("--shot", type=float, nargs="*", default=[0.06], help="camera levels")
    parser.add_argument("--draws", type=int, default=8, help="simulated draws per image")
    parser.add_argument("--camera", default="", help="extra camera options, e.g. demosaic=malvar")
    args = parser.parse_args()
    samples = [s for s in real_set(args.pairs) if s.clean.shape[-1] == 3]
    if not samples:
        raise SystemExit(f"no colour noisy/clean pairs in {args.pairs}")
    print(
        "| residual (8-bit levels) | std R / G / B | mean R / G / B | corr R-G / R-B / G-B "
        "| corr lag 1 / 2 |\n|---|---|---|---|---|"
    )
    for sample in samples:
        print(row(f"{args.pairs.name}/{sample.name}", residual_stats(sample.clean, sample.noisy)))
    for shot in args.shot:
        for index, sample in enumerate(samples):
            seeds = range(index * args.draws, (index + 1) * args.draws)
            simulated = [add_noise(sample.clean, "camera", shot, s, args.camera) for s in seeds]
            draws = [residual_stats(sample.clean, noisy) for noisy in simulated]
            mean = {key: np.mean([d[key] for d in draws], axis=0) for key in draws[0]}
            spec = f"{shot:g}" + (f",{args.camera}" if args.camera else "")
            label = f"camera:{spec} on {sample.name} (mean of {args.draws})"
            print(row(label, mean))


if __name__ == "__main__":
    main()
