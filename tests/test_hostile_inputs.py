"""A hostile-input corpus, generated here: every file is processed or gets one clear line."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from fastdenoise.cli import app

runner = CliRunner()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 99))
        + _chunk(b"IEND", b"")
    )


def build_corpus(root: Path, rng: np.random.Generator) -> tuple[set[str], set[str]]:
    """Write the corpus; returns (names expected to succeed, names expected to fail)."""
    root.mkdir()
    rgb = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    good: dict[str, object] = {
        "one_by_one.png": rng.integers(0, 256, (1, 1, 3), dtype=np.uint8),
        "one_by_n.png": rng.integers(0, 256, (1, 37), dtype=np.uint8),
        "n_by_one.png": rng.integers(0, 256, (29, 1, 3), dtype=np.uint8),
        "name with spaces.png": rgb,
        "ünïcødé_画像.png": rgb,
        "-leading-dash.png": rgb,
        "rgba.png": rng.integers(0, 256, (16, 16, 4), dtype=np.uint8),
    }
    for name, array in good.items():
        Image.fromarray(array).save(root / name)
    Image.fromarray(rgb).convert("P").save(root / "palette.png")
    Image.fromarray(rng.integers(0, 256, (12, 12, 2), dtype=np.uint8), "LA").save(root / "la.png")
    Image.new("CMYK", (18, 14), (30, 60, 90, 10)).save(root / "cmyk.jpg")
    cv2.imwrite(str(root / "gray16.png"), rng.integers(0, 65536, (15, 17), dtype=np.uint16))
    cv2.imwrite(str(root / "rgb16.png"), rng.integers(0, 65536, (15, 17, 3), dtype=np.uint16))
    tifffile.imwrite(root / "gray16.tif", rng.integers(0, 65536, (15, 17), dtype=np.uint16))
    tifffile.imwrite(
        root / "rgb16.tif", rng.integers(0, 65536, (9, 8, 3), dtype=np.uint16), photometric="rgb"
    )
    Image.fromarray(rgb).save(root / "actually_png.jpg", format="PNG")  # wrong extension
    succeed = {p.name for p in root.iterdir()}

    (root / "zero.png").write_bytes(b"")
    (root / "text.png").write_text("this is not an image\n")
    Image.fromarray(rgb).save(root / "trunc.png")
    data = (root / "trunc.png").read_bytes()
    (root / "trunc.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        root / "trunc.jpg", quality=90
    )
    data = (root / "trunc.jpg").read_bytes()
    (root / "trunc.jpg").write_bytes(data[: len(data) // 3])
    (root / "bomb.png").write_bytes(_bomb_png())
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(root / "frames.tif", save_all=True, append_images=frames[1:])
    os.symlink(root / "does-not-exist.png", root / "dangling.png")
    fail = {p.name for p in root.iterdir()} - succeed
    return succeed, fail


def test_corpus_each_file_processed_or_one_clear_line(tmp_path, rng):
    root = tmp_path / "corpus"
    succeed, fail = build_corpus(root, rng)
    (root / "loop").mkdir()
    os.symlink(root, root / "loop" / "back-to-root")  # a directory symlink loop
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(root), "-o", str(out), "-m", "test-box", "--json", "-q"]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    status = {Path(r["source"]).name: r for r in report["results"]}
    assert {n for n, r in status.items() if r["status"] == "ok"} == succeed
    assert {n for n, r in status.items() if r["status"] == "failed"} == fail
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == len(fail)
    for name in fail:
        assert any(name in line for line in error_lines), name
        assert not (out / name).exists()  # no output for a failed input
    assert sorted(p.name for p in out.iterdir()) == sorted(succeed)


def test_reasons_are_specific(tmp_path, rng):
    root = tmp_path / "corpus"
    build_corpus(root, rng)
    result = runner.invoke(
        app, ["run", str(root), "-o", str(tmp_path / "o"), "-m", "test-box", "--json", "-q"]
    )
    reasons = {Path(r["source"]).name: r["reason"] for r in json.loads(result.stdout)["results"]}
    assert "exceeds --max-pixels" in reasons["bomb.png"]
    assert "multi-frame" in reasons["frames.tif"]
    assert reasons["dangling.png"] == "dangling symlink"
    assert reasons["zero.png"] == "not a recognised image file"
    assert "truncated" in reasons["trunc.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_is_reported(tmp_path, rng):
    path = tmp_path / "secret.png"
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    path.chmod(0)
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "o"), "-m", "test-box"])
    assert result.exit_code == 1 and "permission denied" in result.stderr


def test_outputs_match_input_depth_and_alpha(tmp_path, rng):
    root = tmp_path / "corpus"
    build_corpus(root, rng)
    out = tmp_path / "out"
    runner.invoke(app, ["run", str(root), "-o", str(out), "-m", "test-box", "-q"])
    assert cv2.imread(str(out / "rgb16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert tifffile.imread(out / "gray16.tif").dtype == np.uint16
    with Image.open(out / "rgba.png") as image:
        assert image.mode == "RGBA"
    with Image.open(out / "la.png") as image:
        assert image.mode == "LA"
    with Image.open(out / "one_by_n.png") as image:
        assert image.size == (37, 1) and image.mode == "L"


def test_permission_denied_is_one_line(tmp_path, rng, monkeypatch):
    """Root ignores file modes, so the denial is simulated at the decoder's open()."""
    path = tmp_path / "secret.png"
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("fastdenoise.io.Image.open", denied)
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "o"), "-m", "test-box"])
    assert result.exit_code == 1
    assert f"{path}: permission denied" in result.stderr


def test_unwritable_output_location(tmp_path, rng):
    src = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(src)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder should be")
    result = runner.invoke(app, ["run", str(src), "-o", str(blocker / "out"), "-m", "test-box"])
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_full_disk_leaves_no_partial_file(tmp_path, rng):
    """RLIMIT_FSIZE makes every write past 4 KiB fail, like a full disk."""
    import resource
    import subprocess
    import sys

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(src / "big.png")
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(src / "small.png")
    out = tmp_path / "out"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    launch = "import tests.conftest; from fastdenoise.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", launch, "run", str(src), "-o", str(out), "-m", "test-box", "-q"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "big.png: cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]  # no temp or partial file
