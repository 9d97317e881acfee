"""Engines: ONNX Runtime equals torch through the tiler, TensorRT-safe graphs, the cache."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from fastdenoise.engines import cache, onnx_export  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from fastdenoise import engines, methods  # noqa: E402
from fastdenoise.cli import app  # noqa: E402
from fastdenoise.methods import TilePlan  # noqa: E402
from fastdenoise.models import zoo  # noqa: E402
from fastdenoise.tiler import run_tiled  # noqa: E402

from .test_models import TINY, write_weights  # noqa: E402

TRT_OPS_FILE = Path(engines.__file__).with_name("tensorrt_ops.txt")
# operators whose output shape depends on data, or that scatter: never in a denoiser graph
FORBIDDEN = {"ScatterND", "ScatterElements", "Scatter", "NonZero", "Unique", "Loop", "If"}
TRT_REASON = "TensorRT is an optional extra needing an NVIDIA GPU + CUDA (absent on CPU-only)"


def tiny(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return zoo.build_model(arch, channels=3, **TINY[arch]).eval()


def trt_ops() -> set[str]:
    lines = TRT_OPS_FILE.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_onnxruntime_equals_torch_through_the_tiler(arch: str) -> None:
    model = tiny(arch)
    plan = TilePlan(halo=8, multiple=model.multiple, blend=True)
    eager = engines.create("torch", model, plan, arch, "cpu", "fp32", threads=1)
    ort = engines.create("onnxruntime", model, plan, arch, "cpu", "fp32", threads=1)
    assert type(ort).__name__ == "OrtDenoiser"
    rng = np.random.default_rng(1)
    for shape, tile in (((37, 53, 3), 24), ((29, 41, 1), 0), ((19, 23, 3), 16)):
        image = rng.random(shape, dtype=np.float32)
        want, got = run_tiled(image, eager, tile=tile), run_tiled(image, ort, tile=tile)
        assert got.shape == want.shape == shape
        assert np.abs(got - want).max() <= 1e-4


@pytest.mark.parametrize("arch", sorted(TINY))
def test_exported_graph_is_tensorrt_parsable(arch: str, tmp_path: Path) -> None:
    path = onnx_export.export(tiny(arch), tmp_path / f"{arch}.onnx")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no external .data file
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in graph.graph.initializer)
    ops = {node.op_type for node in graph.graph.node}
    assert not ops & FORBIDDEN, ops & FORBIDDEN
    assert ops <= trt_ops(), f"not in {TRT_OPS_FILE.name}: {sorted(ops - trt_ops())}"
    attributes = [a for node in graph.graph.node for a in node.attribute]
    assert all(a.type not in (a.GRAPH, a.GRAPHS) for a in attributes)  # no subgraphs
    # dynamic height/width on input and output, fixed batch and channels, no other unknowns
    inferred = onnx.shape_inference.infer_shapes(graph, strict_mode=True).graph
    for value in (*inferred.input, *inferred.output):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_value for d in dims[:2]] == [1, 3]
        assert [d.dim_param for d in dims[2:]] == ["height", "width"]


def test_trt_op_list_names_its_source() -> None:
    head = TRT_OPS_FILE.read_text()[:1200]
    assert "onnx-tensorrt" in head and "docs/operators.md" in head and "TensorRT 8.4" in head
    assert "ScatterND" not in trt_ops() and {"Conv", "ConvTranspose", "Resize"} <= trt_ops()


def test_cache_reuses_and_rebuilds_corrupt_or_mismatched(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(out: Path) -> None:
        builds.append(out)
        out.write_bytes(b"engine bytes" * 100)

    parts = {"weights": "abc", "precision": "fp16", "shape": [1, 3, 576, 576]}
    first = cache.get_or_build("m", ".engine", parts, build, tmp_path)
    again = cache.get_or_build("m", ".engine", parts, build, tmp_path)
    assert (first.reused, again.reused, len(builds)) == (False, True, 1)
    assert again.path == first.path and first.path.read_bytes() == b"engine bytes" * 100
    sidecar = json.loads(first.path.with_name(first.path.name + ".json").read_text())
    assert sidecar["key"] == first.key and sidecar["sha256"] == cache.sha256_path(first.path)

    first.path.write_bytes(first.path.read_bytes()[:50])  # truncated
    assert not cache.get_or_build("m", ".engine", parts, build, tmp_path).reused
    first.path.with_name(first.path.name + ".json").write_text("{not json")  # corrupt sidecar
    assert not cache.get_or_build("m", ".engine", parts, build, tmp_path).reused
    other = cache.get_or_build("m", ".engine", {**parts, "precision": "fp32"}, build, tmp_path)
    assert not other.reused and other.path != first.path
    assert len(builds) == 4
    assert not list(tmp_path.glob(".*"))  # temporary files renamed or removed

    def broken(out: Path) -> None:
        out.write_bytes(b"half")
        raise RuntimeError("builder failed")

    entries = sorted(tmp_path.iterdir())
    with pytest.raises(RuntimeError):
        cache.get_or_build("m", ".engine", {"x": 1}, broken, tmp_path)
    assert sorted(tmp_path.iterdir()) == entries  # a failed build leaves nothing behind


def test_cache_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FASTDENOISE_CACHE", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FASTDENOISE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "fastdenoise"


def test_model_method_reuses_export_and_rebuilds_on_new_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an empty cache: other tests export the same seeded weights under the same name
    monkeypatch.setenv("FASTDENOISE_CACHE", str(tmp_path / "cache"))
    weights = write_weights(tmp_path, "rednet")
    build = methods.get("rednet").build
    first = build(weights=str(weights), engine="onnxruntime", device="cpu", threads=1)
    again = build(weights=str(weights), engine="onnxruntime", device="cpu", threads=1)
    assert first.cache_entry is not None and again.cache_entry is not None
    assert (first.cache_entry.reused, again.cache_entry.reused) == (False, True)
    write_weights(tmp_path, "rednet", seed=1)  # same path, new weights and checksum
    changed = build(weights=str(weights), engine="onnxruntime", device="cpu", threads=1)
    assert changed.cache_entry is not None and not changed.cache_entry.reused
    assert changed.cache_entry.path != first.cache_entry.path


def test_auto_picks_tensorrt_then_onnxruntime_then_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    have = {"tensorrt": False, "onnxruntime": True}
    monkeypatch.setattr(engines, "_importable", lambda name: have[name])
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    monkeypatch.setattr(engines, "ort_has_cuda", lambda: False)
    assert engines.pick("auto", "auto") == "onnxruntime"
    assert engines.pick("auto", "cpu", "int8") == "onnxruntime"
    from fastdenoise.engines import torch_engine

    monkeypatch.setattr(torch_engine, "cpu_has_bf16", lambda: True)
    assert engines.pick("auto", "cpu", "fp16") == "torch"  # bf16 lives in torch on a CPU
    monkeypatch.setattr(torch_engine, "cpu_has_bf16", lambda: False)
    assert engines.pick("auto", "cpu", "fp16") == "onnxruntime"  # no bf16: fp32, fastest engine
    have["tensorrt"] = True
    assert engines.pick("auto", "auto") == "onnxruntime"  # tensorrt without CUDA: not picked
    monkeypatch.setattr(engines, "cuda_available", lambda: True)
    assert engines.pick("auto", "auto", "fp16") == "tensorrt"
    have["tensorrt"] = False
    assert engines.pick("auto", "auto") == "torch"  # CPU-only onnxruntime on a CUDA machine
    monkeypatch.setattr(engines, "ort_has_cuda", lambda: True)
    assert engines.pick("auto", "cuda") == "onnxruntime"
    assert engines.pick("auto", "cuda", "fp16") == "torch"  # half precision in torch
    have["onnxruntime"] = False
    assert engines.pick("auto", "cpu") == "torch"
    assert engines.pick("onnxruntime") == "onnxruntime"
    with pytest.raises(ValueError, match="engine must be one of"):
        engines.pick("openvino")


def test_reduced_precision_says_when_it_runs_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastdenoise.engines import torch_engine

    model, plan = tiny("rednet"), TilePlan(halo=8, multiple=1, blend=True)
    with pytest.warns(UserWarning, match="running fp32"):
        ort = engines.create("onnxruntime", model, plan, "rednet", "cpu", "fp16", threads=1)
    assert ort.precision == "fp32"
    monkeypatch.setattr(torch_engine, "cpu_has_bf16", lambda: False)
    with pytest.warns(UserWarning, match="bfloat16.*running fp32"):
        eager = engines.create("torch", model, plan, "rednet", "cpu", "fp16", threads=1)
    assert eager.precision == "fp32"


def test_engines_import_no_heavy_modules() -> None:
    code = (
        "import sys, fastdenoise.engines, fastdenoise.engines.cache;"
        "heavy = {'torch', 'onnxruntime', 'tensorrt'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_export_onnx_and_run_with_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTDENOISE_CACHE", str(tmp_path / "cache"))  # "built", not reused
    weights = write_weights(tmp_path, "mwcnn")
    runner = CliRunner()
    target = tmp_path / "out" / "mwcnn.onnx"
    args = ["export", "-m", "mwcnn", "--weights", str(weights), "-o", str(target)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "built" in first.output and target.exists()
    onnx.checker.check_model(onnx.load(str(target)))
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "reused" in second.output
    bad = runner.invoke(app, ["export", "-m", "mwcnn", "--fp16", "--weights", str(weights)])
    assert bad.exit_code == 2


def test_cli_export_tensorrt_without_tensorrt_fails_clearly(tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt is installed here")
    except ModuleNotFoundError:
        pass
    weights = write_weights(tmp_path, "mwcnn")
    result = CliRunner().invoke(
        app, ["export", "-m", "mwcnn", "--format", "tensorrt", "--weights", str(weights)]
    )
    assert result.exit_code == 2 and "fastdenoise[tensorrt]" in result.output


def test_tensorrt_engine_equals_torch(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt", reason=TRT_REASON)
    if not torch.cuda.is_available():
        pytest.skip(TRT_REASON)
    model = tiny("mwcnn")
    plan = TilePlan(halo=8, multiple=model.multiple, blend=True)
    eager = engines.create("torch", model, plan, "mwcnn", "cuda", "fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trt = engines.create("tensorrt", model, plan, "mwcnn", "cuda", "fp32", tile=32)
    image = np.random.default_rng(2).random((37, 53, 3), dtype=np.float32)
    want, got = run_tiled(image, eager, tile=32), run_tiled(image, trt, tile=32)
    assert np.abs(got - want).max() <= 1e-3


def test_int8_is_calibrated_cached_and_close() -> None:
    from fastdenoise.engines import quantize

    model = tiny("mwcnn")
    plan = TilePlan(halo=8, multiple=model.multiple, blend=True)
    fp32 = engines.create("onnxruntime", model, plan, "mwcnn", "cpu", "fp32", threads=1)
    int8 = engines.create("auto", model, plan, "mwcnn", "cpu", "int8", threads=1)
    assert int8.cache_entry is not None and not int8.cache_entry.reused
    graph = onnx.load(str(int8.cache_entry.path))
    ops = {node.op_type for node in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops <= trt_ops()
    image = np.random.default_rng(3).random((37, 53, 3), dtype=np.float32)
    assert np.abs(run_tiled(image, int8, tile=24) - run_tiled(image, fp32, tile=24)).max() < 0.1
    again = quantize.cached_int8(model, "mwcnn")
    assert again.reused and again.path == int8.cache_entry.path
    with pytest.raises(ValueError, match="int8 runs on the onnxruntime engine only"):
        engines.create("torch", model, plan, "mwcnn", "cpu", "int8")


def test_cli_run_engines_agree_and_engine_is_for_models(tmp_path: Path) -> None:
    from PIL import Image

    weights = write_weights(tmp_path, "mwcnn")
    pixels = np.random.default_rng(4).integers(0, 256, (45, 67, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    runner, outputs = CliRunner(), []
    for engine in ("torch", "onnxruntime"):
        out = tmp_path / engine
        args = ["run", str(tmp_path / "in.png"), "-o", str(out), "-m", "mwcnn", "-q"]
        result = runner.invoke(app, [*args, "-p", f"weights={weights}", "--engine", engine])
        assert result.exit_code == 0, result.output
        outputs.append(np.asarray(Image.open(next(out.iterdir()))).astype(int))
    assert np.abs(outputs[0] - outputs[1]).max() <= 1  # 8-bit rounding of <= 1e-4 differences
    bad = runner.invoke(app, ["run", str(tmp_path / "in.png"), "-m", "median", "--engine", "torch"])
    assert bad.exit_code == 2
