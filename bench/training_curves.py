"""Training curves of every shipped variant, and what closing each remaining gap would cost.

    .venv/bin/python bench/training_curves.py -o docs/training_curves.png

Reads the history each shipped JSON keeps (all training stages, see
``fastdenoise.models.publish``): the validation PSNR during training and the full-set scores
``measure`` took at the end of each stage. It plots both and, for every issue-9 and issue-17
target, prints the gap from the shipped file's score with a CPU-hour estimate: the slope of that
set's stage scores over the last doubling of CPU time, extrapolated log-linearly (for the
validation set, also the validation curve's slope). Training curves flatten, so that
extrapolation is optimistic: read the estimate as "at least this many CPU hours". Real-noise
targets of the ``real`` variant moved with changes to the camera simulation and the recipe, not
with CPU time (session 5: 1.5 more CPU hours at a fixed recipe moved the SIDD block -0.14 dB),
so their figure holds only if every doubling of CPU time brings a new lever, as each stage so
far did.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fastdenoise.models.publish import curve_points, stage_scores
from fastdenoise.models.zoo import WEIGHTS_DIR

VALIDATION_SET = "CBSD68 sigma 25"


class Target(NamedTuple):
    stem: str
    set: str
    label: str
    psnr: float
    compute_bound: bool = True


TARGETS = [
    Target("mwcnn-gaussian", "CBSD68 sigma 15", "issue 9", 34.0),
    Target("mwcnn-gaussian", "CBSD68 sigma 25", "issue 9", 31.4),
    Target("mwcnn-gaussian", "CBSD68 sigma 50", "issue 9", 28.1),
    Target("mwcnn-gaussian", "Kodak24 sigma 25", "issue 9", 32.4),
    Target("mwcnn-gaussian", "BSD68 sigma 25", "issue 9 (gray)", 29.3),
    Target("mwcnn-real", "Nam_patches", "issue 9", 40.5, compute_bound=False),
    Target("mwcnn-real", "SIDD_val_block_DANet", "issue 9", 28.0, compute_bound=False),
    Target("rednet-gaussian", "CBSD68 sigma 25", "CBM3D", 30.71),
    Target("pridnet-gaussian", "CBSD68 sigma 25", "CBM3D", 30.71),
    Target("fdnet-real", "Nam_patches", "issue 17", 41.3, compute_bound=False),
    Target("fdnet-real", "SIDD_val_block_DANet", "issue 17", 28.0, compute_bound=False),
    Target("fdnet-gaussian", "CBSD68 sigma 25 8-bit", "issue 17", 30.9),
    Target("fdnet-gaussian", "CBSD68 sigma 25", "issue 17", 31.3),
    Target("fdnet-gaussian", "BSD68 sigma 25", "issue 17 (gray)", 29.2),
]


def load_curves(folder: Path = WEIGHTS_DIR) -> dict[str, dict]:
    """``{stem: shipped JSON}`` for every shipped variant that keeps a history."""
    metas = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    return {k: m for k, m in metas.items() if m.get("training", {}).get("stages")}


def last_doubling_slope(hours: list[float], psnr: list[float]) -> float:
    """dB gained over the last doubling of CPU hours (from the first point if it is later)."""
    if len(hours) < 2:
        return float("nan")
    end = hours[-1]
    start = max(end / 2, hours[0])
    if start >= end:
        return float("nan")
    gained = psnr[-1] - float(np.interp(start, hours, psnr))
    return gained / math.log2(end / start)


def hours_needed(hours: float, gap: float, slope: float) -> float:
    """CPU hours at which a log-linear curve of ``slope`` dB per doubling closes ``gap``."""
    if gap <= 0:
        return hours
    if math.isnan(slope):  # one point: no slope to extrapolate
        return math.nan
    return hours * 2 ** (gap / slope) if slope > 0 else math.inf


def estimate(meta: dict, target: Target) -> dict[str, float]:
    """Gap on the full set and log-linear CPU-hour estimates from stage scores (and validation)."""
    scores = [row for row in stage_scores(meta["training"]) if target.set in row]
    hours = [row["cpu_hours"] for row in scores]
    slope = last_doubling_slope(hours, [row[target.set] for row in scores])
    now = meta["measured"][target.set]["psnr"]
    total = meta["training"]["total_cpu_hours"]
    gap = target.psnr - now
    result = {"now": now, "gap": gap, "slope": slope, "hours": total,
              "needed": hours_needed(total, gap, slope)}  # fmt: skip
    points = [p for p in curve_points(meta["training"]) if p["set"] == VALIDATION_SET]
    if target.set == VALIDATION_SET and points:  # fdnet real validates on camera noise
        val = [p["psnr"] for p in points]
        val_slope = last_doubling_slope([p["cpu_hours"] for p in points], val)
        result["val_slope"] = val_slope
        result["val_needed"] = hours_needed(total, gap, val_slope)
    return result


def plot(curves: dict[str, dict], out: Path) -> None:
    """Left: validation curves of every variant. Right: stage scores against each target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    for stem, meta in curves.items():
        points = curve_points(meta["training"])
        for name in dict.fromkeys(p["set"] for p in points):
            chosen = [p for p in points if p["set"] == name]
            label = stem if name == VALIDATION_SET else f"{stem} ({name.replace('CBSD68 ', '')})"
            left.plot([p["cpu_hours"] for p in chosen], [p["psnr"] for p in chosen], "o-",
                      label=label, markersize=3)  # fmt: skip
    for label, value in {"CBM3D 30.71": 30.71, "issue-9 target 31.4": 31.4}.items():
        left.axhline(value, color="gray", linestyle=":", linewidth=1)
        left.text(0.01, value + 0.05, label, color="gray", fontsize=8,
                  transform=left.get_yaxis_transform())  # fmt: skip
    left.set_ylim(bottom=22)
    left.set_ylabel("validation PSNR dB (8 CBSD68 images)")
    left.set_title(f"Validation during training ({VALIDATION_SET} unless noted)")
    left.legend(fontsize=7, loc="lower right", framealpha=0.9)

    for target in TARGETS:
        if target.stem not in curves or target.label == "CBM3D":
            continue
        rows = [r for r in stage_scores(curves[target.stem]["training"]) if target.set in r]
        label = f"{target.stem}: {target.set} (target {target.psnr})"
        hours = [r["cpu_hours"] for r in rows]
        right.plot(hours, [r[target.set] - target.psnr for r in rows], "o-", markersize=4,
                   label=label)  # fmt: skip
    right.axhline(0, color="black", linewidth=1)
    right.set_ylim(-9, 1)
    right.set_ylabel("full-set PSNR minus its target (dB)")
    right.set_title("Full sets at the end of each stage (publish measure)")
    right.legend(fontsize=7, loc="lower right", framealpha=0.9)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("CPU hours (one thread, all training stages)")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _hours(value: float, gap: float, compute_bound: bool) -> str:
    if gap <= 0:
        return "reached"
    if math.isnan(value):
        return "unknown (one stage: no slope)"
    if math.isinf(value):
        return "no gain"
    if not compute_bound:
        return f"{value:.0f}, only if each doubling brings a new lever as so far (none: no gain)"
    return f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/training_curves.png"))
    args = parser.parse_args()
    curves = load_curves()
    plot(curves, args.out)
    print(f"wrote {args.out}\n")
    print("| variant | set | target | now | gap dB | dB per CPU doubling | CPU h so far "
          "| CPU h to target (at least) |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        if target.stem not in curves:
            continue
        e = estimate(curves[target.stem], target)
        rows = [("full-set stage scores", e["slope"], e["needed"])]
        if "val_slope" in e and e["gap"] > 0:
            rows.append(("validation curve", e["val_slope"], e["val_needed"]))
        for source, slope, needed in rows:
            slope_text = "-" if math.isnan(slope) else f"{slope:.2f} ({source})"
            print(f"| {target.stem} | {target.set} | {target.label} {target.psnr} | {e['now']:.2f} "
                  f"| {e['gap']:.2f} | {slope_text} | {e['hours']:.2f} "
                  f"| {_hours(needed, e['gap'], target.compute_bound)} |")  # fmt: skip


if __name__ == "__main__":
    main()
