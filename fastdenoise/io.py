"""Image decoding and encoding at the edges: bit depth, alpha, EXIF/ICC, checked atomic writes.

Inside the library an image is :class:`Picture`: upright ``HxWxC`` pixels (C = 1 or 3, RGB
order) in their native dtype (uint8, uint16 or float32), alpha kept aside untouched, the
metadata to re-attach on output, and ``notes``: what could not be kept exactly (a CMYK
conversion, an int16 offset...), reported per file.

EXIF orientation: pixels are rotated upright when read (the same transform as
``PIL.ImageOps.exif_transpose``) and outputs carry orientation 1, so every viewer shows the
output the way it showed the input, and tiles never see a sideways image.

Decoders: only regular files are opened (a FIFO or device is refused first). TIFF goes
through tifffile with its codecs (imagecodecs: LZW, deflate, JPEG, packbits, tiled, planar,
BigTIFF), keeping the bit depth; Pillow is a fallback for 8-bit TIFF layouts tifffile cannot
decode, and what cannot be read faithfully is refused. 16-bit PNG pixels come from OpenCV
(Pillow truncates 16-bit colour PNG to 8 bits); everything else from Pillow.

Metadata carried over is metadata only: ICC, XMP, IPTC-NAA, and EXIF reduced to its
descriptive IFD0 tags plus the Exif and GPS sub-IFDs, never a TIFF container's structural tags
(Pillow's ``getexif()`` on a TIFF returns BitsPerSample, StripOffsets...). XMP lives in PNG
iTXt ``XML:com.adobe.xmp``, JPEG APP1, TIFF tag 700 and the WebP ``XMP`` chunk; IPTC in JPEG
APP13 (Photoshop resource 0x0404) and TIFF tag 33723. A container that cannot hold one of
them (BMP: none; PNG and WebP: no IPTC) drops it with a note.

Size guard: before decoding, the memory the image will take through a run (native copies
in the decoder, the queues, the output and its check, plus float32 work copies) is estimated
from its header and compared with ``max_memory``; ``max_pixels`` is checked as well.

Every output is encoded straight into a temporary file beside its target, read back from it
and compared (size, channels, dtype, alpha) with what was meant before it is renamed into
place (:func:`write_image`, :func:`check_encoded`). PNG, the default output, is written and
checked in row strips: no encoded copy and no second decoded image of a huge picture is held.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from fastdenoise import atomic
from fastdenoise.tiler import from_float, to_float

if TYPE_CHECKING:
    import tifffile

Image.MAX_IMAGE_PIXELS = None  # we check the pixel count ourselves, before decoding

FORMAT_BY_SUFFIX = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
SUFFIX_BY_FORMAT = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp"}
EIGHT_BIT_FORMATS = {"JPEG", "WEBP", "BMP"}
LOSSLESS_FORMATS = {"PNG", "TIFF", "BMP"}
DEFAULT_MAX_PIXELS = 500_000_000
DEFAULT_MAX_MEMORY = 4 * 1024**3
# Peak bytes one image adds to a run, in units of its decoded native samples and of a
# float32 copy of them (file bytes, decoder buffers - Pillow keeps RGB as 4 bytes a pixel -,
# the picture, the output, its encoding and the check decode; float tiles, whole-image ones
# with --tile 0). Measured peak RSS over the 0.2 GB start-up (median, default tile):
# 48 MP 8-bit RGB PNG 0.94 GB (estimate 1.15), 64 MP 16-bit RGBA PNG 2.17 GB (estimate 3.1).
_NATIVE_COPIES = 4
_FLOAT_COPIES = 1
_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_STRIP_BYTES = 8 << 20  # rows copied out of a Pillow image at a time
# IFD0 tags that describe the picture rather than the container (EXIF 2.3, TIFF 6.0): the
# only IFD0 entries copied. 0x8769/0x8825 point at the Exif and GPS sub-IFDs.
_EXIF_IFD0_TAGS = (
    0x010E,  # ImageDescription
    0x010F,  # Make
    0x0110,  # Model
    0x011A,  # XResolution
    0x011B,  # YResolution
    0x0128,  # ResolutionUnit
    0x0131,  # Software
    0x0132,  # DateTime
    0x013B,  # Artist
    0x013C,  # HostComputer
    0x8298,  # Copyright
)
_EXIF_SUB_IFDS = (0x8769, 0x8825)  # Exif, GPSInfo
_TIFF_XMP = 700
_TIFF_IPTC = 33723
_IRB_IPTC = 0x0404  # the IPTC-NAA record among a JPEG's Photoshop image resources (APP13)
_PHOTOSHOP = b"Photoshop 3.0\x00"
_XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
_JPEG_XMP_MAX = 65533 - 29  # one APP1 segment less its "http://ns.adobe.com/xap/1.0/\0"
_JPEG_IPTC_MAX = 65533 - 26  # one APP13 segment less its Photoshop/8BIM headers
_XMP_ORIENTATION = (  # tiff:Orientation as an attribute or an element, not 1
    re.compile(rb"(tiff:Orientation\s*=\s*[\"'])[2-8]([\"'])"),
    re.compile(rb"(<tiff:Orientation>\s*)[2-8](\s*</tiff:Orientation>)"),
)


class ImageError(Exception):
    """A file that cannot be read or written as an image; the message is one line."""


class SourceChanged(ImageError):
    """The input file is gone or differs from the one decoded, so it cannot be copied."""


@dataclass(frozen=True)
class Origin:
    """The file a picture was decoded from, as it was then (to copy it later, unchanged).

    No device number: on shared storage it differs between the machines that mount it, and
    a Ray worker may write what another one read.
    """

    path: Path
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path, status: os.stat_result) -> Origin:
        """The origin of ``path`` from the ``stat`` of the descriptor it was read through."""
        return cls(path, status.st_ino, status.st_size, status.st_mtime_ns)


@dataclass
class Picture:
    """Decoded image: upright native pixels, optional alpha, metadata to carry over."""

    pixels: np.ndarray  # HxWxC, C in (1, 3)
    alpha: np.ndarray | None  # HxW, same dtype as pixels
    format: str  # PNG, JPEG, TIFF, WEBP, BMP
    exif: bytes | None = None
    icc: bytes | None = None
    notes: list[str] = field(default_factory=list)  # what reading could not keep exactly
    lossless: bool = False  # the source was lossless WebP: WebP output stays lossless
    xmp: bytes | None = None  # the XMP packet (orientation reset to 1 when pixels were turned)
    iptc: bytes | None = None  # the IPTC-NAA record (IIM datasets)
    origin: Origin | None = None  # the file read (None for pictures decoded from memory)
    unchanged: bool = False  # the pixels are the source's, untouched (the file may be copied)

    @property
    def megapixels(self) -> float:
        return self.pixels.shape[0] * self.pixels.shape[1] / 1e6


@dataclass(frozen=True)
class Layout:
    """What an encoded file must decode to."""

    height: int
    width: int
    channels: int
    dtype: np.dtype
    alpha: bool

    def describe(self) -> str:
        alpha = " + alpha" if self.alpha else ""
        return f"{self.width}x{self.height} {self.channels} channel(s){alpha} {self.dtype}"


@dataclass(frozen=True)
class Limits:
    """Refuse images above these before decoding them."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory: int = DEFAULT_MAX_MEMORY


