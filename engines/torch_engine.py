"""The torch engine: eager PyTorch, channels-last, on the tiler's float32 ``HxWxC`` tiles."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastdenoise.methods import Denoiser, TilePlan


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bfloat16 kernels on this CPU (AVX-512 bf16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class TorchDenoiser(Denoiser):
    """Wraps an ``nn.Module`` mapping ``1xCxHxW`` noisy to clean (tiles already padded).

    precision: ``fp32``, or ``fp16`` (half on CUDA, bfloat16 autocast on CPU).
    threads:   torch CPU threads (0 leaves torch's default).
    Gray tiles on a color model are replicated to three channels and averaged back; color
    tiles on a gray model are denoised channel by channel.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        plan: TilePlan,
        name: str = "model",
        device: str = "auto",
        precision: str = "fp32",
        threads: int = 0,
    ) -> None:
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, not {precision!r}")
        if threads:
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type == "cpu" and not cpu_has_bf16():
            from fastdenoise.engines import warn_fp32

            warn_fp32("--fp16 on this CPU: no AVX-512 bf16 or AMX for bfloat16")
            precision = "fp32"
        self.precision, self.name, self.plan = precision, name, plan
        self.channels = int(getattr(model, "channels", 3))
        model = model.eval().to(self.device, memory_format=torch.channels_last)
        if precision == "fp16" and self.device.type == "cuda":
            model = model.half()
        self.model = model

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        if self.precision == "fp16" and self.device.type == "cuda":
            return self.model(x.half()).float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "fp16"):
            return self.model(x).float()

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        chw = torch.from_numpy(np.ascontiguousarray(tile, dtype=np.float32).transpose(2, 0, 1))
        with torch.inference_mode():
            if chw.shape[0] == self.channels:
                out = self._run(chw[None])[0]
            elif self.channels == 3 and chw.shape[0] == 1:
                out = self._run(chw.expand(3, -1, -1)[None])[0].mean(0, keepdim=True)
            elif self.channels == 1:
                out = self._run(chw[:, None])[:, 0]
            else:
                raise ValueError(
                    f"{self.name} expects {self.channels} channels, got {chw.shape[0]}"
                )
        return out.cpu().numpy().transpose(1, 2, 0)

    def describe(self) -> str:
        return f"{self.name} ({self.device.type}, {self.precision})"


def info(model: Any) -> dict[str, Any]:
    """Parameter count and size multiple of a network."""
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "multiple": int(getattr(model, "multiple", 1)),
    }
