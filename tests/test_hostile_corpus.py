"""Issue 18's hostile corpus, generated here with tifffile, OpenCV and Pillow writers.

Every file is either processed with its data kept (values compared, or a per-file note says
what changed) or refused with one line; no thread dies with a file, nothing hangs, and every
output is a whole, decodable file of the right shape.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

import fastdenoise
from fastdenoise import methods
from fastdenoise.io import ImageError, Picture, read_image
from fastdenoise.pipeline import PipelineOptions, run_pipeline
from fastdenoise.sources import Naming, plan_jobs

REPO = Path(__file__).resolve().parents[1]
LAUNCH = "import tests.conftest; from fastdenoise.cli import main; main()"
LONG_NAME = "n" * 251 + ".png"  # 255 bytes: the longest name a Linux filesystem allows


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png16_rgba(side: int) -> bytes:
    """A tiny PNG whose header claims side x side 16-bit RGBA (under --max-pixels at 20000)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 99))
        + _chunk(b"IEND", b"")
    )


def _png16_gray_trns(path: Path, gray: np.ndarray, key: int) -> None:
    """16-bit gray PNG with a tRNS colour key (OpenCV ignores tRNS when decoding)."""
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in gray)
    ihdr = struct.pack(">IIBBBBB", gray.shape[1], gray.shape[0], 16, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"tRNS", struct.pack(">H", key))
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _jpeg_with_text_xresolution(pixels: np.ndarray) -> bytes:
    """A JPEG whose EXIF XResolution is ASCII text instead of a rational (a broken DPI tag)."""
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    entries = [(0x011A, 2, 4, b"abc\x00"), (0x0128, 3, 1, struct.pack("<HH", 2, 0))]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHI", *entry[:3]) + entry[3] for entry in entries)
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    jpeg = buffer.getvalue()
    return jpeg[:2] + app1 + jpeg[2:]


