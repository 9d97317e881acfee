"""Issue 20 item 5: one image reader, one atomic-write helper, one noise estimator.

Each is checked through the public paths that use it: the dataset, evaluation and benchmark
loaders read what ``fastdenoise run`` reads; checkpoints, cache entries, export copies and
image outputs all leave no temporary file when the write fails and get the umask's mode; the
filters' default noise level is the one ``fastdenoise analyze`` reports.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from fastdenoise import analyze, atomic, bench, datasets, evaluate, methods
from fastdenoise.io import Origin, copy_atomic, read_image, read_pixels, write_atomic
from tests._references import gaussian_noisy, photo

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------- one image reader


def _image_files(folder: Path) -> dict[str, Path]:
    """Files where a second decoder could read other pixels than the product's."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    files = {}
    rgb16 = rng.integers(0, 65536, (12, 10, 3), dtype=np.uint16)
    files["rgb16.png"] = rgb16[:, :, ::-1]  # cv2 writes BGR
    files["gray16.png"] = rng.integers(0, 65536, (12, 10), dtype=np.uint16)
    files["gray8.png"] = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    for name, pixels in files.items():
        assert cv2.imwrite(str(folder / name), np.ascontiguousarray(pixels))
    tifffile.imwrite(folder / "rgb16.tif", rgb16, photometric="rgb")
    tifffile.imwrite(folder / "gray16.tif", rgb16[:, :, 0], photometric="minisblack")
    # A portrait photo stored sideways with EXIF orientation 6, as cameras write it.
    upright = np.zeros((16, 24, 3), np.uint8)
    upright[:8] = (250, 20, 20)  # red top half: where it ends up shows the orientation
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1)))
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(folder / "rotated.jpg", quality=95, exif=exif.tobytes())
    palette = Image.fromarray(rng.integers(0, 4, (12, 10), dtype=np.uint8), "P")
    palette.putpalette([0, 0, 0, 80, 80, 80, 160, 160, 160, 255, 255, 255] + [0] * 756)
    palette.save(folder / "palette_gray.png")
    return {p.name: p for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("channels", [None, 1, 3])
def test_dataset_and_benchmark_loaders_read_what_run_reads(tmp_path, channels):
    files = _image_files(tmp_path / "images")
    expected = {name: read_pixels(path, channels) for name, path in files.items()}
    for name, path in files.items():
        pixels = read_image(path).pixels  # what `fastdenoise run` denoises
        if channels is None or channels == pixels.shape[2]:
            np.testing.assert_array_equal(expected[name], pixels, err_msg=name)
        assert expected[name].shape[2] == (channels or pixels.shape[2]), name
    rotated = expected["rotated.jpg"]
    assert rotated.shape[:2] == (16, 24)  # EXIF orientation applied, as run applies it
    assert rotated[:4].mean() > 50 > rotated[-4:].mean()  # the bright half on top
    assert read_pixels(files["rgb16.png"]).dtype == np.uint16  # 16 bits kept

    loaded = datasets.load_clean([tmp_path / "images"], channels)
    for got, name in zip(loaded, files, strict=True):
        np.testing.assert_array_equal(got, expected[name], err_msg=f"load_clean {name}")
    pairs = [(files["rotated.jpg"], files["rotated.jpg"]), (files["rgb16.png"], files["rgb16.tif"])]
    for (noisy, clean), (a, b) in zip(datasets.load_pairs(pairs, channels), pairs, strict=True):
        np.testing.assert_array_equal(noisy, read_pixels(a, channels))
        np.testing.assert_array_equal(clean, read_pixels(b, channels))
    if channels is None:
        for (name, got), path in zip(
            bench.folder_images(tmp_path / "images"), files.values(), strict=True
        ):
            np.testing.assert_array_equal(got, expected[path.name], err_msg=f"bench {name}")


@pytest.mark.filterwarnings("ignore:divide by zero")  # output == clean: infinite PSNR
def test_evaluation_scores_the_pixels_run_reads(tmp_path):
    files = _image_files(tmp_path / "images")
    seen = []

    def fn(noisy: np.ndarray) -> np.ndarray:
        seen.append(noisy)
        return noisy

    evaluate._evaluate_folder(fn, tmp_path / "images", lambda c, i: c, "none", 3, None)
    for got, path in zip(seen, files.values(), strict=True):
        np.testing.assert_array_equal(got, read_pixels(path, 3), err_msg=path.name)


_FILE_DECODERS = re.compile(r"cv2\.imread\b|Image\.open\(|imageio|tifffile\.(imread|TiffFile)\b")


def _lines_matching(pattern: re.Pattern[str], allowed: set[Path]) -> list[str]:
    """``file:line`` of every line of fastdenoise/, kernels/, engines/ and bench/ (but ``allowed``)
    that ``pattern`` finds."""
    return [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("fastdenoise", "kernels", "engines", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_only_io_decodes_image_files():
    """Every other module reads image files through fastdenoise.io (read_image/read_pixels).

    bench_startup.py times `fastdenoise run` against an OpenCV one-liner (its reference).
    """
    allowed = {ROOT / "fastdenoise" / "io.py", ROOT / "bench" / "bench_startup.py"}
    assert _lines_matching(_FILE_DECODERS, allowed) == []


# ------------------------------------------------------------------ one atomic-write helper


def _save_checkpoint(path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    from fastdenoise.train import save_weights

    save_weights(path, {"w": torch.zeros(3)})


def _save_json(path: Path) -> None:
    pytest.importorskip("torch")
    from fastdenoise.train import write_json

    write_json(path, {"step": 1})


def _cache_entry(path: Path) -> None:
    from fastdenoise.engines import cache

    cache.get_or_build("m", ".onnx", {"k": 1}, lambda out: out.write_bytes(b"onnx"), path.parent)


def _export_copy(path: Path) -> None:
    from fastdenoise import cli_export

    source = path.parent.parent / "model.onnx"
    source.write_bytes(b"onnx bytes")
    cli_export.copy_atomic(source, path)


def _image_output(path: Path) -> None:
    write_atomic(path, b"encoded image")


def _unchanged_copy(path: Path) -> None:
    source = path.parent.parent / "input.png"
    source.write_bytes(b"the input's bytes")
    copy_atomic(Origin.of(source, source.stat()), path)


WRITERS = {
    "checkpoint": _save_checkpoint,
    "checkpoint-json": _save_json,
    "cache-entry": _cache_entry,
    "export-copy": _export_copy,
    "image-output": _image_output,
    "unchanged-copy": _unchanged_copy,
}


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("name", WRITERS)
def test_every_write_gets_the_umask_mode(tmp_path, name, umask_027):
    out = tmp_path / "out"
    out.mkdir()
    WRITERS[name](out / "target.bin")
    written = sorted(out.iterdir())
    assert written, name
    for path in written:  # no temporary file left, no 0600 or fixed 0644 file
        assert not path.name.startswith("."), path.name
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, (path.name, oct(path.stat().st_mode))


@pytest.mark.parametrize("name", WRITERS)
def test_a_failed_write_leaves_no_temporary_file(tmp_path, name, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "target.bin").write_bytes(b"old")

    def no_space(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        WRITERS[name](out / "target.bin")
    assert [p.name for p in out.iterdir()] == ["target.bin"]
    assert (out / "target.bin").read_bytes() == b"old"


def test_umask_is_read_without_changing_it():
    previous = os.umask(0o027)
    try:
        assert atomic.umask() == 0o027
        assert atomic.file_mode() == 0o640
        assert os.umask(0o027) == 0o027  # unchanged by reading it
    finally:
        os.umask(previous)


def test_temporary_names_fit_the_name_limit(tmp_path):
    target = tmp_path / ("x" * 250 + ".png")
    temp = atomic.temp_path_for(target)
    assert temp.parent == tmp_path and temp.name.startswith(".")
    assert len(os.fsencode(temp.name)) <= 255 and temp.name.endswith(atomic.TEMP_SUFFIX)


def test_only_the_atomic_module_renames_into_place():
    allowed = {ROOT / "fastdenoise" / "atomic.py"}
    pattern = re.compile(r"os\.replace\(|os\.rename\(|\.replace\(tmp|\.rename\(|mkstemp\(")
    assert _lines_matching(pattern, allowed) == []


# ----------------------------------------------------------------- one noise estimator


@pytest.mark.parametrize("method", ["nlm", "wiener"])
@pytest.mark.parametrize("gray", [True, False])
def test_filter_default_level_is_analyzes_estimate(method, gray):
    clean = photo(96, 112, gray=gray)
    noisy = np.clip(gaussian_noisy(clean, 25, seed=3), 0, 1)
    pixels = (noisy * 255).round().astype(np.uint8)
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    bound = methods.get(method).build(device="cpu").prepare(pixels)
    assert bound.sigma == analyze.identify(pixels).sigma
    assert 20 < bound.sigma < 30
