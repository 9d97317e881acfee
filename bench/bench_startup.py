"""Start-up cost of `fastdenoise run` on one small image, as a ratio to a one-line OpenCV call.

Production scripts call the CLI once per file, so the time to start matters as much as the
speed of the work. For each filter and the default model this runs, as separate processes:

* cold: the first run on a machine (empty Numba kernel cache, empty engine cache), once;
* warm: ``--repeat`` more runs with those caches filled (median of them);

and the reference ``python -c 'import cv2; cv2.imwrite(out, cv2.medianBlur(cv2.imread(img), 5))'``
on the same file, interleaved with the warm runs so machine load hits both alike. Wall and
CPU seconds (user + system of the child) are reported; the ratio is wall / reference wall.

    .venv/bin/python bench/bench_startup.py -o bench/results/startup.md
"""

from __future__ import annotations

import argparse
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


def run_command(image: Path, out: Path, method: str) -> list[str]:
    cli = [sys.executable, "-m", "fastdenoise", "run", str(image), "-o", str(out)]
    return [*cli, "-m", method, "--overwrite", "-q"]


def machine() -> str:
    """CPU model, cores and the load average while measuring."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores; load average {load} at the end"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per method")
    parser.add_argument("--methods", nargs="*", default=[*FILTERS, DEFAULT_MODEL])
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown report here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fd-startup-"))
    image, out = work / "noisy.png", work / "out"
    noisy_photo(image)
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR",)}
    # cold = a fresh machine: empty kernel and engine caches of their own
    cold_env = {
        **base,
        "NUMBA_CACHE_DIR": str(work / "numba"),
        "FASTDENOISE_CACHE": str(work / "engines"),
    }

    reference_cmd = [sys.executable, "-c", REFERENCE, str(image), str(work / "ref.png")]
    references: list[Timing] = []
    rows = []
    for method in args.methods:
        kind = "filter" if method in FILTERS else "model"
        command = run_command(image, out, method)
        cold = timed(command, cold_env)
        warm = []
        for _ in range(args.repeat):
            references.append(timed(reference_cmd, base))
            warm.append(timed(command, cold_env))  # the same caches, now filled
        rows.append((method, kind, cold, warm))
        print(f"{method}: cold {cold.wall:.2f} s, warm {[round(t.wall, 2) for t in warm]}")

    ref_wall = statistics.median(t.wall for t in references)
    ref_cpu = statistics.median(t.cpu for t in references)
    lines = [
        "# `fastdenoise run` start-up on one small image",
        "",
        f"Machine: {machine()}. Image: 64x64 RGB PNG (noisy astronaut crop).",
        "Wall and CPU seconds per process; warm = median of "
        f"{args.repeat} runs with the kernel and engine caches filled by the cold run.",
        f"Reference `python -c 'import cv2; cv2.medianBlur(...)'` on the same file: wall "
        f"{ref_wall:.2f} s, CPU {ref_cpu:.2f} s (median of {len(references)}, interleaved).",
        "",
        "| command | cold wall s | cold CPU s | warm wall s | warm CPU s | warm / reference "
        "| target (warm wall) |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for method, kind, cold, warm in rows:
        wall = statistics.median(t.wall for t in warm)
        cpu = statistics.median(t.cpu for t in warm)
        target = TARGETS[kind]
        verdict = "met" if wall <= target else "missed"
        lines.append(
            f"| `run -m {method}` | {cold.wall:.2f} | {cold.cpu:.2f} | {wall:.2f} | {cpu:.2f} "
            f"| {wall / ref_wall:.1f}x | <= {target} s: {verdict} |"
        )
    lines += ["", f"`{' '.join(['.venv/bin/python', *sys.argv])}`", ""]
    report = "\n".join(lines)
    print(report)
    if args.output:
        args.output.write_text(report)


if __name__ == "__main__":
    main()
