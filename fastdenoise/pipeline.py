"""Streaming run: reader thread -> compute (caller's thread) -> writer thread.

Bounded queues between the stages keep at most ``queue_depth`` decoded images waiting on
each side, so memory is bounded by image size x queue depth (plus one band of tile
accumulators), never by the number of files. Decoding and encoding overlap with compute
(OpenCV, Pillow, numba kernels and torch release the GIL while they work).

A failed file is recorded with a one-line reason and the run goes on (unless ``fail_fast``):
every stage catches any exception per file, so no thread dies with a file, and no queue
operation blocks forever (each waits in short slices and gives up once the run stops or the
other side has ended), so a signal is obeyed in every state. Every planned job ends up in the
report: jobs never reached (interrupt, ``fail_fast``) are listed as skipped with the reason.
Outputs are verified and written atomically, so an interrupted run leaves no partial image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from fastdenoise.io import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_PIXELS,
    ImageError,
    Picture,
    SourceChanged,
    copy_atomic,
    format_for,
    read_image,
    write_image,
)
from fastdenoise.methods import Denoiser
from fastdenoise.sources import Job
from fastdenoise.tiler import DEFAULT_TILE, run_tiled

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
COPIED_NOTE = "unchanged: copied byte for byte"
_POLL_S = 0.05  # how long a queue operation waits before it looks at the run's state again
_INTERRUPT_GRACE_S = 10.0  # after a signal, how long a stage may take to finish its item


@dataclass
class FileResult:
    """What happened to one input file."""

    source: str
    destination: str
    status: str
    reason: str | None = None
    method: str | None = None  # the settings used for this file (per-image for -m auto)
    notes: list[str] = field(default_factory=list)  # what could not be kept exactly
    megapixels: float = 0.0
    read_s: float = 0.0
    denoise_s: float = 0.0
    write_s: float = 0.0
    copied: bool = False  # the output is the input file, copied byte for byte (unchanged)


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
    """Receives progress events (the CLI renders them with rich).

    Per image, in order: ``image_started`` (its pixel count; ``prepare`` runs next: a noise
    analysis, ``auto``'s choice, a model's first load), ``image_prepared`` (the settings chosen
    for it), ``pixels_done`` after each tile, then ``file_done`` once written (or failed).
    ``image_started`` and ``image_prepared`` are optional: a sink without them still works.
    """

    def image_started(self, source: str, pixels: int) -> None: ...

    def image_prepared(self, source: str, settings: str) -> None: ...

    def pixels_done(self, count: int) -> None: ...

    def file_done(self, result: FileResult) -> None: ...


@dataclass
class PipelineOptions:
    """Knobs of one run."""

    tile: int | None = DEFAULT_TILE
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory: int = DEFAULT_MAX_MEMORY  # bytes one image may need through the run
    quality: int = 95
    overwrite: bool = False
    skip_existing: bool = False
    fail_fast: bool = False
    queue_depth: int = 2


class Interrupted(BaseException):
    """Raised by the CLI's signal handlers; carries the exit code (130 or 143).

    A BaseException, like KeyboardInterrupt, so the per-file ``except Exception`` of the
    stages never mistakes it for one file's failure.
    """

    def __init__(self, exit_code: int = 130) -> None:
        super().__init__(f"interrupted (exit {exit_code})")
        self.exit_code = exit_code


def _queue_items(source: queue.Queue, done: threading.Event) -> Iterator[Any]:
    """Items from ``source`` until its producer has set ``done`` and the queue is empty.

    Waits in short slices, so a signal handler in the consuming thread runs promptly and a
    producer that stopped early can never leave its consumer waiting.
    """
    while True:
        try:
            yield source.get(timeout=_POLL_S)
        except queue.Empty:
            if not done.is_set():
                continue
            try:  # the producer may have put its last item just before setting ``done``
                yield source.get_nowait()
            except queue.Empty:
                return


def failure_reason(action: str, error: BaseException) -> str:
    """One line for an unexpected exception: what failed, the exception type and message."""
    if isinstance(error, ImageError):
        return str(error)
    if isinstance(error, MemoryError):
        return f"{action}: out of memory"
    text = str(error).strip().splitlines()
    detail = text[0] if text else ""
    return f"{action}: {type(error).__name__}" + (f": {detail}" if detail else "")


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


def read_stage(
    job: Job, max_pixels: int, max_memory: int = DEFAULT_MAX_MEMORY
) -> FileResult | tuple[Picture, float]:
    """Decode one input: the picture and seconds taken, or the failure."""
    started = time.perf_counter()
    try:
        picture = read_image(job.source, max_pixels, max_memory)
    except Exception as error:  # any decoder failure is this file's failure, never the run's
        elapsed = time.perf_counter() - started
        reason = failure_reason("cannot decode", error)
        return FileResult(job.display, str(job.destination), FAILED, reason, read_s=elapsed)
    return picture, time.perf_counter() - started


def denoise_stage(
    job: Job,
    picture: Picture,
    read_s: float,
    denoiser: Denoiser,
    tile: int | None,
    on_progress: Callable[[int], None] | None = None,
    on_prepared: Callable[[str], None] | None = None,
) -> FileResult | tuple[Picture, str, float, float]:
    """Denoise one picture: (output picture, settings used, read_s, denoise_s), or the failure.

    ``on_prepared`` receives the settings bound to the image (``auto``'s choice) before any
    tile runs; ``on_progress`` the core pixels of each finished tile. A denoiser prepared as
    ``unchanged`` (auto's clean passthrough, strength 0) is not run: the picture comes back
    marked ``unchanged`` so the writer may copy the source file.
    """
    started = time.perf_counter()
    try:
        bound = denoiser.prepare(picture.pixels)
        if on_prepared is not None:
            on_prepared(bound.describe())
        if bound.unchanged:
            output = dataclasses.replace(picture, unchanged=True)
            if on_progress is not None:
                on_progress(picture.pixels.shape[0] * picture.pixels.shape[1])
            return output, bound.describe(), read_s, time.perf_counter() - started
        pixels = run_tiled(picture.pixels, bound, tile=tile, on_progress=on_progress)
    except Exception as error:
        reason = failure_reason("denoising failed", error)
        if isinstance(error, (ValueError, RuntimeError)):
            reason = f"denoising failed: {error}"
        return FileResult(job.display, str(job.destination), FAILED, reason, read_s=read_s)
    output = dataclasses.replace(picture, pixels=pixels)
    return output, bound.describe(), read_s, time.perf_counter() - started


def can_copy(picture: Picture, fmt: str) -> bool:
    """Whether the output may be the source file itself: pixels unchanged, same container."""
    return picture.unchanged and picture.origin is not None and fmt == picture.format


def _encode_and_write(job: Job, picture: Picture, fmt: str, options: PipelineOptions) -> list[str]:
    """Encode, check and atomically write the output; the notes of what was not kept.

    The encoder writes straight into the temporary file, which the check reads back
    (:func:`fastdenoise.io.write_image`): no encoded copy of a huge image is held.
    """
    notes = list(picture.notes)
    write_image(picture, fmt, job.destination, options.quality, notes)
    return notes


def _copy_or_encode(
    job: Job, picture: Picture, fmt: str, options: PipelineOptions
) -> tuple[list[str], bool]:
    """Copy the unchanged source file; encode the decoded pixels if it changed since.

    Returns the notes and whether the file was copied.
    """
    assert picture.origin is not None  # can_copy checked it
    try:
        copy_atomic(picture.origin, job.destination)
    except SourceChanged as changed:
        notes = _encode_and_write(job, picture, fmt, options)
        return [*notes, f"unchanged, but encoded, not copied ({changed})"], False
    return [COPIED_NOTE], True


def write_stage(
    job: Job,
    picture: Picture,
    method: str,
    read_s: float,
    denoise_s: float,
    options: PipelineOptions,
) -> FileResult:
    """Encode (or copy, when unchanged) and atomically write one output; the file's result."""
    started = time.perf_counter()
    times = {"read_s": read_s, "denoise_s": denoise_s}
    fmt = format_for(job.destination) or picture.format
    copied = can_copy(picture, fmt)
    try:
        if copied:
            notes, copied = _copy_or_encode(job, picture, fmt, options)
        else:
            notes = _encode_and_write(job, picture, fmt, options)
    except OSError as error:
        reason = f"cannot write {job.destination}: {error.strerror or error}"
        return FileResult(job.display, str(job.destination), FAILED, reason, **times)
    except Exception as error:
        reason = f"cannot write {job.destination}: {failure_reason('encoder failed', error)}"
        return FileResult(job.display, str(job.destination), FAILED, reason, **times)
    return FileResult(
        job.display,
        str(job.destination),
        OK,
        None,
        method,
        notes,
        picture.megapixels,
        write_s=time.perf_counter() - started,
        copied=copied,
        **times,
    )


class _Run:
    """State shared by the three stages of one run."""

    def __init__(self, denoiser: Denoiser, options: PipelineOptions, sink: ProgressSink | None):
        self.denoiser = denoiser
        self.options = options
        self.sink = sink
        self.stop = threading.Event()
        self.read_done = threading.Event()
        self.compute_done = threading.Event()
        self.writer_gone = threading.Event()
        self.lock = threading.Lock()
        self.results: list[FileResult] = []
        self.decoded: queue.Queue = queue.Queue(maxsize=options.queue_depth)
        self.denoised: queue.Queue = queue.Queue(maxsize=options.queue_depth)

    def notify(self, event: str, *args: Any) -> None:
        """Tell the sink about an event, if it listens for it; a display error is ignored."""
        handler = getattr(self.sink, event, None)
        if handler is not None:
            with contextlib.suppress(Exception):  # a display problem must not lose a file
                handler(*args)

    def record(self, result: FileResult) -> None:
        with self.lock:
            self.results.append(result)
        if result.status == FAILED and self.options.fail_fast:
            self.stop.set()
        if self.sink is not None:
            with contextlib.suppress(Exception):  # a display problem must not lose a file
                self.sink.file_done(result)

    def put(self, target: queue.Queue, item: Any, consumer_gone: threading.Event) -> bool:
        """Queue ``item``; False (item dropped) once the run stops or the consumer has ended."""
        while not (self.stop.is_set() or consumer_gone.is_set()):
            try:
                target.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    # -- stage 1: read ------------------------------------------------------------------
    def read_all(self, jobs: list[Job]) -> None:
        try:
            for job in jobs:
                if self.stop.is_set():
                    break
                self.read_one(job)
        finally:
            self.read_done.set()

    def read_one(self, job: Job) -> None:
        try:
            verdict = precheck(job, self.options)
            outcome = verdict or read_stage(job, self.options.max_pixels, self.options.max_memory)
        except Exception as error:  # precheck's stat() on a hostile path, for one
            outcome = FileResult(job.display, str(job.destination), FAILED, str(error))
        if isinstance(outcome, FileResult):
            self.record(outcome)
        else:
            self.put(self.decoded, (job, *outcome), self.compute_done)

    # -- stage 2: denoise (the caller's thread owns the compute device) ------------------
    def denoise_all(self) -> None:
        def progress(count: int) -> None:
            self.notify("pixels_done", count)

        for job, picture, read_s in _queue_items(self.decoded, self.read_done):
            if self.stop.is_set():
                continue
            height, width = picture.pixels.shape[:2]
            self.notify("image_started", job.display, height * width)

            def prepared(settings: str, source: str = job.display) -> None:
                self.notify("image_prepared", source, settings)

            outcome = denoise_stage(
                job, picture, read_s, self.denoiser, self.options.tile, progress, prepared
            )
            del picture  # the input's pixels go now, not while the output is encoded
            if isinstance(outcome, FileResult):
                self.record(outcome)
            elif not self.put(self.denoised, (job, *outcome), self.writer_gone) and (
                not self.stop.is_set()
            ):
                reason = "not written: the writer stopped"
                self.record(FileResult(job.display, str(job.destination), FAILED, reason))
            del outcome  # the writer owns the output now

    # -- stage 3: encode and write --------------------------------------------------------
    def write_all(self) -> None:
        try:
            for job, picture, method, read_s, denoise_s in _queue_items(
                self.denoised, self.compute_done
            ):
                if self.stop.is_set():
                    continue
                try:
                    result = write_stage(job, picture, method, read_s, denoise_s, self.options)
                except Exception as error:
                    reason = failure_reason("cannot write", error)
                    result = FileResult(job.display, str(job.destination), FAILED, reason)
                del picture  # written: not held while the next one is awaited
                self.record(result)
        finally:
            self.writer_gone.set()

    def wait_for(self, *threads: threading.Thread, grace_s: float | None = None) -> None:
        """Join threads in short slices, so signals still reach the main thread.

        With ``grace_s`` (after an interrupt) a stage stuck in its item (a write to a hung
        network disk) is abandoned after that long: the process exits anyway, and at worst a
        hidden temporary file is left, which later runs ignore.
        """
        deadline = None if grace_s is None else time.monotonic() + grace_s
        for thread in threads:
            while thread.is_alive() and (deadline is None or time.monotonic() < deadline):
                thread.join(_POLL_S)

    def account_for(self, jobs: list[Job], interrupted: bool) -> None:
        """List every planned job that got no result (stopped early) as skipped, with why."""
        seen = {(r.source, r.destination) for r in self.results}
        why = "not run: interrupted" if interrupted else "not run: stopped after a failure"
        for job in jobs:
            if (job.display, str(job.destination)) not in seen:
                self.results.append(FileResult(job.display, str(job.destination), SKIPPED, why))


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
        report.interrupted = True
        interrupt.report = report  # type: ignore[attr-defined]
        raise
    finally:
        run.compute_done.set()
        try:
            grace = _INTERRUPT_GRACE_S if report.interrupted else None
            run.wait_for(writer, reader, grace_s=grace)
        except (KeyboardInterrupt, Interrupted):  # a second signal: stop waiting
            run.stop.set()
            report.interrupted = True
        with run.lock:
            run.account_for(jobs, report.interrupted)
            report.files = sorted(run.results, key=lambda r: r.source)
        report.wall_s = time.perf_counter() - started
    return report
