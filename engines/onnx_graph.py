"""Shipped weights-free ONNX graphs, filled from safetensors at load time: no torch, no onnx.

``python -m fastdenoise.models.publish`` exports each shipped network (for FDNet its
estimator and conditioned-denoiser views) to ONNX with torch and writes the graph without
its weight tensors (:func:`strip`, a few KB) beside the safetensors file. At run time
:class:`ShippedGraph` puts the weights back (:func:`fill`) and hands ONNX Runtime the
bytes. Filling is plain protobuf wire format: a serialized message followed by a second
one of the same type parses as their merge, so appending ``graph { initializer ... }``
adds the tensors. Neither ``torch`` nor the ``onnx`` package (over a second to import,
through ``ml_dtypes``) is imported on that path; ONNX Runtime parses the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

GRAPH_VERSION = 1  # the layout of the graph files and of their JSON entry

# protobuf field numbers (onnx.proto): ModelProto.graph, GraphProto.initializer and
# TensorProto.dims / data_type / name / raw_data; TensorProto.FLOAT is 1
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 8, 9
_FLOAT = 1
_VARINT, _BYTES = 0, 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3 | _VARINT) + _varint(payload)
    return _varint(number << 3 | _BYTES) + _varint(len(payload)) + payload


def _tensor(name: str, dims: list[int], values: np.ndarray) -> bytes:
    """A serialized float32 ``TensorProto`` holding ``values`` as raw little-endian data."""
    body = b"".join(_field(_TENSOR_DIMS, int(d)) for d in dims)
    body += _field(_TENSOR_TYPE, _FLOAT) + _field(_TENSOR_NAME, name.encode())
    return body + _field(_TENSOR_RAW, np.ascontiguousarray(values, "<f4").tobytes())


def fill(graph: bytes, initializers: dict[str, Any], tensors: dict[str, np.ndarray]) -> bytes:
    """A complete ONNX model: ``graph`` (weights stripped) plus its initializers.

    initializers: graph initializer name -> ``[weights key, dims]`` (the JSON entry);
    tensors: the weights by key (any float dtype; stored as float32).
    """
    chunks = []
    for name, (key, dims) in initializers.items():
        if key not in tensors:
            raise ValueError(f"the weights have no tensor {key!r} (graph initializer {name!r})")
        values = tensors[key]
        if int(np.prod(dims)) != values.size:
            raise ValueError(f"weights tensor {key!r} has {values.size} values, graph wants {dims}")
        chunks.append(_field(_GRAPH_INITIALIZER, _tensor(name, dims, values)))
    return graph + _field(_MODEL_GRAPH, b"".join(chunks))


def strip(model: bytes, names: dict[str, str]) -> tuple[bytes, dict[str, list[Any]]]:
    """Remove the weight initializers from a serialized ONNX model (publish side, needs onnx).

    names: graph initializer name -> weights key, for the initializers that are weights
    (any other initializer stays embedded). Returns the stripped model and its
    ``initializers`` table for :func:`fill`.
    """
    import onnx

    proto = onnx.load_from_string(model)
    keep, table = [], {}
    for tensor in proto.graph.initializer:
        if tensor.name in names and tensor.data_type == _FLOAT:
            table[tensor.name] = [names[tensor.name], [int(d) for d in tensor.dims]]
        else:
            keep.append(tensor)
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    return proto.SerializeToString(), table


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class ShippedGraph:
    """One runtime network of a shipped variant: a stripped graph and where its weights are.

    Passed to the ONNX Runtime engine in place of a ``torch.nn.Module`` (it has the
    ``channels`` and ``multiple`` a module has). ``tensors`` loads the (checked) weights as
    numpy arrays; parts of one variant share it, so the file is read once.
    """

    path: Path
    sha256: str
    weights_sha256: str
    initializers: dict[str, Any]
    tensors: Callable[[], dict[str, np.ndarray]]
    channels: int = 3
    multiple: int = 1
    _graph: bytes | None = field(default=None, repr=False)

    def graph(self) -> bytes:
        """The stripped graph, checked against its recorded sha256."""
        if self._graph is None:
            data = self.path.read_bytes()
            if sha256_bytes(data) != self.sha256:
                raise ValueError(
                    f"{self.path}: sha256 does not match the one recorded in the variant's "
                    "JSON; rewrite it with `python -m fastdenoise.models.publish graphs`"
                )
            self._graph = data
        return self._graph

    def onnx_bytes(self) -> bytes:
        """The complete model (graph plus weights) as ONNX Runtime reads it."""
        return fill(self.graph(), self.initializers, self.tensors())

    def write(self, path: Path) -> None:
        """Write the complete model to ``path`` (cache entries: int8 quantization's input)."""
        Path(path).write_bytes(self.onnx_bytes())

    def key_parts(self) -> dict[str, Any]:
        """What the complete model depends on, for the engine cache (no torch version)."""
        return {
            "kind": "onnx-graph",
            "graph_version": GRAPH_VERSION,
            "graph": self.sha256,
            "weights": self.weights_sha256,
            "channels": self.channels,
        }
