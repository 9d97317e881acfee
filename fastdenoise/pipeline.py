"""Streaming run: reader thread -> compute (caller's thread) -> writer thread.

Bounded queues between the stages keep at most ``queue_depth`` decoded images waiting on
each side, so memory is bounded by image size x queue depth (plus one band of tile
accumulators), never by the number of files. Decoding and encoding overlap with compute
(OpenCV, Pillow, numba kernels and torch release the GIL while they work).

A failed file is recorded with a one-line reason and the run goes on (unless ``fail_fast``).
Outputs are written atomically, so an interrupted run leaves no partial image.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from fastdenoise.io import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    Picture,
    encode_image,
    format_for,
    read_image,
    write_atomic,
)
from fastdenoise.methods import Denoiser
from fastdenoise.sources import Job
from fastdenoise.tiler import DEFAULT_TILE, run_tiled

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
_END = object()


@dataclass
class FileResult:
    """What happened to one input file."""

    source: str
    destination: str
    status: str
    reason: str | None = None
    method: str | None = None  # the settings used for this file (per-image for -m auto)
    megapixels: float = 0.0
    read_s: float = 0.0
    denoise_s: float = 0.0
    write_s: float = 0.0


@dataclass
class RunReport:
    """The whole run: per-file results and stage totals."""

    method: str
    settings: str
    files: list[FileResult] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for result in self.files if result.status == status)

    @property
    def megapixels(self) -> float:
        return sum(r.megapixels for r in self.files if r.status == OK)

    def stage_seconds(self) -> dict[str, float]:
        return {
            stage: sum(getattr(r, f"{stage}_s") for r in self.files)
            for stage in ("read", "denoise", "write")
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (the schema of ``fastdenoise run --json``)."""
        seconds = self.stage_seconds()
        return {
            "method": self.method,
            "settings": self.settings,
            "files": {
                "total": len(self.files),
                "ok": self.count(OK),
                "failed": self.count(FAILED),
                "skipped": self.count(SKIPPED),
            },
            "megapixels": round(self.megapixels, 4),
            "wall_seconds": round(self.wall_s, 4),
            "megapixels_per_second": round(self.megapixels / self.wall_s, 4)
            if self.wall_s > 0
            else 0.0,
            "stage_seconds": {k: round(v, 4) for k, v in seconds.items()},
            "interrupted": self.interrupted,
            "results": [asdict(result) for result in self.files],
        }


class ProgressSink(Protocol):
    """Receives progress events (the CLI renders them with rich)."""

    def pixels_done(self, count: int) -> None: ...

    def file_done(self, result: FileResult) -> None: ...


@dataclass
class PipelineOptions:
    """Knobs of one run."""

    tile: int | None = DEFAULT_TILE
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = 95
    overwrite: bool = False
    skip_existing: bool = False
    fail_fast: bool = False
    queue_depth: int = 2


class Interrupted(Exception):
    """Raised by the CLI's signal handlers; carries the exit code (130 or 143)."""

    def __init__(self, exit_code: int = 130) -> None:
        super().__init__(f"interrupted (exit {exit_code})")
        self.exit_code = exit_code


def _queue_items(source: queue.Queue) -> Iterator[Any]:
    while (item := source.get()) is not _END:
        yield item


def precheck(job: Job, options: PipelineOptions) -> FileResult | None:
    """The verdict for a job that must not run (planning problem, existing output), else None."""
    if job.problem:
        return FileResult(job.display, str(job.destination), FAILED, job.problem)
    if job.destination.exists():
        if options.skip_existing:
            return FileResult(job.display, str(job.destination), SKIPPED, "output exists")
        if not options.overwrite:
            reason = "output exists; use --overwrite or --skip-existing"
            return FileResult(job.display, str(job.destination), FAILED, reason)
    return None


def read_stage(job: Job, max_pixels: int) -> FileResult | tuple[Picture, float]:
    """Decode one input: the picture and seconds taken, or the failure."""
    started = time.perf_counter()
    try:
        picture = read_image(job.source, max_pixels)
    except ImageError as error:
        elapsed = time.perf_counter() - started
        return FileResult(job.display, str(job.destination), FAILED, str(error), read_s=elapsed)
    return picture, time.perf_counter() - started


def denoise_stage(
    job: Job,
    picture: Picture,
    read_s: float,
    denoiser: Denoiser,
    tile: int | None,
    on_progress: Callable[[int], None] | None = None,
) -> FileResult | tuple[Picture, str, float, float]:
    """Denoise one picture: (output picture, settings used, read_s, denoise_s), or the failure."""
    started = time.perf_counter()
    try:
        bound = denoiser.prepare(picture.pixels)
        pixels = run_tiled(picture.pixels, bound, tile=tile, on_progress=on_progress)
    except (ValueError, RuntimeError, MemoryError) as error:
        reason = f"denoising failed: {error}"
        return FileResult(job.display, str(job.destination), FAILED, reason, read_s=read_s)
    output = Picture(pixels, picture.alpha, picture.format, picture.exif, picture.icc)
    return output, bound.describe(), read_s, time.perf_counter() - started


