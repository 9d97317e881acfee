"""Progress within an image: pixels from the tiler, through the pipeline, to the bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fastdenoise import methods
from fastdenoise.cli import app
from fastdenoise.console import RunProgress, loading
from fastdenoise.pipeline import OK, FileResult, PipelineOptions, run_pipeline
from fastdenoise.sources import Job
from fastdenoise.tiler import run_tiled
from tests.conftest import BoxBlur, Identity, noisy_rgb


class Recorder:
    """A progress sink that records every event in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def image_started(self, source: str, pixels: int) -> None:
        self.events.append(("started", source, pixels))

    def image_prepared(self, source: str, settings: str) -> None:
        self.events.append(("prepared", source, settings))

    def pixels_done(self, count: int) -> None:
        self.events.append(("pixels", count))

    def file_done(self, result: FileResult) -> None:
        self.events.append(("done", result.source, result.status))


@pytest.mark.parametrize("denoiser", [BoxBlur(2), Identity()])
def test_tiler_reports_every_pixel_once(rng, denoiser):
    pixels = noisy_rgb(rng, 70, 90)
    counts: list[int] = []
    run_tiled(pixels, denoiser, tile=32, on_progress=counts.append)
    assert len(counts) == 9  # 3 x 3 tiles
    assert sum(counts) == 70 * 90


def _jobs(rng: np.random.Generator, tmp_path: Path) -> list[Job]:
    jobs = []
    for name, (height, width) in {"a.png": (40, 50), "b.png": (64, 96)}.items():
        Image.fromarray(noisy_rgb(rng, height, width)).save(tmp_path / name)
        jobs.append(Job(tmp_path / name, tmp_path / "out" / name, name))
    return jobs


def test_pipeline_reports_start_choice_tiles_and_end_per_image(rng, tmp_path):
    sink = Recorder()
    denoiser = methods.get("test-box").build()
    report = run_pipeline(_jobs(rng, tmp_path), denoiser, PipelineOptions(tile=16), sink)
    assert report.count(OK) == 2
    for name, pixels in (("a.png", 40 * 50), ("b.png", 64 * 96)):
        start = sink.events.index(("started", name, pixels))
        prepared = sink.events[start + 1]
        assert prepared == ("prepared", name, denoiser.describe())  # before any tile
        tiles = []  # up to the next image (the writer's file_done may come in between)
        for event in sink.events[start + 2 :]:
            if event[0] == "started":
                break
            tiles += [event[1]] if event[0] == "pixels" else []
        assert len(tiles) > 1 and sum(tiles) == pixels  # tile by tile, every pixel once
        assert ("done", name, OK) in sink.events[start:]


def test_a_sink_without_the_image_events_still_works(rng, tmp_path):
    class Minimal:
        def __init__(self) -> None:
            self.pixels = 0

        def pixels_done(self, count: int) -> None:
            self.pixels += count

        def file_done(self, result: FileResult) -> None:
            pass

    sink = Minimal()
    denoiser = methods.get("test-box").build()
    report = run_pipeline(_jobs(rng, tmp_path), denoiser, PipelineOptions(tile=16), sink)
    assert report.count(OK) == 2 and sink.pixels == 40 * 50 + 64 * 96


def test_image_bar_counts_pixels_and_says_what_happens(capsys):
    progress = RunProgress(total_files=1, enabled=False, show_choices=True)
    image = progress.progress.tasks[progress.image]
    progress.image_started("big.jpg", 24_000_000)
    assert image.total == 24_000_000 and image.completed == 0
    assert image.description == "preparing big.jpg…"
    progress.image_prepared("big.jpg", "auto -> nlm(h=0.1)")
    assert "big.jpg: auto -> nlm(h=0.1)" in capsys.readouterr().err  # said when chosen
    assert "warming up" in image.description  # the run's first tile
    progress.pixels_done(6_000_000)
    assert image.completed == 6_000_000 and image.description == "big.jpg"
    assert image.fields["detail"] == "6.0/24.0 MP"
    progress.pixels_done(18_000_000)
    assert image.finished
    progress.file_done(FileResult("big.jpg", "out/big.jpg", OK, method="auto -> nlm(h=0.1)"))
    assert "auto -> nlm" not in capsys.readouterr().err  # not said twice
    files = progress.progress.tasks[progress.files]
    assert files.completed == 1 and files.fields["detail"].startswith("1/1 files · 24.0 MP")


def test_loading_spinner_only_when_enabled(capsys):
    with loading("loading fdnet…", enabled=False):
        pass
    assert capsys.readouterr().err == ""


def _auto_run(tmp_path: Path, rng: np.random.Generator, *flags: str):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    Image.fromarray(noisy_rgb(rng, 48, 64)).save(src / "n.png")
    args = ["run", str(src), "-o", str(tmp_path / "out"), "-m", "auto", "--overwrite", *flags]
    return CliRunner().invoke(app, args)


def test_auto_choice_printed_once_and_quiet_stays_quiet(rng, tmp_path):
    result = _auto_run(tmp_path, rng)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("n.png: auto -> ") == 1
    assert "preparing" not in result.stderr and "loading" not in result.stderr  # no terminal
    quiet = _auto_run(tmp_path, rng, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
