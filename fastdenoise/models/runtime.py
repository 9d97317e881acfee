"""Kept for compatibility: the torch Denoiser now lives in :mod:`fastdenoise.engines`."""

from fastdenoise.engines.torch_engine import TorchDenoiser, cpu_has_bf16, info, resolve_device

__all__ = ["TorchDenoiser", "cpu_has_bf16", "info", "resolve_device"]