def format_for(path: Path) -> str | None:
    """The container format implied by a file name, or None if unsupported."""
    return FORMAT_BY_SUFFIX.get(path.suffix.lower())


def special_file_kind(mode: int) -> str | None:
    """'FIFO', 'device', 'socket' or 'directory' for a non-regular ``st_mode``; None if regular."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def parse_bytes(text: str, option: str = "size") -> int:
    """``4G``, ``512M``, ``2GiB`` or a plain byte count -> bytes (binary units)."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned[-1:] in units else (cleaned, "")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected a size such as 4G or 512M") from None
    if not value > 0:
        raise ValueError(f"{option} {text!r}: must be positive")
    return int(value)


def memory_needed(height: int, width: int, samples: int, itemsize: int) -> int:
    """Peak bytes one image of this size can take through a run (see ``_NATIVE_COPIES``)."""
    pixels = height * width
    return pixels * samples * (_NATIVE_COPIES * itemsize + _FLOAT_COPIES * 4)


def _check_size(height: int, width: int, samples: int, itemsize: int, limits: Limits) -> None:
    count = width * height
    if count > limits.max_pixels:
        raise ImageError(
            f"{width}x{height} = {count / 1e6:.0f} MP exceeds --max-pixels "
            f"{limits.max_pixels / 1e6:.0f} MP"
        )
    need = memory_needed(height, width, samples, itemsize)
    if need > limits.max_memory:
        raise ImageError(
            f"{width}x{height} x {samples} sample(s) of {8 * itemsize} bits needs about "
            f"{need / 1024**3:.1f} GiB to denoise, over --max-memory "
            f"{limits.max_memory / 1024**3:.1f} GiB"
        )


# ---------------------------------------------------------------------------------- reading


def read_image(
    path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, max_memory: int = DEFAULT_MAX_MEMORY
) -> Picture:
    """Decode an image file; raises :class:`ImageError` with a one-line reason.

    Only a regular file is opened: a FIFO, device or directory is refused from its ``stat``,
    and the open itself is non-blocking, so a file swapped for a FIFO cannot hang the reader.
    """
    with _reading_errors(path):
        kind = special_file_kind(os.stat(path).st_mode)
        if kind is not None:
            raise ImageError(f"not a regular file ({kind})")
        with _open_regular(path) as stream:
            picture = decode(stream, Limits(max_pixels, max_memory))
            picture.origin = Origin.of(path, os.fstat(stream.fileno()))
            return picture


def read_pixels(path: str | Path, channels: int | None = None) -> np.ndarray:
    """An image file's upright pixels alone: native ``HxWxC`` RGB, alpha and metadata dropped.

    The reader of training, evaluation and benchmark data: :func:`read_image`'s decoding
    (16-bit kept, EXIF orientation applied, float TIFF as float32). ``channels`` of 1 or 3
    converts gray <-> colour (colour to gray with OpenCV's ITU-R 601 weights). Raises
    ``OSError`` naming the file when it cannot be read.
    """
    try:
        pixels = read_image(Path(path)).pixels
    except ImageError as error:
        raise OSError(f"cannot read image {path}: {error}") from None
    if channels == 3 and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 1 and pixels.shape[2] == 3:
        import cv2

        pixels = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.ascontiguousarray(pixels)


def decode(stream: BinaryIO, limits: Limits | None = None) -> Picture:
    """Decode an image from a seekable binary stream (format from its content)."""
    limits = limits or Limits()
    with _reading_errors(None):
        head = stream.read(32)
        stream.seek(0)
        if head[:4] in _TIFF_SIGNATURES:
            picture = _read_tiff(stream, limits)
        else:
            picture = _read_pillow(stream, head, limits)
    _refuse_non_finite(picture.pixels)
    return picture


def _refuse_non_finite(pixels: np.ndarray) -> None:
    """NaN/inf pixels would silently break noise estimates and filters: refuse the file."""
    if pixels.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(pixels)))
        if bad:
            raise ImageError(f"float image with {bad} NaN or infinite sample(s); refused")


def _open_regular(path: Path) -> BinaryIO:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags)
    try:
        kind = special_file_kind(os.fstat(descriptor).st_mode)
        if kind is not None:
            raise ImageError(f"not a regular file ({kind})")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