def write_stage(
    job: Job,
    picture: Picture,
    method: str,
    read_s: float,
    denoise_s: float,
    options: PipelineOptions,
) -> FileResult:
    """Encode and atomically write one output; the file's final result."""
    started = time.perf_counter()
    times = {"read_s": read_s, "denoise_s": denoise_s}
    try:
        fmt = format_for(job.destination) or picture.format
        write_atomic(job.destination, encode_image(picture, fmt, options.quality))
    except (ImageError, OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        reason = f"cannot write {job.destination}: {reason}"
        return FileResult(job.display, str(job.destination), FAILED, reason, **times)
    return FileResult(
        job.display,
        str(job.destination),
        OK,
        None,
        method,
        picture.megapixels,
        write_s=time.perf_counter() - started,
        **times,
    )


class _Run:
    """State shared by the three stages of one run."""

    def __init__(self, denoiser: Denoiser, options: PipelineOptions, sink: ProgressSink | None):
        self.denoiser = denoiser
        self.options = options
        self.sink = sink
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results: list[FileResult] = []
        self.decoded: queue.Queue = queue.Queue(maxsize=options.queue_depth)
        self.denoised: queue.Queue = queue.Queue(maxsize=options.queue_depth)

    def record(self, result: FileResult) -> None:
        with self.lock:
            self.results.append(result)
        if result.status == FAILED and self.options.fail_fast:
            self.stop.set()
        if self.sink is not None:
            self.sink.file_done(result)

    # -- stage 1: read ------------------------------------------------------------------
    def read_all(self, jobs: list[Job]) -> None:
        try:
            for job in jobs:
                if self.stop.is_set():
                    break
                verdict = precheck(job, self.options)
                if verdict is not None:
                    self.record(verdict)
                    continue
                outcome = read_stage(job, self.options.max_pixels)
                if isinstance(outcome, FileResult):
                    self.record(outcome)
                else:
                    self.decoded.put((job, *outcome))
        finally:
            self.decoded.put(_END)

    # -- stage 2: denoise (the caller's thread owns the compute device) ------------------
    def denoise_all(self) -> None:
        progress = self.sink.pixels_done if self.sink else None
        for job, picture, read_s in _queue_items(self.decoded):
            if self.stop.is_set():
                continue
            outcome = denoise_stage(
                job, picture, read_s, self.denoiser, self.options.tile, progress
            )
            if isinstance(outcome, FileResult):
                self.record(outcome)
            else:
                self.denoised.put((job, *outcome))

    # -- stage 3: encode and write --------------------------------------------------------
    def write_all(self) -> None:
        for job, picture, method, read_s, denoise_s in _queue_items(self.denoised):
            if not self.stop.is_set():
                self.record(write_stage(job, picture, method, read_s, denoise_s, self.options))

    def drain(self, source: queue.Queue, thread: threading.Thread) -> None:
        """Unblock a producer after an interrupt by emptying its queue until it ends."""
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                source.get(timeout=0.05)


def run_pipeline(
    jobs: list[Job],
    denoiser: Denoiser,
    options: PipelineOptions | None = None,
    sink: ProgressSink | None = None,
    method: str = "",
    on_start: Callable[[], None] | None = None,
) -> RunReport:
    """Run jobs through read -> denoise -> write; returns the report.

    On KeyboardInterrupt or :class:`Interrupted` the stages stop after their current item
    (a write in progress finishes or removes its temporary file), the report is marked
    interrupted and the exception is re-raised with ``report`` attached.
    """
    run = _Run(denoiser, options or PipelineOptions(), sink)
    reader = threading.Thread(target=run.read_all, args=(jobs,), name="fd-reader", daemon=True)
    writer = threading.Thread(target=run.write_all, name="fd-writer", daemon=True)
    started = time.perf_counter()
    report = RunReport(method, denoiser.describe())
    if on_start is not None:
        on_start()
    reader.start()
    writer.start()
    try:
        run.denoise_all()
    except (KeyboardInterrupt, Interrupted) as interrupt:
        run.stop.set()
        run.drain(run.decoded, reader)
        report.interrupted = True
        interrupt.report = report  # type: ignore[attr-defined]
        raise
    finally:
        run.denoised.put(_END)
        writer.join()
        reader.join()
        report.files = sorted(run.results, key=lambda r: r.source)
        report.wall_s = time.perf_counter() - started
    return report
