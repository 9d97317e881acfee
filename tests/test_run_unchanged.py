"""Unchanged images (auto's clean passthrough, strength 0) are copied byte for byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fastdenoise import methods
from fastdenoise.cli import app
from fastdenoise.io import read_image
from fastdenoise.methods import Denoiser, Method
from fastdenoise.pipeline import COPIED_NOTE, OK, PipelineOptions, write_stage
from fastdenoise.sources import Job
from tests.conftest import noisy_rgb


class _Untouched(Denoiser):
    """A test-only method whose every image is left as it is (like strength 0)."""

    unchanged = True

    def __init__(self, device: str = "auto") -> None:
        pass

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        raise AssertionError("an unchanged denoiser must not be run on tiles")


methods.register(
    Method("test-unchanged", "filter", "test-only: leaves images as they are", _Untouched)
)

runner = CliRunner()


def _inputs(rng: np.random.Generator, folder: Path) -> dict[str, bytes]:
    """A JPEG with EXIF orientation 6 and a comment, a PNG and a 16-bit TIFF: name -> bytes."""
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"
    Image.fromarray(noisy_rgb(rng, 40, 56)).save(
        folder / "a.jpg", quality=83, exif=exif, comment=b"kept"
    )
    Image.fromarray(noisy_rgb(rng, 32, 48)).save(folder / "b.png", compress_level=1)
    pixels16 = (noisy_rgb(rng, 24, 24).astype(np.uint16) * 257)[:, :, 0]
    Image.fromarray(pixels16).save(folder / "c.tif")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_unchanged_files_are_copied_byte_for_byte(rng, tmp_path):
    originals = _inputs(rng, tmp_path / "in")
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "in").iterdir()}
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "in"), "-o", str(out), "-m", "test-unchanged", "--json", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name, data in originals.items():
        assert (out / name).read_bytes() == data, name
        assert (tmp_path / "in" / name).read_bytes() == data  # the input is never touched
        assert (tmp_path / "in" / name).stat().st_mtime_ns == stamps[name]
    report = json.loads(result.stdout)
    assert [r["copied"] for r in report["results"]] == [True, True, True]
    assert all(r["notes"] == [COPIED_NOTE] for r in report["results"])
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary left


def test_unchanged_is_said_in_the_report(rng, tmp_path):
    _inputs(rng, tmp_path / "in")
    args = ["run", str(tmp_path / "in" / "b.png"), "-o", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "-m", "test-unchanged"])
    assert result.exit_code == 0, result.output
    assert f"b.png: {COPIED_NOTE}" in result.stderr


@pytest.mark.parametrize("how", ["-f", "-o"])
def test_format_change_encodes_instead_of_copying(rng, tmp_path, how):
    originals = _inputs(rng, tmp_path / "in")
    source = tmp_path / "in" / "a.jpg"
    target = tmp_path / "out" / "a.png" if how == "-f" else tmp_path / "single.png"
    extra = ["-o", str(tmp_path / "out"), "-f", "png"] if how == "-f" else ["-o", str(target)]
    result = runner.invoke(app, ["run", str(source), *extra, "-m", "test-unchanged", "--json"])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.read_bytes() != originals["a.jpg"]
    report = json.loads(result.stdout)["results"][0]
    assert report["copied"] is False and COPIED_NOTE not in report["notes"]
    # the pixels are the decoded (upright) input, exactly
    np.testing.assert_array_equal(read_image(target).pixels, read_image(source).pixels)


def test_a_source_changed_after_reading_is_encoded_not_copied(rng, tmp_path):
    _inputs(rng, tmp_path / "in")
    source = tmp_path / "in" / "b.png"
    picture = read_image(source)
    picture.unchanged = True
    Image.fromarray(noisy_rgb(rng, 32, 48)).save(source)  # replaced by another image
    os.utime(source, ns=(1, 1))
    job = Job(source, tmp_path / "out" / "b.png", "b.png")
    result = write_stage(job, picture, "untouched", 0.0, 0.0, PipelineOptions())
    assert result.status == OK and not result.copied
    assert any("not copied (the input changed" in note for note in result.notes)
    np.testing.assert_array_equal(read_image(job.destination).pixels, picture.pixels)


def test_denoisers_that_change_pixels_are_still_encoded(rng, tmp_path):
    originals = _inputs(rng, tmp_path / "in")
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "in" / "b.png"), "-o", str(out), "-m", "test-box", "--json"]
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "b.png").read_bytes() != originals["b.png"]
    assert json.loads(result.stdout)["results"][0]["copied"] is False


def test_auto_copies_a_clean_image(tmp_path):
    y, x = np.mgrid[0:64, 0:64]
    clean = np.stack([x * 4, y * 4, x * 2], -1).astype(np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(clean).save(tmp_path / "in" / "clean.png", compress_level=9)
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-m", "auto", "--json"]
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    data = (tmp_path / "in" / "clean.png").read_bytes()
    assert (tmp_path / "out" / "clean.png").read_bytes() == data
    assert json.loads(result.stdout)["results"][0]["copied"] is True
