"""Noise identification: which kind of noise an image carries, how strong, and the evidence.

All evidence is measured on the image itself (one channel, subsampled on huge images):

* impulse fraction: pixels at the extremes of the range that differ from their 3x3 median by
  more than any plausible noise of the rest of the image (salt-and-pepper leaves exactly such
  pixels);
* noise sigma: the finest diagonal Haar detail ``(a - b - c + d) / 2`` of 2x2 blocks has the
  noise's standard deviation for white noise and barely sees smooth content. Its standard
  deviation is taken per 16x16 block, and the low quantile over blocks (corrected for the
  quantile's bias with the chi-square distribution) ignores textured blocks. Blocks touching
  clipped pixels are left out; above 20 (8-bit units), where clipping biases what is left, the
  PCA estimate of Chen et al. (2015) is used when larger;
* signal dependence: the same block estimate per brightness bin, fitted as
  ``log sigma = a + slope * log brightness``. White Gaussian noise has slope ~0, shot
  (Poisson-like) noise ~0.5 (variance grows with the signal), speckle ~1;
* real-noise RMS (``learned=True``, experimental): the fine-scale sigma under-reads the
  spatially correlated noise of real photos 2-8x (bench/results/noise_calibration.md), so
  FDNet's estimator (:mod:`fastdenoise.noisemap`) can read the level instead (``rms``) and
  decide clean (below ``CLEAN_RMS``) or noisy. It is not the default: as shipped it reads
  textured clean photos (2.6-2.9 on CBSD68/Kodak24) above mild real noise (1.5-1.8 on
  Nam/PolyU), so it cannot yet tell them apart.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from fastdenoise.tiler import to_float

CLEAN_SIGMA = 2.0  # 8-bit units: below this fine-scale sigma an image is called clean
CLEAN_RMS = 1.5  # 8-bit units: below this learned RMS an image is called clean
IMPULSE_FRACTION = 0.004
MAX_ANALYSIS_PIXELS = 4_000_000
SLOPE_BLOCK = 4  # detail coefficients per block side when fitting the slope (8x8 pixels)
QUANTILE = 0.25
# chi2.ppf(q, dof) for the blocks used (8 and SLOPE_BLOCK pixels a side: 63 and 15 degrees of
# freedom), so that estimating a sigma (every nlm/wiener run) does not import scipy.special
CHI2_QUANTILES = {(63, 0.25): 55.110220407786926, (15, 0.25): 11.036537659091008}


@dataclass(frozen=True)
class NoiseReport:
    """What :func:`identify` found; levels are in 8-bit units."""

    kind: str  # gaussian, poisson, speckle, salt-and-pepper, clean
    level: float  # sigma (at mid-gray for poisson/speckle), or the impulse fraction
    sigma: float
    impulse_fraction: float
    slope: float
    rms: float | None = None  # the learned estimator's reading, None where it is not shipped

    def evidence(self) -> str:
        learned = "" if self.rms is None else f"noise RMS {self.rms:.2f}, "
        return (
            f"{learned}fine-scale sigma {self.sigma:.2f}, "
            f"impulses {100 * self.impulse_fraction:.2f}%, "
            f"sigma-vs-brightness slope {self.slope:+.2f}"
        )

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def analysis_plane(pixels: np.ndarray) -> np.ndarray:
    """One channel (green for colour: averaging channels would average noise away), 0..255."""
    image = pixels if pixels.ndim == 2 else pixels[:, :, min(1, pixels.shape[2] - 1)]
    step = max(1, int(np.ceil(np.sqrt(image.size / MAX_ANALYSIS_PIXELS))))
    return to_float(np.ascontiguousarray(image[::step, ::step])).astype(np.float64) * 255.0


def _blocks(plane: np.ndarray, block: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block of ``2*block`` pixels: mean brightness, detail std, clipped share."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    quad = np.stack(
        [plane[0:h:2, 0:w:2], plane[0:h:2, 1:w:2], plane[1:h:2, 0:w:2], plane[1:h:2, 1:w:2]]
    )
    low, high = plane.min(), plane.max()
    clipped = (quad.min(axis=0) <= low + 0.5) | (quad.max(axis=0) >= high - 0.5)
    detail = (quad[0] - quad[1] - quad[2] + quad[3]) / 2
    mean = quad.mean(axis=0)
    rows, cols = detail.shape[0] // block * block, detail.shape[1] // block * block

    def per_block(a: np.ndarray) -> np.ndarray:
        a = a[:rows, :cols].reshape(rows // block, block, cols // block, block)
        return a.transpose(0, 2, 1, 3).reshape(-1, block * block)

    return (
        per_block(mean).mean(axis=1),
        per_block(detail).std(axis=1, ddof=1),
        per_block(clipped).mean(axis=1),
    )


def _low_quantile_sigma(stds: np.ndarray, block: int = 8) -> float:
    dof = block * block - 1
    chi2_quantile = CHI2_QUANTILES.get((dof, QUANTILE))
    if chi2_quantile is None:
        from scipy import special

        chi2_quantile = 2.0 * special.gammaincinv(dof / 2.0, QUANTILE)  # chi2.ppf(QUANTILE, dof)
    bias = np.sqrt(chi2_quantile / dof)
    return float(np.quantile(stds, QUANTILE) / bias)


def pca_sigma(plane: np.ndarray, patch: int = 7, max_patches: int = 60_000) -> float:
    """Noise sigma from the patch covariance's smallest eigenvalues (Chen et al. 2015).

    The eigenvalues are dropped from the top until their mean is no larger than their median;
    patches touching the range's extremes are left out (clipping shrinks their variance).
    The patches are those at a strided grid of top-left corners (about ``max_patches``); they
    are gathered one pixel offset at a time into float32 rows (no float64 patch matrix), and
    which of them touch the extremes is read off a summed-area table of the clipped pixels.
    float32 sums move it by < 2e-5 above sigma 20, where :func:`estimate_sigma` reads it (up to
    0.3 on near-noiseless real crops, where it is not read).
    """
    rows, cols = plane.shape[0] - patch + 1, plane.shape[1] - patch + 1
    if rows <= 0 or cols <= 0:
        return 0.0
    step = max(1, int(np.sqrt(rows * cols / max_patches)))
    ys, xs = np.arange(0, rows, step), np.arange(0, cols, step)
    low, high = plane.min(), plane.max()
    clipped = (plane <= low + 0.5) | (plane >= high - 0.5)
    table = np.zeros((plane.shape[0] + 1, plane.shape[1] + 1), np.int32)
    np.cumsum(np.cumsum(clipped, axis=0, dtype=np.int32), axis=1, out=table[1:, 1:])
    top, bottom, left, right = ys[:, None], ys[:, None] + patch, xs, xs + patch
    touching = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
    inside = touching == 0
    keep = inside if inside.sum() > 10 * patch * patch else np.ones_like(inside)
    count = int(keep.sum())
    if count <= patch * patch:
        return 0.0
    values = plane.astype(np.float32)
    data = np.empty((patch * patch, count), np.float32)
    span_y, span_x = (ys.size - 1) * step + 1, (xs.size - 1) * step + 1
    for k, (dy, dx) in enumerate(itertools.product(range(patch), range(patch))):
        data[k] = values[dy : dy + span_y : step, dx : dx + span_x : step][keep]
    data -= data.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    covariance = (data @ data.T).astype(np.float64) / (count - 1)
    eigen = np.clip(np.sort(np.linalg.eigvalsh(covariance))[::-1], 0, None)
    for start in range(eigen.size):
        tail = eigen[start:]
        if (tail > tail.mean()).sum() >= (tail < tail.mean()).sum():
            return float(np.sqrt(tail.mean()))
    return float(np.sqrt(eigen[-1]))


def estimate_sigma(plane: np.ndarray) -> float:
    """Gaussian-equivalent noise sigma (8-bit units) of a 0..255 plane."""
    _means, stds, clipped = _blocks(plane)
    if stds.size == 0:
        return 0.0
    unclipped = clipped == 0
    usable = stds[unclipped] if unclipped.sum() >= 20 else stds
    sigma = _low_quantile_sigma(usable)
    return max(sigma, pca_sigma(plane)) if sigma > 20 else sigma


# Paeth's 19 compare-exchanges that leave the median of 9 values in the 5th (index 4).
_MEDIAN9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def median3x3(plane: np.ndarray, band: int = 256) -> np.ndarray:
    """``scipy.ndimage.median_filter(plane, size=3, mode="reflect")``, exactly, in numpy.

    Min/max only (each output is one of its window's values), in bands of ``band`` rows so
    the nine shifted copies stay small; the runtime install has no scipy.
    """
    padded = np.pad(plane, 1, mode="symmetric")  # scipy's reflect: d c b a | a b c d
    out = np.empty_like(plane)
    rows, cols = plane.shape
    for top in range(0, rows, band):
        end = min(rows, top + band)
        v = [padded[top + dy : end + dy, dx : cols + dx] for dy in range(3) for dx in range(3)]
        for a, b in _MEDIAN9:
            v[a], v[b] = np.minimum(v[a], v[b]), np.maximum(v[a], v[b])
        out[top:end] = v[4]
    return out


def _impulse_fractions(plane: np.ndarray) -> tuple[float, float, float]:
    """(strong, all, sigma of the rest) for extreme pixels that stand off their 3x3 median.

    Clipped shot or speckle noise also leaves extreme pixels, but next to bright or dark
    neighbours; impulses sit far (>100 and >5 sigma of the rest) from their neighbourhood.
    The rest's sigma is measured with the extreme pixels replaced by their medians, so the
    impulses themselves do not inflate it.
    """
    low, high = plane.min(), plane.max()
    median = median3x3(plane)
    extreme = (plane <= low + 0.5) | (plane >= high - 0.5)
    rest_sigma = estimate_sigma(np.where(extreme, median, plane))
    off = np.abs(plane - median)
    strong = extreme & (off > max(100.0, 5.0 * rest_sigma))
    return float(strong.mean()), float((extreme & (off > 40.0)).mean()), rest_sigma


def _slope(plane: np.ndarray) -> tuple[float, float]:
    """Fit log sigma against log brightness over bins; returns (slope, sigma at 128)."""
    means, stds, clipped = _blocks(plane, SLOPE_BLOCK)
    usable = (clipped < 0.2) & (means > 12) & (means < 243)
    if usable.sum() < 120:
        return 0.0, 0.0
    edges = np.quantile(means[usable], np.linspace(0, 1, 7))
    xs, ys = [], []
    for low, high in itertools.pairwise(edges):
        chosen = usable & (means >= low) & (means <= high)
        if chosen.sum() >= 20 and high - low > 1:
            sigma = _low_quantile_sigma(stds[chosen], SLOPE_BLOCK)
            if sigma > 0:
                xs.append(np.log(np.median(means[chosen])))
                ys.append(np.log(sigma))
    if len(xs) < 3 or np.ptp(xs) < 0.5:
        return 0.0, 0.0
    slope, intercept = np.polyfit(xs, ys, 1)
    return float(slope), float(np.exp(intercept + slope * np.log(128.0)))


def identify(pixels: np.ndarray, learned: bool = False) -> NoiseReport:
    """Classify the noise of an ``HxW``/``HxWxC`` image (uint8, uint16 or float in [0, 1]).

    ``learned``: use FDNet's estimator for the level and the clean decision (experimental;
    needs its shipped weights); the default keeps the fine-scale estimate alone.
    """
    pixels = np.asarray(pixels)
    plane = analysis_plane(pixels)
    strong, fraction, rest_sigma = _impulse_fractions(plane)
    if strong > IMPULSE_FRACTION:
        return NoiseReport("salt-and-pepper", fraction, rest_sigma, fraction, 0.0)
    sigma = estimate_sigma(plane)
    slope, sigma_mid = _slope(plane)
    rms = _learned_rms(pixels) if learned else None
    if (sigma if rms is None else rms) < (CLEAN_SIGMA if rms is None else CLEAN_RMS):
        return NoiseReport("clean", sigma if rms is None else rms, sigma, fraction, slope, rms)
    kind = "speckle" if slope > 0.75 else "poisson" if slope > 0.3 else "gaussian"
    level = sigma if kind == "gaussian" or not sigma_mid else sigma_mid
    return NoiseReport(kind, level if rms is None else rms, sigma, fraction, slope, rms)


def _learned_rms(pixels: np.ndarray) -> float:
    from fastdenoise import noisemap

    return noisemap.noise_rms(pixels)
