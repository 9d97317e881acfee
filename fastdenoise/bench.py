"""``fastdenoise bench``: PSNR/SSIM of noisy input and output, throughput and peak memory.

Speed is warm speed: each method is built and run once on a small crop first (Numba compiles or
loads its kernels, a model loads its weights and starts its session), and that one-off start-up
is reported apart (``startup_s``), never mixed into MP/s.

Follows the evaluation protocol of docs/DESIGN.md (:mod:`fastdenoise.evaluate`): seeded AWGN
fed unclipped as float, output clipped and rounded to uint8, scikit-image metrics. Other
synthetic noises are seeded the same way (``1000 * level + index``); real pairs go in as
their 8-bit files.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fastdenoise import methods, noise
from fastdenoise.evaluate import awgn, scores
from fastdenoise.tiler import DEFAULT_TILE, run_tiled

DEFAULT_COLOR = ("astronaut", "chelsea", "coffee", "rocket")
DEFAULT_GRAY = ("camera", "moon")
NOISE_KINDS = noise.NOISE_NAMES
DEFAULT_LEVEL = {
    "gaussian": 25.0,
    "poisson": 30.0,
    "speckle": 25.0,
    noise.SALT_AND_PEPPER: 0.1,
    "camera": 0.01,
}


@dataclass(frozen=True)
class Sample:
    """One benchmark image: its clean uint8 ``HxWxC`` truth and the noisy input."""

    name: str
    clean: np.ndarray
    noisy: np.ndarray  # float64 (synthetic, unclipped) or uint8 (real)


@dataclass
class Row:
    """One line of the comparison table."""

    method: str
    noise: str
    images: int
    input_psnr: float
    input_ssim: float
    psnr: float
    ssim: float
    megapixels_per_s: float
    peak_mib: float
    startup_s: float = 0.0  # build + warm-up run: compilation, weights, sessions


def parse_noise(spec: str) -> list[tuple[str, float]]:
    """``"gaussian:15,25,50"`` -> ``[("gaussian", 15), ...]``; several specs joined by ``;``.

    Each spec is read by :func:`fastdenoise.noise.parse_spec` (so ``gaussian:sigma=25`` and the
    aliases of salt-and-pepper work here as in training); bare values are a sweep of levels.
    """
    parsed: list[tuple[str, float]] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        one = noise.parse_spec(part)
        main = noise.MAIN_OPTION[one.name]
        options = dict(one.options)
        extra = sorted(set(options) - {main})
        if extra:
            raise ValueError(f"noise {part!r}: bench sweeps {main} only, not {', '.join(extra)}")
        levels = list(one.levels) + ([options[main]] if main in options else [])
        if any(isinstance(level, tuple) for level in levels):
            raise ValueError(f"noise {part!r}: bench takes fixed levels, not low-high ranges")
        parsed += [(one.name, float(level)) for level in levels or [DEFAULT_LEVEL[one.name]]]
    return parsed


def add_noise(
    clean: np.ndarray, kind: str, level: float, index: int, camera: str = ""
) -> np.ndarray:
    """Seeded synthetic noise on a uint8 image; the result is float64 in nominal [0, 1].

    ``camera`` levels are the shot-noise gain of the camera pipeline (``noise.camera``: read
    noise tied to it, no blur or JPEG); about 1e-3 is a bright daylight phone shot, 6e-2 the
    heavy noise of a dim indoor one. ``camera`` adds options of the ``camera:`` noise spec
    (e.g. ``"demosaic=malvar"``).
    """
    if kind == "gaussian":
        return awgn(clean, level, index)
    rng = np.random.default_rng(int(1000 * level + index))
    image = clean.astype(np.float32) / 255.0
    if kind == "poisson":
        noisy = noise.poisson(image, rng, level)
    elif kind == "speckle":
        noisy = noise.speckle(image, rng, level)
    elif kind == "camera":
        spec = f"camera:shot={level!r}" + (f",{camera}" if camera else "")
        noisy = noise.parse(spec)(image, rng)
    else:
        noisy = noise.salt_pepper(image, rng, level)
    return noisy.astype(np.float64)


def default_images(names: tuple[str, ...] = DEFAULT_COLOR + DEFAULT_GRAY) -> list:
    """The embedded set: scikit-image's bundled photos (colour and gray), offline."""
    from skimage import data

    images = []
    for name in names:
        array = getattr(data, name)()
        images.append((name, array[:, :, :3] if array.ndim == 3 else array[:, :, None]))
    return images


