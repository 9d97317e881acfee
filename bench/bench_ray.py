"""Ray Data path vs local streaming run on one machine (ratio in one run).

    .venv/bin/python bench/bench_ray.py --images 200 --size 384 --method median

Writes a folder of generated noisy PNGs, runs `fastdenoise run` locally and with
`--cluster ray` (a local loopback Ray with this machine's cores) and prints both wall times,
including Ray's start-up, and the ratio. Results go to bench/results/ray.md by hand.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, count: int, size: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x, y, (x + y) // 2], -1) * (255 / size)
    for i in range(count):
        noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"{i:04d}.png")


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=False, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--method", default="median")
    parser.add_argument("--actors", type=int, default=1)
    options = parser.parse_args()
    cli = [sys.executable, "-m", "fastdenoise", "run"]
    with tempfile.TemporaryDirectory() as scratch:
        src = Path(scratch) / "in"
        make_images(src, options.images, options.size)
        common = [str(src), "-m", options.method, "-q"]
        timed([*cli, *common, "-o", str(Path(scratch) / "warm")])  # numba cache, page cache
        local = timed([*cli, *common, "-o", str(Path(scratch) / "local")])
        ray = timed(
            [
                *cli,
                *common,
                "-o",
                str(Path(scratch) / "ray"),
                "--cluster",
                "ray",
                "--actors",
                str(options.actors),
            ]
        )
        same = all(
            (Path(scratch) / "ray" / p.name).read_bytes() == p.read_bytes()
            for p in (Path(scratch) / "local").iterdir()
        )
    megapixels = options.images * options.size**2 / 1e6
    print(f"{options.images} images of {options.size}^2 ({megapixels:.1f} MP), {options.method}")
    print(f"local: {local:.1f} s ({megapixels / local:.2f} MP/s)")
    print(f"ray:   {ray:.1f} s ({megapixels / ray:.2f} MP/s), ratio ray/local {ray / local:.2f}")
    print(f"outputs byte-identical: {same}")


if __name__ == "__main__":
    main()
