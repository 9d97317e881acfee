"""Engines benchmark: CPU megapixels/s per model x engine x precision, in one run.

Speed is measured on a 512x512 color tile fed straight to each engine's Denoiser (the
networks at their default, full-size configs; speed does not depend on the weight values),
with ratios against PyTorch eager fp32 of the same model measured in the same run. FLOPs per
pixel come from torch's FLOP counter, so the achieved GFLOP/s can be set against the CPU's
peak (the roofline). Optionally:

* ``--stream-mp N``: an N-megapixel image through the streaming tiler (512 tiles) with the
  fastest engine of each model; tiling overhead = wall time / time spent inside the engine.
* ``--psnr-weights best.safetensors --psnr-data DIR``: PSNR of each engine x precision on a
  clean folder (CBSD68) with AWGN sigma 25 (fixed seed), and its cost against torch fp32.

Example (what bench/results/engines.md records):
    python bench/bench_engines.py --threads 1 --stream-mp 12 \
        --psnr-weights checkpoints/mwcnn-gaussian/best.safetensors \
        --psnr-data ../shared/data/CBSD68 --out bench/results/engines.md
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastdenoise import engines
from fastdenoise.io import read_pixels
from fastdenoise.methods import Denoiser, TilePlan
from fastdenoise.models import zoo
from fastdenoise.tiler import run_tiled, to_float

COMBOS = "torch:fp32,torch:fp16,onnxruntime:fp32,onnxruntime:int8"


def flops_per_pixel(model: torch.nn.Module, side: int = 256) -> float:
    """Forward FLOPs (2 x multiply-adds) per pixel, counted by torch on a ``side`` tile."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.rand(1, int(model.channels), side, side))
    return counter.get_total_flops() / side**2


def build(engine: str, model: torch.nn.Module, arch: str, precision: str, threads: int) -> Denoiser:
    plan = TilePlan(zoo.DEFAULT_HALO[arch], int(model.multiple), True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        denoiser = engines.create(engine, model, plan, arch, "cpu", precision, threads)
    fallback = [str(w.message) for w in caught if "running fp32" in str(w.message)]
    if fallback:  # a silent fp32 fallback must not be reported as reduced precision
        raise RuntimeError(fallback[0])
    return denoiser


def tile_speed(denoiser: Denoiser, side: int, repeats: int) -> float:
    """Median megapixels/s over ``repeats`` calls on one ``side`` x ``side`` tile."""
    tile = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    denoiser(tile)  # warm-up (ORT plans, oneDNN primitives)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        denoiser(tile)
        times.append(time.perf_counter() - started)
    return side * side / 1e6 / statistics.median(times)


class Timed(Denoiser):
    """Wraps a denoiser and adds up the seconds spent inside it."""

    def __init__(self, inner: Denoiser) -> None:
        self.inner, self.plan, self.seconds = inner, inner.plan, 0.0

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        out = self.inner(tile)
        self.seconds += time.perf_counter() - started
        return out


def stream(denoiser: Denoiser, megapixels: float) -> tuple[float, float]:
    """MP/s through the tiler on a 4:3 uint8 image, and wall / in-engine time."""
    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(megapixels * 1e6 / width)
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    timed = Timed(denoiser)
    started = time.perf_counter()
    run_tiled(image, timed, tile=512)
    wall = time.perf_counter() - started
    return height * width / 1e6 / wall, wall / timed.seconds


def psnr_rows(
    weights: Path, data: Path, sigma: float, threads: int, combos: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """PSNR on ``data`` + AWGN ``sigma`` per engine x precision (whole-image, tile 512)."""
    model, meta = zoo.load_user_weights(weights)
    arch = meta["arch"]
    paths = sorted(p for p in data.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
    rng = np.random.default_rng(25)
    clean = [to_float(read_pixels(p, 3)) for p in paths]
    noisy = [c + rng.normal(0, sigma / 255, c.shape).astype(np.float32) for c in clean]
    rows = []
    for engine, precision in combos:
        denoiser = build(engine, model, arch, precision, threads)
        scores = []
        for x, y in zip(noisy, clean, strict=True):
            out = np.clip(run_tiled(x, denoiser, tile=512), 0, 1)
            out = np.rint(out * 255) / 255  # as saved to 8-bit files
            scores.append(10 * np.log10(1 / np.mean((out - y) ** 2)))
        rows.append({"engine": engine, "precision": precision, "psnr": float(np.mean(scores))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="autoencoder,rednet,mwcnn,pridnet")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stream-mp", type=float, default=0.0)
    parser.add_argument("--psnr-weights", type=Path)
    parser.add_argument("--psnr-data", type=Path)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--combos", default=COMBOS, help="engine:precision,...; first = baseline")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    combos = [tuple(item.split(":")) for item in args.combos.split(",")]
    torch.set_num_threads(args.threads)

    lines = [
        f"| model | engine | precision | MP/s ({args.tile}² tile) | × torch fp32 "
        "| GFLOP/s | stream MP/s | wall / engine time |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    networks = [(arch, zoo.build_model(arch, channels=3).eval()) for arch in args.models.split(",")]
    if args.psnr_weights:  # the evaluated network's own config too (it may differ from default)
        trained, meta = zoo.load_user_weights(args.psnr_weights)
        networks.append((meta["arch"], trained.eval()))
    for arch, model in networks:
        fpp = flops_per_pixel(model)
        label = f"{arch} {getattr(model, 'widths', '')}".strip()
        base, best = 0.0, (0.0, None)
        for engine, precision in combos:
            denoiser = build(engine, model, arch, precision, args.threads)
            mps = tile_speed(denoiser, args.tile, args.repeats)
            base = base or mps
            best = max(best, (mps, denoiser), key=lambda b: b[0])
            lines.append(
                f"| {label} | {engine} | {precision} | {mps:.3f} | {mps / base:.2f} "
                f"| {mps * fpp / 1e3:.1f} | | |"
            )
            print(lines[-1], flush=True)
        if args.stream_mp and best[1] is not None:
            mps, ratio = stream(best[1], args.stream_mp)
            lines.append(
                f"| {label} | {best[1].describe()} | | | | | {mps:.3f} "
                f"({args.stream_mp:g} MP) | {ratio:.3f} |"
            )
            print(lines[-1], flush=True)
        lines.append(f"| {label} | FLOPs/pixel: {fpp / 1e3:.1f} k | | | | | | |")
    if args.psnr_weights and args.psnr_data:
        rows = psnr_rows(args.psnr_weights, args.psnr_data, args.sigma, args.threads, combos)
        lines += ["", f"PSNR on {args.psnr_data.name} + AWGN sigma {args.sigma:g} "
                  f"({args.psnr_weights}):", "", "| engine | precision | PSNR dB | cost dB |",
                  "|---|---|---:|---:|"]  # fmt: skip
        for row in rows:
            cost = rows[0]["psnr"] - row["psnr"]
            lines.append(
                f"| {row['engine']} | {row['precision']} | {row['psnr']:.3f} | {cost:+.3f} |"
            )
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
