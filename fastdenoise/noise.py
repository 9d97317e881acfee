"""Noise synthesis for training and tests.

Every synthesiser takes a clean float32 ``HxWxC`` image in ``[0, 1]`` and a
:class:`numpy.random.Generator` and returns a noisy float32 image of the same shape. Levels
are in 8-bit units (``sigma=25`` means a standard deviation of 25/255), like the papers.

:func:`camera` is a realistic sensor pipeline ("unprocessing", after Brooks et al. 2019):
sRGB -> linear -> inverse white balance / colour matrix -> Bayer mosaic -> Poisson-Gaussian
shot/read noise (levels drawn per image) + optional row noise -> quantisation -> demosaic
(OpenCV) -> white balance / colour matrix -> sRGB gamma -> 8-bit -> optional JPEG. The noise
is the difference between developing the noisy and the clean mosaic, added to the original
image, so the clean target keeps its full detail.

:func:`parse` turns a spec such as ``"gaussian:sigma=0-55"`` or
``"camera:jpeg=0.3|gaussian:sigma=0-50"`` (``|`` = pick one at random per image) into a
callable, which is what training uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import cv2
import numpy as np

NoiseFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Range = tuple[float, float]


def _draw(rng: np.random.Generator, value: float | Range) -> float:
    """A fixed value, or a uniform draw from a ``(low, high)`` range."""
    if isinstance(value, tuple):
        return float(rng.uniform(value[0], value[1]))
    return float(value)


def gaussian(
    image: np.ndarray, rng: np.random.Generator, sigma: float | Range = 25.0
) -> np.ndarray:
    """Additive white Gaussian noise, not clipped (as in the evaluation protocol)."""
    level = _draw(rng, sigma) / 255.0
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(level)
    return image.astype(np.float32) + noise


def poisson(image: np.ndarray, rng: np.random.Generator, peak: float | Range = 30.0) -> np.ndarray:
    """Photon (shot) noise: ``Poisson(image * peak) / peak``; lower peak = noisier."""
    scale = _draw(rng, peak)
    counts = rng.poisson(np.clip(image, 0.0, None) * scale)
    return (counts / scale).astype(np.float32)


def speckle(image: np.ndarray, rng: np.random.Generator, sigma: float | Range = 25.0) -> np.ndarray:
    """Multiplicative noise: ``image * (1 + n)`` with ``n ~ N(0, (sigma/255)^2)``."""
    level = _draw(rng, sigma) / 255.0
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(level)
    return image.astype(np.float32) * (1.0 + noise)


def salt_pepper(
    image: np.ndarray, rng: np.random.Generator, amount: float | Range = 0.05, salt: float = 0.5
) -> np.ndarray:
    """Impulse noise: a fraction ``amount`` of pixels (all channels) set to 0 or 1."""
    out = image.astype(np.float32, copy=True)
    hit = rng.random(image.shape[:2]) < _draw(rng, amount)
    white = rng.random(image.shape[:2]) < salt
    out[hit & white] = 1.0
    out[hit & ~white] = 0.0
    return out


# ---------------------------------------------------------------------------------------------
# camera pipeline


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer curve."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """sRGB transfer curve."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """RGGB Bayer mosaic of a linear ``HxWx3`` image (height and width even)."""
    raw = np.empty(rgb.shape[:2], dtype=np.float32)
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return raw


# Signed room below black (0) that a raw keeps: sensor noise swings dark pixels negative, and
# clipping there (before white balance multiplies red and blue) would tint noisy shadows.
FOOTROOM = 0.5


# Malvar-He-Cutler gradient-corrected interpolation (ICASSP 2004), the linear demosaic of
# MATLAB's ``demosaic`` and many phone ISPs (the paper's coefficients; each kernel sums to 1).
_MHC_G_AT_RB = np.float32(1 / 8) * np.array(
    [
        [0, 0, -1, 0, 0],
        [0, 0, 2, 0, 0],
        [-1, 2, 4, 2, -1],
        [0, 0, 2, 0, 0],
        [0, 0, -1, 0, 0],
    ],
    np.float32,
)
_MHC_ROW = np.float32(1 / 16) * np.array(  # the colour of the horizontal neighbours, at green
    [
        [0, 0, 1, 0, 0],
        [0, -2, 0, -2, 0],
        [-2, 8, 10, 8, -2],
        [0, -2, 0, -2, 0],
        [0, 0, 1, 0, 0],
    ],
    np.float32,
)
_MHC_DIAG = np.float32(1 / 16) * np.array(  # red at a blue site and blue at a red one
    [
        [0, 0, -3, 0, 0],
        [0, 4, 0, 4, 0],
        [-3, 0, 12, 0, -3],
        [0, 4, 0, 4, 0],
        [0, 0, -3, 0, 0],
    ],
    np.float32,
)


def _demosaic_malvar(raw: np.ndarray) -> np.ndarray:
    """Malvar-He-Cutler demosaic of an RGGB float mosaic (signed values pass through)."""

    def conv(kernel: np.ndarray) -> np.ndarray:
        return cv2.filter2D(raw, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT_101)

    green, row, col, diag = conv(_MHC_G_AT_RB), conv(_MHC_ROW), conv(_MHC_ROW.T), conv(_MHC_DIAG)
    rgb = np.empty((*raw.shape, 3), np.float32)
    r_site, gr_site = np.s_[0::2, 0::2], np.s_[0::2, 1::2]
    gb_site, b_site = np.s_[1::2, 0::2], np.s_[1::2, 1::2]
    rgb[r_site] = np.stack([raw[r_site], green[r_site], diag[r_site]], axis=-1)
    rgb[gr_site] = np.stack([row[gr_site], raw[gr_site], col[gr_site]], axis=-1)
    rgb[gb_site] = np.stack([col[gb_site], raw[gb_site], row[gb_site]], axis=-1)
    rgb[b_site] = np.stack([diag[b_site], green[b_site], raw[b_site]], axis=-1)
    return rgb


DEMOSAIC_METHODS = ("bilinear", "ea", "malvar")


def demosaic(raw: np.ndarray, method: str = "ea") -> np.ndarray:
    """Demosaic an RGGB float ``HxW`` mosaic in ``[-FOOTROOM, 1]`` (``HxWx3``).

    ``method``: ``"bilinear"`` or ``"ea"`` (edge-aware) with OpenCV, or ``"malvar"``
    (gradient-corrected linear, which carries green's detail and noise into red and blue).
    OpenCV names Bayer patterns from the second row, so RGGB is its ``BayerBG`` code; it takes
    unsigned integers, so the mosaic goes through 16 bits on a pedestal.
    """
    if method == "malvar":
        return _demosaic_malvar(np.clip(raw, -FOOTROOM, 1.0).astype(np.float32))
    code = {"bilinear": cv2.COLOR_BayerBG2RGB, "ea": cv2.COLOR_BayerBG2RGB_EA}[method]
    scale = 65535.0 / (1.0 + FOOTROOM)
    raw16 = np.rint((np.clip(raw, -FOOTROOM, 1.0) + FOOTROOM) * scale).astype(np.uint16)
    return cv2.cvtColor(raw16, code).astype(np.float32) * np.float32(1 / scale) - FOOTROOM


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through OpenCV's JPEG codec at ``quality`` (1-100)."""
    u8 = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    bgr = u8[:, :, ::-1] if u8.shape[2] == 3 else u8
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    dec = dec[:, :, None] if dec.ndim == 2 else dec[:, :, ::-1]
    return dec.astype(np.float32) * np.float32(1 / 255)


@dataclass(frozen=True)
class CameraParams:
    """Ranges of the camera pipeline; each image draws its own values.

    shot:       log-uniform range of the shot-noise gain ``a`` (variance ``a * x``, linear x).
    read_slope: ``log(b) = read_slope * log(a) + read_offset + N(0, read_jitter)`` (read var b).
    row:        probability of row (banding) noise, and its std relative to the read noise std.
    red_gain, blue_gain: white-balance gains undone before the mosaic and reapplied after.
    ccm:        strength of a random colour matrix (0 = identity).
    bits:       raw quantisation (0 = none).
    demosaic:   ``"ea"``, ``"bilinear"`` or ``"malvar"`` (see ``demosaic``); ``"ea+malvar"``
                draws one per image. Malvar's method correlates the noise across channels
                as phone pipelines do; OpenCV's hardly at all.
    blur:       probability of low-passing the noise (a camera's own denoising leaves
                spatially correlated, blotchy noise), Gaussian ``blur_sigma`` pixels, with
                the noise rescaled by ``blur_gain`` (drawn) to stay visible.
    jpeg:       probability of a final JPEG round trip; ``jpeg_quality`` its range.
    """

    shot: Range = (1e-4, 1.2e-2)
    read_slope: float = 2.18
    read_offset: float = 1.2
    read_jitter: float = 0.26
    row_prob: float = 0.2
    row_scale: Range = (0.0, 0.5)
    red_gain: Range = (1.9, 2.4)
    blue_gain: Range = (1.5, 1.9)
    ccm: float = 0.15
    bits: int = 12
    demosaic: str = "ea"
    blur: float = 0.0
    blur_sigma: Range = (0.4, 1.2)
    blur_gain: Range = (1.0, 2.0)
    jpeg: float = 0.0
    jpeg_quality: Range = (60.0, 95.0)

    def __post_init__(self) -> None:
        bad = sorted(set(self.demosaic.split("+")) - set(DEMOSAIC_METHODS))
        if bad:
            known = ", ".join(DEMOSAIC_METHODS)
            raise ValueError(f"unknown demosaic {', '.join(bad)}; known: {known}")


def _random_ccm(rng: np.random.Generator, strength: float) -> np.ndarray:
    """A random colour matrix near identity whose rows sum to one (greys stay grey)."""
    off = rng.uniform(-strength, strength, (3, 3))
    np.fill_diagonal(off, 0.0)
    ccm = np.eye(3) + off
    ccm[np.diag_indices(3)] -= off.sum(axis=1)
    return ccm.astype(np.float32)


def _develop(
    raw: np.ndarray, gains: np.ndarray | None, ccm: np.ndarray | None, method: str
) -> np.ndarray:
    """The camera's processing: demosaic, white balance, colour matrix, sRGB gamma."""
    if gains is None or ccm is None:
        return linear_to_srgb(raw[:, :, None])
    rgb = np.minimum(demosaic(raw, method) * gains, 1.0)  # saturates; signed below black
    return linear_to_srgb(rgb @ ccm.T)  # the output clips, as an 8-bit file must


def camera(
    image: np.ndarray, rng: np.random.Generator, params: CameraParams | None = None
) -> np.ndarray:
    """Realistic sensor noise through an unprocess -> noise -> process round trip (8-bit out).

    Gray (``C == 1``) images skip the mosaic and colour steps.
    """
    p = params or CameraParams()
    height, width, channels = image.shape
    pad_h, pad_w = height % 2, width % 2
    img = (
        np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        if pad_h or pad_w
        else image
    )
    log_a = rng.uniform(math.log(p.shot[0]), math.log(p.shot[1]))
    log_b = p.read_slope * log_a + p.read_offset + rng.normal(0.0, p.read_jitter)
    shot, read = math.exp(log_a), math.exp(log_b)

    lin = srgb_to_linear(img)
    if channels == 3:
        gains = np.array([_draw(rng, p.red_gain), 1.0, _draw(rng, p.blue_gain)], np.float32)
        ccm = _random_ccm(rng, p.ccm)
        cam = lin @ np.linalg.inv(ccm).T.astype(np.float32)
        raw = mosaic(np.clip(cam, 0.0, 1.0) / gains)
    else:
        gains, ccm, raw = None, None, lin[:, :, 0]
    std = np.sqrt(np.clip(raw, 0.0, None) * shot + read).astype(np.float32)
    noisy = raw + std * rng.standard_normal(raw.shape, dtype=np.float32)
    if rng.random() < p.row_prob:
        row_std = _draw(rng, p.row_scale) * math.sqrt(read)
        noisy += rng.normal(0.0, row_std, (raw.shape[0], 1)).astype(np.float32)
    if p.bits:
        levels = float(2**p.bits - 1)
        noisy = np.rint(np.clip(noisy, -FOOTROOM, 1.0) * levels) / levels
    # The noise is carried over as a residual, so the target keeps the original detail (the
    # network learns noise removal, not to undo OpenCV's demosaicing blur).
    methods = p.demosaic.split("+")
    method = methods[int(rng.integers(len(methods)))] if len(methods) > 1 else methods[0]
    residual = _develop(noisy, gains, ccm, method) - _develop(raw, gains, ccm, method)
    if p.blur and rng.random() < p.blur:
        sigma = _draw(rng, p.blur_sigma)
        residual = cv2.GaussianBlur(residual, (0, 0), sigma) * np.float32(_draw(rng, p.blur_gain))
        residual = residual.reshape(img.shape)
    out = np.rint(np.clip(img + residual, 0.0, 1.0) * 255.0) / 255.0
    if p.jpeg and rng.random() < p.jpeg:
        out = jpeg(out, round(_draw(rng, p.jpeg_quality)))
    return np.ascontiguousarray(out[:height, :width], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# specs

SALT_AND_PEPPER = "salt-and-pepper"  # the name analyze reports; the others are aliases
_SIMPLE = {
    "gaussian": gaussian,
    "poisson": poisson,
    "speckle": speckle,
    SALT_AND_PEPPER: salt_pepper,
}
_ALIASES = {"salt-pepper": SALT_AND_PEPPER, "salt_pepper": SALT_AND_PEPPER}
NOISE_NAMES = (*_SIMPLE, "camera")
# the option a bare value sets (``gaussian:25`` = ``gaussian:sigma=25``)
MAIN_OPTION = {
    "gaussian": "sigma",
    "poisson": "peak",
    "speckle": "sigma",
    SALT_AND_PEPPER: "amount",
    "camera": "shot",
}


_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER})-({_NUMBER})$")


