"""``fastdenoise eda``: what a real-noise dataset holds, and how noisy each part of it is.

SIDD scene folders are named ``<instance>_<scene>_<phone>_<ISO>_<shutter>_<temperature>_<L|N|H>``
(e.g. ``0001_001_S6_00100_00060_3200_L``). NIND carries the ISO in its file names; RENOIR
pairs are counted per batch folder. ``noisy/`` + ``gt/`` folders (the layout ``bench`` and
``train`` accept) and PolyU's ``*_real``/``*_mean`` pairs, in such folders or side by side,
are read too; PolyU names say ``<camera>_<f-number>_<shutter 1/N s>_<ISO>_<scene>_<crop>``
(``Canon5D2_5_160_3200_chair_11_real``), so the camera goes where SIDD has its phone.
For every pair the noise is measured, not only counted: PSNR of noisy against ground truth,
and the noise sigma estimated on the noisy image alone.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fastdenoise.analyze import analysis_plane, estimate_sigma
from fastdenoise.datasets import (
    _nind_iso,
    folder_pairs,
    list_images,
    nind_pairs,
    renoir_pairs,
    sidd_pairs,
)
from fastdenoise.evaluate import scores
from fastdenoise.io import read_pixels

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
_POLYU_NAME = re.compile(
    r"^(?P<camera>[A-Za-z][A-Za-z0-9]*)_(?P<aperture>\d+(?:-\d+)?)_(?P<shutter>\d+)_"
    r"(?P<iso>\d+)_(?P<scene>.+?)_+(?P<crop>\d+)_(?P<kind>real|mean)$",
    re.IGNORECASE,
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


def parse_polyu_name(stem: str) -> dict[str, object] | None:
    """Camera, shutter (the N of 1/N s), ISO and scene of a PolyU file stem, or None."""
    match = _POLYU_NAME.match(stem)
    if not match:
        return None
    return {
        "scene": match["scene"],
        "phone": match["camera"],
        "iso": int(match["iso"]),
        "shutter": int(match["shutter"]),
    }


def _named_record(dataset: str, noisy: Path, clean: Path) -> Record:
    """A pair's record with what a PolyU-style name says (else its stem is the scene)."""
    fields = parse_polyu_name(noisy.stem)
    if fields is None:
        return Record(dataset, noisy.stem, str(noisy), str(clean))
    return Record("PolyU", noisy=str(noisy), clean=str(clean), **fields)  # type: ignore[arg-type]


def folder_records(root: Path) -> list[Record]:
    """``noisy/`` + ``gt/`` (or clean/, target/...) folders, as ``bench`` and ``train`` read."""
    return [_named_record(root.name, noisy, clean) for noisy, clean in folder_pairs(root)]


def polyu_records(root: Path) -> list[Record]:
    """PolyU's ``*_real`` (noisy) and ``*_mean`` (ground truth) files side by side."""
    files = list_images(root) if root.is_dir() else []
    means = {p.stem[: -len("_mean")].lower(): p for p in files if p.stem.lower().endswith("_mean")}
    records = []
    for path in files:
        if path.stem.lower().endswith("_real"):
            clean = means.get(path.stem[: -len("_real")].lower())
            if clean is not None:
                records.append(_named_record(root.name, path, clean))
    return records


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
    "folders": folder_records,
    "polyu": polyu_records,
    "nind": nind_records,
    "renoir": renoir_records,
}


def collect(root: Path, layout: str = "auto") -> list[Record]:
    """Records of a dataset folder in a named layout, or the first layout that finds pairs.

    Raises ValueError (one line) when the folder is missing or nothing matches.
    """
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    finders = LAYOUTS if layout == "auto" else {layout: LAYOUTS[layout]}
    for finder in finders.values():
        records = finder(root)
        if records:
            return records
    names = ", ".join(finders)
    raise ValueError(
        f"no noisy/clean pairs found under {root} in layout {names} (SIDD scene folders, "
        "noisy/ + gt/ folders, PolyU *_real/*_mean files, NIND ISO names, RENOIR batches)"
    )


def sort_key(value: object) -> tuple[int, float, str]:
    """Order for table rows: numbers numerically (ISO 100 < 800 < 3200), then text, None last."""
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _centre(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = max(0, (height - MEASURE_CROP) // 2), max(0, (width - MEASURE_CROP) // 2)
    return image[top : top + MEASURE_CROP, left : left + MEASURE_CROP]


def measure(record: Record) -> Record:
    """Fill in PSNR (noisy vs ground truth) and estimated sigma on a centre crop."""
    noisy = _centre(read_pixels(record.noisy))
    clean = _centre(read_pixels(record.clean))
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
        for key, group in sorted(groups.items(), key=lambda kv: sort_key(kv[0]))
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
        keys = sorted(tally, key=sort_key)
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
