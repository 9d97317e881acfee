"""The classical filters against their peers (issue 3's speed targets), on one machine, one run.

    .venv/bin/python bench/bench_filters.py --data ../shared/data/Kodak24_full --sigma 25 \\
        --threads 2 -o bench/results/filters.md

Protocol of docs/DESIGN.md (:mod:`fastdenoise.evaluate`): seeded AWGN, noisy input fed
unclipped as float where a method takes float (OpenCV's NLM needs uint8: clipped and rounded),
output clipped and rounded to uint8, scikit-image PSNR/SSIM, means over the set. Methods with a
strength parameter are swept and reported at their best h (mean PSNR). Time is the wall time of
the denoising calls alone (conversions a method needs included), after a warm-up call, the
fastest of ``--repeat`` runs per image at the best h (a busy machine mostly adds time; fast
calls get more runs: ``FAST_S``), and MP/s is image pixels (not channel values) per second.
Ours and OpenCV use ``--threads``; scipy and scikit-image filters are single-threaded.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Denoise = Callable[[np.ndarray, float | None], np.ndarray]  # (noisy float64 HxWxC, h) -> out


@dataclass(frozen=True)
class Cost:
    """Model work per image pixel: ``work`` operations of ``unit`` ("flop": float arithmetic,
    an FMA counting 2, against the FMA peak; "min/max": one lane of a min or max instruction,
    against the min/max peak, see :func:`machine_peak`) on ``bits``-wide lanes, and DRAM
    ``bytes``."""

    work: float
    bytes: float
    bits: int
    unit: str = "flop"


@dataclass
class Contender:
    """One method under test, with the strengths to sweep (``None``: its own default)."""

    name: str
    settings: str
    run: Denoise
    strengths: tuple[float | None, ...] = (None,)
    cost: Cost | None = None  # model work and bytes per pixel


@dataclass
class Score:
    """A contender's result at one strength."""

    strength: float | None
    psnr: float
    seconds: float
    outputs: list[np.ndarray] = field(repr=False, default_factory=list)
    ssim: float = float("nan")


# A small roofline: model operations and DRAM bytes per image pixel (3 channels), counted from
# the kernels' source, not measured. Flops are float arithmetic (an FMA is 2), min/max ops one
# lane of a min or a max (a comparator keeping both sides is 2); bytes are what must cross to
# memory at least once (image in and out, the copies the library path makes), fields that
# stay in cache not counted.
CHANNELS = 3
FLOAT_BYTES = 4
IO_BYTES = 4 * CHANNELS * FLOAT_BYTES  # read and write the planes, read and write the padded copy


def nlm_cost(patch: int, search: int) -> Cost:
    """Per offset pair (the CPU driver visits (search^2 - 1) / 2 of them): channel differences
    3C, two patch sums 2 (patch - 1), weight 18 (bias, clamp, scale, polynomial exp, cutoff),
    forward and backward accumulation 2 + 4C."""
    pairs = (search * search - 1) / 2
    flops = pairs * (3 * CHANNELS + 2 * (patch - 1) + 18 + 2 + 4 * CHANNELS)
    return Cost(flops, IO_BYTES, 32)


