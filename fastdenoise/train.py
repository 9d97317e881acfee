"""Training: random patches, AdamW + cosine decay, validation, atomic resumable checkpoints.

A run lives in one folder (``out``):

* ``ckpt-<step>.safetensors``: model, optimizer moments (and EMA weights) at a step;
* ``state.json``: the config, step, RNG states, history and the sha256 of the checkpoint it
  belongs to. It is written (temp file + rename) after its checkpoint, so a crash at any
  moment leaves a consistent pair; ``resume=True`` continues exactly where it stopped;
* ``best.safetensors`` + ``best.json``: the weights with the best validation PSNR so far
  (or, with ``keep="last"``, those of the latest validation).

Run it with ``python -m fastdenoise.train --help`` (or ``fastdenoise train``).

Under ``torchrun --nproc-per-node N`` every process trains the same model wrapped in
DistributedDataParallel on its own patches (``--batch`` per process); rank 0 alone prints,
validates and writes files, and ``state.json`` then also holds every rank's patch RNG
(``ranks``), so a resume with the same N continues each stream.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
except ModuleNotFoundError:  # `python -m fastdenoise.train` without the [train] extra
    if __name__ != "__main__":
        raise
    import sys

    from fastdenoise.extras import TRAIN_EXTRA

    print(f"error: training needs PyTorch: {TRAIN_EXTRA}", file=sys.stderr)
    raise SystemExit(2) from None
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from fastdenoise import datasets, distributed, evaluate, noise
from fastdenoise.atomic import replacing, write_atomic
from fastdenoise.engines.torch_engine import cpu_has_bf16
from fastdenoise.models.fdnet import local_rms
from fastdenoise.models.zoo import build_model, sha256_file

STATE = "state.json"


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in ``state.json``)."""

    out: str
    model: str = "mwcnn"
    params: dict[str, Any] = field(default_factory=dict)
    channels: int = 3
    data: list[str] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)
    pairs_layout: str = "auto"
    pair_fraction: float = 0.5
    gray_fraction: float = 0.0
    noise: str = "gaussian:sigma=0-55"
    patch: int = 96
    batch: int = 8
    iters: int = 100_000
    lr: float = 4e-4
    min_lr: float = 1e-6
    warmup: int = 500
    weight_decay: float = 1e-4
    grad_clip: float = 0.0
    loss: str = "l1"
    lowpass: float = 0.0  # weight of an L1 term on 8x8-averaged output vs target (colour casts)
    quantize: float = 0.0  # share of noisy patches clipped and rounded to 8 bits (user files)
    map_forcing: float = 0.5  # noise-map models: share of steps fed the true map, not the estimate
    estimator_weight: float = 0.1  # noise-map models: weight of the estimator's log-L1 loss
    freeze: str = ""  # "denoiser": train a noise-map model's estimator alone (one process)
    ema: float = 0.0
    bf16: bool = True  # asked for; used only where the CPU has native bf16 (see Trainer)
    threads: int = 1
    seed: int = 0
    init: str | None = None
    val: str | None = None
    val_sigma: float = 25.0
    val_noise: str | None = None
    val_count: int = 8
    val_every: int = 2000
    ckpt_every: int = 500
    log_every: int = 50
    keep: str = "best"


# ---------------------------------------------------------------------------------------------
# small pieces


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay from ``lr`` to ``min_lr`` at ``iters``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.iters - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