@contextlib.contextmanager
def _reading_errors(path: Path | None) -> Iterator[None]:
    """Turn every decoder exception into a one-line :class:`ImageError`."""
    try:
        yield
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a recognised image file") from None
    except FileNotFoundError:
        dangling = path is not None and path.is_symlink()
        raise ImageError("dangling symlink" if dangling else "no such file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except IsADirectoryError:
        raise ImageError("not a regular file (directory)") from None
    except MemoryError:
        raise ImageError("out of memory while decoding") from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ImageError(f"corrupt or truncated image ({_one_line(exc)})") from None
    except Exception as exc:  # decoders raise many types on hostile input
        raise ImageError(f"corrupt image ({type(exc).__name__}: {_one_line(exc)})") from None


# ------------------------------------------------------------------- Pillow-decoded formats


def _read_pillow(stream: BinaryIO, head: bytes, limits: Limits) -> Picture:
    with Image.open(stream) as handle:
        fmt = "JPEG" if handle.format == "MPO" else handle.format
        if fmt not in SUFFIX_BY_FORMAT:
            raise ImageError(f"unsupported format {handle.format}")
        width, height = handle.size
        png16 = fmt == "PNG" and _png_bit_depth(head) == 16
        samples = 4 if handle.mode == "P" else len(handle.getbands())
        itemsize = 2 if png16 else (4 if handle.mode in ("I", "F") else 1)
        _check_size(height, width, samples, itemsize, limits)
        if getattr(handle, "n_frames", 1) > 1:
            raise ImageError(f"multi-frame image ({handle.n_frames} frames) not supported")
        notes: list[str] = []
        exif, orientation = _exif_of(handle, notes)
        icc = handle.info.get("icc_profile") or None
        xmp, iptc = _pillow_xmp_iptc(handle)
        if png16:
            stream.seek(0)
            pixels, alpha = _decode_png16(stream.read())
        else:
            pixels, alpha = _decode_pillow(handle, notes)
        if handle.mode == "CMYK" and icc:
            icc = None
            notes.append("CMYK ICC profile not copied (pixels converted to RGB)")
    pixels, alpha = _apply_orientation(pixels, alpha, orientation)
    lossless = fmt == "WEBP" and _webp_is_lossless(head)
    xmp = _upright_xmp(xmp, orientation)
    return Picture(pixels, alpha, fmt, exif, icc, notes, lossless, xmp, iptc)


def _exif_of(handle: Image.Image, notes: list[str]) -> tuple[bytes | None, int]:
    """(EXIF to carry over, orientation): descriptive tags only, orientation reset to 1."""
    try:
        exif = handle.getexif()
        orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
        return _clean_exif(exif), orientation if 1 <= orientation <= 8 else 1
    except Exception as exc:  # a broken EXIF block never costs the pixels
        notes.append(f"EXIF unreadable, not copied ({type(exc).__name__})")
        return None, 1


def _clean_exif(exif: Image.Exif) -> bytes | None:
    """EXIF reduced to descriptive IFD0 tags + Exif/GPS sub-IFDs, orientation 1; or None."""
    clean = Image.Exif()
    for tag in _EXIF_IFD0_TAGS:
        if tag in exif and not _is_layout_description(tag, exif[tag]):
            clean[tag] = exif[tag]
    for tag in _EXIF_SUB_IFDS:
        sub = exif.get_ifd(tag)
        if sub:
            clean[tag] = dict(sub)
    if _ORIENTATION_TAG in exif:
        clean[_ORIENTATION_TAG] = 1
    return clean.tobytes() if len(clean) else None


def _as_bytes(value: object) -> bytes | None:
    """A metadata value as bytes (XMP may come as text); None when absent or empty."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    return bytes(value) if isinstance(value, (bytes, bytearray)) and value else None


def _pillow_xmp_iptc(handle: Image.Image) -> tuple[bytes | None, bytes | None]:
    """XMP (any container Pillow reads) and IPTC (JPEG APP13, or a TIFF's tag 33723)."""
    xmp = _as_bytes(handle.info.get("xmp"))
    photoshop = handle.info.get("photoshop")
    iptc = _as_bytes(photoshop.get(_IRB_IPTC)) if isinstance(photoshop, dict) else None
    tags = getattr(handle, "tag_v2", None)
    if iptc is None and tags is not None:
        iptc = _as_bytes(tags.get(_TIFF_IPTC))
    return xmp, iptc


def _upright_xmp(xmp: bytes | None, orientation: int) -> bytes | None:
    """XMP whose ``tiff:Orientation`` says 1 once the pixels were turned upright."""
    if xmp is None or orientation == 1:
        return xmp
    for pattern in _XMP_ORIENTATION:
        xmp = pattern.sub(rb"\g<1>1\g<2>", xmp)
    return xmp


def _is_layout_description(tag: int, value: object) -> bool:
    """tifffile's JSON shape or ImageJ's header in ImageDescription: container layout."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return tag == 0x010E and text.lstrip().startswith(('{"shape"', "ImageJ="))


def _png_bit_depth(head: bytes) -> int:
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE:
        raise ImageError("corrupt PNG header")
    return head[24]


def _webp_is_lossless(head: bytes) -> bool:
    """RIFF/WEBP with a VP8L bitstream, plain or after a VP8X header (no animation here)."""
    if head[12:16] == b"VP8L":
        return True
    return head[12:16] == b"VP8X" and head[30:34] in (b"VP8L",)


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        yield kind, data[position + 8 : position + 8 + length]
        if kind in (b"IDAT", b"IEND"):
            return
        position += 12 + length


def _decode_png16(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16:
        raise ImageError("corrupt or truncated PNG")
    gray = data[25] in (0, 4)
    if decoded.ndim == 2:
        decoded = decoded[:, :, None]
    alpha = decoded[:, :, 3] if decoded.shape[2] == 4 else None
    pixels = decoded[:, :, :1] if gray else np.ascontiguousarray(decoded[:, :, 2::-1])
    if alpha is None:
        alpha = _trns_alpha16(data, pixels)
    return np.ascontiguousarray(pixels), alpha


def _trns_alpha16(data: bytes, pixels: np.ndarray) -> np.ndarray | None:
    """16-bit gray/RGB PNG with a tRNS colour key (OpenCV ignores it): the implied alpha."""
    chunk = next((body for kind, body in _png_chunks(data) if kind == b"tRNS"), None)
    channels = pixels.shape[2]
    if chunk is None or len(chunk) != 2 * channels:
        return None
    key = np.array(struct.unpack(f">{channels}H", chunk), dtype=np.uint16)
    transparent = np.all(pixels == key, axis=2)
    return np.where(transparent, 0, 65535).astype(np.uint16)


def _decode_pillow(handle: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    mode = handle.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(handle).astype(np.uint16)[:, :, None], None
    if mode in ("I", "F"):
        raise ImageError(
            f"32-bit {'integer' if mode == 'I' else 'float'} {handle.format} pixels not supported"
        )
    if mode not in ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK"):
        raise ImageError(f"{mode} pixels not supported")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB (naive, no colour management)")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in handle.info
    )
    gray = mode in ("1", "L", "LA", "La") or (mode in ("P", "PA") and _palette_is_gray(handle))
    target = ("LA" if has_alpha else "L") if gray else ("RGBA" if has_alpha else "RGB")
    return _pillow_strips(handle, target, 1 if gray else 3, has_alpha)


def _pillow_strips(
    handle: Image.Image, target: str, channels: int, has_alpha: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The decoded image copied out in row strips, each converted to ``target`` on its own.

    A whole-image ``convert`` (even to the same mode) plus ``tobytes`` would hold two more
    full copies next to Pillow's own; strips keep the extra to a few MB (issue 21).
    """
    handle.load()
    width, height = handle.size
    pixels = np.empty((height, width, channels), np.uint8)
    alpha = np.empty((height, width), np.uint8) if has_alpha else None
    rows = max(1, _STRIP_BYTES // (4 * width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = handle.crop((0, top, width, bottom))
        if strip.mode != target:
            strip = strip.convert(target)
        part = np.asarray(strip)
        if part.ndim == 2:
            part = part[:, :, None]
        pixels[top:bottom] = part[:, :, :channels]
        if alpha is not None:
            alpha[top:bottom] = part[:, :, -1]
    return pixels, alpha


def _palette_is_gray(handle: Image.Image) -> bool:
    palette = handle.getpalette() or []
    triples = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(len(triples)) and bool(np.all(triples == triples[:, :1]))


# ------------------------------------------------------------------------------------ TIFF


class _PHOTOMETRIC:  # tifffile.PHOTOMETRIC's values, without importing tifffile
    MINISWHITE, MINISBLACK, RGB, PALETTE, SEPARATED, YCBCR = 0, 1, 2, 3, 5, 6


_COMPRESSION_JPEG = 7  # tifffile.COMPRESSION.JPEG
_COLOUR_SAMPLES = {
    _PHOTOMETRIC.MINISBLACK: 1,
    _PHOTOMETRIC.MINISWHITE: 1,
    _PHOTOMETRIC.RGB: 3,
    _PHOTOMETRIC.YCBCR: 3,
    _PHOTOMETRIC.PALETTE: 1,
    _PHOTOMETRIC.SEPARATED: 4,
}
_TIFF_ICC = 34675


def _read_tiff(stream: BinaryIO, limits: Limits) -> Picture:
    """A TIFF's first image through tifffile, bit depth kept; 8-bit fallback to Pillow."""
    import tifffile  # imported when first needed: the CLI's start-up does not pay for it

    with tifffile.TiffFile(stream, name="image.tif") as tif:
        page = tif.pages.first
        _check_tiff_page(tif, page, limits)
        notes: list[str] = []
        try:
            array = page.asarray()
        except MemoryError:
            raise
        except Exception as exc:  # codec errors come in many types
            if page.bitspersample > 8:
                raise ImageError(f"cannot decode this TIFF ({_one_line(exc)})") from None
            return _read_tiff_with_pillow(stream, (page.imagelength, page.imagewidth), limits)
        pixels, alpha = _tiff_samples(page, _samples_last(array, page.axes), notes)
        orientation = _tiff_tag(page, _ORIENTATION_TAG, 1)
        icc = _tiff_tag(page, _TIFF_ICC, None)
        xmp, iptc = _tiff_raw_tag(tif, page, _TIFF_XMP), _tiff_raw_tag(tif, page, _TIFF_IPTC)
        has_exif = any(tag in page.tags for tag in (*_EXIF_IFD0_TAGS, *_EXIF_SUB_IFDS))
    if page.photometric in (_PHOTOMETRIC.SEPARATED, _PHOTOMETRIC.YCBCR) and icc:
        icc = None
        notes.append(f"{page.photometric.name} ICC profile not copied (pixels converted to RGB)")
    exif = _tiff_exif(stream, notes if has_exif else [])
    orientation = int(orientation) if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    pixels, alpha = _apply_orientation(pixels, alpha, orientation)
    icc = bytes(icc) if icc else None
    xmp = _upright_xmp(xmp, orientation)
    return Picture(pixels, alpha, "TIFF", exif, icc, notes, False, xmp, iptc)


def _check_tiff_page(tif: tifffile.TiffFile, page: tifffile.TiffPage, limits: Limits) -> None:
    samples = 3 if page.photometric == _PHOTOMETRIC.PALETTE else page.samplesperpixel
    itemsize = 2 if page.photometric == _PHOTOMETRIC.PALETTE else _tiff_itemsize(page)
    _check_size(page.imagelength, page.imagewidth, samples, itemsize, limits)
    if page.imagedepth > 1:
        raise ImageError(f"volumetric TIFF ({page.imagedepth} planes) not supported")
    if len(tif.pages) > 1:
        frames = sum(1 for p in tif.pages if not getattr(p, "subfiletype", 0) & 1)
        if frames > 1:
            raise ImageError(f"multi-frame image ({frames} frames) not supported")


def _tiff_itemsize(page: tifffile.TiffPage) -> int:
    if page.dtype is None:
        raise ImageError(f"TIFF sample format not supported ({page.bitspersample} bits)")
    return max(1, page.dtype.itemsize)


def _tiff_tag(page: tifffile.TiffPage, code: int, default: object) -> object:
    tag = page.tags.get(code)
    return default if tag is None else tag.value


def _tiff_raw_tag(tif: tifffile.TiffFile, page: tifffile.TiffPage, code: int) -> bytes | None:
    """A tag's value as the bytes stored (IPTC is often typed LONG, XMP BYTE); None if absent."""
    tag = page.tags.get(code)
    if tag is None:
        return None
    value = _as_bytes(tag.value)
    if value is not None:
        return value
    handle = tif.filehandle
    handle.seek(tag.valueoffset)
    return handle.read(tag.valuebytecount) or None


def _samples_last(array: np.ndarray, axes: str) -> np.ndarray:
    """(H, W, S) from tifffile's axes ('YX', 'YXS', 'SYX'); anything else is refused."""
    if any(axis not in "YXS" and size > 1 for axis, size in zip(axes, array.shape, strict=True)):
        raise ImageError(f"TIFF with axes {axes} not supported (one 2-D image expected)")
    kept = [axis for axis in axes if axis in "YXS"]
    array = array.reshape([n for a, n in zip(axes, array.shape, strict=True) if a in "YXS"])
    array = np.transpose(array, [kept.index(axis) for axis in "YXS" if axis in kept])
    return array[:, :, None] if array.ndim == 2 else array


def _tiff_samples(
    page: tifffile.TiffPage, array: np.ndarray, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour samples as gray/RGB in uint8/uint16/float32, and the alpha sample if any."""
    photometric = page.photometric
    colour = _COLOUR_SAMPLES.get(photometric)
    if colour is None:
        name = getattr(photometric, "name", photometric)
        raise ImageError(f"{name} TIFF not supported (no faithful RGB reading)")
    extra = array.shape[2] - colour
    if extra < 0 or extra > 1:
        raise ImageError(f"{photometric.name} TIFF with {array.shape[2]} samples not supported")
    pixels = array[:, :, :colour]
    alpha = array[:, :, colour] if extra else None
    if extra and page.extrasamples and page.extrasamples[0] == 1:
        notes.append("premultiplied (associated) alpha written as straight alpha")
    if photometric == _PHOTOMETRIC.PALETTE:
        return _apply_colormap(page, pixels[:, :, 0], notes), alpha
    pixels, alpha = _tiff_depth(pixels, notes), None if alpha is None else _tiff_depth(alpha, [])
    if photometric == _PHOTOMETRIC.MINISWHITE:
        pixels = _invert(pixels)
        notes.append("MinIsWhite stored as MinIsBlack (values inverted)")
    elif photometric == _PHOTOMETRIC.SEPARATED:
        pixels = _cmyk_to_rgb(page, pixels, notes)
    elif photometric == _PHOTOMETRIC.YCBCR and page.compression != _COMPRESSION_JPEG:
        pixels = _ycbcr_to_rgb(page, pixels, notes)
    return np.ascontiguousarray(pixels), None if alpha is None else np.ascontiguousarray(alpha)


def _tiff_depth(array: np.ndarray, notes: list[str]) -> np.ndarray:
    """uint8/uint16/float32 kept; others converted exactly (with a note) or refused."""
    kind = array.dtype
    if kind in (np.uint8, np.uint16, np.float32):
        return array
    if kind == np.bool_:
        notes.append("1-bit samples stored as 8-bit (0/255)")
        return array.astype(np.uint8) * np.uint8(255)
    if kind == np.float16:
        notes.append("float16 stored as float32 (values exact)")
        return array.astype(np.float32)
    if kind == np.float64:
        notes.append("float64 stored as float32")
        return array.astype(np.float32)
    if kind in (np.int8, np.int16):
        unsigned = np.uint8 if kind == np.int8 else np.uint16
        offset = 1 << (8 * kind.itemsize - 1)
        notes.append(f"{kind} stored as {np.dtype(unsigned)} with offset {offset}")
        return (array.astype(np.int32) + offset).astype(unsigned)
    raise ImageError(f"{kind} TIFF samples not supported (uint8, uint16, int8/16, float are)")


def _invert(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.float32:
        return (1.0 - array).astype(np.float32)
    return np.iinfo(array.dtype).max - array


def _apply_colormap(page: tifffile.TiffPage, index: np.ndarray, notes: list[str]) -> np.ndarray:
    colormap = page.colormap
    if colormap is None or index.dtype not in (np.uint8, np.uint16):
        raise ImageError("palette TIFF without a usable colour map")
    colormap = np.asarray(colormap)
    if colormap.ndim == 1:
        colormap = np.repeat(colormap[None], 3, axis=0)
    if index.max(initial=0) >= colormap.shape[1]:
        raise ImageError("palette TIFF index beyond its colour map")
    if colormap.dtype == np.uint16 and np.all(colormap % 257 == 0):
        colormap = (colormap // 257).astype(np.uint8)
    else:
        notes.append("palette with 16-bit colours stored as 16-bit RGB")
    rgb = np.moveaxis(colormap[:, index], 0, -1)
    if np.all(colormap == colormap[:1]):
        return np.ascontiguousarray(rgb[:, :, :1])
    return np.ascontiguousarray(rgb)


def _cmyk_to_rgb(page: tifffile.TiffPage, cmyk: np.ndarray, notes: list[str]) -> np.ndarray:
    if getattr(page, "inkset", 1) not in (1, None) or cmyk.dtype == np.float32:
        raise ImageError("separated TIFF other than integer CMYK not supported")
    top = float(np.iinfo(cmyk.dtype).max)
    ink = cmyk.astype(np.float32)
    rgb = (top - ink[:, :, :3]) * (top - ink[:, :, 3:]) / top
    notes.append("CMYK converted to RGB (naive, no colour management)")
    return np.rint(rgb).astype(cmyk.dtype)


def _ycbcr_to_rgb(page: tifffile.TiffPage, ycbcr: np.ndarray, notes: list[str]) -> np.ndarray:
    if tuple(getattr(page, "subsampling", None) or (1, 1)) != (1, 1) or ycbcr.dtype != np.uint8:
        raise ImageError("subsampled or non-8-bit uncompressed YCbCr TIFF not supported")
    notes.append("YCbCr converted to RGB")
    return np.asarray(Image.fromarray(ycbcr, "YCbCr").convert("RGB"))


def _tiff_exif(stream: BinaryIO, notes: list[str]) -> bytes | None:
    """The TIFF's Exif/GPS sub-IFDs (through Pillow), never its structural IFD0 tags."""
    try:
        stream.seek(0)
        with Image.open(stream) as handle:
            return _clean_exif(handle.getexif())
    except Exception as exc:
        notes.append(f"EXIF not copied ({type(exc).__name__})")
        return None


def _read_tiff_with_pillow(stream: BinaryIO, shape: tuple[int, int], limits: Limits) -> Picture:
    """8-bit TIFF layouts tifffile cannot decode (old-style JPEG...), checked against its shape."""
    stream.seek(0)
    picture = _read_pillow(stream, stream.read(32), limits)
    stream.seek(0)
    if picture.pixels.dtype != np.uint8:
        raise ImageError("TIFF layout not supported at this bit depth")
    if picture.pixels.shape[:2] != shape and picture.pixels.shape[1::-1] != shape:
        raise ImageError("TIFF decoded to the wrong size; refused")
    picture.notes.append("decoded by Pillow (tifffile could not)")
    return picture


def _apply_orientation(
    pixels: np.ndarray, alpha: np.ndarray | None, orientation: int
) -> tuple[np.ndarray, np.ndarray | None]:
    def orient(array: np.ndarray) -> np.ndarray:
        if orientation == 2:
            array = array[:, ::-1]
        elif orientation == 3:
            array = array[::-1, ::-1]
        elif orientation == 4:
            array = array[::-1]
        elif orientation == 5:
            array = np.swapaxes(array, 0, 1)
        elif orientation == 6:
            array = np.rot90(array, -1)
        elif orientation == 7:
            array = np.swapaxes(array, 0, 1)[::-1, ::-1]
        elif orientation == 8:
            array = np.rot90(array, 1)
        return np.ascontiguousarray(array)

    if orientation == 1:
        return pixels, alpha
    return orient(pixels), None if alpha is None else orient(alpha)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------- writing


def _stored_dtype(pixels: np.ndarray, fmt: str) -> np.dtype:
    if fmt in EIGHT_BIT_FORMATS:
        return np.dtype(np.uint8)
    if fmt == "PNG" and pixels.dtype == np.float32:
        return np.dtype(np.uint16)
    return pixels.dtype


def expected_layout(picture: Picture, fmt: str) -> Layout:
    """What :func:`encode_image` output must decode to (after its documented conversions)."""
    height, width, channels = picture.pixels.shape
    dtype = _stored_dtype(picture.pixels, fmt)
    alpha = picture.alpha is not None and fmt != "JPEG"
    if fmt == "PNG" and channels == 1 and alpha and dtype == np.uint16:
        channels = 3  # no encoder here writes 16-bit gray+alpha
    return Layout(height, width, channels, dtype, alpha)


def verify_encoded(data: bytes, expected: Layout) -> None:
    """Decode ``data`` again and compare it with ``expected``; ImageError on any mismatch."""
    check_encoded(BytesIO(data), expected)


def check_encoded(stream: BinaryIO, expected: Layout) -> None:
    """Decode the file in ``stream`` (seekable, at its start) again and compare it with
    ``expected``; ImageError on any mismatch.

    A plain PNG (what :func:`_write_png` writes) is checked by streaming it in pieces rather
    than holding it or a second full decoded image (issue 21); any other file is decoded.
    """
    try:
        got = _png_stream_layout(stream)
        if got is None:
            stream.seek(0)
            picture = decode(stream, Limits(max_pixels=2**62, max_memory=2**62))
            height, width, channels = picture.pixels.shape
            got = Layout(height, width, channels, picture.pixels.dtype, picture.alpha is not None)
    except ImageError as error:
        reason = f"output check failed: the encoded file does not decode ({error})"
        raise ImageError(reason) from None
    if got != expected:
        raise ImageError(
            f"output check failed: encoded {got.describe()}, meant {expected.describe()}"
        )


_PNG_PLAIN_SAMPLES = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples (no palette)
_PNG_PIECE = 4 << 20  # bytes of a chunk read (and inflated) at a time


def _png_stream_layout(stream: BinaryIO) -> Layout | None:
    """A plain PNG's layout, its whole structure checked as a decoder reads it; else None.

    Only non-interlaced 8/16-bit gray, RGB, gray+alpha and RGBA without tRNS (the layout
    then follows from IHDR alone, as :func:`decode` reads it); anything else returns None
    for a full decode. Checked: signature, every chunk's length and CRC, IHDR first, IDAT
    contiguous, IEND last, the zlib stream complete with exactly the rows' bytes, and every
    row's filter type. The file is read, and its pixel data inflated, in 4 MB pieces (a
    chunk's CRC is checked before its last piece is used).
    """
    head = stream.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if depth not in (8, 16) or colour not in _PNG_PLAIN_SAMPLES or interlace != 0:
        return None
    samples = _PNG_PLAIN_SAMPLES[colour]
    stride = 1 + width * samples * depth // 8
    expected = height * stride
    if width == 0 or height == 0:
        raise ImageError("corrupt PNG header (zero size)")
    stream.seek(len(_PNG_SIGNATURE))
    inflater = zlib.decompressobj()
    inflated, state = 0, "before"
    while True:
        header = stream.read(8)
        if len(header) < 8:
            raise ImageError("truncated PNG (no IEND)")
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IDAT":
            if state == "after":
                raise ImageError("PNG IDAT chunks not contiguous")
            state = "in"
        elif state == "in":
            state = "after"
        crc = zlib.crc32(kind)
        for piece, last in _png_chunk_pieces(stream, kind, length):
            crc = zlib.crc32(piece, crc)
            if last:
                stored = stream.read(4)
                if len(stored) < 4:
                    raise ImageError(f"truncated PNG ({kind!r} chunk)")
                if struct.unpack(">I", stored)[0] != crc:
                    raise ImageError(f"PNG {kind!r} chunk CRC mismatch")
                if kind == b"tRNS" or kind == b"PLTE":
                    return None
            if kind == b"IDAT":
                inflated = _inflate_rows(inflater, piece, inflated, stride, expected)
        if kind == b"IEND":
            break
    if state == "before" or not inflater.eof or inflated != expected:
        raise ImageError(f"PNG pixel data incomplete ({inflated} of {expected} bytes)")
    if stream.read(1) or inflater.unused_data:
        raise ImageError("PNG has data after IEND or after its zlib stream")
    dtype = np.dtype(np.uint16 if depth == 16 else np.uint8)
    alpha = colour in (4, 6)
    return Layout(height, width, samples - alpha, dtype, alpha)


def _png_chunk_pieces(stream: BinaryIO, kind: bytes, length: int) -> Iterator[tuple[bytes, bool]]:
    """A chunk's body in pieces of at most 4 MB, each with whether it is the last one."""
    left = length
    while True:
        size = min(left, _PNG_PIECE)
        piece = stream.read(size)
        if len(piece) < size:
            raise ImageError(f"truncated PNG ({kind!r} chunk)")
        left -= size
        yield piece, not left
        if not left:
            return


def _inflate_rows(
    inflater: zlib._Decompress, body: bytes, inflated: int, stride: int, expected: int
) -> int:
    """Feed one piece of IDAT; check each row's filter byte; return the bytes inflated so far."""
    pending = body
    while pending:
        piece = inflater.decompress(pending, 4 << 20)
        pending = inflater.unconsumed_tail
        if inflated + len(piece) > expected:
            raise ImageError("PNG pixel data longer than its rows")
        first = -inflated % stride
        filters = np.frombuffer(piece, np.uint8)[first::stride]
        if filters.size and int(filters.max()) > 4:
            raise ImageError("PNG row with an unknown filter type")
        inflated += len(piece)
        if inflater.eof and pending:
            raise ImageError("PNG has data after its zlib stream")
    return inflated


def encode_image(
    picture: Picture, fmt: str, quality: int = 95, notes: list[str] | None = None
) -> bytes:
    """The encoded file's bytes (:func:`encode_into` into memory)."""
    buffer = BytesIO()
    encode_into(buffer, picture, fmt, quality, notes)
    return buffer.getvalue()


def write_image(
    picture: Picture, fmt: str, path: Path, quality: int = 95, notes: list[str] | None = None
) -> None:
    """Encode ``picture`` straight into a temporary file beside ``path``, check it and rename
    it into place (:func:`fastdenoise.atomic.replacing`, no fsync: see :func:`write_atomic`).

    The check (:func:`check_encoded`) reads the temporary file back, so a PNG, written in
    row strips and checked by streaming, never has its encoded bytes, a copy of its pixels
    or a second decoded image in memory (issue 21). A failed encoding or check, or a full
    disk, leaves no file.
    """
    expected = expected_layout(picture, fmt)
    with atomic.replacing(path, durable=False) as temp, open(temp, "w+b") as stream:
        encode_into(stream, picture, fmt, quality, notes)
        stream.seek(0)
        check_encoded(stream, expected)


def encode_into(
    stream: BinaryIO,
    picture: Picture,
    fmt: str,
    quality: int = 95,
    notes: list[str] | None = None,
) -> None:
    """Encode to ``fmt`` into ``stream``, keeping bit depth where the format allows, alpha,
    EXIF and ICC.

    8-bit-only containers (JPEG, WebP, BMP) get 16-bit/float pixels rounded to 8 bits; JPEG
    drops alpha (it has none); PNG stores float as 16-bit. EXIF is not written to 16-bit or
    float TIFF (tifffile writes no EXIF IFD); BMP carries no metadata. Each such loss is
    appended to ``notes`` when given. WebP is lossless for a lossless WebP source or
    ``quality`` >= 100. A PNG is written to ``stream`` strip by strip (:func:`_write_png`);
    the other formats are encoded in memory, then written.
    """
    notes = [] if notes is None else notes
    pixels, alpha = picture.pixels, picture.alpha
    depth = _stored_dtype(pixels, fmt)
    if depth != pixels.dtype:
        notes.append(f"{pixels.dtype} pixels stored as {depth} ({fmt})")
        pixels = _convert_depth(pixels, depth)
        alpha = None if alpha is None else _convert_depth(alpha, depth)
    if fmt == "JPEG" and alpha is not None:
        notes.append("alpha dropped (JPEG has no alpha)")
        alpha = None
    meta = _metadata_for(picture, fmt, pixels.dtype, notes)
    gray_alpha = pixels.shape[2] == 1 and alpha is not None
    if fmt == "PNG" and not (gray_alpha and pixels.dtype == np.uint8):
        if gray_alpha:
            notes.append("16-bit gray+alpha written as 16-bit RGBA")
        _write_png(stream, pixels, alpha, meta)
    elif fmt == "BMP" and alpha is not None:
        stream.write(_encode_bmp_alpha(pixels, alpha))
    elif pixels.dtype == np.uint8:
        lossless = quality >= 100 or picture.lossless
        stream.write(_encode_pillow(pixels, alpha, fmt, quality, meta, lossless))
    elif fmt == "TIFF":
        stream.write(_encode_tiff(pixels, alpha, meta))
    else:
        raise ImageError(f"cannot write {pixels.dtype} pixels as {fmt}")


@dataclass(frozen=True)
class Metadata:
    """The metadata one output gets: what its container can hold, nothing else."""

    exif: bytes | None = None
    icc: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None


def _metadata_for(picture: Picture, fmt: str, dtype: np.dtype, notes: list[str]) -> Metadata:
    """The picture's metadata that ``fmt`` (at ``dtype``) holds; a note for each dropped kind."""
    if fmt == "BMP":
        present = [name for name in ("exif", "icc", "xmp", "iptc") if getattr(picture, name)]
        if present:
            kinds = "/".join(name.upper() for name in present)
            notes.append(f"{kinds} not copied (BMP carries no metadata)")
        return Metadata()
    exif, xmp, iptc = picture.exif, picture.xmp, picture.iptc
    if fmt == "TIFF" and dtype != np.uint8:
        if _exif_is_substantial(exif):
            notes.append(f"EXIF not copied ({dtype} TIFF is written by tifffile, without EXIF)")
        exif = None
    elif fmt == "TIFF" and _has_sub_ifds(exif):
        notes.append("EXIF Exif/GPS sub-IFDs not copied (TIFF output keeps the IFD0 tags)")
    if iptc and fmt in ("PNG", "WEBP"):
        notes.append(f"IPTC not copied ({fmt} has no IPTC block)")
        iptc = None
    if fmt == "JPEG" and xmp and len(xmp) > _JPEG_XMP_MAX:
        notes.append(f"XMP not copied ({len(xmp)} bytes: over one JPEG segment)")
        xmp = None
    if fmt == "JPEG" and iptc and len(iptc) > _JPEG_IPTC_MAX:
        notes.append(f"IPTC not copied ({len(iptc)} bytes: over one JPEG segment)")
        iptc = None
    return Metadata(exif, picture.icc, xmp, iptc)


def _exif_is_substantial(exif: bytes | None) -> bool:
    """EXIF holding more than orientation, resolution and the writing software."""
    if not exif:
        return False
    routine = {_ORIENTATION_TAG, 0x011A, 0x011B, 0x0128, 0x0131}
    loaded = Image.Exif()
    loaded.load(exif)
    return bool(set(loaded) - routine)


def _has_sub_ifds(exif: bytes | None) -> bool:
    """Whether an EXIF block points at an Exif or GPS sub-IFD."""
    if not exif:
        return False
    loaded = Image.Exif()
    loaded.load(exif)
    return any(tag in loaded for tag in _EXIF_SUB_IFDS)


def _convert_depth(array: np.ndarray, dtype: type) -> np.ndarray:
    return array if array.dtype == dtype else from_float(to_float(array), np.dtype(dtype))


def _stack(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    planes = pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None]], axis=2)
    return planes[:, :, 0] if planes.shape[2] == 1 else planes


def _pillow_metadata_options(fmt: str, meta: Metadata) -> dict[str, object]:
    """Pillow ``save`` keywords that write ``meta`` (JPEG's IPTC is added afterwards)."""
    options: dict[str, object] = {}
    if meta.exif:
        options["exif"] = meta.exif
    if meta.icc:
        options["icc_profile"] = meta.icc
    if meta.xmp and fmt in ("JPEG", "WEBP"):
        options["xmp"] = meta.xmp
    elif meta.xmp and fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(_XMP_PNG_KEYWORD.decode(), meta.xmp.decode("utf-8", errors="replace"))
        options["pnginfo"] = info
    if fmt == "TIFF":  # Pillow writes one IFD: EXIF's IFD0 tags, XMP and IPTC together
        options.pop("exif", None)
        options["tiffinfo"] = _tiff_ifd0(meta)
    return options


def _tiff_ifd0(meta: Metadata) -> dict[int, object]:
    """IFD0 entries for an 8-bit TIFF: EXIF's descriptive tags, XMP (700), IPTC (33723)."""
    tags: dict[int, object] = {}
    if meta.exif:
        exif = Image.Exif()
        exif.load(meta.exif)
        tags.update((code, exif[code]) for code in exif if code not in _EXIF_SUB_IFDS)
    for code, value in ((_TIFF_XMP, meta.xmp), (_TIFF_IPTC, meta.iptc)):
        if value:
            tags[code] = value
    return tags


def _encode_pillow(
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    fmt: str,
    quality: int,
    meta: Metadata,
    lossless: bool = False,
) -> bytes:
    image = Image.fromarray(_stack(pixels, alpha))
    options = _pillow_metadata_options(fmt, meta) if fmt != "BMP" else {}
    if fmt == "JPEG":
        options.update(quality=quality, subsampling=0, optimize=True)
    elif fmt == "WEBP":
        options.update(quality=min(quality, 100), method=4, lossless=lossless, exact=lossless)
    elif fmt == "PNG":
        options.update(compress_level=6)
    elif fmt == "TIFF":
        options.update(compression="tiff_deflate")
    buffer = BytesIO()
    image.save(buffer, format=fmt, **options)
    if fmt == "JPEG" and meta.iptc:
        return _jpeg_with_segment(buffer.getvalue(), 0xED, _photoshop_iptc(meta.iptc))
    return buffer.getvalue()


def _photoshop_iptc(iptc: bytes) -> bytes:
    """An APP13 payload: Photoshop image resources holding one IPTC-NAA record (0x0404)."""
    header = b"8BIM" + struct.pack(">HHI", _IRB_IPTC, 0, len(iptc))  # empty, padded name
    return _PHOTOSHOP + header + iptc + b"\x00" * (len(iptc) % 2)


def _jpeg_with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """``data`` (a JPEG) with one more marker segment, after the APPn segments it starts with."""
    position = 2  # after SOI
    while data[position] == 0xFF and 0xE0 <= data[position + 1] <= 0xEF:
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    segment = struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload
    return data[:position] + segment + data[position:]


def _encode_bmp_alpha(pixels: np.ndarray, alpha: np.ndarray) -> bytes:
    """32-bit BMP with an alpha mask (BITMAPV5, via OpenCV): Pillow's own 32-bit BMP has no
    alpha mask, so no reader (Pillow included) finds the alpha in it."""
    planes = np.concatenate([pixels, alpha[:, :, None]], axis=2)
    import cv2

    order = [0, 0, 0, 1] if pixels.shape[2] == 1 else [2, 1, 0, 3]
    ok, encoded = cv2.imencode(".bmp", np.ascontiguousarray(planes[:, :, order]))
    if not ok:
        raise ImageError("BMP encoder failed")
    return encoded.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_PNG_STRIP_BYTES = 4 << 20  # row bytes filtered and compressed at a time
_PNG_COLOUR = {1: 0, 3: 2, 4: 6}  # samples -> colour type (gray, RGB, RGBA)


def _write_png(
    stream: BinaryIO, pixels: np.ndarray, alpha: np.ndarray | None, meta: Metadata
) -> None:
    """Write a PNG of 8/16-bit gray, RGB or RGBA (16-bit gray+alpha as RGBA) to ``stream``,
    with ICC (iCCP), EXIF (eXIf) and XMP (iTXt) chunks after IHDR. 8-bit gray+alpha goes
    through Pillow.

    The rows are filtered and compressed in strips of about 4 MB and written in IDAT chunks
    as they come, so neither the encoded file nor a reordered copy of the pixels is held
    (issue 21; OpenCV's encoder needed a BGR copy and grew the whole file in memory). The
    settings are those OpenCV's encoder (libpng) used here before, about 6x faster than
    Pillow's encoder for files ~10% larger: every row SUB-filtered (unfiltered when the image
    is one pixel wide), zlib level 1 with the RLE strategy. Each piece zlib hands back is
    one IDAT chunk.
    """
    height, width = pixels.shape[:2]
    colours = 3 if pixels.shape[2] == 1 and alpha is not None else pixels.shape[2]
    samples = colours + (alpha is not None)
    dtype = pixels.dtype.newbyteorder(">")  # PNG samples are big-endian
    pixel = samples * dtype.itemsize
    row = width * pixel
    header = struct.pack(
        ">IIBBBBB", width, height, 8 * dtype.itemsize, _PNG_COLOUR[samples], 0, 0, 0
    )
    stream.write(_PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_metadata_chunks(meta))
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)

    def compressed() -> Iterator[bytes]:
        strip_rows = max(1, _PNG_STRIP_BYTES // row)
        for top in range(0, height, strip_rows):
            bottom = min(height, top + strip_rows)
            strip = np.empty((bottom - top, width, samples), dtype)
            strip[:, :, :colours] = pixels[top:bottom]  # gray broadcasts to RGB
            if alpha is not None:
                strip[:, :, colours] = alpha[top:bottom]
            raw = strip.view(np.uint8).reshape(bottom - top, row)
            filtered = np.empty((bottom - top, row + 1), np.uint8)
            filtered[:, 0] = 1 if width > 1 else 0  # SUB: each byte less the one a pixel left
            filtered[:, 1 : pixel + 1] = raw[:, :pixel]
            np.subtract(raw[:, pixel:], raw[:, :-pixel], out=filtered[:, pixel + 1 :])
            yield compressor.compress(filtered)
        yield compressor.flush()

    for body in compressed():
        if body:
            stream.write(_png_chunk(b"IDAT", body))
    stream.write(_png_chunk(b"IEND", b""))


def _png_metadata_chunks(meta: Metadata) -> bytes:
    """iCCP (ICC), eXIf (EXIF) and iTXt (XMP) chunks, in that order, for what ``meta`` holds."""
    extra = b""
    if meta.icc:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc))
    if meta.exif:
        raw = meta.exif[6:] if meta.exif.startswith(b"Exif\x00\x00") else meta.exif
        extra += _png_chunk(b"eXIf", raw)
    if meta.xmp:  # iTXt: keyword, uncompressed, no language, no translated keyword
        extra += _png_chunk(b"iTXt", _XMP_PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + meta.xmp)
    return extra