def _value(text: str) -> float | Range:
    """``"25"`` -> 25.0; ``"0-55"`` or ``"1e-4-1.2e-2"`` -> a ``(low, high)`` range."""
    match = _RANGE.match(text)
    if match:
        return (float(match.group(1)), float(match.group(2)))
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"noise level {text!r} is not a number or a low-high range") from None


def canonical_name(name: str) -> str:
    """A noise name in its one spelling (``salt_pepper`` -> ``salt-and-pepper``)."""
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in NOISE_NAMES:
        raise ValueError(f"unknown noise {name.strip()!r}; known: {', '.join(NOISE_NAMES)}")
    return key


@dataclass(frozen=True)
class NoiseSpec:
    """One parsed ``NAME[:ITEM,...]`` noise spec: bare values (``levels``) and ``key=value``."""

    name: str
    levels: tuple[float | Range, ...] = ()  # bare values: the main option (MAIN_OPTION)
    options: tuple[tuple[str, float | Range | str], ...] = ()


def parse_spec(spec: str) -> NoiseSpec:
    """The one parser of noise specs (``train``, its validation and ``bench`` alike).

    ``gaussian:25``, ``gaussian:sigma=25``, ``gaussian:sigma=0-55`` (a range drawn per image),
    ``camera:0.01,demosaic=malvar``; ``bench`` reads several bare values as a sweep.
    """
    head, _, rest = spec.strip().partition(":")
    name = canonical_name(head)
    # camera options with a text default (demosaic) stay text; CameraParams checks them
    textual = {f.name for f in fields(CameraParams) if isinstance(f.default, str)}
    levels: list[float | Range] = []
    options: dict[str, float | Range | str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            levels.append(_value(item))
            continue
        key, value = key.strip(), value.strip()
        options[key] = value if name == "camera" and key in textual else _value(value)
    if levels and MAIN_OPTION[name] in options:
        raise ValueError(
            f"noise {spec!r}: give {MAIN_OPTION[name]} once, as a bare value or as "
            f"{MAIN_OPTION[name]}=VALUE"
        )
    return NoiseSpec(name, tuple(levels), tuple(options.items()))


def _one(spec: str) -> NoiseFn:
    parsed = parse_spec(spec)
    if len(parsed.levels) > 1:
        raise ValueError(f"noise {spec!r}: one level per spec here; use a range such as 0-55")
    kwargs = dict(parsed.options)
    if parsed.levels:
        kwargs[MAIN_OPTION[parsed.name]] = parsed.levels[0]
    name = parsed.name
    if name == "camera":
        known = {f.name for f in fields(CameraParams)}
        unknown = set(kwargs) - known
        if unknown:
            raise ValueError(f"camera noise has no option {', '.join(sorted(unknown))}")
        if "bits" in kwargs:
            kwargs["bits"] = int(kwargs["bits"])  # type: ignore[arg-type]
        ranged = {f.name for f in fields(CameraParams) if isinstance(f.default, tuple)}
        for key in ranged & set(kwargs):
            value = kwargs[key]
            kwargs[key] = value if isinstance(value, tuple) else (value, value)  # a fixed level
        params = replace(CameraParams(), **kwargs)  # type: ignore[arg-type]
        return lambda img, rng: camera(img, rng, params)
    fn = _SIMPLE[name]
    return lambda img, rng: fn(img, rng, **kwargs)  # type: ignore[operator]


def parse(spec: str) -> NoiseFn:
    """Build a noise function from a spec; ``a|b|c`` picks one of them uniformly per image.

    >>> import numpy as np
    >>> fn = parse("gaussian:sigma=0-55|camera:jpeg=0.3")
    >>> fn(np.zeros((8, 8, 3), np.float32), np.random.default_rng(0)).shape
    (8, 8, 3)
    """
    choices = [_one(part) for part in spec.split("|")]
    if len(choices) == 1:
        return choices[0]
    return lambda img, rng: choices[int(rng.integers(len(choices)))](img, rng)