def median_cost(size: int) -> Cost:
    """The float32 kernel: its sorting network's min/max (Batcher's, pruned to the median)."""
    from fastdenoise.kernels.rank import pruned_network

    count = size * size
    ops = sum(low + high for _, _, low, high in pruned_network(count, (count // 2,)))
    return Cost(ops * CHANNELS, IO_BYTES, 32, "min/max")


def median_uint8_cost(size: int) -> Cost:
    """The uint8 kernels (kernels/median_u8.py), min/max per value: the window network, plus
    the sort along one direction it shares (3x3: 4 rows' triples per 2 output rows; 5x5: one
    column per value); bytes: uint8 in and out, nothing else."""
    from fastdenoise.kernels.median_u8 import WINDOW_NETWORKS
    from fastdenoise.kernels.rank import batcher_pairs

    window = sum(len(sides) for _, _, sides in WINDOW_NETWORKS[size][1])
    shared = 2 * len(batcher_pairs(size)) * (2 if size == 3 else 1)
    return Cost((window + shared) * CHANNELS, 2 * CHANNELS, 8, "min/max")


# OpenCV's medianBlur on uint8: bytes only (its networks are not counted here).
OPENCV_MEDIAN_UINT8 = Cost(0.0, 2 * CHANNELS, 8, "min/max")
# Wiener 5x5, float64 statistics: row sums 5 (convert + add + FMA) = 15, column sums 10,
# the value 8, per channel.
WIENER5 = Cost(33.0 * CHANNELS, IO_BYTES, 64)


def amf7_cost(library: bool) -> Cost:
    """Adaptive median 7, per value: 3x3 min/median/max from sorted rows (3 x 6 + 2 + 2 + 12
    min/max) and the decision (2 compares, 2 ands, 1 select: 5 more); pixels going on to larger
    windows not counted (few on Gaussian noise). Bytes through the library on float64 input:
    the finiteness check 8, to float32 8 + 4, the band copy 4, float64 out 8 per channel; the
    kernel alone (planes): the planar model."""
    ops = (3 * 6 + 2 + 2 + 12 + 5) * CHANNELS
    return Cost(ops, (8 + 12 + 4 + 8) * CHANNELS if library else IO_BYTES, 32, "min/max")


def minmax_rate() -> float:
    """Measured float32 min/max lane operations per second on one core: a register-resident
    network over values in L1 (independent lanes, vectorised), the fastest of 5 runs. (Integer
    min/max cannot be measured this way: LLVM folds such chains.)"""
    import numba

    @numba.njit(nogil=True)
    def network(a, b, c, out, reps):
        for _ in range(reps):
            for j in range(a.size):
                v1, v2, v3 = a[j], b[j], c[j]
                x0, x1, x2, x3 = min(v1, v2), max(v1, v3), min(v2, v3), max(v2, v1)
                for _ in range(16):
                    x0, x1 = min(x0, x2), max(x1, x3)
                    x2, x3 = max(x2, v1), min(x3, v2)
                    x0, x1 = max(x0, v3), min(x1, v1)
                    x2, x3 = min(x2, x1), max(x3, x0)
                out[j] = max(max(x0, x1), max(x2, x3))

    a, b, c = (np.random.default_rng(i).random(2048, dtype=np.float32) for i in range(3))
    out, reps = np.empty_like(a), 500
    network(a, b, c, out, 1)
    laps = []
    for _ in range(5):
        started = time.thread_time()
        network(a, b, c, out, reps)
        laps.append(time.thread_time() - started)
    return reps * a.size * (4 + 16 * 8 + 3) / min(laps)


MINMAX_PIPES = 4  # Zen 3: vector min/max (integer and float) issue on its 4 SIMD pipes


def machine_peak(threads: int) -> tuple[dict[str, float], float, str]:
    """({unit: 32-bit lane ops/s peak}, copy GB/s, how): AVX2 FMA and min/max peaks at the
    listed clock, a measured float32 min/max rate for reference, measured copy bandwidth."""
    mhz = max(
        float(line.split(":")[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("cpu MHz")
    )
    flags = Path("/proc/cpuinfo").read_text()
    lanes = 16 if " avx512f" in flags else 8  # float32 lanes per vector
    gflops = threads * 2 * 2 * lanes * mhz / 1000  # 2 FMA pipes, 2 flops per FMA lane
    minmax = threads * MINMAX_PIPES * lanes * mhz / 1000
    measured = minmax_rate() / 1e9
    source = np.ones(32 * 2**20 // 4, dtype=np.float32)  # 32 MiB, past the caches
    target = np.empty_like(source)
    laps = []
    for _ in range(5):
        started = time.perf_counter()
        np.copyto(target, source)
        laps.append(time.perf_counter() - started)
    copy_gbs = 2 * source.nbytes / min(laps) / 1e9  # read + write, one thread
    how = (
        f"peaks at the listed clock ({mhz / 1000:.2f} GHz), {threads} core(s), {lanes} float32 "
        f"lanes: flop {gflops:.0f} GFLOP/s (2 FMA pipes x 2 flop); min/max {minmax:.0f} G/s "
        f"for 32-bit lanes ({MINMAX_PIPES} SIMD pipes), x4 for uint8 lanes (a register-resident "
        f"float32 min/max network measured here: {measured:.0f} G/s, "
        f"{measured * 1000 / mhz / lanes:.1f} instructions per cycle); memory: one-thread numpy "
        f"copy of 32 MiB, {copy_gbs:.1f} GB/s (read + write), measured in this run"
    )
    return {"flop": gflops, "min/max": minmax}, copy_gbs, how


def roofline(rows: list, megapixels: float, threads: int) -> list[str]:
    """Each costed row's achieved work rate and GB/s against this machine's peaks."""
    peaks, copy_gbs, how = machine_peak(threads)
    lines = [
        "Roofline (model work and DRAM bytes per pixel, 3 channels; achieved = model x MP/s):",
        "",
        "| method | settings | work/px | unit | bytes/px | G/s | % peak | GB/s | % copy GB/s |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for contender, results in rows:
        cost = contender.cost
        if cost is None:
            continue
        top = max(results, key=lambda r: r.psnr)
        rate = megapixels / top.seconds * 1e6
        peak = peaks[cost.unit] * (32 / cost.bits)  # narrower lanes: more per vector
        achieved, moved = cost.work * rate / 1e9, cost.bytes * rate / 1e9
        share = f"{100 * achieved / peak:.0f}%" if cost.work else "-"
        lines.append(
            f"| {contender.name} | {contender.settings} | {cost.work:.0f} | {cost.unit} | "
            f"{cost.bytes:.0f} | {achieved:.1f} | {share} | {moved:.2f} | "
            f"{100 * moved / copy_gbs:.0f}% |"
        )
    return [*lines, "", f"- {how}"]


def contenders(sigma: float, threads: int) -> list[Contender]:
    """Ours and the peers the issue names, with their sweeps for this noise level."""
    import cv2
    import scipy.ndimage as ndi
    import scipy.signal
    from skimage.restoration import denoise_nl_means

    import fastdenoise

    cv2.setNumThreads(threads)
    s = sigma / 255.0

    def ours(method: str, **params: object) -> Denoise:
        def run(noisy: np.ndarray, h: float | None) -> np.ndarray:
            extra = {} if h is None else {"h": h}
            return fastdenoise.denoise(noisy, method, device="cpu", **params, **extra)

        return run

    def kernel(name: str, *args: object) -> Denoise:
        """A kernel alone on the whole image (float32 planes in and out, no tiler)."""
        from fastdenoise import kernels

        function = getattr(kernels, name)
        return lambda noisy, _: kernels.from_planes(function(kernels.to_planes(noisy), *args))

    def opencv_nlm(noisy: np.ndarray, h: float | None) -> np.ndarray:
        bgr = np.rint(np.clip(noisy[..., ::-1], 0, 1) * 255).astype(np.uint8)
        return cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)[..., ::-1]

    def skimage_nlm(noisy: np.ndarray, h: float | None) -> np.ndarray:
        return denoise_nl_means(noisy, 7, 11, h * s, fast_mode=True, sigma=s, channel_axis=-1)

    levels: dict[int, np.ndarray] = {}

    def as_uint8(noisy: np.ndarray) -> np.ndarray:
        """The noisy image as 8-bit (made once per image, outside the timings' difference)."""
        key = id(noisy)
        if key not in levels:
            levels[key] = np.rint(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
        return levels[key]

    def ours_uint8(size: int) -> Denoise:
        return lambda n, _: fastdenoise.denoise(as_uint8(n), "median", size=size, device="cpu")

    def per_plane(fn: Callable[[np.ndarray], np.ndarray]) -> Denoise:
        return lambda noisy, _: np.stack([fn(p) for p in np.moveaxis(noisy, -1, 0)], -1)

    return [
        Contender(
            "nlm",
            "defaults (sigma estimated: patch 3, search 15)",
            ours("nlm"),
            cost=nlm_cost(3, 15),
        ),
        Contender(
            "nlm",
            "patch 3, search 15, sigma estimated",
            ours("nlm", patch=3, search=15),
            tuple(k * sigma for k in (0.55, 0.6, 0.65, 0.7, 0.75)),
            nlm_cost(3, 15),
        ),
        Contender(
            "nlm",
            "patch 7, search 23 (scikit-image's window)",
            ours("nlm", patch=7, search=23),
            tuple(k * sigma for k in (0.4, 0.5, 0.6)),
            nlm_cost(7, 23),
        ),
        Contender(
            "cv2.fastNlMeansDenoisingColored",
            "uint8 in, h = hColor, template 7, search 21",
            opencv_nlm,
            (12.0, 14.0, 16.0, 18.0, 20.0),
        ),
        Contender(
            "skimage denoise_nl_means",
            "fast mode, patch_size 7, distance 11, sigma given; h in units of sigma",
            skimage_nlm,
            (0.4, 0.5, 0.6),
        ),
        Contender("median", "5x5", ours("median", size=5), cost=median_cost(5)),
        *(
            row
            for size in (3, 5)
            for row in (
                Contender(
                    "median uint8",
                    f"{size}x{size}, uint8 in and out (own uint8 kernel)",
                    ours_uint8(size),
                    cost=median_uint8_cost(size),
                ),
                Contender(
                    "cv2.medianBlur uint8",
                    f"{size}x{size}, uint8, replicated border",
                    lambda n, _, size=size: cv2.medianBlur(as_uint8(n), size),
                    cost=OPENCV_MEDIAN_UINT8,
                ),
            )
        ),
        Contender(
            "cv2.medianBlur", "5x5, float32", lambda n, _: cv2.medianBlur(n.astype(np.float32), 5)
        ),
        Contender(
            "scipy.ndimage.median_filter",
            "5x5 per channel, reflect",
            per_plane(lambda p: ndi.median_filter(p, size=5, mode="reflect")),
        ),
        Contender(
            "wiener", "5x5, sigma 25 given", ours("wiener", size=5, sigma=sigma), cost=WIENER5
        ),
        Contender(
            "scipy.signal.wiener",
            "5x5 per channel, noise (sigma/255)^2",
            per_plane(lambda p: scipy.signal.wiener(p, 5, s * s)),
        ),
        Contender(
            "adaptive-median",
            "max_size 7",
            ours("adaptive-median", max_size=7),
            cost=amf7_cost(library=True),
        ),
        Contender(
            "kernel: median_filter",
            "5x5, no tiler",
            kernel("median_filter", 5),
            cost=median_cost(5),
        ),
        Contender(
            "kernel: wiener_filter",
            "5x5, no tiler",
            kernel("wiener_filter", 5, s * s),
            cost=WIENER5,
        ),
        Contender(
            "kernel: adaptive_median_filter",
            "max 7, no tiler",
            kernel("adaptive_median_filter", 7),
            cost=amf7_cost(library=False),
        ),
    ]


# Calls of a millisecond or less are timed more often (a busy machine's preemptions are longer
# than they are): at least ``repeat`` runs, more until FAST_S seconds or FAST_RUNS runs.
FAST_S = 0.5
FAST_RUNS = 300


def evaluate(contender: Contender, images: list, repeat: int) -> list[Score]:
    """Run every strength over the set; keep uint8 outputs for the scoring of the best."""
    from fastdenoise.evaluate import scores, to_uint8

    results = []
    for strength in contender.strengths:
        contender.run(images[0][1][:48, :48], strength)  # warm-up: compile, thread pools
        seconds, psnrs, outputs = 0.0, [], []
        for clean, noisy in images:
            started = time.perf_counter()
            out = contender.run(noisy, strength)
            seconds += time.perf_counter() - started
            outputs.append(to_uint8(out))
            psnrs.append(scores_psnr(outputs[-1], clean))
        results.append(Score(strength, float(np.mean(psnrs)), seconds, outputs))
        shown = "default" if strength is None else f"{strength:g}"
        print(
            f"  {contender.name} [{contender.settings}] h={shown}: "
            f"{results[-1].psnr:.3f} dB, {seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    best = max(results, key=lambda r: r.psnr)
    if repeat > 1 and best.seconds < 30:  # time the best again: fastest of `repeat` per image
        best.seconds = 0.0
        for _, noisy in images:
            laps: list[float] = []
            while len(laps) < repeat or (sum(laps) < FAST_S and len(laps) < FAST_RUNS):
                started = time.perf_counter()
                contender.run(noisy, best.strength)
                laps.append(time.perf_counter() - started)
            best.seconds += min(laps)
    pairs = zip(best.outputs, images, strict=True)
    best.ssim = float(np.mean([scores(out, clean)[1] for out, (clean, _) in pairs]))
    for r in results:
        r.outputs = []
    return results


def scores_psnr(output: np.ndarray, clean: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(clean, output, data_range=255))


def load(folder: Path, sigma: float, count: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean uint8, noisy float64) per image, noise seeded by the index in the sorted list."""
    from fastdenoise.datasets import list_images
    from fastdenoise.evaluate import awgn
    from fastdenoise.io import read_pixels

    files = list_images(folder)[:count]
    return [
        (clean := read_pixels(f, channels=3), awgn(clean, sigma, i)) for i, f in enumerate(files)
    ]


def machine_notes() -> list[str]:
    """CPU, load and the busiest other processes, for the record."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    busy = subprocess.run(
        ["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout.splitlines()[1:6]
    others = [
        b.strip()[:110] for b in busy if float(b.split()[0]) > 20 and "bench_filters" not in b
    ]
    return [
        f"CPU: {model}, {os.cpu_count()} logical cores; load average {os.getloadavg()[0]:.2f}",
        *(f"busy during the run: `{o}`" for o in others),
    ]


def versions() -> str:
    import cv2
    import numba
    import scipy
    import skimage

    return (
        f"numba {numba.__version__}, OpenCV {cv2.__version__}, scipy {scipy.__version__}, "
        f"scikit-image {skimage.__version__}, numpy {np.__version__}"
    )


def report(rows: list, megapixels: float, count: int, args, notes: list[str]) -> str:
    """The markdown table, the target checks and the run's context."""
    best = {}
    lines = [
        f"## {args.data.name} ({count} images), sigma {args.sigma:g}, {args.threads} thread(s)",
        "",
        "| method | settings | best h | PSNR dB | SSIM | MP/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for contender, results in rows:
        top = max(results, key=lambda r: r.psnr)
        rate = megapixels / top.seconds
        key = (contender.name, contender.settings)
        best[key] = (top, rate)
        h = "default" if top.strength is None else f"{top.strength:g}"
        lines.append(
            f"| {contender.name} | {contender.settings} | {h} | {top.psnr:.2f} | "
            f"{top.ssim:.4f} | {rate:.2f} |"
        )
    lines += ["", "Sweeps (mean PSNR dB at each h):", ""]
    for contender, results in rows:
        if len(results) > 1:
            sweep = ", ".join(f"{r.strength:g}: {r.psnr:.2f}" for r in results)
            lines.append(f"- {contender.name} ({contender.settings}): {sweep}")
    lines += ["", *roofline(rows, megapixels, args.threads)]
    lines += ["", *targets(best), "", "Run:", ""]
    lines += [f"- `{' '.join(sys.argv)}` with NUMBA_NUM_THREADS={args.threads}"]
    lines += [f"- {note}" for note in notes]
    lines += [f"- {versions()}"]
    return "\n".join(lines) + "\n"


def targets(best: dict) -> list[str]:
    """Issue 3's targets, as measured in this run (rows not run are left out)."""

    def find(name: str) -> tuple[Score, float] | None:
        found = [v for (n, _), v in best.items() if n == name]
        return max(found, key=lambda v: v[0].psnr) if found else None

    def ratio(a: str, b: str) -> float | None:
        ours, peer = find(a), find(b)
        return ours[1] / peer[1] if ours and peer else None

    nlm, skimage = find("nlm"), find("skimage denoise_nl_means")
    amf = find("adaptive-median")
    checks = [
        ("NLM >= 2x OpenCV's throughput", ratio("nlm", "cv2.fastNlMeansDenoisingColored"), 2, "x"),
        (
            "NLM PSNR >= scikit-image's (margin)",
            nlm[0].psnr - skimage[0].psnr if nlm and skimage else None,
            0,
            " dB",
        ),
        ("Wiener >= 3x scipy", ratio("wiener", "scipy.signal.wiener"), 3, "x"),
        ("median 5x5 >= 10x scipy", ratio("median", "scipy.ndimage.median_filter"), 10, "x"),
        ("adaptive median >= 20 MP/s", amf[1] if amf else None, 20, " MP/s"),
        ("issue 21: NLM >= 5x OpenCV", ratio("nlm", "cv2.fastNlMeansDenoisingColored"), 5, "x"),
        ("issue 21: Wiener >= 5x scipy", ratio("wiener", "scipy.signal.wiener"), 5, "x"),
        ("issue 21: adaptive median >= 40 MP/s", amf[1] if amf else None, 40, " MP/s"),
    ]
    for size in (3, 5):
        found = {n: v for (n, settings), v in best.items() if settings.startswith(f"{size}x{size}")}
        if "median uint8" in found and "cv2.medianBlur uint8" in found:
            value = found["median uint8"][1] / found["cv2.medianBlur uint8"][1]
            checks.append((f"issue 21: median {size}x{size} uint8 >= 1x OpenCV", value, 1, "x"))
    lines = ["Targets (our best-PSNR row of each filter against the peer's best):", ""]
    for label, value, goal, unit in checks:
        if value is not None:
            verdict = "met" if value >= goal else "MISSED"
            lines.append(f"- {label}: {value:.2f}{unit} ({verdict})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/Kodak24_full"))
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count", type=int, default=None, help="first N images only")
    parser.add_argument("--only", default="", help="comma-separated method names to run")
    parser.add_argument("--repeat", type=int, default=3, help="timing: fastest of N per image")
    parser.add_argument("-o", "--output", type=Path, default=None, help="markdown file")
    parser.add_argument("--append", action="store_true", help="add to the markdown file")
    args = parser.parse_args()
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)  # before Numba is imported

    images = load(args.data, args.sigma, args.count)
    megapixels = sum(c.shape[0] * c.shape[1] for c, _ in images) / 1e6
    notes = machine_notes()
    chosen = [
        c
        for c in contenders(args.sigma, args.threads)
        if not args.only or c.name in args.only.split(",")
    ]
    rows = [(c, evaluate(c, images, args.repeat)) for c in chosen]
    notes.append(machine_notes()[0].replace("CPU", "after the run: CPU", 1))
    text = report(rows, megapixels, len(images), args, notes)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        previous = args.output.read_text() + "\n" if args.append and args.output.exists() else ""
        args.output.write_text(previous + text)


if __name__ == "__main__":
    main()