def loss_fn(name: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``l1``, ``charbonnier`` (eps 1e-3), ``mse``, ``psnr`` (mean of -PSNR per patch) or
    ``psnr50`` (the same, each patch's PSNR capped near 50 dB)."""
    diff = out - target
    if name == "l1":
        return diff.abs().mean()
    if name == "charbonnier":
        return torch.sqrt(diff * diff + 1e-6).mean()
    if name == "mse":
        return (diff * diff).mean()
    if name in ("psnr", "psnr50"):
        # psnr50 floors each patch's MSE at 50 dB: near-clean patches, whose MSE can reach
        # ~0, would otherwise take almost all of the 1/MSE-weighted gradient
        floor = 1e-5 if name == "psnr50" else 1e-10
        mse = (diff * diff).flatten(1).mean(1)
        return (10.0 * torch.log10(mse + floor)).mean()
    raise ValueError(f"unknown loss {name!r}; use l1, charbonnier, mse, psnr or psnr50")


def lowpass_l1(out: torch.Tensor, target: torch.Tensor, size: int = 8) -> torch.Tensor:
    """L1 between 8x8 box averages: penalises mean shifts (casts, blotches), not texture."""
    return (
        (
            nn.functional.avg_pool2d(out, size, ceil_mode=True)
            - nn.functional.avg_pool2d(target, size, ceil_mode=True)
        )
        .abs()
        .mean()
    )


def clip_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """Trainable parameters in groups whose gradient norms are clipped apart.

    A noise-map model's estimator learns from its own loss alone; its log-space gradient
    (norm 1.4-2.6 on FDNet) would otherwise set the clipping scale of the denoiser's
    (0.02-0.09) and shrink every denoiser step 1.5-3x.
    """
    estimator, rest = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (estimator if name.startswith("estimator.") else rest).append(param)
    return [group for group in (rest, estimator) if group]


def estimator_loss(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """L1 of log noise maps (relative error; one 8-bit level keeps clean areas finite)."""
    eps = 1.0 / 255.0
    return (torch.log(estimate + eps) - torch.log(truth + eps)).abs().mean()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (:func:`fastdenoise.atomic.write_atomic`)."""
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the names and bytes of ``tensors``: equal digests mean bit-identical tensors."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_weights(
    path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None
) -> None:
    """Save contiguous CPU tensors as safetensors, atomically, with the umask's mode."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with replacing(path) as tmp:
        save_file(flat, str(tmp), metadata=meta)


@contextmanager
def stop_requests() -> Iterator[dict[str, bool]]:
    """Turn SIGINT/SIGTERM into a flag the loop checks, so it can checkpoint and exit."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


class _Speed(ProgressColumn):
    """Steps per second and patch pixels per second."""

    def __init__(self, pixels_per_step: int) -> None:
        super().__init__()
        self.pixels = pixels_per_step

    def render(self, task: Any) -> Text:
        if not task.speed:
            return Text("- it/s")
        return Text(f"{task.speed:.2f} it/s {task.speed * self.pixels / 1e3:.0f} kpix/s")


# ---------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """One training run: model, optimizer, data and checkpoint state."""

    def __init__(self, cfg: TrainConfig, console: Console | None = None) -> None:
        self.rank, self.world = distributed.rank(), distributed.world_size()
        if not distributed.is_main():
            console = Console(stderr=True, quiet=True)  # only rank 0 prints
        self.cfg, self.console = cfg, console or Console(stderr=True, soft_wrap=True)
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(max(1, cfg.threads))
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:  # pragma: no cover
            pass
        torch.manual_seed(cfg.seed)  # the same on every rank: same initial weights
        # Patches and noise: one stream per rank; a single process keeps its historic seed.
        self.rng = np.random.default_rng(cfg.seed if self.world == 1 else [cfg.seed, self.rank])
        self.model = build_model(cfg.model, channels=cfg.channels, **cfg.params)
        if cfg.init:
            self.model.load_state_dict(load_file(cfg.init), strict=True)
        multiple = int(getattr(self.model, "multiple", 1))
        if cfg.patch % multiple:
            raise ValueError(f"--patch {cfg.patch} must be a multiple of {multiple} ({cfg.model})")
        self.model = self.model.to(memory_format=torch.channels_last)
        # Distributed, DDP averages the gradients over the ranks during backward (and copies
        # rank 0's weights to all now). self.model stays the plain module for state dicts.
        # No buffer broadcast: the models' only buffers are fixed Haar kernels.
        self.net: nn.Module = self.model
        if self.world > 1:
            self.net = DistributedDataParallel(self.model, broadcast_buffers=False)
        if cfg.freeze:
            self._freeze(cfg.freeze)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.clip_groups = clip_groups(self.model)
        self.ema = [p.detach().clone() for p in self.params] if cfg.ema else None
        self.optim = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step, self.history, self.best = 0, [], -math.inf
        self.wall, self.cpu = 0.0, 0.0
        self.sampler: datasets.PatchSampler | None = None
        # Emulated bf16 (CPUs without AVX-512 BF16/AMX) runs 10-30x slower than fp32.
        self.autocast = cfg.bf16 and cpu_has_bf16()
        if cfg.bf16 and not self.autocast:
            self.console.print("bf16: this CPU has no native bfloat16 kernels; training in fp32")

    def _freeze(self, part: str) -> None:
        """Only ``freeze="denoiser"``: everything but a noise-map model's estimator is fixed."""
        if part != "denoiser" or not getattr(self.model, "conditioned", False):
            raise ValueError(f"--freeze {part!r}: only 'denoiser' of a noise-map model (fdnet)")
        if self.world > 1:
            raise ValueError("--freeze runs in one process")
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.startswith("estimator."))

    # -- data ---------------------------------------------------------------------------------
    def load_data(self) -> datasets.PatchSampler:
        cfg = self.cfg
        clean = datasets.load_clean(cfg.data, cfg.channels) if cfg.data else []
        pair_files = [p for root in cfg.pairs for p in datasets.find_pairs(root, cfg.pairs_layout)]
        pairs = datasets.load_pairs(pair_files, cfg.channels)
        self.console.print(f"data: {len(clean)} clean images, {len(pairs)} real pairs")
        fn = noise.parse(cfg.noise) if clean else None
        return datasets.PatchSampler(
            clean,
            fn,
            pairs,
            cfg.patch,
            cfg.pair_fraction,
            gray_fraction=cfg.gray_fraction,
            quantize=cfg.quantize,
        )

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.sampler is not None
        noisy, clean = self.sampler.sample(self.rng, self.cfg.batch)
        to = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731  (NHWC memory)
        return to(noisy), to(clean)

    # -- one step -----------------------------------------------------------------------------
    def train_step(self) -> float:
        cfg = self.cfg
        noisy, clean = self.batch()
        for group in self.optim.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        if cfg.freeze:  # the estimator alone: no denoising pass at all
            loss = estimator_loss(self.model.estimate(noisy), local_rms(noisy, clean))
            return self._apply(loss)
        extra = torch.zeros(())
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            if getattr(self.model, "conditioned", False):
                truth = local_rms(noisy, clean)
                forced = self.rng.random() < cfg.map_forcing
                out, estimate = self.net(noisy, truth if forced else None, with_estimate=True)
                extra = cfg.estimator_weight * estimator_loss(estimate.float(), truth)
            else:
                out = self.net(noisy)
        loss = loss_fn(cfg.loss, out.float(), clean) + extra
        if cfg.lowpass:
            loss = loss + cfg.lowpass * lowpass_l1(out.float(), clean)
        return self._apply(loss)

    def _apply(self, loss: torch.Tensor) -> float:
        """Backward, clip, optimizer and EMA step; returns the loss."""
        cfg = self.cfg
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            for group in self.clip_groups:
                nn.utils.clip_grad_norm_(group, cfg.grad_clip)
        self.optim.step()
        if self.ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, self.params, 1.0 - cfg.ema)
        self.step += 1
        return float(loss.detach())

    # -- weights for evaluation/export --------------------------------------------------------
    def eval_state(self) -> dict[str, torch.Tensor]:
        """The weights to evaluate and export (EMA weights when enabled)."""
        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.ema is not None:
            names = [n for n, p in self.model.named_parameters() if p.requires_grad]
            state.update({n: e.clone() for n, e in zip(names, self.ema, strict=True)})
        return state

    def validate(self) -> evaluate.Result | None:
        cfg = self.cfg
        if not cfg.val:
            return None
        model = build_model(cfg.model, channels=cfg.channels, **cfg.params)
        model.load_state_dict(self.eval_state())
        model.eval()
        count = len(datasets.list_images(cfg.val))
        indices = sorted({round(i) for i in np.linspace(0, count - 1, min(cfg.val_count, count))})
        fn = evaluate.module_fn(model, model.multiple)  # channels_last, as the torch engine
        # a gray set is scored gray (noise on one channel), as `publish measure` and `run` do
        channels = 1 if datasets.is_gray_folder(cfg.val) else cfg.channels
        if cfg.val_noise:
            return evaluate.evaluate_synthetic(fn, cfg.val, cfg.val_noise, channels, indices)
        return evaluate.evaluate_awgn(fn, cfg.val, cfg.val_sigma, channels, indices)

    # -- checkpoints --------------------------------------------------------------------------
    def synced_tensors(self) -> dict[str, torch.Tensor]:
        """The weights (and EMA) every rank must hold identically, named as in checkpoints."""
        tensors = {f"model.{n}": p for n, p in self.model.named_parameters() if p.requires_grad}
        if self.ema is not None:
            tensors.update({f"ema.{i}": e for i, e in enumerate(self.ema)})
        return tensors

    def rank_states(self) -> list[dict[str, Any]]:
        """Every rank's patch RNG state and weights digest (distributed only; all ranks call it).

        Raises on every rank if the ranks' weights differ, rather than save one rank's.
        """
        mine = {"rng": self.rng.bit_generator.state}
        mine["weights_sha256"] = weights_digest(self.synced_tensors())
        ranks = distributed.gather(mine)
        if len({r["weights_sha256"] for r in ranks}) > 1:
            raise RuntimeError(f"the ranks' weights differ at step {self.step}")
        return ranks

    def save(self) -> Path:
        """Checkpoint + state.json. Every rank calls it at the same step; rank 0 writes."""
        ranks = self.rank_states() if self.world > 1 else None
        path = self.out / f"ckpt-{self.step:07d}.safetensors"
        if distributed.is_main():
            self._write_checkpoint(path, ranks)
        distributed.barrier()  # no rank runs on before the checkpoint is complete
        return path

    def _write_checkpoint(self, path: Path, ranks: list[dict[str, Any]] | None) -> None:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        for index, param in enumerate(self.params):
            st = self.optim.state.get(param)
            if st:
                tensors[f"optim.{index}.exp_avg"] = st["exp_avg"]
                tensors[f"optim.{index}.exp_avg_sq"] = st["exp_avg_sq"]
                tensors[f"optim.{index}.step"] = torch.as_tensor(st["step"]).reshape(1).float()
        if self.ema is not None:
            tensors.update({f"ema.{i}": e for i, e in enumerate(self.ema)})
        # Seeded alike and used alike (weight init only) on all ranks: one state serves them all.
        tensors["rng.torch"] = torch.get_rng_state()
        save_weights(path, tensors)
        state = {
            "config": asdict(self.cfg),
            "step": self.step,
            "checkpoint": path.name,
            "sha256": sha256_file(path),
            "rng": self.rng.bit_generator.state,
            "best_psnr": None if self.best == -math.inf else self.best,
            "wall_seconds": self.wall,
            "cpu_seconds": self.cpu,
            "history": self.history,
        }
        if ranks is not None:
            state["ranks"] = ranks  # ranks[0]["rng"] == state["rng"]
        write_json(self.out / STATE, state)
        for old in self.out.glob("ckpt-*.safetensors"):
            if old != path:
                old.unlink(missing_ok=True)

    def restore(self) -> None:
        state = json.loads((self.out / STATE).read_text())
        path = self.out / state["checkpoint"]
        if sha256_file(path) != state["sha256"]:
            raise RuntimeError(f"checkpoint {path} does not match {STATE} (sha256 differs)")
        tensors = load_file(str(path))
        self.model.load_state_dict(
            {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        )
        for index, param in enumerate(self.params):
            if f"optim.{index}.exp_avg" in tensors:
                self.optim.state[param] = {
                    "step": tensors[f"optim.{index}.step"].reshape(()).clone(),
                    "exp_avg": tensors[f"optim.{index}.exp_avg"],
                    "exp_avg_sq": tensors[f"optim.{index}.exp_avg_sq"],
                }
        if self.ema is not None:
            self.ema = [tensors[f"ema.{i}"] for i in range(len(self.params))]
        torch.set_rng_state(tensors["rng.torch"])
        saved = [r["rng"] for r in state.get("ranks", [])] or [state["rng"]]
        if len(saved) != self.world:
            self.console.print(
                f"{STATE} holds the patch streams of {len(saved)} process(es), this run has "
                f"{self.world}: training continues, but not exactly as it would have"
            )
        if self.rank < len(saved):
            self.rng.bit_generator.state = saved[self.rank]
        self.step, self.history = state["step"], state["history"]
        self.best = -math.inf if state["best_psnr"] is None else state["best_psnr"]
        self.wall, self.cpu = state["wall_seconds"], state["cpu_seconds"]

    def save_best(self, result: evaluate.Result) -> None:
        meta = {
            "arch": self.cfg.model,
            "config": {"channels": self.cfg.channels, **self.cfg.params},
            "step": self.step,
            "val": {"set": result.name, "psnr": result.psnr, "ssim": result.ssim},
            "train": asdict(self.cfg),
            "cpu_hours": self.cpu / 3600,
            "wall_hours": self.wall / 3600,
        }
        save_weights(self.out / "best.safetensors", self.eval_state())
        meta["sha256"] = sha256_file(self.out / "best.safetensors")
        write_json(self.out / "best.json", meta)

    # -- the loop -----------------------------------------------------------------------------
    def run(self, resume: bool = False, until: int | None = None) -> dict[str, Any]:
        """Train to ``cfg.iters`` (or stop, checkpointed, at step ``until``).

        Distributed, every rank runs this loop in step: a stop request (SIGINT/SIGTERM) to
        any rank stops all after the same step, and only rank 0 validates (its ``best_psnr``).
        """
        cfg, con = self.cfg, self.console
        if resume and (self.out / STATE).exists():
            self.restore()
            con.print(f"resumed from step {self.step} ({self.out / STATE})")
        self.sampler = self.load_data()
        n_params = sum(p.numel() for p in self.params)
        con.print(f"model {cfg.model} {cfg.params}: {n_params / 1e6:.3f}M parameters")
        stopped, losses = False, []
        per_step = cfg.batch * self.world * cfg.patch**2  # patch pixels, all ranks together
        tick_wall, tick_cpu = time.perf_counter(), time.process_time()
        log_wall, log_step = self.wall, self.step
        last = cfg.iters if until is None else min(until, cfg.iters)
        with stop_requests() as flag, self._progress(last) as bar:
            while self.step < last and not distributed.any_rank(flag["stop"]):
                losses.append(self.train_step())
                if bar is not None:
                    bar.update(0, completed=self.step, loss=losses[-1])
                now_wall, now_cpu = time.perf_counter(), time.process_time()
                self.wall += now_wall - tick_wall
                self.cpu += now_cpu - tick_cpu
                tick_wall, tick_cpu = now_wall, now_cpu
                done = self.step >= cfg.iters
                if self.step % cfg.log_every == 0 or done:
                    dt = self.wall - log_wall
                    rate = (self.step - log_step) / dt if dt > 0 else 0.0
                    pix = rate * per_step / 1e3
                    loss = distributed.mean(float(np.mean(losses)))
                    con.print(
                        f"step {self.step}/{cfg.iters} loss {loss:.5f} "
                        f"lr {lr_at(self.step - 1, cfg):.2e} {rate:.2f} it/s {pix:.0f} kpix/s "
                        f"cpu {self.cpu / 3600:.2f} h",
                        highlight=False,
                    )
                    log_wall, log_step, losses = self.wall, self.step, []
                validating = bool(cfg.val) and (self.step % cfg.val_every == 0 or done)
                if validating and distributed.is_main():
                    self._validate_and_record()
                    tick_wall, tick_cpu = time.perf_counter(), time.process_time()
                if self.step % cfg.ckpt_every == 0 or self.step == last:
                    self.save()
                    tick_wall, tick_cpu = time.perf_counter(), time.process_time()
            if self.step < last:  # every rank agreed to stop
                stopped = True
                self.save()
                con.print(f"stopped at step {self.step}; checkpoint written, resume with --resume")
        return {"step": self.step, "best_psnr": self.best, "stopped": stopped}

    @contextmanager
    def _progress(self, last: int) -> Iterator[Progress | None]:
        """A live progress bar (step, loss, it/s, ETA) on a terminal (rank 0); else None."""
        if not self.console.is_terminal or not distributed.is_main():
            yield None
            return
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.5f}"),
            _Speed(self.cfg.batch * self.world * self.cfg.patch**2),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            progress.add_task(self.cfg.model, total=last, completed=self.step, loss=float("nan"))
            yield progress

    def _validate_and_record(self) -> None:
        result = self.validate()
        if result is None:
            return
        entry = {
            "step": self.step,
            "psnr": round(result.psnr, 4),
            "ssim": round(result.ssim, 5),
            "cpu_hours": round(self.cpu / 3600, 3),
        }
        self.history.append(entry)
        improved = result.psnr > self.best
        if improved:
            self.best = result.psnr
        if improved or self.cfg.keep == "last":
            self.save_best(result)
        self.console.print(
            f"val step {self.step}: {result.summary()}{' (best)' if improved else ''}",
            highlight=False,
        )


RESUMABLE = (
    "iters", "threads", "val", "val_count", "val_every", "ckpt_every", "log_every", "keep",
)  # fmt: skip


def train(
    cfg: TrainConfig,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    console: Console | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a training run; returns ``{"step", "best_psnr", "stopped"}``.

    With ``resume`` and a ``state.json`` in ``cfg.out``, the saved config is used and only the
    fields in ``RESUMABLE`` may be changed through ``overrides`` (a new ``iters`` reshapes the
    rest of the cosine schedule). ``until`` stops early at that step (checkpointed).
    Started by torchrun (``WORLD_SIZE`` > 1), it joins the process group for the run.
    """
    state_path = Path(cfg.out) / STATE
    overrides = overrides or {}
    if resume and state_path.exists():
        cfg = TrainConfig(**json.loads(state_path.read_text())["config"])
        bad = sorted(set(overrides) - set(RESUMABLE))
        if bad:
            raise ValueError(
                f"cannot change {', '.join(bad)} on resume (only {', '.join(RESUMABLE)})"
            )
    for name, value in overrides.items():
        setattr(cfg, name, value)
    started = distributed.init_from_env()
    try:
        return Trainer(cfg, console).run(resume=resume, until=until)
    finally:
        if started:
            distributed.teardown()


if __name__ == "__main__":
    import typer

    from fastdenoise.cli_train import train as train_command

    typer.run(train_command)
