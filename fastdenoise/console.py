"""Rendering for the terminal: progress bars, one-line errors and the timing report.

Progress and reports go to stderr; data (``--json``) goes to stdout.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from fastdenoise.pipeline import FAILED, SKIPPED, FileResult, RunReport

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def error_line(subject: str, reason: str) -> None:
    """One clear line on stderr, no traceback."""
    stderr.print(f"[bold red]error[/]: {subject}: {reason}", markup=True, highlight=False)


def progress_enabled(quiet: bool) -> bool:
    """Bars only for a human watching a terminal."""
    return not quiet and sys.stderr.isatty()


class RunProgress:
    """A rich bar over files with megapixels and MP/s; prints failures as they happen."""

    def __init__(self, total_files: int, enabled: bool, show_choices: bool = False) -> None:
        self.enabled = enabled
        self.show_choices = show_choices
        self.megapixels = 0.0
        self.started = time.perf_counter()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[mp]:.1f} MP"),
            TextColumn("{task.fields[rate]:.2f} MP/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=stderr,
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task("denoising", total=total_files, mp=0.0, rate=0.0)

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def pixels_done(self, count: int) -> None:
        self.megapixels += count / 1e6
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task, mp=self.megapixels, rate=self.megapixels / elapsed)

    def file_done(self, result: FileResult) -> None:
        if result.status == FAILED:
            error_line(result.source, result.reason or "failed")
        elif self.show_choices and result.method:
            stderr.print(f"{result.source}: {result.method}", markup=False)
        self.progress.advance(self.task)


def print_report(report: RunReport) -> None:
    """The end-of-run timing report (seconds per stage, MP/s, file counts)."""
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
    rate = report.megapixels / report.wall_s if report.wall_s > 0 else 0.0
    stderr.print(
        f"{report.count('ok')} ok, {report.count(FAILED)} failed, "
        f"{report.count(SKIPPED)} skipped · {report.megapixels:.2f} MP in "
        f"{report.wall_s:.2f} s · {rate:.2f} MP/s"
        + (" · [bold yellow]interrupted[/]" if report.interrupted else "")
    )
