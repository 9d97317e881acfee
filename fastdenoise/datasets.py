"""Training data: clean folders with synthetic noise, and real noisy/clean pairs.

Pair finders return ``(noisy_path, clean_path)`` lists for the common layouts:

* SIDD (Small/Medium sRGB): scene folders like ``0001_001_S6_00100_00060_3200_L`` holding
  ``NOISY_SRGB_010.PNG`` / ``GT_SRGB_010.PNG`` (any depth below the root);
* RENOIR: batch folders holding ``*Reference*`` (low ISO) and ``*Noisy*`` images;
* NIND: scene folders holding ``NIND_<scene>_ISO<n>.<ext>``; the lowest ISO is the reference;
* plain paired folders: ``<root>/{noisy,input}`` and ``<root>/{clean,gt,target}`` whose files
  match by name once words like ``noisy``/``gt`` are dropped (or by sorted order).

Images are read by :func:`fastdenoise.io.read_pixels` (the product's decoder) and held in
memory as native uint8/uint16 (float TIFF: float32) arrays; :class:`PatchSampler` cuts random
aligned patches with random flips/rotations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fastdenoise.io import read_pixels
from fastdenoise.noise import NoiseFn
from fastdenoise.tiler import to_float

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
Pair = tuple[Path, Path]


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def is_gray_folder(folder: str | Path) -> bool:
    """Whether every image directly inside ``folder`` decodes to one channel."""
    files = list_images(folder)
    return bool(files) and all(read_pixels(p).shape[2] == 1 for p in files)


# ---------------------------------------------------------------------------------------------
# pair finders

_SIDD_SCENE = re.compile(r"^\d{4}_\d{3}_[A-Za-z0-9]+_\d{5}_\d{5}_\d{4}_[LNH]$")
_NIND_ISO = re.compile(r"_ISO(H?)(\d+)(?:-\d+)?$", re.IGNORECASE)


def _images_below(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def sidd_pairs(root: str | Path) -> list[Pair]:
    """SIDD sRGB pairs: ``NOISY_SRGB_xxx`` with ``GT_SRGB_xxx`` in each scene folder."""
    pairs = []
    for scene in sorted(p for p in Path(root).rglob("*") if p.is_dir()):
        if not _SIDD_SCENE.match(scene.name):
            continue
        files = {p.stem.upper(): p for p in list_images(scene)}
        for stem, noisy in sorted(files.items()):
            if stem.startswith("NOISY_SRGB"):
                clean = files.get("GT_SRGB" + stem[len("NOISY_SRGB") :])
                if clean is not None:
                    pairs.append((noisy, clean))
    return pairs


def renoir_pairs(root: str | Path) -> list[Pair]:
    """RENOIR pairs: every ``*Noisy*`` image of a batch folder with its ``*Reference*``."""
    pairs = []
    for batch in sorted({p.parent for p in _images_below(Path(root))}):
        files = list_images(batch)
        refs = [p for p in files if "reference" in p.stem.lower()]
        if len(refs) != 1:
            continue
        pairs += [(p, refs[0]) for p in files if "noisy" in p.stem.lower()]
    return pairs


def _nind_iso(path: Path) -> tuple[int, int] | None:
    match = _NIND_ISO.search(path.stem)
    if not match:
        return None
    return (1 if match.group(1) else 0, int(match.group(2)))


def nind_pairs(root: str | Path) -> list[Pair]:
    """NIND pairs: in each scene folder, every higher ISO with the lowest numeric ISO shot."""
    pairs = []
    for scene in sorted({p.parent for p in _images_below(Path(root))}):
        shots = [(iso, p) for p in list_images(scene) if (iso := _nind_iso(p)) is not None]
        if len(shots) < 2:
            continue
        shots.sort(key=lambda s: (s[0], len(s[1].name), s[1].name))  # ISO200 before ISO200-2
        ref_iso, ref = shots[0]
        pairs += [(p, ref) for iso, p in shots[1:] if iso != ref_iso]
    return pairs


_NOISY_DIRS = ("noisy", "input", "inputs", "noise", "lq")
_CLEAN_DIRS = ("clean", "gt", "target", "targets", "groundtruth", "ground_truth", "hq")
_TAG = re.compile(
    r"(?i)(^|[_\-. ])(noisy|noise|real|gt|clean|mean|target|input|lq|hq)(?=$|[_\-. ])"
)


def _key(path: Path) -> str:
    return _TAG.sub("", path.stem).lower()


def folder_pairs(root: str | Path) -> list[Pair]:
    """Pairs from ``root/<noisy dir>`` and ``root/<clean dir>`` (matched by name or order)."""
    root = Path(root)
    subdirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    noisy_dir = next((subdirs[n] for n in _NOISY_DIRS if n in subdirs), None)
    clean_dir = next((subdirs[n] for n in _CLEAN_DIRS if n in subdirs), None)
    if noisy_dir is None or clean_dir is None:
        return []
    noisy, clean = list_images(noisy_dir), list_images(clean_dir)
    by_key = {_key(p): p for p in clean}
    if len(by_key) == len(clean) and all(_key(p) in by_key for p in noisy):
        return [(p, by_key[_key(p)]) for p in noisy]
    if len(noisy) == len(clean):
        return list(zip(noisy, clean, strict=True))
    raise ValueError(f"cannot match {len(noisy)} noisy to {len(clean)} clean files in {root}")


# PolyU_crops scenes never trained on (21 of its 100 pairs, 6 of its scene names): the
# real-noise weights that train on the other pairs are scored on these alone.
POLYU_HELD_OUT = ("ball", "chair", "desk", "photo", "printer", "wall")
_POLYU_NAME = re.compile(r"_(?P<scene>[A-Za-z]+)_+\d+_(?:real|mean)$")


def polyu_scene(path: Path) -> str:
    """The scene of a PolyU crop (``Canon80D_8_8_3200_ball_16_real.JPG`` -> ``ball``)."""
    match = _POLYU_NAME.search(path.stem)
    if match is None:
        raise ValueError(f"not a PolyU crop name: {path.name}")
    return match["scene"]


def polyu_split(root: str | Path, held_out: bool) -> list[Pair]:
    """PolyU_crops pairs of the held-out scenes (``held_out``) or of the others."""
    return [p for p in folder_pairs(root) if (polyu_scene(p[0]) in POLYU_HELD_OUT) == held_out]


FINDERS = {"sidd": sidd_pairs, "renoir": renoir_pairs, "nind": nind_pairs, "folders": folder_pairs}


def find_pairs(root: str | Path, layout: str = "auto") -> list[Pair]:
    """Pairs under ``root`` for a named layout, or the first layout that finds any."""
    if layout != "auto":
        return FINDERS[layout](root)
    for finder in (folder_pairs, sidd_pairs, nind_pairs, renoir_pairs):
        pairs = finder(root)
        if pairs:
            return pairs
    raise ValueError(f"no noisy/clean pairs found under {root} (SIDD, NIND, RENOIR, folders)")


# ---------------------------------------------------------------------------------------------
# patches


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of an ``HxWxC`` array (``k`` in 0..7)."""
    out = np.rot90(image, k % 4, axes=(0, 1))
    return out[:, ::-1] if k >= 4 else out


