"""``fastdenoise train``: the Typer command (torch is imported only when it runs).

Mounted by the CLI as ``app.command("train")(train)``; also runnable as
``python -m fastdenoise.train``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["widths=64,128", "depth=3"]`` -> ``{"widths": [64, 128], "depth": 3}``."""

    def scalar(text: str) -> Any:
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return {"true": True, "false": False}.get(text.lower(), text)

    params: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise typer.BadParameter(f"{item!r} is not key=value")
        params[key.strip()] = (
            [scalar(v) for v in value.split(",")] if "," in value else scalar(value)
        )
    return params


def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for checkpoints and logs.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Architecture: fdnet, mwcnn, rednet, pridnet, autoencoder."
        ),
    ] = "mwcnn",
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="Architecture option key=value, e.g. -p widths=64,128,256 -p depth=3.",
        ),
    ] = [],  # noqa: B006
    channels: Annotated[int, typer.Option(help="1 (gray) or 3 (color).")] = 3,
    data: Annotated[
        list[Path],
        typer.Option("--data", "-d", help="Folder of clean images (synthetic noise); repeatable."),
    ] = [],  # noqa: B006
    pairs: Annotated[
        list[Path],
        typer.Option(
            help="Root of real noisy/clean pairs (SIDD, RENOIR, NIND, noisy/+clean/); repeatable."
        ),
    ] = [],  # noqa: B006
    pairs_layout: Annotated[
        str, typer.Option(help="auto, sidd, renoir, nind or folders.")
    ] = "auto",
    pair_fraction: Annotated[
        float, typer.Option(help="Share of patches from real pairs when clean data is also given.")
    ] = 0.5,
    gray_fraction: Annotated[
        float,
        typer.Option(help="Share of colour patches made gray (same noise in all channels)."),
    ] = 0.0,
    noise: Annotated[
        str,
        typer.Option(
            help="Noise spec, each option a value or a low-high range: gaussian:sigma=0-55, "
            "poisson:peak=5-100, speckle, salt-and-pepper:amount=0.05 (a bare value sets the "
            "main option: gaussian:25), "
            "camera:shot=1e-4-6e-2,jpeg=0.3,demosaic=ea+malvar; "
            "'a|b' picks one per patch."
        ),
    ] = "gaussian:sigma=0-55",
    patch: Annotated[int, typer.Option(help="Patch size in pixels.")] = 96,
    batch: Annotated[int, typer.Option(help="Patches per step (per process under torchrun).")] = 8,
    iters: Annotated[
        int | None, typer.Option(help="Total optimizer steps (default 100000).")
    ] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, cosine decay).")] = 4e-4,
    min_lr: Annotated[float, typer.Option(help="Final learning rate.")] = 1e-6,
    warmup: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 500,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-4,
    grad_clip: Annotated[float, typer.Option(help="Clip gradient norm (0 = off).")] = 0.0,
    loss: Annotated[
        str,
        typer.Option(help="l1, charbonnier, mse, psnr or psnr50 (PSNR capped at 50 dB per patch)."),
    ] = "l1",
    lowpass: Annotated[
        float, typer.Option(help="Weight of an L1 loss on 8x8 averages (against colour casts).")
    ] = 0.0,
    quantize: Annotated[
        float,
        typer.Option(help="Share of noisy patches clipped and rounded to 8 bits, as user files."),
    ] = 0.0,
    map_forcing: Annotated[
        float,
        typer.Option(help="fdnet: share of steps that feed the true noise map, not the estimate."),
    ] = 0.5,
    estimator_weight: Annotated[
        float, typer.Option(help="fdnet: weight of the noise estimator's loss.")
    ] = 0.1,
    freeze: Annotated[
        str, typer.Option(help="fdnet: 'denoiser' trains the noise estimator alone (fast).")
    ] = "",
    ema: Annotated[
        float, typer.Option(help="EMA decay of the weights used for validation/export (0 = off).")
    ] = 0.0,
    bf16: Annotated[
        bool,
        typer.Option(help="bfloat16 autocast where the CPU has it natively (else fp32)."),
    ] = True,
    threads: Annotated[
        int | None, typer.Option(help="Torch threads (default 1: keep the machine usable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for weights, patches and noise.")] = 0,
    init: Annotated[
        Path | None,
        typer.Option(help="Start from these weights (.safetensors), e.g. to fine-tune."),
    ] = None,
    val: Annotated[
        Path | None,
        typer.Option(help="Clean folder for validation (AWGN by the evaluation protocol)."),
    ] = None,
    val_sigma: Annotated[float, typer.Option(help="Validation noise sigma (8-bit units).")] = 25.0,
    val_noise: Annotated[
        str | None,
        typer.Option(help="Validate with this noise spec (seeded per image) instead of AWGN."),
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option(help="best (default): keep the best-validating weights; last: the latest."),
    ] = None,
    val_count: Annotated[
        int | None,
        typer.Option(help="Validation images, evenly spaced in the sorted list (default 8)."),
    ] = None,
    val_every: Annotated[
        int | None, typer.Option(help="Validate every N steps (default 2000).")
    ] = None,
    ckpt_every: Annotated[
        int | None, typer.Option(help="Checkpoint every N steps (default 500).")
    ] = None,
    log_every: Annotated[int | None, typer.Option(help="Log every N steps (default 50).")] = None,
    until: Annotated[
        int | None, typer.Option(help="Stop (checkpointed) at this step; resume later.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out exactly where it stopped.")
    ] = False,
) -> None:
    """Train a denoising network on CPU or GPU, with checkpoints and validation PSNR.

    Example: fastdenoise train -o checkpoints/mwcnn -d data/CBSD432 --val data/CBSD68
    """
    from fastdenoise.extras import TRAIN_EXTRA, has_torch

    if not has_torch():
        typer.echo(f"error: train needs PyTorch: {TRAIN_EXTRA}", err=True)
        raise typer.Exit(2)
    from fastdenoise.train import RESUMABLE, TrainConfig
    from fastdenoise.train import train as run

    given = {
        "iters": iters, "threads": threads, "val": str(val) if val else None,
        "val_count": val_count, "val_every": val_every, "ckpt_every": ckpt_every,
        "log_every": log_every, "keep": keep,
    }  # fmt: skip
    overrides = {k: v for k, v in given.items() if v is not None and k in RESUMABLE}
    cfg = TrainConfig(
        out=str(out), model=model, params=parse_params(param), channels=channels,
        data=[str(d) for d in data], pairs=[str(p) for p in pairs], pairs_layout=pairs_layout,
        pair_fraction=pair_fraction, gray_fraction=gray_fraction, noise=noise, patch=patch,
        batch=batch, lr=lr, min_lr=min_lr, warmup=warmup, weight_decay=weight_decay,
        grad_clip=grad_clip, loss=loss, ema=ema, lowpass=lowpass, quantize=quantize,
        map_forcing=map_forcing, estimator_weight=estimator_weight, freeze=freeze,
        bf16=bf16, seed=seed, init=str(init) if init else None, val_sigma=val_sigma,
        val_noise=val_noise,
    )  # fmt: skip
    if not resume and not cfg.data and not cfg.pairs:
        raise typer.BadParameter("give --data (clean images) and/or --pairs (real pairs)")
    result = run(cfg, resume=resume, overrides=overrides, until=until)
    if result["stopped"]:
        raise typer.Exit(130)