GRAY_LABEL = " (gray)"  # suffix of the noise label of the default gray rows


def default_sets(
    noises: list[tuple[str, float]], limit: int | None = None
) -> list[tuple[str, list[Sample]]]:
    """The default data: colour photos per noise, then the gray ones as rows of their own.

    Colour and gray are never averaged together (gray is a different task: one channel, other
    method defaults). ``limit`` caps each group.
    """
    colour = list(synthetic_sets(default_images(DEFAULT_COLOR)[:limit], noises))
    gray = list(synthetic_sets(default_images(DEFAULT_GRAY)[:limit], noises))
    return colour + [(label + GRAY_LABEL, samples) for label, samples in gray]


def folder_images(folder: Path, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """Clean images of a folder (sorted; 8-bit) as ``HxWxC``."""
    from fastdenoise.datasets import list_images
    from fastdenoise.io import read_pixels

    files = list_images(folder)[:limit]
    if not files:
        raise ValueError(f"no images in {folder}")
    return [(path.name, read_pixels(path)) for path in files]


def synthetic_sets(
    images: list[tuple[str, np.ndarray]], noises: list[tuple[str, float]]
) -> Iterator[tuple[str, list[Sample]]]:
    """For each noise: the samples, seeded by the image's index in the list."""
    for kind, level in noises:
        label = f"{kind} {level:g}"
        samples = [
            Sample(name, clean, add_noise(clean, kind, level, index))
            for index, (name, clean) in enumerate(images)
        ]
        yield label, samples


def real_set(root: Path, limit: int | None = None) -> list[Sample]:
    """Real noisy/clean pairs (SIDD, NIND, RENOIR or noisy/ + gt/ folders)."""
    from fastdenoise.datasets import find_pairs
    from fastdenoise.io import read_pixels

    pairs = find_pairs(root)[:limit]
    return [Sample(noisy.name, read_pixels(clean), read_pixels(noisy)) for noisy, clean in pairs]


class PeakMemory:
    """Peak resident memory above the starting point while a block runs (sampled, Linux)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as stream:
                return int(stream.read().split()[1]) * self._page
        except OSError:
            return 0

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakMemory:
        self.start = self._rss()
        self.peak = self.start
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


WARMUP_SIDE = 64  # side of the crop each method runs on once before it is timed


def _as_input(noisy: np.ndarray) -> np.ndarray:
    return noisy.astype(np.float32) if noisy.dtype == np.float64 else noisy


def start(
    name: str, params: dict | None, sample: Sample, tile: int | None = DEFAULT_TILE
) -> tuple[methods.Denoiser, float]:
    """Build a method and run it once on a crop of ``sample``; return it and the seconds taken.

    That first run pays every one-off cost (kernel compilation or cache load, weights, engine
    sessions, thread pools), so later calls time the work alone.
    """
    started = time.perf_counter()
    denoiser = methods.get(name).build(**(params or {}))
    crop = _as_input(sample.noisy[:WARMUP_SIDE, :WARMUP_SIDE])
    run_tiled(crop, denoiser.prepare(crop), tile=tile)
    return denoiser, time.perf_counter() - started


def denoiser_name(denoiser: methods.Denoiser, fallback: str) -> str:
    """The name a denoiser gives itself (``mwcnn:real``), looking through wrappers (``--tta``)."""
    while not hasattr(denoiser, "name") and hasattr(denoiser, "inner"):
        denoiser = denoiser.inner
    return str(getattr(denoiser, "name", fallback))


def label(spec: str, name: str) -> str:
    """A row's method label: the spec, with a model's variant named (``mwcnn`` -> ``mwcnn:real``).

    ``name`` is what the built denoiser calls itself; a spec's other parameters are kept
    (``mwcnn:tta=true`` -> ``mwcnn:real,tta=true``).
    """
    method, _, options = spec.partition(":")
    arch, _, variant = name.partition(":")
    if not variant or arch != method:
        return spec
    kept = [o for o in options.split(",") if o and not o.startswith(("variant=", "weights="))]
    return f"{name}," + ",".join(kept) if kept else name


def bench_method(
    name: str,
    samples: list[Sample],
    noise_label: str,
    params: dict | None = None,
    tile: int | None = DEFAULT_TILE,
    on_image: Callable[[], None] | None = None,
) -> tuple[Row, list[np.ndarray]]:
    """Run one method over samples; returns its table row and the uint8 outputs.

    The row's ``megapixels_per_s`` is warm speed; ``startup_s`` the build and warm-up run
    (:func:`start`); ``method`` the name the denoiser gives itself (models: ``arch:variant``).
    """
    denoiser, startup = start(name, params, samples[0], tile)
    outputs, seconds, pixels = [], 0.0, 0
    with PeakMemory() as memory:
        for sample in samples:
            noisy = _as_input(sample.noisy)
            started = time.perf_counter()
            result = run_tiled(noisy, denoiser.prepare(noisy), tile=tile)
            seconds += time.perf_counter() - started
            pixels += noisy.shape[0] * noisy.shape[1]
            outputs.append(
                np.rint(np.clip(result, 0, 1) * 255).astype(np.uint8)
                if result.dtype != np.uint8
                else result
            )
            if on_image is not None:
                on_image()
    metrics = [scores(out, s.clean) for out, s in zip(outputs, samples, strict=True)]
    inputs = [scores(s.noisy, s.clean) for s in samples]
    row = Row(
        method=denoiser_name(denoiser, name),
        noise=noise_label,
        images=len(samples),
        input_psnr=float(np.mean([m[0] for m in inputs])),
        input_ssim=float(np.mean([m[1] for m in inputs])),
        psnr=float(np.mean([m[0] for m in metrics])),
        ssim=float(np.mean([m[1] for m in metrics])),
        megapixels_per_s=pixels / 1e6 / seconds if seconds > 0 else float("inf"),
        peak_mib=memory.mib,
        startup_s=startup,
    )
    return row, outputs


def rows_as_dicts(rows: list[Row]) -> list[dict]:
    return [asdict(row) for row in rows]


def to_markdown(rows: list[Row]) -> str:
    head = (
        "| method | noise | images | input PSNR | input SSIM | PSNR | SSIM | MP/s (warm) "
        "| start-up s | peak MiB |"
    )
    lines = [head, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    lines += [
        f"| {r.method} | {r.noise} | {r.images} | {r.input_psnr:.2f} | {r.input_ssim:.4f} | "
        f"{r.psnr:.2f} | {r.ssim:.4f} | {r.megapixels_per_s:.3f} | {r.startup_s:.2f} | "
        f"{r.peak_mib:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def to_csv(rows: list[Row]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(rows[0])) if rows else ["method"])
    writer.writeheader()
    writer.writerows(rows_as_dicts(rows))
    return buffer.getvalue()


def plot_tradeoff(rows: list[Row], path: Path) -> None:
    """PSNR against MP/s (log scale), one point per method and noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label in dict.fromkeys(r.noise for r in rows):
        chosen = [r for r in rows if r.noise == label]
        axes.scatter([r.megapixels_per_s for r in chosen], [r.psnr for r in chosen], label=label)
        for r in chosen:
            axes.annotate(
                r.method,
                (r.megapixels_per_s, r.psnr),
                fontsize=8,
                textcoords="offset points",
                xytext=(4, 3),
            )
    axes.set_xscale("log")
    axes.set_xlabel("megapixels per second (log)")
    axes.set_ylabel("PSNR (dB)")
    axes.set_title("fastdenoise bench: quality vs speed")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_grid(sample: Sample, outputs: dict[str, np.ndarray], path: Path, crop: int = 160) -> None:
    """The same crop: noisy | each method | ground truth, each labelled with its PSNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height, width = sample.clean.shape[:2]
    size = min(crop, height, width)
    top, left = (height - size) // 2, (width - size) // 2
    window = (slice(top, top + size), slice(left, left + size))
    noisy8 = (
        np.rint(np.clip(sample.noisy, 0, 1) * 255).astype(np.uint8)
        if (sample.noisy.dtype != np.uint8)
        else sample.noisy
    )
    panels = [("noisy", noisy8, scores(sample.noisy, sample.clean)[0])]
    panels += [(n, out, scores(out, sample.clean)[0]) for n, out in outputs.items()]
    panels.append(("ground truth", sample.clean, None))
    figure, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6), dpi=120)
    for axis, (label, image, psnr) in zip(np.atleast_1d(axes), panels, strict=True):
        view = image[window]
        axis.imshow(view[:, :, 0] if view.shape[2] == 1 else view, cmap="gray", vmin=0, vmax=255)
        axis.set_title(label if psnr is None else f"{label}\n{psnr:.2f} dB", fontsize=8)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
