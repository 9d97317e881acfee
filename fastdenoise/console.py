"""Rendering for the terminal: progress bars, one-line errors and the timing report.

Progress and reports go to stderr; data (``--json``) goes to stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Iterable, Sequence

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
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*map(str, row))
    Console().print(table)


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
