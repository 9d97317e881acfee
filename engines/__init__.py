"""Inference engines for the deep models: one interface, three implementations.

* ``torch``: PyTorch eager, channels-last (:mod:`.torch_engine`).
* ``onnxruntime``: the model exported to ONNX (:mod:`.onnx_export`) and run by ONNX Runtime,
  CPU execution provider, CUDA/TensorRT providers when present (:mod:`.ort_engine`).
* ``tensorrt``: a native TensorRT engine built from that ONNX file (:mod:`.tensorrt_engine`).

Exported ONNX files and built engines live in a cache (:mod:`.cache`). Every engine is a
:class:`fastdenoise.methods.Denoiser`, so the tiler drives them all the same way.

Importing this package imports neither torch, onnxruntime nor tensorrt.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from typing import Any

from fastdenoise.extras import has_torch, require_torch
from fastdenoise.methods import Denoiser, TilePlan

ENGINES = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")  # int8: ONNX Runtime only (static, calibrated)


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# Present wherever an NVIDIA driver is loaded on Linux (as in fastdenoise.kernels.devices,
# not imported here: that module imports numba).
NVIDIA_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg")


def cuda_available() -> bool:
    """Whether a CUDA device can run a model.

    False without importing anything on Linux without the NVIDIA driver's device files (every
    CPU-only machine); else torch's answer where torch is installed, else whether ONNX
    Runtime has a GPU provider.
    """
    if sys.platform.startswith("linux") and not any(
        os.path.exists(path) for path in NVIDIA_DRIVER_FILES
    ):
        return False
    if has_torch():
        import torch

        return bool(torch.cuda.is_available())
    return _importable("onnxruntime") and ort_has_cuda()


def ort_has_cuda() -> bool:
    """Whether the installed ONNX Runtime has a CUDA or TensorRT execution provider."""
    import onnxruntime

    gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
    return bool(gpu & set(onnxruntime.get_available_providers()))


def check_settings(engine: str = "auto", precision: str = "fp32") -> None:
    """Raise ``ValueError`` for an engine or a precision not among :data:`ENGINES` and
    :data:`PRECISIONS`."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")


def pick(engine: str = "auto", device: str = "auto", precision: str = "fp32") -> str:
    """Resolve ``auto`` to a concrete engine name.

    On CUDA: TensorRT when ``tensorrt`` is importable; else ONNX Runtime when it has a GPU
    provider (fp32 only); else torch. On a CPU: ONNX Runtime for fp32 and int8, torch for fp16
    where the CPU has native bfloat16 (ONNX Runtime's CPU provider has no reduced-precision
    convolutions); without it fp16 runs fp32 anyway, on ONNX Runtime. Torch whenever ONNX
    Runtime is missing. Without torch installed, never torch.
    """
    check_settings(engine, precision)
    if engine != "auto":
        return engine
    if precision == "int8":
        return "onnxruntime"
    on_cuda = device.startswith("cuda") or (device == "auto" and cuda_available())
    if on_cuda and _importable("tensorrt") and has_torch():
        return "tensorrt"
    if not _importable("onnxruntime"):
        return "torch"
    if precision == "fp16" and has_torch():
        from fastdenoise.engines import torch_engine  # imports torch: only when asked

        if on_cuda or torch_engine.cpu_has_bf16():
            return "torch"
    if on_cuda and not ort_has_cuda() and has_torch():
        return "torch"
    return "onnxruntime"


def create(
    engine: str,
    model: Any,
    plan: TilePlan,
    name: str = "model",
    device: str = "auto",
    precision: str = "fp32",
    threads: int = 0,
    tile: int = 512,
) -> Denoiser:
    """A :class:`Denoiser` running ``model`` (a ``torch.nn.Module``) on ``engine``.

    tile: the tile size the caller will use; TensorRT optimizes its engine for the padded
    region of that size (larger regions get a second engine, built on demand).
    """
    chosen = pick(engine, device, precision)  # checks both settings first
    if precision == "int8" and chosen != "onnxruntime":
        raise ValueError("int8 runs on the onnxruntime engine only")
    if chosen in ("torch", "tensorrt"):
        require_torch(f"the {chosen} engine")
    if chosen == "torch":
        from fastdenoise.engines.torch_engine import TorchDenoiser

        return TorchDenoiser(model, plan, name, device, precision, threads)
    if chosen == "onnxruntime":
        from fastdenoise.engines.ort_engine import OrtDenoiser

        return OrtDenoiser(model, plan, name, device, precision, threads)
    if device == "cpu":
        raise ValueError("the tensorrt engine needs a CUDA device; use --engine onnxruntime")
    from fastdenoise.engines.tensorrt_engine import TensorRTDenoiser

    return TensorRTDenoiser(model, plan, name, precision, tile)


def warn_fp32(what: str) -> None:
    """Say clearly that a reduced-precision request runs in fp32."""
    warnings.warn(f"{what}; running fp32", UserWarning, stacklevel=3)