def _encode_tiff(pixels: np.ndarray, alpha: np.ndarray | None, meta: Metadata) -> bytes:
    """16-bit/float TIFF via tifffile: ICC, XMP (tag 700, BYTE), IPTC (33723, UNDEFINED)."""
    import tifffile

    planes = _stack(pixels, alpha)
    extratags = [
        (code, kind, len(value), value, True)
        for code, kind, value in ((_TIFF_XMP, 1, meta.xmp), (_TIFF_IPTC, 7, meta.iptc))
        if value
    ]
    photometric = "rgb" if pixels.shape[2] == 3 else "minisblack"
    buffer = BytesIO()
    tifffile.imwrite(
        buffer,
        planes,
        photometric=photometric,
        extrasamples=("unassalpha",) if alpha is not None else None,
        compression="zlib",
        iccprofile=meta.icc,
        extratags=extratags,
    )
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write encoded image bytes to ``path`` atomically (:mod:`fastdenoise.atomic`).

    No fsync per file: it cost ~0.1 s per image here; durability against power loss is left
    to the filesystem, as with cp or mv.
    """
    atomic.write_atomic(path, data, durable=False)


def copy_atomic(origin: Origin, path: Path) -> int:
    """Copy the file ``origin`` describes to ``path`` byte for byte, atomically; its size.

    The source is opened read-only (regular files only, as for reading) and must still be
    the file that was decoded (same inode, size and modification time): a file
    replaced, edited or removed since raises :class:`SourceChanged`, and nothing is written.
    """
    try:
        source = _open_regular(origin.path)
    except (OSError, ImageError):
        raise SourceChanged("the input is gone or no longer a regular file") from None
    with source:
        if Origin.of(origin.path, os.fstat(source.fileno())) != origin:
            raise SourceChanged("the input changed after it was read")
        with atomic.replacing(path, durable=False) as temp, open(temp, "wb") as stream:
            shutil.copyfileobj(source, stream, 1 << 20)
            if stream.tell() != origin.size:
                raise ImageError(f"copied {stream.tell()} of {origin.size} bytes")
    return origin.size
