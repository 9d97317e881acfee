"""PNG output written strip by strip into its file and checked by streaming (issue 21).

The writer must produce files OpenCV and Pillow decode to the very pixels, with the metadata
chunks after IHDR and about the size OpenCV's encoder (libpng, the reference here) makes,
never touch the caller's arrays, and hold neither the encoded file nor a copy of the pixels.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fastdenoise import io
from fastdenoise.io import ImageError, Layout, Picture, encode_image, verify_encoded, write_image

ICC = bytes(range(256)) * 3
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    return exif.tobytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _opencv_png(pixels: np.ndarray, alpha: np.ndarray | None) -> bytes:
    """What ``io._encode_png`` wrote before issue 21: cv2.imencode of a BGR(A) copy."""
    if pixels.shape[2] == 1 and alpha is not None:
        pixels = np.repeat(pixels, 3, axis=2)
    planes = pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None]], axis=2)
    planes = (
        planes[:, :, 0] if planes.shape[2] == 1 else planes[:, :, [2, 1, 0, 3][: planes.shape[2]]]
    )
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(planes))
    assert ok
    return encoded.tobytes()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(kind, body) of every chunk of a PNG."""
    position, chunks = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def _idat_bytes(data: bytes) -> int:
    return sum(len(body) for kind, body in _chunks(data) if kind == b"IDAT")


