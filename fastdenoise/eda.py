"""``fastdenoise eda``: what a real-noise dataset holds, and how noisy each part of it is.

SIDD scene folders are named ``<instance>_<scene>_<phone>_<ISO>_<shutter>_<temperature>_<L|N|H>``
(e.g. ``0001_001_S6_00100_00060_3200_L``). NIND carries the ISO in its file names; RENOIR
pairs are counted per batch folder. For every pair the noise is measured, not only counted:
PSNR of noisy against ground truth, and the noise sigma estimated on the noisy image alone.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fastdenoise.analyze import analysis_plane, estimate_sigma
from fastdenoise.datasets import _nind_iso, nind_pairs, read_image, renoir_pairs, sidd_pairs
from fastdenoise.evaluate import scores

SIDD_PHONES = {
    "GP": "Google Pixel",
    "IP": "iPhone 7",
    "S6": "Samsung Galaxy S6 Edge",
    "N6": "Motorola Nexus 6",
    "G4": "LG G4",
}
SIDD_BRIGHTNESS = {"L": "low", "N": "normal", "H": "high"}
_SIDD_NAME = re.compile(
    r"^(?P<instance>\d{4})_(?P<scene>\d{3})_(?P<phone>[A-Za-z0-9]+)_(?P<iso>\d{5})_"
    r"(?P<shutter>\d{5})_(?P<temperature>\d{4})_(?P<brightness>[LNH])$"
)
MEASURE_CROP = 512  # pixels per side measured at the centre of each image (speed)


@dataclass
class Record:
    """One noisy/clean pair with what its names say and what was measured."""

    dataset: str
    scene: str
    noisy: str
    clean: str
    phone: str = "unknown"
    iso: int | None = None
    shutter: int | None = None
    temperature: int | None = None
    brightness: str | None = None
    psnr: float | None = None
    sigma: float | None = None


def parse_sidd_scene(name: str) -> dict[str, object] | None:
    """Fields of a SIDD scene folder name, or None if it is not one."""
    match = _SIDD_NAME.match(name)
    if not match:
        return None
    code = match["phone"].upper()
    return {
        "scene": f"{match['instance']}_{match['scene']}",
        "phone": SIDD_PHONES.get(code, code),
        "iso": int(match["iso"]),
        "shutter": int(match["shutter"]),
        "temperature": int(match["temperature"]),
        "brightness": SIDD_BRIGHTNESS[match["brightness"]],
    }


def sidd_records(root: Path) -> list[Record]:
    records = []
    for noisy, clean in sidd_pairs(root):
        fields = parse_sidd_scene(noisy.parent.name) or {"scene": noisy.parent.name}
        records.append(Record("SIDD", noisy=str(noisy), clean=str(clean), **fields))
    return records


def nind_records(root: Path) -> list[Record]:
    records = []
    for noisy, clean in nind_pairs(root):
        iso = _nind_iso(noisy)
        records.append(
            Record("NIND", noisy.parent.name, str(noisy), str(clean), iso=iso[1] if iso else None)
        )
    return records


def renoir_records(root: Path) -> list[Record]:
    return [
        Record("RENOIR", noisy.parent.name, str(noisy), str(clean))
        for noisy, clean in renoir_pairs(root)
    ]


LAYOUTS: dict[str, Callable[[Path], list[Record]]] = {
    "sidd": sidd_records,
    "nind": nind_records,
    "renoir": renoir_records,
}


def collect(root: Path, layout: str = "auto") -> list[Record]:
    """Records of a dataset folder in a named layout, or the first layout that finds pairs."""
    if layout != "auto":
        return LAYOUTS[layout](root)
    for finder in LAYOUTS.values():
        records = finder(root)
        if records:
            return records
    raise ValueError(f"no SIDD, NIND or RENOIR pairs found under {root}")


def _centre(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max(0, (height - MEASURE_CROP) // 2), max(0, (width - MEASURE_CROP) // 2)
    return image[top : top + MEASURE_CROP, left : left + MEASURE_CROP]


def measure(record: Record) -> Record:
    """Fill in PSNR (noisy vs ground truth) and estimated sigma on a centre crop."""
    noisy = _centre(read_image(record.noisy))
    clean = _centre(read_image(record.clean))
    if noisy.dtype == np.uint8 and clean.dtype == np.uint8 and noisy.shape == clean.shape:
        record.psnr = scores(noisy, clean)[0]
    record.sigma = estimate_sigma(analysis_plane(noisy))
    return record


def counts(records: list[Record], field: str) -> Counter:
    return Counter(getattr(r, field) for r in records)


def cross_table(records: list[Record], rows: str, cols: str) -> dict[object, Counter]:
    """Counts of ``rows`` x ``cols`` (e.g. ISO x phone)."""
    table: dict[object, Counter] = defaultdict(Counter)
    for record in records:
        table[getattr(record, rows)][getattr(record, cols)] += 1
    return dict(table)


def noise_by(records: list[Record], field: str) -> dict[object, dict[str, float]]:
    """Mean measured PSNR and sigma per value of ``field``."""
    groups: dict[object, list[Record]] = defaultdict(list)
    for record in records:
        groups[getattr(record, field)].append(record)

    def mean(values: list[float | None]) -> float:
        present = [v for v in values if v is not None]
        return float(np.mean(present)) if present else float("nan")

    return {
        key: {
            "pairs": len(group),
            "psnr": mean([r.psnr for r in group]),
            "sigma": mean([r.sigma for r in group]),
        }
        for key, group in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0])))
    }


def as_dicts(records: list[Record]) -> list[dict]:
    return [asdict(r) for r in records]


def write_plots(records: list[Record], folder: Path) -> list[Path]:
    """Bar charts per phone, ISO, shutter and brightness, an ISO x phone heat map and the
    measured sigma per ISO."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for field in ("phone", "iso", "shutter", "brightness"):
        tally = counts(records, field)
        if len(tally) <= 1 and None in tally:
            continue
        keys = sorted(tally, key=lambda k: (k is None, k if isinstance(k, int) else str(k)))
        figure, axes = plt.subplots(figsize=(7, 3.5), dpi=110)
        axes.bar([str(k) for k in keys], [tally[k] for k in keys], color="#4c72b0")
        axes.set_title(f"pairs per {field}")
        axes.tick_params(axis="x", rotation=45)
        figure.tight_layout()
        path = folder / f"count_{field}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    table = cross_table(records, "iso", "phone")
    isos = sorted(k for k in table if k is not None)
    phones = sorted({p for row in table.values() for p in row})
    if isos and phones:
        grid = np.array([[table[i][p] for p in phones] for i in isos])
        figure, axes = plt.subplots(
            figsize=(1.4 * len(phones) + 2, 0.35 * len(isos) + 1.8), dpi=110
        )
        image = axes.imshow(grid, cmap="viridis", aspect="auto")
        axes.set_xticks(range(len(phones)), phones, rotation=30, ha="right")
        axes.set_yticks(range(len(isos)), [str(i) for i in isos])
        for (y, x), value in np.ndenumerate(grid):
            axes.text(x, y, str(value), ha="center", va="center", color="w", fontsize=8)
        axes.set_title("pairs per ISO x phone")
        figure.colorbar(image)
        figure.tight_layout()
        path = folder / "iso_by_phone.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    by_iso = {k: v for k, v in noise_by(records, "iso").items() if k is not None}
    if by_iso:
        figure, axes = plt.subplots(figsize=(7, 3.5), dpi=110)
        axes.plot([str(k) for k in by_iso], [v["sigma"] for v in by_iso.values()], "o-")
        axes.set_ylabel("estimated sigma (8-bit)")
        axes.set_xlabel("ISO")
        axes.set_title("measured noise per ISO")
        figure.tight_layout()
        path = folder / "sigma_by_iso.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written
