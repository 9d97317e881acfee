"""Small helpers for training on several processes (``torchrun``); no-ops in one process.

``torchrun --nproc-per-node N`` starts N copies of the program with ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. ``init_from_env`` joins them into one
process group; every other function here works with or without one, so the trainer calls
them unconditionally and a plain single process behaves exactly as before.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def backend(device: str = "cpu") -> str:
    """The collective backend for a device: ``nccl`` on CUDA, ``gloo`` on CPU."""
    return "nccl" if device.startswith("cuda") else "gloo"


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group described by torchrun's variables; True if this call made it.

    Does nothing (and returns False) when ``WORLD_SIZE`` is unset or 1, or when a group
    already exists. Whoever gets True calls ``teardown`` at the end.
    """
    if enabled() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend(device))
    return True


def enabled() -> bool:
    """Whether a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if enabled() else 0


def world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return dist.get_world_size() if enabled() else 1


def is_main() -> bool:
    """True on rank 0, the one process that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here."""
    if enabled():
        dist.barrier()


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not enabled():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def _device() -> str:
    """Where collective tensors live: nccl reduces CUDA tensors, gloo CPU ones."""
    return "cuda" if dist.get_backend() == "nccl" else "cpu"


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one."""
    if not enabled():
        return flag
    value = torch.tensor([int(flag)], device=_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks."""
    if not enabled():
        return value
    total = torch.tensor([value], dtype=torch.float64, device=_device())
    dist.all_reduce(total)
    return float(total.item()) / world_size()


def teardown() -> None:
    """Leave the process group (if one was initialised)."""
    if enabled():
        dist.destroy_process_group()