def undo_dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`dihedral`: ``undo_dihedral(dihedral(a, k), k)`` equals ``a``."""
    out = image[:, ::-1] if k >= 4 else image
    return np.rot90(out, -(k % 4), axes=(0, 1))


@dataclass
class PatchSampler:
    """Random training patches from clean images (synthetic noise) and/or real pairs.

    ``clean`` images get ``noise`` applied per patch; ``pairs`` are ``(noisy, clean)`` arrays
    of the same size. ``pair_fraction`` is the chance a patch comes from the pairs when both
    are given. ``gray_fraction`` is the chance a colour patch from ``clean`` is made gray and
    noised as one channel, then replicated to three: a gray photo run through a colour model
    carries the same noise in every channel, which independent per-channel noise never
    shows the network. ``sample`` returns float32 ``NxCxHxW``-ready arrays ``(noisy, clean)`` as
    ``NxHxWxC``.
    """

    clean: Sequence[np.ndarray]
    noise: NoiseFn | None = None
    pairs: Sequence[tuple[np.ndarray, np.ndarray]] = ()
    patch: int = 96
    pair_fraction: float = 0.5
    augment: bool = True
    gray_fraction: float = 0.0
    quantize: float = 0.0

    def __post_init__(self) -> None:
        if not self.clean and not self.pairs:
            raise ValueError("no training images")
        if self.clean and self.noise is None:
            raise ValueError("clean images need a noise model")
        for img in [*self.clean, *(p[1] for p in self.pairs)]:
            if min(img.shape[:2]) < self.patch:
                raise ValueError(f"image {img.shape} smaller than patch {self.patch}")

    def _crop(self, rng: np.random.Generator, *images: np.ndarray) -> list[np.ndarray]:
        height, width = images[0].shape[:2]
        y = int(rng.integers(0, height - self.patch + 1))
        x = int(rng.integers(0, width - self.patch + 1))
        k = int(rng.integers(8)) if self.augment else 0
        return [to_float(dihedral(im[y : y + self.patch, x : x + self.patch], k)) for im in images]

    def one(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One ``(noisy, clean)`` float32 ``HxWxC`` patch.

        With probability ``quantize`` a synthetic noisy patch is clipped to ``[0, 1]`` and
        rounded to 8 bits, as every user's file is.
        """
        noisy, clean = self._one(rng)
        if self.quantize and rng.random() < self.quantize:
            noisy = np.rint(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.float32) / 255.0
        return noisy, clean

    def _one(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        use_pairs = bool(self.pairs) and (not self.clean or rng.random() < self.pair_fraction)
        if use_pairs:
            noisy, clean = self._crop(rng, *self.pairs[int(rng.integers(len(self.pairs)))])
            return noisy, clean
        (clean,) = self._crop(rng, self.clean[int(rng.integers(len(self.clean)))])
        assert self.noise is not None
        if self.gray_fraction and clean.shape[2] == 3 and rng.random() < self.gray_fraction:
            gray = cv2.cvtColor(np.ascontiguousarray(clean), cv2.COLOR_RGB2GRAY)[:, :, None]
            noisy = self.noise(gray, rng)
            return np.repeat(noisy, 3, axis=2), np.repeat(gray, 3, axis=2)
        return self.noise(np.ascontiguousarray(clean), rng), clean

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch ``(noisy, clean)`` of float32 ``NxHxWxC`` arrays."""
        items = [self.one(rng) for _ in range(batch)]
        return np.stack([a for a, _ in items]), np.stack([b for _, b in items])


def load_clean(folders: Sequence[str | Path], channels: int) -> list[np.ndarray]:
    """All images of the given folders, as native arrays with ``channels`` channels."""
    return [read_pixels(p, channels) for folder in folders for p in list_images(folder)]


def load_pairs(pairs: Sequence[Pair], channels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read ``(noisy, clean)`` pairs, checking their sizes agree."""
    out = []
    for noisy_path, clean_path in pairs:
        noisy, clean = read_pixels(noisy_path, channels), read_pixels(clean_path, channels)
        if noisy.shape != clean.shape:
            raise ValueError(f"size mismatch: {noisy_path} {noisy.shape} vs {clean.shape}")
        out.append((noisy, clean))
    return out
