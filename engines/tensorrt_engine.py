"""The TensorRT engine: native TensorRT Python API, engines cached per tile shape.

Build: the cached ONNX export (:mod:`.onnx_export`) goes through ``trt.OnnxParser`` into an
explicit-batch network; the builder config gets one optimization profile whose min, opt and
max are all the padded tile region (``1 x C x S x S``, ``S`` = tile + 2 x halo rounded up to
the model's multiple) and the FP16 flag on request; the serialized plan is stored in the
cache keyed by weights hash, precision, shape, GPU name and TensorRT version.

Run: every region the tiler sends (edge tiles are smaller) is padded by edge replication to
``S x S`` on the GPU, run with ``execute_async_v3`` on torch's current CUDA stream, and
cropped. A region larger than ``S`` (``--tile 0`` on a big image) gets a second engine built
for its size, also cached. Input/output buffers are torch CUDA tensors, so no pycuda.

``tensorrt`` is imported only inside functions: it is an optional extra
(``pip install fastdenoise[tensorrt]``) that cannot be installed on a CPU-only machine.
This module is not exercised by the CPU test suite; its tests skip without tensorrt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastdenoise.engines import cache, onnx_export
from fastdenoise.engines.base import ArrayDenoiser

from fastdenoise.methods import TilePlan

WORKSPACE_BYTES = 2 << 30


def engine_side(tile: int, plan: TilePlan) -> int:
    """Square side of the engine's input: a full tile plus halo, padded to the multiple."""
    side = tile + 2 * plan.halo
    return -(-side // max(plan.multiple, 1)) * max(plan.multiple, 1)


def build_engine(
    onnx_path: str | Path,
    out_path: str | Path,
    shape: tuple[int, int, int, int],
    fp16: bool = False,
    workspace: int = WORKSPACE_BYTES,
) -> None:
    """Parse ``onnx_path``, build for the static ``shape`` (NCHW), write the serialized plan."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, shape, shape, shape)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {onnx_path} at {shape}")
    Path(out_path).write_bytes(bytes(plan))


def gpu_name() -> str:
    """Name of the current CUDA device (part of the engine key)."""
    import torch

    return torch.cuda.get_device_name(torch.cuda.current_device())


def key_parts(model: Any, shape: tuple[int, ...], precision: str) -> dict[str, Any]:
    """What a built engine depends on."""
    import tensorrt as trt

    return {
        **onnx_export.key_parts(model),
        "kind": "tensorrt",
        "precision": precision,
        "shape": list(shape),
        "gpu": gpu_name(),
        "tensorrt": trt.__version__,
    }


def cached_engine(
    model: Any, stem: str, shape: tuple[int, int, int, int], precision: str = "fp32"
) -> cache.Entry:
    """The engine for ``model`` at ``shape`` from the cache, built on a miss."""
    onnx_path = onnx_export.cached_export(model, stem).path
    fp16 = precision == "fp16"
    return cache.get_or_build(
        f"{stem}-{precision}-{shape[2]}x{shape[3]}",
        ".engine",
        key_parts(model, shape, precision),
        lambda tmp: build_engine(onnx_path, tmp, shape, fp16),
    )


class _Runner:
    """One deserialized engine and its execution context."""

    def __init__(self, path: Path) -> None:
        import tensorrt as trt

        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not load {path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.input, self.output = inputs[0], next(n for n in names if n not in inputs)

    def __call__(self, x: Any) -> Any:
        import torch

        self.context.set_input_shape(self.input, tuple(x.shape))
        y = torch.empty(tuple(self.context.get_tensor_shape(self.output)), device=x.device)
        self.context.set_tensor_address(self.input, x.data_ptr())
        self.context.set_tensor_address(self.output, y.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return y


class TensorRTDenoiser(ArrayDenoiser):
    """Runs a network as a TensorRT engine on the current CUDA device (fp32 or fp16).

    The engine's input and output stay float32 (TensorRT casts inside under fp16).
    """

    def __init__(
        self,
        model: Any,
        plan: TilePlan,
        name: str = "model",
        precision: str = "fp32",
        tile: int = 512,
    ) -> None:
        import torch

        if not torch.cuda.is_available():
            raise ValueError("the tensorrt engine needs a CUDA GPU")
        self.plan, self.name, self.precision = plan, name, precision
        self.model = model.eval().float().cpu()
        self.channels = int(getattr(model, "channels", 3))
        self.stem = name.replace(":", "-").replace("/", "_")
        self.side = engine_side(tile, plan)
        self.runners: dict[int, _Runner] = {}

    def _runner(self, side: int) -> _Runner:
        if side not in self.runners:
            shape = (1, self.channels, side, side)
            entry = cached_engine(self.model, self.stem, shape, self.precision)
            self.runners[side] = _Runner(entry.path)
        return self.runners[side]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        height, width = batch.shape[2:]
        side = max(self.side, engine_side(max(height, width), TilePlan(0, self.plan.multiple)))
        x = torch.from_numpy(batch).cuda()
        x = F.pad(x, (0, side - width, 0, side - height), mode="replicate").contiguous()
        y = self._runner(side)(x)
        return y[:, :, :height, :width].cpu().numpy()

    def describe(self) -> str:
        return f"{self.name} (tensorrt, {self.precision}, {self.side}x{self.side})"
