"""XMP and IPTC are carried through `run` like EXIF and ICC, in every container that holds them."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from fastdenoise.cli import app
from tests.conftest import noisy_rgb

XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>'
    b"<rdf:li>caf\xc3\xa9</rdf:li><rdf:li>night</rdf:li></rdf:Bag></dc:subject>"
    b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
# IPTC-NAA (IIM): record 2 version, keywords "harbour", by-line "Ann"
IPTC = b"\x1c\x02\x00\x00\x02\x00\x04" + b"\x1c\x02\x19\x00\x07harbour" + b"\x1c\x02\x50\x00\x03Ann"

runner = CliRunner()


def _jpeg_with_iptc(path: Path, pixels: np.ndarray) -> None:
    """A JPEG with XMP (APP1, by Pillow) and IPTC in an APP13 Photoshop resource 0x0404."""
    Image.fromarray(pixels).save(path, quality=90, xmp=XMP)
    resource = (
        b"8BIM" + struct.pack(">HHI", 0x0404, 0, len(IPTC)) + IPTC + b"\x00" * (len(IPTC) % 2)
    )
    payload = b"Photoshop 3.0\x00" + resource
    data = path.read_bytes()
    app0_end = 4 + struct.unpack(">H", data[4:6])[0]  # SOI, APP0 (JFIF)
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:app0_end] + segment + data[app0_end:])


def write_source(path: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` to ``path`` carrying XMP, and IPTC where the container holds it."""
    suffix = path.suffix
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        Image.fromarray(pixels).save(path, pnginfo=info)
    elif suffix == ".jpg":
        _jpeg_with_iptc(path, pixels)
    elif suffix == ".webp":
        Image.fromarray(pixels).save(path, xmp=XMP, lossless=True)
    elif suffix == ".tif" and pixels.dtype == np.uint8:
        Image.fromarray(pixels).save(path, tiffinfo={700: XMP, 33723: IPTC})
    else:
        extratags = [(700, 1, len(XMP), XMP, True), (33723, 7, len(IPTC), IPTC, True)]
        tifffile.imwrite(path, pixels, photometric="rgb", extratags=extratags)


def read_xmp_iptc(path: Path) -> tuple[bytes | None, bytes | None]:
    """XMP and IPTC of a written file, read with Pillow (JPEG, PNG, WebP) or tifffile (TIFF)."""
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages.first.tags
            xmp, iptc = tags.get(700), tags.get(33723)
            return (xmp and bytes(xmp.value)), (iptc and bytes(iptc.value))
    with Image.open(path) as image:
        photoshop = image.info.get("photoshop") or {}
        return image.info.get("xmp"), photoshop.get(0x0404)


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["run", *args, "-m", "test-box", "--json", "-q"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"][0]


CONTAINERS = [("a.png", np.uint8), ("a.jpg", np.uint8), ("a.webp", np.uint8)]
CONTAINERS += [("a.tif", np.uint8), ("a16.tif", np.uint16)]


@pytest.mark.parametrize(("name", "depth"), CONTAINERS)
def test_xmp_and_iptc_survive_a_run(rng, tmp_path, name, depth):
    pixels = noisy_rgb(rng, 32, 40).astype(depth) * (257 if depth == np.uint16 else 1)
    source = tmp_path / name
    write_source(source, pixels)
    holds_iptc = name.endswith((".jpg", ".tif"))
    assert read_xmp_iptc(source) == (XMP, IPTC if holds_iptc else None)  # the input has them
    result = run_json(str(source), "-o", str(tmp_path / "out"))
    xmp, iptc = read_xmp_iptc(tmp_path / "out" / name)
    assert xmp == XMP
    assert iptc == (IPTC if holds_iptc else None)
    assert not any("XMP" in note or "IPTC" in note for note in result["notes"])


@pytest.mark.parametrize(("target", "note"), [("png", "IPTC not copied"), ("webp", "IPTC not")])
def test_iptc_dropped_with_a_note_where_the_container_has_none(rng, tmp_path, target, note):
    source = tmp_path / "a.jpg"
    write_source(source, noisy_rgb(rng, 32, 40))
    result = run_json(str(source), "-o", str(tmp_path / "out"), "-f", target)
    assert read_xmp_iptc(tmp_path / "out" / f"a.{target}")[0] == XMP  # XMP still kept
    assert any(n.startswith(note) for n in result["notes"]), result["notes"]


def test_jpeg_iptc_converted_into_tiff_tags(rng, tmp_path):
    source = tmp_path / "a.jpg"
    write_source(source, noisy_rgb(rng, 32, 40))
    run_json(str(source), "-o", str(tmp_path / "out"), "-f", "tif")
    assert read_xmp_iptc(tmp_path / "out" / "a.tif") == (XMP, IPTC)


def test_bmp_output_notes_every_dropped_kind(rng, tmp_path):
    source = tmp_path / "a.tif"
    write_source(source, noisy_rgb(rng, 32, 40))
    result = run_json(str(source), "-o", str(tmp_path / "out"), "-f", "bmp")
    assert "XMP/IPTC not copied (BMP carries no metadata)" in result["notes"]


def test_xmp_orientation_follows_the_turned_pixels(rng, tmp_path):
    source = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    xmp = XMP.replace(b'xmp:Rating="4"', b'xmp:Rating="4" tiff:Orientation="6"')
    Image.fromarray(noisy_rgb(rng, 32, 40)).save(source, exif=exif, xmp=xmp)
    run_json(str(source), "-o", str(tmp_path / "out"))
    written = read_xmp_iptc(tmp_path / "out" / "turned.jpg")[0]
    assert written == xmp.replace(b'tiff:Orientation="6"', b'tiff:Orientation="1"')


def test_jpeg_with_exif_sub_ifd_converts_to_tiff(rng, tmp_path):
    """Pillow's libtiff writer cannot write the Exif sub-IFD: IFD0 tags kept, a note, no failure."""
    source = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09"}  # DateTimeOriginal, in the Exif sub-IFD
    Image.fromarray(noisy_rgb(rng, 32, 40)).save(source, exif=exif, xmp=XMP)
    result = run_json(str(source), "-o", str(tmp_path / "out"), "-f", "tif")
    with Image.open(tmp_path / "out" / "camera.tif") as image:
        assert image.getexif().get(0x010F) == "TestCam"
        assert image.info.get("xmp") == XMP
    assert any("sub-IFDs not copied" in note for note in result["notes"])
