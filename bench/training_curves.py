"""Validation PSNR against CPU hours for every shipped variant, and what closing a gap would cost.

    .venv/bin/python bench/training_curves.py -o docs/training_curves.png

Reads the validation history each shipped JSON keeps (all training stages, see
``fastdenoise.models.publish``), plots it, and for the Gaussian variants prints the gap from
the full-set PSNR (``measured``) to each target with a CPU-hour estimate: the slope over the
last doubling of CPU time, extrapolated log-linearly. Training curves flatten, so that
extrapolation is optimistic: read the estimate as "at least this many CPU hours".
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from fastdenoise.models.publish import curve_points
from fastdenoise.models.zoo import WEIGHTS_DIR

GAUSSIAN_SET = "CBSD68 sigma 25"
# (variant file stem, target label, CBSD68 sigma 25 PSNR to reach)
TARGETS = [
    ("mwcnn-gaussian", "issue-4 bar", 30.5),
    ("mwcnn-gaussian", "issue-9 target", 31.4),
    ("rednet-gaussian", "CBM3D", 30.71),
    ("pridnet-gaussian", "CBM3D", 30.71),
]


def load_curves(folder: Path = WEIGHTS_DIR) -> dict[str, dict]:
    """``{stem: shipped JSON}`` for every shipped variant that keeps a history."""
    metas = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    return {k: m for k, m in metas.items() if m.get("training", {}).get("stages")}


def last_doubling_slope(hours: list[float], psnr: list[float]) -> float:
    """dB gained over the last doubling of CPU hours (from the first point if it is later)."""
    end = hours[-1]
    start = max(end / 2, hours[0])
    if start >= end:
        return float("nan")
    gained = psnr[-1] - float(np.interp(start, hours, psnr))
    return gained / math.log2(end / start)


def estimate(meta: dict, target: float) -> dict[str, float]:
    """Gap on the full set and the log-linear CPU-hour estimate to close it."""
    points = [p for p in curve_points(meta["training"]) if p["set"] == GAUSSIAN_SET]
    hours = [p["cpu_hours"] for p in points]
    psnr = [p["psnr"] for p in points]
    full = meta["measured"][GAUSSIAN_SET]["psnr"]
    # the 8 validation images read a little differently from all 68: move the target alike
    val_target = target + (psnr[-1] - full)
    slope = last_doubling_slope(hours, psnr)
    gap = target - full
    if gap <= 0:
        needed = hours[-1]
    elif slope > 0:
        needed = hours[-1] * 2 ** ((val_target - psnr[-1]) / slope)
    else:
        needed = math.inf
    return {"full": full, "gap": gap, "slope": slope, "hours": hours[-1], "needed": needed}


def plot(curves: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for stem, meta in curves.items():
        points = curve_points(meta["training"])
        for name in dict.fromkeys(p["set"] for p in points):
            chosen = [p for p in points if p["set"] == name]
            label = stem if name == GAUSSIAN_SET else f"{stem} ({name.replace('CBSD68 ', '')})"
            ax.plot([p["cpu_hours"] for p in chosen], [p["psnr"] for p in chosen], "o-",
                    label=label, markersize=3)  # fmt: skip
    ax.set_xscale("log")
    for label, value in {"CBM3D 30.71": 30.71, "issue-9 target 31.4": 31.4}.items():
        ax.axhline(value, color="gray", linestyle=":", linewidth=1)
        ax.text(0.01, value + 0.05, label, color="gray", fontsize=8,
                transform=ax.get_yaxis_transform())  # fmt: skip
    ax.set_ylim(bottom=22)
    ax.set_xlabel("CPU hours (one thread, all training stages)")
    ax.set_ylabel("validation PSNR dB (8 CBSD68 images)")
    ax.set_title(f"Shipped variants: validation during training ({GAUSSIAN_SET} unless noted)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/training_curves.png"))
    args = parser.parse_args()
    curves = load_curves()
    plot(curves, args.out)
    print(f"wrote {args.out}\n")
    print("| variant | target | full-set PSNR | gap dB | dB per CPU doubling | CPU h so far "
          "| CPU h to target (at least) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for stem, label, target in TARGETS:
        if stem not in curves:
            continue
        e = estimate(curves[stem], target)
        needed = "reached" if e["gap"] <= 0 else f"{e['needed']:.1f}"
        print(f"| {stem} | {label} {target} | {e['full']:.2f} | {e['gap']:.2f} | "
              f"{e['slope']:.2f} | {e['hours']:.2f} | {needed} |")  # fmt: skip


if __name__ == "__main__":
    main()
