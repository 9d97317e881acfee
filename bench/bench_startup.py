"""Start-up cost of `fastdenoise run` on one small image, as a ratio to a one-line OpenCV call.

Production scripts call the CLI once per file, so the time to start matters as much as the
speed of the work. For each filter and the default model this runs, as separate processes:

* cold: the first run on a machine (empty kernel cache, empty engine cache), once: for a filter
  that builds its ahead-of-time kernel module (kernels/aot.py, a compiler child process);
* cold JIT: the first run with ``FASTDENOISE_AOT=0`` (Numba compiles and caches its drivers);
* warm: ``--repeat`` more runs of each with those caches filled (median of them): the default
  (ahead-of-time drivers) and ``FASTDENOISE_AOT=0`` (Numba's JIT drivers from its cache);

and the reference ``python -c 'import cv2; cv2.imwrite(out, cv2.medianBlur(cv2.imread(img), 5))'``
on the same file, interleaved with the warm runs so machine load hits them alike. Wall and CPU
seconds (user + system of the child and what it waited for) are reported; ratios are wall /
reference wall. ``--help`` and ``methods`` are timed too.

    .venv/bin/python bench/bench_startup.py -o bench/results/startup.md
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FILTERS = ("median", "adaptive-median", "wiener", "nlm")
DEFAULT_MODEL = "auto"  # `fastdenoise run` without -m: the real-noise model on a noisy photo
TARGETS = {"filter": 1.0, "model": 2.5}  # warm wall seconds (issue 19)
REFERENCE = "import cv2, sys; cv2.imwrite(sys.argv[2], cv2.medianBlur(cv2.imread(sys.argv[1]), 5))"


@dataclass
class Timing:
    """Wall and CPU seconds of one child process."""

    wall: float
    cpu: float


def timed(command: list[str], env: dict[str, str]) -> Timing:
    """Run ``command`` to completion; its wall time and its CPU time (user + system)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        message = process.stderr.read().decode()[-2000:] if process.stderr else ""
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}): {message}")
    return Timing(wall, usage.ru_utime + usage.ru_stime)


def noisy_photo(path: Path, side: int = 64) -> None:
    """A ``side`` x ``side`` crop of scikit-image's astronaut with gaussian noise (sigma 25)."""
    import cv2
    from skimage import data

    crop = data.astronaut()[200 : 200 + side, 200 : 200 + side].astype(np.float64)
    noisy = crop + np.random.default_rng(0).normal(0, 25, crop.shape)
    cv2.imwrite(str(path), np.clip(noisy, 0, 255).astype(np.uint8)[:, :, ::-1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "fastdenoise", *args]


def run_command(image: Path, out: Path, method: str) -> list[str]:
    return cli("run", str(image), "-o", str(out), "-m", method, "--overwrite", "-q")


def machine() -> str:
    """CPU model and cores."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def versions() -> str:
    names = ("numba", "typer", "numpy", "opencv-python-headless", "onnxruntime")
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found)


def median(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per method and path")
    parser.add_argument("--methods", nargs="*", default=[*FILTERS, DEFAULT_MODEL])
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown report here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fd-startup-"))
    image, out = work / "noisy.png", work / "out"
    noisy_photo(image)
    drop = ("NUMBA_CACHE_DIR", "FASTDENOISE_AOT", "FASTDENOISE_CACHE")
    base = {k: v for k, v in os.environ.items() if k not in drop}
    # cold = a fresh machine: empty kernel and engine caches of their own
    fresh = {
        **base,
        "NUMBA_CACHE_DIR": str(work / "numba"),
        "FASTDENOISE_CACHE": str(work / "engines"),
    }
    jit_only = {**fresh, "FASTDENOISE_AOT": "0"}
    load_before = load()

    reference_cmd = [sys.executable, "-c", REFERENCE, str(image), str(work / "ref.png")]
    references: list[Timing] = []
    rows = []
    for method in args.methods:
        kind = "filter" if method in FILTERS else "model"
        command = run_command(image, out, method)
        cold = timed(command, fresh)
        cold_jit = timed(command, jit_only) if kind == "filter" else None
        warm, warm_jit = [], []
        for _ in range(args.repeat):
            references.append(timed(reference_cmd, base))
            warm.append(timed(command, fresh))  # the same caches, now filled
            if kind == "filter":
                warm_jit.append(timed(command, jit_only))
        rows.append((method, kind, cold, cold_jit, median(warm), warm_jit and median(warm_jit)))
        print(f"{method}: cold {cold.wall:.2f} s, warm {[round(t.wall, 2) for t in warm]}")
    helps = {name: [] for name in ("--help", "methods")}
    for _ in range(args.repeat):
        references.append(timed(reference_cmd, base))
        for name in helps:
            helps[name].append(timed(cli(name), fresh))

    ref = median(references)
    lines = [
        "# `fastdenoise run` start-up on one small image",
        "",
        f"Machine: {machine()}; load average {load_before} before, {load()} after. "
        f"{versions()}. Image: 64x64 RGB PNG (noisy astronaut crop).",
        "Wall and CPU seconds per process (CPU: user + system, with the children it waited "
        f"for); warm = median of {args.repeat} runs with the caches the cold runs filled. "
        "AOT: the default, ahead-of-time kernel modules (kernels/aot.py); JIT: "
        "`FASTDENOISE_AOT=0`, Numba's drivers from its on-disk cache.",
        f"Reference `python -c 'import cv2; cv2.medianBlur(...)'` on the same file: wall "
        f"{ref.wall:.2f} s, CPU {ref.cpu:.2f} s (median of {len(references)}, interleaved).",
        "",
        "| command | cold wall s (CPU) | warm wall s (CPU) | warm / reference "
        "| cold JIT wall s (CPU) | warm JIT wall s (CPU) | warm JIT / reference "
        "| target (warm wall) |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for method, kind, cold, cold_jit, warm, warm_jit in rows:
        target = TARGETS[kind]
        verdict = "met" if warm.wall <= target else "missed"
        jit_cells = (
            f"{cold_jit.wall:.2f} ({cold_jit.cpu:.2f}) | {warm_jit.wall:.2f} ({warm_jit.cpu:.2f}) "
            f"| {warm_jit.wall / ref.wall:.1f}x"
            if cold_jit and warm_jit
            else "| |"
        )
        lines.append(
            f"| `run -m {method}` | {cold.wall:.2f} ({cold.cpu:.2f}) | {warm.wall:.2f} "
            f"({warm.cpu:.2f}) | {warm.wall / ref.wall:.1f}x | {jit_cells} "
            f"| <= {target} s: {verdict} |"
        )
    for name, timings in helps.items():
        t = median(timings)
        lines.append(
            f"| `{name}` | | {t.wall:.2f} ({t.cpu:.2f}) | {t.wall / ref.wall:.1f}x | | | | |"
        )
    lines += ["", f"`{' '.join(['.venv/bin/python', *sys.argv])}`", ""]
    report = "\n".join(lines)
    print(report)
    if args.output:
        args.output.write_text(report)


if __name__ == "__main__":
    main()