def _decoded(data: bytes) -> np.ndarray:
    """OpenCV's decode of ``data`` as RGB(A) samples, HxWxC."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 2:
        return image[:, :, None]
    return image[:, :, [2, 1, 0, 3][: image.shape[2]]]


def _picture(pixels: np.ndarray, alpha: np.ndarray | None, metadata: bool) -> Picture:
    if not metadata:
        return Picture(pixels, alpha, "PNG")
    return Picture(pixels, alpha, "PNG", exif=_exif(), icc=ICC, xmp=XMP)


def _image(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    top = np.iinfo(dtype).max
    image = rng.integers(0, top + 1, shape, dtype=np.int64).astype(dtype)
    image[: shape[0] // 2] //= 64  # a smoother half: long zlib matches as well as literals
    return image


LAYOUTS = [  # dtype, channels, alpha (8-bit gray+alpha goes through Pillow)
    (np.uint8, 1, False),
    (np.uint8, 3, False),
    (np.uint8, 3, True),
    (np.uint16, 1, False),
    (np.uint16, 1, True),
    (np.uint16, 3, False),
    (np.uint16, 3, True),
]


@pytest.mark.parametrize(("dtype", "channels", "with_alpha"), LAYOUTS)
@pytest.mark.parametrize("size", [(1, 1), (9, 1), (1, 7), (13, 17), (300, 401), (1500, 1200)])
def test_png_decodes_to_the_pixels_at_opencvs_size(rng, dtype, channels, with_alpha, size):
    pixels = _image(rng, (*size, channels), dtype)
    alpha = _image(rng, size, dtype) if with_alpha else None
    metadata = size == (13, 17) or size == (1500, 1200)
    encoded = encode_image(_picture(pixels, alpha, metadata), "PNG")
    planes = np.repeat(pixels, 3, axis=2) if channels == 1 and with_alpha else pixels
    expected = planes if alpha is None else np.concatenate([planes, alpha[:, :, None]], axis=2)
    decoded = _decoded(encoded)
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, expected)
    kinds = [kind for kind, _ in _chunks(encoded)]
    extra = [b"iCCP", b"eXIf", b"iTXt"] if metadata else []
    assert kinds[: 1 + len(extra)] == [b"IHDR", *extra]
    assert set(kinds[1 + len(extra) : -1]) == {b"IDAT"} and kinds[-1] == b"IEND"
    idat, reference = _idat_bytes(encoded), _idat_bytes(_opencv_png(pixels, alpha))
    assert abs(idat - reference) <= max(16, reference // 100)  # libpng's settings, kept


def test_float_png_is_16_bit_as_before(rng):
    pixels = rng.random((40, 30, 3)).astype(np.float32)
    notes: list[str] = []
    encoded = encode_image(Picture(pixels, None, "PNG"), "PNG", notes=notes)
    np.testing.assert_array_equal(_decoded(encoded), np.rint(pixels * 65535).astype(np.uint16))
    assert notes == ["float32 pixels stored as uint16 (PNG)"]


def test_encoding_leaves_the_callers_arrays_alone(rng, tmp_path):
    """Read-only arrays: an in-place channel swap (or any write) would raise."""
    pixels = _image(rng, (64, 50, 3), np.uint8)
    alpha = _image(rng, (64, 50), np.uint8)
    kept_pixels, kept_alpha = pixels.copy(), alpha.copy()
    pixels.flags.writeable = alpha.flags.writeable = False
    picture = _picture(pixels, alpha, True)
    encoded = encode_image(picture, "PNG")
    write_image(picture, "PNG", tmp_path / "out.png")
    np.testing.assert_array_equal(pixels, kept_pixels)
    np.testing.assert_array_equal(alpha, kept_alpha)
    assert (tmp_path / "out.png").read_bytes() == encoded
    with Image.open(tmp_path / "out.png") as image:
        assert image.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(image)[:, :, :3], kept_pixels)
        assert image.info.get("icc_profile") == ICC
        assert image.getexif()[0x010F] == "TestCam"
        assert XMP.decode() in str(image.info.get("XML:com.adobe.xmp"))


def test_write_image_holds_no_copy_of_the_image(tmp_path):
    """Python-side allocations (numpy's included) stay well under the pixels' size."""
    side = 4000  # 48 MB of pixels; the writer and the check work on ~4 MB strips
    ramp = (np.arange(side) * 128 // side).astype(np.uint8)
    pixels = np.empty((side, side, 3), np.uint8)
    pixels[:] = np.add.outer(ramp, ramp)[:, :, None]
    tracemalloc.start()
    try:
        write_image(Picture(pixels, None, "PNG"), "PNG", tmp_path / "big.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < pixels.nbytes // 2, f"{peak / 1e6:.1f} MB traced for {pixels.nbytes / 1e6} MB"
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "big.png"))[:, :, ::-1], pixels)


def test_write_image_checks_the_file_it_wrote(rng, tmp_path, monkeypatch):
    """A wrong or broken encoding is caught by reading the file back; nothing is left."""
    pixels = _image(rng, (20, 30, 3), np.uint8)
    whole = encode_image(Picture(pixels, None, "PNG"), "PNG")

    def truncated(stream, *args, **kwargs) -> None:
        stream.write(whole[:-20])

    monkeypatch.setattr(io, "_write_png", truncated)
    with pytest.raises(ImageError, match="output check failed"):
        write_image(Picture(pixels, None, "PNG"), "PNG", tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def _one_idat(data: bytes) -> bytes:
    """The same PNG with all its IDAT chunks merged into one."""
    chunks = _chunks(data)
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    out = data[:8]
    for kind, body in chunks:
        if kind == b"IEND":
            out += _chunk(b"IDAT", idat)
        if kind != b"IDAT":
            out += _chunk(kind, body)
    return out


def test_stream_check_of_a_chunk_over_several_pieces(rng):
    """One IDAT chunk larger than the 4 MB read piece: checked, and its CRC still counts."""
    pixels = rng.integers(0, 256, (1500, 1200, 3), dtype=np.uint8)  # ~5.4 MB, incompressible
    data = _one_idat(encode_image(Picture(pixels, None, "PNG"), "PNG"))
    assert len(data) > io._PNG_PIECE + 1000
    layout = Layout(1500, 1200, 3, np.dtype(np.uint8), False)
    verify_encoded(data, layout)
    damaged = bytearray(data)
    damaged[-100] ^= 0x01  # in the chunk's last piece: its CRC catches it before it is used
    with pytest.raises(ImageError, match="CRC mismatch"):
        verify_encoded(bytes(damaged), layout)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[:-6], "truncated PNG"),
        (lambda d: d[:-12], "no IEND"),
        (lambda d: d + b"\x00", "data after IEND"),
        (lambda d: d[:60] + bytes([d[60] ^ 1]) + d[61:], "CRC mismatch"),
    ],
)
def test_stream_check_refuses_a_damaged_png(rng, damage, reason):
    pixels = _image(rng, (40, 50, 3), np.uint8)
    data = encode_image(Picture(pixels, None, "PNG"), "PNG")
    layout = Layout(40, 50, 3, np.dtype(np.uint8), False)
    verify_encoded(data, layout)
    with pytest.raises(ImageError, match=reason):
        verify_encoded(damage(data), layout)


def test_stream_check_compares_the_layout(rng):
    data = encode_image(Picture(_image(rng, (40, 50, 3), np.uint8), None, "PNG"), "PNG")
    with pytest.raises(ImageError, match="meant 40x50"):
        verify_encoded(data, Layout(50, 40, 3, np.dtype(np.uint8), False))


def test_check_decodes_what_it_cannot_stream(rng, tmp_path):
    """A palette PNG is decoded in full (from the stream) instead."""
    buffer = BytesIO()
    Image.fromarray(_image(rng, (10, 12, 3), np.uint8)).convert("P").save(buffer, format="PNG")
    verify_encoded(buffer.getvalue(), Layout(10, 12, 3, np.dtype(np.uint8), False))


def test_pipeline_output_is_the_encoded_picture(rng, tmp_path):
    """fastdenoise run writes, through write_image, exactly what encode_image gives."""
    from fastdenoise.io import read_image
    from fastdenoise.pipeline import PipelineOptions, write_stage
    from fastdenoise.sources import Job

    pixels = _image(rng, (33, 44, 3), np.uint8)
    source = tmp_path / "in.png"
    Image.fromarray(pixels).save(source)
    picture = read_image(source)
    job = Job(source, tmp_path / "out" / "in.png", "in.png")
    result = write_stage(job, picture, "test", 0.0, 0.0, PipelineOptions())
    assert result.status == "ok", result.reason
    assert Path(result.destination).read_bytes() == encode_image(picture, "PNG")
