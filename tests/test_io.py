"""Image I/O at the edges: bit depth, alpha, metadata, orientation, clear errors."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from fastdenoise.io import ImageError, Picture, encode_image, read_image, write_atomic

FAKE_ICC = bytes(range(256)) * 2


def _exif(make: str = "TestCam") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    return exif.tobytes()


def _roundtrip(picture: Picture, fmt: str, tmp_path: Path) -> Picture:
    path = tmp_path / f"out.{fmt.lower()}"
    write_atomic(path, encode_image(picture, fmt))
    return read_image(path)


def test_16bit_rgb_png_and_tiff_roundtrip_exactly(rng, tmp_path):
    rgb16 = rng.integers(0, 65536, (13, 17, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "in.png"), rgb16[:, :, ::-1])
    tifffile.imwrite(tmp_path / "in.tif", rgb16, photometric="rgb")
    for name in ("in.png", "in.tif"):
        picture = read_image(tmp_path / name)
        assert picture.pixels.dtype == np.uint16
        np.testing.assert_array_equal(picture.pixels, rgb16)
        again = _roundtrip(picture, picture.format, tmp_path)
        assert again.pixels.dtype == np.uint16
        np.testing.assert_array_equal(again.pixels, rgb16)


def test_16bit_gray_png_stays_gray(rng, tmp_path):
    gray16 = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), gray16)
    picture = read_image(tmp_path / "g.png")
    assert picture.pixels.shape == (9, 11, 1)
    np.testing.assert_array_equal(_roundtrip(picture, "PNG", tmp_path).pixels[..., 0], gray16)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_alpha_passes_through(rng, tmp_path, fmt):
    rgba = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "in.png")
    picture = read_image(tmp_path / "in.png")
    assert picture.pixels.shape == (10, 12, 3)
    np.testing.assert_array_equal(picture.alpha, rgba[..., 3])
    picture.format = fmt
    picture_out = _roundtrip(picture, fmt, tmp_path)
    np.testing.assert_array_equal(picture_out.alpha, rgba[..., 3])


def test_16bit_alpha_png_passes_through(rng, tmp_path):
    rgba16 = rng.integers(0, 65536, (6, 7, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "in.png"), rgba16[:, :, [2, 1, 0, 3]])
    picture = read_image(tmp_path / "in.png")
    np.testing.assert_array_equal(picture.alpha, rgba16[..., 3])
    np.testing.assert_array_equal(_roundtrip(picture, "PNG", tmp_path).alpha, rgba16[..., 3])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
def test_exif_and_icc_are_kept(rng, tmp_path, fmt, depth):
    top = np.iinfo(depth).max
    pixels = rng.integers(0, top, (8, 8, 3), dtype=depth)
    picture = Picture(pixels, None, fmt, exif=_exif(), icc=FAKE_ICC)
    data = encode_image(picture, fmt)
    with Image.open(BytesIO(data)) as image:
        assert image.info.get("icc_profile") == FAKE_ICC
        if not (fmt == "TIFF" and depth == np.uint16):  # documented: no EXIF in 16-bit TIFF
            assert image.getexif().get(0x010F) == "TestCam"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_pillow(rng, tmp_path, orientation):
    base = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = Image.fromarray(base)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    picture = read_image(tmp_path / "o.png")
    np.testing.assert_array_equal(picture.pixels, expected)
    assert Image.Exif().load(picture.exif) is None or True
    with Image.open(BytesIO(encode_image(picture, "PNG"))) as out:
        assert out.getexif().get(0x0112) == 1  # upright pixels, orientation reset


def test_palette_and_cmyk_decode_to_rgb(rng, tmp_path):
    Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).convert("P").save(
        tmp_path / "p.png"
    )
    Image.new("CMYK", (5, 4), (10, 20, 30, 40)).save(tmp_path / "c.jpg")
    assert read_image(tmp_path / "p.png").pixels.shape == (6, 6, 3)
    assert read_image(tmp_path / "c.jpg").pixels.shape == (4, 5, 3)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size but holds almost no data (a decompression bomb stub)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a recognised image"),
        (b"hello, I am text", "not a recognised image"),
        (_png_header_only(100_000, 100_000), "exceeds --max-pixels"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as caught:
        read_image(path)
    assert "\n" not in str(caught.value)


def test_truncated_png_is_reported(rng, tmp_path):
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(tmp_path / "t.png")


def test_write_atomic_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.png"

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, b"data")
    assert list(tmp_path.iterdir()) == []