def build_corpus(root: Path, rng: np.random.Generator) -> dict[str, dict]:
    """Write the corpus; returns name -> expectation (``ok`` with the pixels meant, or
    ``fail`` with a phrase of the reason)."""
    root.mkdir()
    rgb8 = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    rgb16 = rng.integers(0, 65536, (20, 28, 3), dtype=np.uint16)
    alpha16 = rng.integers(0, 65536, (20, 28), dtype=np.uint16)
    expect: dict[str, dict] = {}

    def ok(name: str, pixels: np.ndarray, alpha: np.ndarray | None = None, note: str = ""):
        expect[name] = {"ok": True, "pixels": pixels, "alpha": alpha, "note": note}

    def fail(name: str, phrase: str):
        expect[name] = {"ok": False, "phrase": phrase}

    # TIFF layouts and codecs (tifffile needs imagecodecs for LZW and JPEG)
    tifffile.imwrite(root / "lzw16.tif", rgb16, photometric="rgb", compression="lzw")
    ok("lzw16.tif", rgb16)
    tifffile.imwrite(root / "deflate16.tif", rgb16, photometric="rgb", compression="zlib")
    ok("deflate16.tif", rgb16)
    tifffile.imwrite(
        root / "planar16.tif", np.moveaxis(rgb16, 2, 0), photometric="rgb", planarconfig="separate"
    )
    ok("planar16.tif", rgb16)
    tifffile.imwrite(root / "tiled16.tif", rgb16, photometric="rgb", tile=(16, 16))
    ok("tiled16.tif", rgb16)
    tifffile.imwrite(root / "bigtiff16.tif", rgb16, photometric="rgb", bigtiff=True)
    ok("bigtiff16.tif", rgb16)
    rgba16 = np.dstack([rgb16, alpha16])
    tifffile.imwrite(root / "rgba16.tif", rgba16, photometric="rgb", extrasamples=["unassalpha"])
    ok("rgba16.tif", rgb16, alpha16)
    floats = rng.random((20, 28, 3)).astype(np.float32)
    tifffile.imwrite(root / "float_rgb.tif", floats, photometric="rgb")
    ok("float_rgb.tif", floats)
    cv2.imwrite(str(root / "opencv_lzw.tif"), rgb8[:, :, ::-1])  # OpenCV writes LZW
    ok("opencv_lzw.tif", rgb8)
    cv2.imwrite(str(root / "opencv16.tif"), rgb16[:, :, ::-1])
    ok("opencv16.tif", rgb16)
    Image.fromarray(rgb8).save(root / "adobe_deflate.tif", compression="tiff_adobe_deflate")
    ok("adobe_deflate.tif", rgb8)
    Image.fromarray(rgb8).save(root / "packbits.tif", compression="packbits")
    ok("packbits.tif", rgb8)
    exif = Image.Exif()
    exif[0x010F] = "CorpusCam"
    Image.fromarray(rgb8).save(root / "raw_strips_exif.tif", exif=exif)  # structural IFD0
    ok("raw_strips_exif.tif", rgb8)
    colormap = (rng.integers(0, 256, (3, 256)) * 257).astype(np.uint16)
    index = rng.integers(0, 256, (20, 28), dtype=np.uint8)
    tifffile.imwrite(root / "palette.tif", index, photometric="palette", colormap=colormap)
    ok("palette.tif", np.moveaxis((colormap // 257).astype(np.uint8)[:, index], 0, -1))
    tifffile.imwrite(
        root / "orient6.tif", rgb8, photometric="rgb", extratags=[(274, "H", 1, 6, True)]
    )
    ok("orient6.tif", np.rot90(rgb8, -1))
    tifffile.imwrite(root / "orient8.tif", rgb8, photometric="rgb", extratags=[(274, "H", 1, 8)])
    ok("orient8.tif", np.rot90(rgb8, 1))
    yuv = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    tifffile.imwrite(root / "ycbcr_jpeg.tif", yuv, photometric="ycbcr", compression="jpeg")
    ok("ycbcr_jpeg.tif", None)  # lossy: shape and depth only
    cmyk = rng.integers(0, 256, (20, 28, 4), dtype=np.uint8)
    tifffile.imwrite(root / "cmyk.tif", cmyk, photometric="separated")
    ok("cmyk.tif", None, note="CMYK converted to RGB")
    int16 = rng.integers(-30000, 30000, (20, 28), dtype=np.int16)
    tifffile.imwrite(root / "int16.tif", int16)
    ok("int16.tif", (int16.astype(np.int32) + 32768).astype(np.uint16)[:, :, None], note="int16")

    # PNG, BMP, WebP: alpha and losslessness kept
    gray16 = rng.integers(1, 65536, (20, 28), dtype=np.uint16)
    gray16[:4, :4] = 0
    _png16_gray_trns(root / "trns_gray16.png", gray16, 0)
    rgb_of_gray16 = np.repeat(gray16[:, :, None], 3, axis=2)  # 16-bit gray+alpha -> RGBA
    ok("trns_gray16.png", rgb_of_gray16, np.where(gray16 == 0, 0, 65535), "16-bit RGBA")
    gray8 = rng.integers(1, 256, (20, 28), dtype=np.uint8)
    gray8[:3] = 0
    Image.fromarray(gray8).save(root / "trns_gray8.png", transparency=0)
    ok("trns_gray8.png", gray8[:, :, None], np.where(gray8 == 0, 0, 255))
    alpha8 = rng.integers(0, 256, (20, 28), dtype=np.uint8)
    cv2.imwrite(str(root / "bgra32.bmp"), np.dstack([rgb8[:, :, ::-1], alpha8]))
    ok("bgra32.bmp", rgb8, alpha8)
    Image.fromarray(rgb8).save(root / "lossless.webp", lossless=True)
    ok("lossless.webp", rgb8)
    (root / "broken_dpi.jpg").write_bytes(_jpeg_with_text_xresolution(rgb8))
    ok("broken_dpi.jpg", None, note="EXIF unreadable")
    Image.fromarray(rgb8).save(root / LONG_NAME)
    ok(LONG_NAME, rgb8)

    # refused, each with its reason
    tifffile.imwrite(root / "lab.tif", rgb8, photometric="cielab")
    fail("lab.tif", "CIELAB")
    tifffile.imwrite(root / "uint32.tif", rgb8[:, :, 0].astype(np.uint32))
    fail("uint32.tif", "uint32")
    tifffile.imwrite(root / "twenty_samples.tif", rgb16, photometric="rgb", planarconfig="separate")
    fail("twenty_samples.tif", "samples")
    with_nan = floats.copy()
    with_nan[3, 4, 1] = np.nan
    tifffile.imwrite(root / "nan.tif", with_nan, photometric="rgb")
    fail("nan.tif", "NaN")
    data = (root / "lzw16.tif").read_bytes()
    (root / "truncated.tif").write_bytes(data[: len(data) // 2])
    fail("truncated.tif", "")
    (root / "bomb16.png").write_bytes(_bomb_png16_rgba(20000))
    fail("bomb16.png", "GiB")
    os.mkfifo(root / "fifo.png")
    fail("fifo.png", "not a regular file (FIFO)")
    (root / "folder.png").mkdir()
    Image.fromarray(rgb8).save(root / "folder.png" / "inside.png")
    fail("folder.png", "directory")
    return expect


def _decoded(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    picture = read_image(path)
    return picture.pixels, picture.alpha


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, str]:
    """The CLI over the corpus in a subprocess, so a hang fails the test instead of the run."""
    tmp = tmp_path_factory.mktemp("hostile")
    root, out = tmp / "corpus", tmp / "out"
    expect = build_corpus(root, np.random.default_rng(18))
    args = [sys.executable, "-c", LAUNCH, "run", str(root), "-o", str(out)]
    proc = subprocess.run(
        [*args, "-m", "test-identity", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    return out, expect, report, proc.stderr


def test_every_file_is_counted_and_the_run_goes_on(corpus_run):
    _, expect, report, stderr = corpus_run
    results = {Path(r["source"]).name: r for r in report["results"]}
    assert set(results) == set(expect)  # FIFO and directory included, never silently dropped
    assert report["files"]["total"] == len(expect)
    for name, wanted in expect.items():
        status = results[name]["status"]
        assert status == ("ok" if wanted["ok"] else "failed"), (name, results[name]["reason"])
    failed = [n for n, w in expect.items() if not w["ok"]]
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == len(failed)


def test_refusals_say_why(corpus_run):
    _, expect, report, _ = corpus_run
    results = {Path(r["source"]).name: r for r in report["results"]}
    for name, wanted in expect.items():
        if not wanted["ok"]:
            reason = results[name]["reason"]
            assert wanted["phrase"] in reason and "\n" not in reason, (name, reason)


def test_outputs_keep_shape_depth_alpha_and_values(corpus_run):
    out, expect, _, _ = corpus_run
    for name, wanted in expect.items():
        if not wanted["ok"]:
            continue
        pixels, alpha = _decoded(out / name)
        if wanted["pixels"] is not None:
            meant = wanted["pixels"]
            meant = meant if meant.ndim == 3 else meant[:, :, None]
            assert pixels.dtype == meant.dtype, name
            np.testing.assert_array_equal(pixels, meant, err_msg=name)
        if wanted["alpha"] is not None:
            assert alpha is not None, name
            np.testing.assert_array_equal(alpha, wanted["alpha"], err_msg=name)
    for name in ("ycbcr_jpeg.tif", "cmyk.tif"):
        with tifffile.TiffFile(out / name) as tif:  # other readers open the outputs too
            assert tif.pages[0].shape[:2] == _decoded(out / name)[0].shape[:2]
            assert tif.pages[0].asarray().dtype == np.uint8
    assert all(not p.name.endswith(".fdtmp") for p in out.rglob("*"))


def test_metadata_is_exif_not_the_source_container(corpus_run):
    out, _, _, _ = corpus_run
    with Image.open(out / "raw_strips_exif.tif") as image:
        exif = image.getexif()
        assert exif.get(0x010F) == "CorpusCam"
        np.asarray(image)  # Pillow decodes it too
    with tifffile.TiffFile(out / "raw_strips_exif.tif") as tif:
        assert tif.pages[0].shape == (20, 28, 3)


def test_conversions_are_noted_per_file(corpus_run):
    _, expect, report, stderr = corpus_run
    results = {Path(r["source"]).name: r for r in report["results"]}
    for name, wanted in expect.items():
        if wanted["ok"] and wanted["note"]:
            assert any(wanted["note"] in note for note in results[name]["notes"]), name
            assert f"note: {results[name]['source']}" in stderr
    assert results["lzw16.tif"]["notes"] == []


def test_lossless_webp_stays_lossless(corpus_run):
    out, _, _, _ = corpus_run
    assert (out / "lossless.webp").read_bytes()[12:16] == b"VP8L"


# ---------------------------------------------------------------- threads never die with a file


def _folder(root: Path, count: int, rng: np.random.Generator) -> Path:
    root.mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _run_with_deadline(jobs, options=None, deadline=60.0):
    """run_pipeline in a daemon thread: a hang fails the test instead of hanging it."""
    box: dict = {}
    denoiser = methods.get("test-box").build()

    def target() -> None:
        box["report"] = run_pipeline(jobs, denoiser, options or PipelineOptions())

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), "the run hung"
    return box["report"]


@pytest.mark.parametrize("stage", ["read_image", "write_image"])
def test_unexpected_exception_in_a_thread_is_that_files_failure(tmp_path, rng, monkeypatch, stage):
    """A reader or writer exception of any type: one failed file, the others done, no hang."""
    src = _folder(tmp_path / "in", 8, rng)
    real = getattr(__import__("fastdenoise.pipeline", fromlist=[stage]), stage)

    def flaky(first, *args, **kwargs):
        marked = isinstance(first, Picture) and bool(np.all(first.pixels == 7))
        if marked or (isinstance(first, Path) and first.name == "3.png"):
            raise KeyError("boom")
        return real(first, *args, **kwargs)

    if stage == "write_image":  # the writer: mark one picture to fail
        Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(src / "3.png")
    monkeypatch.setattr(f"fastdenoise.pipeline.{stage}", flaky)
    jobs = plan_jobs([str(src)], Naming(tmp_path / "out"))
    report = _run_with_deadline(jobs)
    assert len(report.files) == 8
    failed = [r for r in report.files if r.status == "failed"]
    assert [Path(r.source).name for r in failed] == ["3.png"]
    assert "KeyError" in failed[0].reason
    assert report.count("ok") == 7


def test_output_check_refuses_a_broken_encoding(tmp_path, rng, monkeypatch):
    """An encoder that writes the wrong shape is caught before the rename."""
    src = _folder(tmp_path / "in", 2, rng)

    def sideways(stream, picture: Picture, fmt: str, quality: int = 95, notes=None) -> None:
        Image.fromarray(np.swapaxes(picture.pixels, 0, 1)[:, :3]).save(stream, format="PNG")

    monkeypatch.setattr("fastdenoise.io.encode_into", sideways)
    jobs = plan_jobs([str(src)], Naming(tmp_path / "out"))
    report = _run_with_deadline(jobs)
    assert report.count("failed") == 2
    assert all("output check failed" in r.reason for r in report.files)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_fail_fast_still_reports_every_planned_job(tmp_path, rng):
    src = _folder(tmp_path / "in", 6, rng)
    (src / "0.png").write_bytes(b"not a png")
    jobs = plan_jobs([str(src)], Naming(tmp_path / "out"))
    report = _run_with_deadline(jobs, PipelineOptions(fail_fast=True))
    assert len(report.files) == 6
    assert report.count("failed") == 1
    assert all(r.reason for r in report.files if r.status == "skipped")


def test_sigterm_is_obeyed_while_the_writer_is_stuck(tmp_path, rng):
    """Every write blocks (a slow disk) with files queued: SIGTERM still ends the run, 143."""
    src = _folder(tmp_path / "in", 12, rng)
    script = (
        "import time, tests.conftest, fastdenoise.pipeline as p\n"
        "p.write_image = lambda *args, **kwargs: time.sleep(3600)\n"
        "from fastdenoise.cli import main; main()"
    )
    args = ["run", str(src), "-o", str(tmp_path / "o"), "-q", "-m", "test-box"]
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        proc.wait(timeout=8)  # the queues fill and stay full; the run must not end by itself
    except subprocess.TimeoutExpired:
        proc.terminate()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr


# ------------------------------------------------------------------------ filters on odd numbers


def test_nan_input_is_refused_not_silently_unchanged(rng):
    image = rng.random((24, 24, 3)).astype(np.float32)
    image[5, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastdenoise.denoise(image, "nlm")


def test_nlm_tiny_h_gives_finite_output(rng):
    image = rng.random((24, 24, 3)).astype(np.float32)
    assert np.isfinite(fastdenoise.denoise(image, "nlm", h=1e-18)).all()


@pytest.mark.parametrize("param", ["patch", "search"])
def test_nlm_non_integer_window_is_refused(rng, param):
    image = rng.random((24, 24, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="integer"):
        fastdenoise.denoise(image, "nlm", **{param: 3.5})


def test_big_endian_float_is_accepted(rng):
    image = rng.random((24, 24)).astype(">f4")
    out = fastdenoise.denoise(image, "median")
    assert out.dtype == image.dtype and out.shape == image.shape


def test_memory_guard_names_the_memory(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_bomb_png16_rgba(20000))
    with pytest.raises(ImageError, match=r"needs about \d+\.\d GiB"):
        read_image(tmp_path / "bomb.png")
