"""Rendering for the terminal: progress bars, one-line errors and the timing report.

Progress and reports go to stderr; data (``--json``) goes to stdout. Rich is imported when
something is rendered (a quiet run, ``-q``, never imports it): the module's ``stderr`` console
is made on first use.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastdenoise.pipeline import FAILED, SKIPPED, FileResult, RunReport

if TYPE_CHECKING:
    from rich.console import Console

_WARMING_UP = "first tile: warming up, kernels compile or load"
_consoles: dict[str, Console] = {}


def _stderr() -> Console:
    """The rich console on stderr (one per process)."""
    if "stderr" not in _consoles:
        from rich.console import Console

        _consoles["stderr"] = Console(stderr=True, highlight=False, soft_wrap=True)
    return _consoles["stderr"]


def __getattr__(name: str) -> Any:
    """``stderr``: the rich console on stderr, made (and rich imported) on first use."""
    if name == "stderr":
        return _stderr()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def error_line(subject: str, reason: str) -> None:
    """One clear line on stderr, no traceback."""
    _stderr().print(f"[bold red]error[/]: {subject}: {reason}", markup=True, highlight=False)


def _cell(value: object) -> str:
    return str(value).replace("\t", " ").replace("\n", "; ")


def print_rows(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    right: Collection[str] = (),
    sections: bool = False,
) -> None:
    """A table on stdout: rich when stdout is a terminal, else complete tab-separated lines.

    Piped output is never cut to a terminal width: a header row, then one line per row (a
    tab inside a value becomes a space, a line break ``; ``). ``sections`` puts a ``# title``
    line before the header, for commands that print several tables.
    """
    if not sys.stdout.isatty():
        lines = [f"# {title}"] if sections else []
        lines += ["\t".join(map(_cell, row)) for row in [columns, *rows]]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*map(str, row))
    Console().print(table)


def progress_enabled(quiet: bool) -> bool:
    """Bars only for a human watching a terminal."""
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def loading(text: str, enabled: bool) -> Iterator[None]:
    """A spinner with ``text`` on stderr while something slow starts (a model loads)."""
    if not enabled:
        yield
        return
    with _stderr().status(text, spinner="dots"):
        yield


def _short(source: str, room: int = 40) -> str:
    """A file name for the bar: the path's tail, at most ``room`` characters."""
    return source if len(source) <= room else "…" + source[-(room - 1) :]


class RunProgress:
    """Two bars on stderr: files (with MP and MP/s) and the pixels of the image in hand.

    The image bar counts the pixels of finished tiles, so a single 24 MP photo shows real
    progress and an ETA; before its first tile it says what is going on (the image's
    ``prepare``: noise analysis, ``auto``'s choice, a model loading; then, on the run's first
    tile, kernels compiling or loading). Failures are printed as they happen and, with
    ``show_choices``, the settings chosen for each image as soon as they are chosen.
    """

    def __init__(self, total_files: int, enabled: bool, show_choices: bool = False) -> None:
        self.enabled = enabled
        self.show_choices = show_choices
        self.megapixels = 0.0
        self.files_done = 0
        self.total_files = total_files
        self.started = time.perf_counter()
        self.first_tile_done = False
        self.current = ""
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=_stderr(),
            disable=not enabled,
            transient=False,
        )
        self.files = self.progress.add_task("files", total=total_files, detail="")
        self.image = self.progress.add_task("starting…", total=None, detail="", visible=False)
        self._show_files()

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _show_files(self) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        detail = (
            f"{self.files_done}/{self.total_files} files · {self.megapixels:.1f} MP · "
            f"{self.megapixels / elapsed:.2f} MP/s"
        )
        self.progress.update(self.files, detail=detail)

    def image_started(self, source: str, pixels: int) -> None:
        """A new image: its bar counts ``pixels``; ``prepare`` runs now."""
        self.current = _short(source)
        self.progress.reset(
            self.image,
            total=pixels,
            completed=0,
            description=f"preparing {self.current}…",
            detail=f"0/{pixels / 1e6:.1f} MP",
            visible=True,
        )

    def image_prepared(self, source: str, settings: str) -> None:
        """Settings bound (printed at once for ``auto``); tiles start next."""
        if self.show_choices:
            _stderr().print(f"{source}: {settings}", markup=False)
        warming = "" if self.first_tile_done else f" ({_WARMING_UP})"
        self.progress.update(self.image, description=f"{self.current}{warming}")

    def pixels_done(self, count: int) -> None:
        """A tile finished: advance the image bar and the MP totals."""
        if not self.first_tile_done:
            self.first_tile_done = True
            self.progress.update(self.image, description=self.current)
        self.megapixels += count / 1e6
        self.progress.advance(self.image, count)
        task = self.progress.tasks[self.image]
        total = (task.total or 0) / 1e6
        self.progress.update(self.image, detail=f"{task.completed / 1e6:.1f}/{total:.1f} MP")
        self._show_files()

    def file_done(self, result: FileResult) -> None:
        if result.status == FAILED:
            error_line(result.source, result.reason or "failed")
        self.files_done += 1
        self.progress.advance(self.files)
        self._show_files()


class Failures:
    """The progress sink of a run that shows no bars: failures only, each as it happens.

    What :class:`RunProgress` prints when disabled and not showing choices, without rich.
    """

    def __init__(self, total_files: int = 0) -> None:
        self.total_files = total_files

    def __enter__(self) -> Failures:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def pixels_done(self, count: int) -> None:
        pass

    def file_done(self, result: FileResult) -> None:
        if result.status == FAILED:
            error_line(result.source, result.reason or "failed")


def print_report(report: RunReport) -> None:
    """The end-of-run timing report (seconds per stage, MP/s, file counts)."""
    from rich.table import Table

    stderr = _stderr()
    seconds = report.stage_seconds()
    busy = sum(seconds.values()) or 1.0
    table = Table(title=f"fastdenoise run · {report.settings}", title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for stage, value in seconds.items():
        table.add_row(stage, f"{value:.2f}", f"{100 * value / busy:.0f}%")
    table.add_row("wall", f"{report.wall_s:.2f}", "", style="bold")
    stderr.print(table)
    for result in report.files:
        for note in result.notes:  # what could not be kept exactly, one line each
            stderr.print(f"[yellow]note[/]: {result.source}: {note}", markup=True)
    rate = report.megapixels / report.wall_s if report.wall_s > 0 else 0.0
    stderr.print(
        f"{report.count('ok')} ok, {report.count(FAILED)} failed, "
        f"{report.count(SKIPPED)} skipped · {report.megapixels:.2f} MP in "
        f"{report.wall_s:.2f} s · {rate:.2f} MP/s"
        + (" · [bold yellow]interrupted[/]" if report.interrupted else "")
    )
