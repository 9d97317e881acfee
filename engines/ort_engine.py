"""The ONNX Runtime engine: the exported model on the CPU (or CUDA/TensorRT) provider."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastdenoise.engines import cache, onnx_export, warn_fp32
from fastdenoise.engines.base import ArrayDenoiser
from fastdenoise.engines.onnx_graph import ShippedGraph

from fastdenoise.methods import TilePlan


def providers(device: str = "auto", precision: str = "fp32") -> list[Any]:
    """Execution providers in preference order for ``device``.

    On CUDA: TensorRT (fp16 when asked, its engines cached under the cache folder), then CUDA,
    then CPU. On a CPU: the CPU provider only.
    """
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    chosen: list[Any] = []
    if device != "cpu":
        if "TensorrtExecutionProvider" in have:
            folder = cache.cache_dir() / "ort-trt"
            options = {
                "trt_fp16_enable": precision == "fp16",
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(folder),
            }
            chosen.append(("TensorrtExecutionProvider", options))
        if "CUDAExecutionProvider" in have:
            chosen.append("CUDAExecutionProvider")
    if device.startswith("cuda") and not chosen:
        raise ValueError("onnxruntime has no CUDA provider here (pip install onnxruntime-gpu)")
    chosen.append("CPUExecutionProvider")
    return chosen


class OrtDenoiser(ArrayDenoiser):
    """Runs an exported network with ONNX Runtime.

    precision: ``fp32``; ``fp16`` only through the TensorRT provider (otherwise a warning
    says it runs fp32: the CPU provider has no bf16/fp16 convolutions); ``int8``: static QDQ
    quantization calibrated on bundled images (:mod:`.quantize`), VNNI kernels on a CPU.
    threads: intra-op threads of the session (0 = ONNX Runtime's default, all cores).
    onnx_path: an exported file to run; by default the model is exported through the cache
    (``cache_entry`` tells whether that reused an entry).
    model: a ``torch.nn.Module``, or a shipped graph (:class:`.onnx_graph.ShippedGraph`),
    which runs from its filled bytes without torch (int8 still goes through the cache).
    """

    def __init__(
        self,
        model: Any,
        plan: TilePlan,
        name: str = "model",
        device: str = "auto",
        precision: str = "fp32",
        threads: int = 0,
        onnx_path: str | None = None,
    ) -> None:
        import onnxruntime as ort

        self.plan, self.name = plan, name
        self.channels = int(getattr(model, "channels", 3)) if model is not None else 3
        self.cache_entry: cache.Entry | None = None
        source: str | bytes
        if onnx_path is not None:
            source = onnx_path
        elif isinstance(model, ShippedGraph) and precision != "int8":
            source = model.onnx_bytes()
        else:
            stem = name.replace(":", "-").replace("/", "_")
            if precision == "int8":
                from fastdenoise.engines.quantize import cached_int8

                self.cache_entry = cached_int8(model, stem)
            else:
                self.cache_entry = onnx_export.cached_export(model, stem)
            onnx_path = source = str(self.cache_entry.path)
        self.onnx_path = onnx_path  # None: run from a shipped graph's bytes
        chosen = providers(device, precision)
        if precision == "fp16" and not any(
            isinstance(p, tuple) and p[0] == "TensorrtExecutionProvider" for p in chosen
        ):
            warn_fp32("onnxruntime --fp16 needs its TensorRT provider (CPU/CUDA run fp32 here)")
            precision = "fp32"
        self.precision = precision
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # On the CPU: no memory pattern. ONNX Runtime plans one block per input shape and
        # keeps it in its arena; a tiled image has up to 9 shapes (its edges). MWCNN `real`
        # on 1500x1500 pixels peaked 194 MiB lower without it, a 25 MP `-m auto` run 235 MiB
        # (issue 21); same outputs, same speed (tiles timed interleaved).
        options.enable_mem_pattern = chosen != ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(source, options, providers=chosen)
        self.input = self.session.get_inputs()[0].name
        self.provider = self.session.get_providers()[0]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: batch})[0]

    def describe(self) -> str:
        return f"{self.name} (onnxruntime {self.provider}, {self.precision})"
