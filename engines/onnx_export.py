"""Export a network to ONNX: dynamic height and width, weights embedded, cached."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

from fastdenoise.engines import cache
from fastdenoise.engines.onnx_graph import ShippedGraph

OPSET = 17
INPUT, OUTPUT = "x", "y"


def weights_digest(model: Any) -> str:
    """sha256 of a network's class, parameter names, shapes, dtypes and values."""
    import torch

    digest = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export(model: Any, path: str | Path, channels: int | None = None, opset: int = OPSET) -> Path:
    """Write ``model`` as one self-contained ONNX file (input ``x``, output ``y``, NCHW).

    Height and width are dynamic; batch is fixed at 1 (the tiler sends one tile at a time).
    The legacy TorchScript-based exporter is used: it gives plain, static-rank graphs that
    TensorRT's parser accepts, and writes no external ``.data`` file below 2 GB.
    """
    import torch

    path = Path(path)
    channels = int(channels or getattr(model, "channels", 3))
    multiple = int(getattr(model, "multiple", 1))
    side = max(16, multiple) * 2
    model = model.eval().float().cpu()
    example = torch.rand(1, channels, side, side + multiple)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {2: "height", 3: "width"}, OUTPUT: {2: "height", 3: "width"}},
            do_constant_folding=True,
        )
    path.write_bytes(buffer.getvalue())
    return path


def key_parts(model: Any, opset: int = OPSET) -> dict[str, Any]:
    """What an exported file depends on (a shipped graph: its own torch-free key)."""
    if isinstance(model, ShippedGraph):
        return model.key_parts()
    import torch

    return {
        "kind": "onnx",
        "weights": weights_digest(model),
        "channels": int(getattr(model, "channels", 3)),
        "opset": opset,
        "torch": torch.__version__,
    }


def cached_export(model: Any, stem: str, folder: Path | None = None) -> cache.Entry:
    """The ONNX file of ``model`` from the cache, exported on a miss.

    ``model``: a ``torch.nn.Module``, or a :class:`ShippedGraph` (written filled, no torch).
    """
    if isinstance(model, ShippedGraph):
        return cache.get_or_build(stem, ".onnx", key_parts(model), model.write, folder)
    return cache.get_or_build(
        stem, ".onnx", key_parts(model), lambda tmp: export(model, tmp), folder
    )
