"""Seconds per training step, fp32 against bf16 autocast, on this CPU (one thread).

    .venv/bin/python bench/bench_train_step.py --model mwcnn --batch 8 --patch 128

Shows whether bf16 pays here: on CPUs without native bf16 (no AVX-512 BF16/AMX) PyTorch
emulates it and a step is many times slower, which is why training turns bf16 off there.
"""

from __future__ import annotations

import argparse
import time

import torch
from fastdenoise.engines.torch_engine import cpu_has_bf16

from fastdenoise.models.zoo import build_model

SIZES = {"mwcnn": {"widths": (32, 64, 128, 256), "depth": 4, "head": 32}}


def step_seconds(model: torch.nn.Module, batch: torch.Tensor, bf16: bool, repeats: int) -> float:
    """Fastest of ``repeats`` forward+backward+AdamW steps."""
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(batch)
        loss = (out.float() - batch).abs().mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mwcnn")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(args.model, channels=3, **SIZES.get(args.model, {}))
    model = model.to(memory_format=torch.channels_last)
    batch = torch.rand(args.batch, 3, args.patch, args.patch)
    batch = batch.contiguous(memory_format=torch.channels_last)
    fp32 = step_seconds(model, batch, False, args.repeats)
    bf16 = step_seconds(model, batch, True, args.repeats)
    print(
        f"{args.model} batch {args.batch} x {args.patch}^2, 1 thread, native bf16: "
        f"{cpu_has_bf16()} ({torch.backends.cpu.get_cpu_capability()}): fp32 {fp32:.2f} s/step, "
        f"bf16 {bf16:.2f} s/step ({bf16 / fp32:.1f}x)"
    )


if __name__ == "__main__":
    main()
