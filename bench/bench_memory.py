"""Peak resident memory of `fastdenoise run` on many small files and on one huge image.

    .venv/bin/python bench/bench_memory.py files --count 5000 --method median
    .venv/bin/python bench/bench_memory.py huge --megapixels 100 --method mwcnn -p variant=gaussian

Each scenario runs the CLI in a fresh child process and reports that process's peak RSS
(``ru_maxrss``), so numbers are not polluted by the generator. Record results in
bench/results/memory.md and the README.
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

CHILD = (
    "import resource, sys\n"
    "from fastdenoise.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:])\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "print(f'PEAK_MIB {peak:.0f} EXIT {code}', file=sys.stderr)\n"
)


def run_child(args: list[str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("PEAK_MIB"))
    return float(line.split()[1]), time.perf_counter() - started, line.split()[3]


def many_files(folder: Path, count: int, size: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(count):
        sub = folder / f"{i // 500:02d}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            sub / f"{i}.png"
        )


def huge_image(path: Path, megapixels: float) -> tuple[int, int]:
    side = int(np.sqrt(megapixels * 1e6))
    y = np.linspace(0, 255, side, dtype=np.float32)[:, None]
    rows = []
    rng = np.random.default_rng(0)
    for start in range(0, side, 1024):
        block = np.repeat(y[start : start + 1024], side, axis=1)
        block = block + rng.normal(0, 20, block.shape).astype(np.float32)
        rows.append(np.clip(block, 0, 255).astype(np.uint8))
    gray = np.concatenate(rows)
    Image.fromarray(np.stack([gray, gray[::-1], gray[:, ::-1]], -1)).save(path, compress_level=1)
    return side, side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["files", "huge"])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--megapixels", type=float, default=100)
    parser.add_argument("--method", default="median")
    parser.add_argument("-p", "--param", action="append", default=[])
    parser.add_argument("--tile", type=int, default=512)
    options = parser.parse_args()
    extra = [x for p in options.param for x in ("-p", p)]
    with tempfile.TemporaryDirectory(dir=".") as scratch:
        root = Path(scratch)
        if options.scenario == "files":
            many_files(root / "in", options.count, options.size)
            what = f"{options.count} files of {options.size}x{options.size} RGB"
        else:
            (root / "in").mkdir()
            height, width = huge_image(root / "in" / "huge.png", options.megapixels)
            what = f"one {width}x{height} RGB PNG ({width * height / 1e6:.0f} MP)"
        peak, seconds, code = run_child(
            [
                "run",
                str(root / "in"),
                "-o",
                str(root / "out"),
                "-m",
                options.method,
                "-q",
                "--tile",
                str(options.tile),
                *extra,
            ]
        )
    print(
        f"{what}, -m {options.method} {' '.join(extra)} --tile {options.tile}: "
        f"peak RSS {peak:.0f} MiB, {seconds:.1f} s, exit {code}"
    )


if __name__ == "__main__":
    main()
