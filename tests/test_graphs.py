"""Shipped weights-free ONNX graphs: written by publish, filled without torch, run by ORT."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastdenoise.engines import onnx_graph  # noqa: E402

from fastdenoise import methods  # noqa: E402
from fastdenoise.models import publish, zoo  # noqa: E402
from fastdenoise.models.conditioned import ConditionedDenoiser, runtime_parts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY_FDNET = {"widths": [8, 16], "enc": [1, 1], "middle": 1, "dec": [1, 1], "estimator_width": 8}


def ship_tiny(folder: Path, arch: str = "fdnet", config: dict | None = None) -> dict:
    """Random tiny fp16 weights shipped as ``<arch>-tiny`` (files as publish writes them)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    config = {"channels": 3, **(config if config is not None else TINY_FDNET)}
    net = zoo.build_model(arch, **config)
    path = folder / f"{arch}-tiny.safetensors"
    save_file({k: v.half().contiguous() for k, v in net.state_dict().items()}, str(path))
    meta = {
        "arch": arch,
        "variant": "tiny",
        "file": path.name,
        "sha256": zoo.sha256_file(path),
        "config": config,
        "halo": 16,
    }
    (folder / f"{arch}-tiny.json").write_text(json.dumps(meta))
    return publish.write_graphs(arch, "tiny", folder)


def torch_output(arch: str, meta: dict, part: str, x: np.ndarray) -> np.ndarray:
    net = zoo.load_network(zoo.WEIGHTS_DIR / meta["file"], meta).eval()
    module = runtime_parts(net)[part]
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


SHIPPED = [(arch, v) for arch in zoo.ARCHITECTURES for v in zoo.shipped(arch)]


@pytest.mark.parametrize(("arch", "variant"), SHIPPED)
def test_every_shipped_variant_ships_small_graphs_that_match_its_network(arch, variant) -> None:
    import onnxruntime as ort

    meta = zoo.variant_meta(arch, variant)
    graphs = zoo.load_graphs(meta)
    expected = {"estimator", "denoiser"} if arch in zoo.CONDITIONED else {"model"}
    assert set(graphs) == expected, "rewrite with: python -m fastdenoise.models.publish graphs"
    weights_size = (zoo.WEIGHTS_DIR / meta["file"]).stat().st_size
    for part, graph in graphs.items():
        assert graph.path.stat().st_size < min(200_000, weights_size // 5), graph.path
        side = max(16, graph.multiple)
        rng = np.random.default_rng(1)
        x = rng.random((1, graph.channels, 2 * side, 2 * side), dtype=np.float32)
        session = ort.InferenceSession(graph.onnx_bytes(), providers=["CPUExecutionProvider"])
        got = session.run(None, {"x": x})[0]
        # the graph is stale when the network's code changed after it was written
        np.testing.assert_allclose(got, torch_output(arch, meta, part, x), atol=2e-4)


def test_strip_and_fill_round_trip_and_refuse_wrong_weights(tmp_path: Path) -> None:
    meta = ship_tiny(tmp_path)
    parts = meta["graphs"]["parts"]
    assert set(parts) == {"estimator", "denoiser"}
    assert meta["graphs"]["weights_sha256"] == meta["sha256"]
    weights = zoo.load_arrays(tmp_path / meta["file"], meta)
    for part in parts.values():
        assert (tmp_path / part["file"]).stat().st_size < 20_000
        assert {key for key, _ in part["initializers"].values()} <= set(weights)
    graph = (tmp_path / parts["denoiser"]["file"]).read_bytes()
    table = parts["denoiser"]["initializers"]
    name, (key, dims) = next(iter(table.items()))
    with pytest.raises(ValueError, match="have no tensor"):
        onnx_graph.fill(graph, table, {})
    with pytest.raises(ValueError, match="values, graph wants"):
        onnx_graph.fill(graph, {name: [key, dims]}, {key: np.zeros(int(np.prod(dims)) + 1)})


def test_factory_runs_shipped_graphs_on_onnxruntime_like_torch(tmp_path, monkeypatch) -> None:
    ship_tiny(tmp_path)
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    method = methods.get("fdnet")
    fast = method.build(variant="tiny", engine="onnxruntime", device="cpu", threads=1)
    assert isinstance(fast, ConditionedDenoiser)
    assert fast.estimator.onnx_path is None and fast.denoiser.onnx_path is None  # from bytes
    eager = method.build(variant="tiny", engine="torch", device="cpu", threads=1)
    tile = np.random.default_rng(2).random((32, 48, 3), dtype=np.float32)
    np.testing.assert_allclose(fast(tile), eager(tile), atol=1e-4)
    # a graph whose bytes changed is refused, not run
    graph = tmp_path / "fdnet-tiny-denoiser.graph.onnx"
    graph.write_bytes(graph.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="sha256"):
        method.build(variant="tiny", engine="onnxruntime", device="cpu")
    # graphs written for other weights are not used: the network is built with torch
    meta = json.loads((tmp_path / "fdnet-tiny.json").read_text())
    meta["graphs"]["weights_sha256"] = "0" * 64
    (tmp_path / "fdnet-tiny.json").write_text(json.dumps(meta))
    assert zoo.load_graphs(meta, tmp_path) == {}
    rebuilt = method.build(variant="tiny", engine="onnxruntime", device="cpu", threads=1)
    assert rebuilt.denoiser.onnx_path is not None  # exported through the cache


def test_int8_from_shipped_graphs_goes_through_a_torch_free_cache_entry(tmp_path, monkeypatch):
    ship_tiny(tmp_path, "rednet", {"width": 8, "depth": 4})
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setenv("FASTDENOISE_CACHE", str(tmp_path / "cache"))
    int8 = methods.get("rednet").build(variant="tiny", precision="int8", device="cpu", threads=1)
    sidecars = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.onnx.json")]
    kinds = sorted(s["parts"]["kind"] for s in sidecars)
    assert kinds == ["onnx-graph", "onnx-int8"], kinds
    assert all("torch" not in s["parts"] for s in sidecars)
    tile = np.random.default_rng(3).random((24, 24, 3), dtype=np.float32)
    assert int8(tile).shape == tile.shape


NO_TORCH = """
import json, sys
from pathlib import Path
import numpy as np
if BLOCK:
    sys.modules["torch"] = None  # as if torch were not installed: import torch fails
import fastdenoise
from fastdenoise.models import zoo
zoo.WEIGHTS_DIR = Path(FOLDER)
image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
out = fastdenoise.denoise(image, "fdnet", variant="tiny", threads=1)
report = {"shape": list(out.shape), "ort": "onnxruntime" in sys.modules,
          "torch": sys.modules.get("torch") is not None, "error": ""}
try:  # after the check: this one imports torch where it is installed
    fastdenoise.denoise(image, "fdnet", variant="tiny", engine="torch")
except Exception as exc:
    report["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(report))
"""


@pytest.mark.parametrize("block", [False, True], ids=["torch-installed", "torch-missing"])
def test_ort_run_from_shipped_graphs_never_imports_torch(tmp_path: Path, block: bool) -> None:
    ship_tiny(tmp_path)
    script = f"BLOCK = {block}\nFOLDER = {str(tmp_path)!r}\n" + NO_TORCH
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [40, 56, 3]
    assert report["ort"] and not report["torch"]
    if block:  # the torch engine says which extra to install, in one line
        assert report["error"] == (
            "MissingExtraError: the torch engine needs PyTorch: pip install 'fastdenoise[train]'"
        )
    else:
        assert report["error"] == ""


BLOCKED_CLI = """
import runpy, sys
sys.modules["torch"] = None  # as if torch were not installed
sys.argv = ["fastdenoise", *sys.argv[1:]]
runpy.run_module("fastdenoise", run_name="__main__")
"""


@pytest.mark.parametrize(
    "args",
    [
        ("train", "-o", "{tmp}/ckpt", "-d", "{tmp}"),
        ("export", "-m", "rednet"),
        ("run", "{tmp}/a.png", "-o", "{tmp}/out", "-m", "rednet", "--engine", "torch"),
        ("run", "{tmp}/a.png", "-o", "{tmp}/out", "-m", "rednet", "-p", "weights={tmp}/w.st"),
    ],
    ids=["train", "export", "torch-engine", "own-weights"],
)
def test_without_torch_every_torch_path_names_the_extra_in_one_line(tmp_path, args) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "w.json").write_text(json.dumps({"arch": "rednet", "config": {}, "sha256": "0"}))
    (tmp_path / "w.st").write_bytes(b"")
    argv = [a.format(tmp=tmp_path) for a in args]
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_CLI, *argv], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "fastdenoise[train]" in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "needs PyTorch: pip install 'fastdenoise[train]'" in lines[0]


def test_python_m_train_without_torch_names_the_extra(tmp_path) -> None:
    code = (
        "import runpy, sys; sys.modules['torch'] = None; "
        "runpy.run_module('fastdenoise.train', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "needs PyTorch: pip install 'fastdenoise[train]'" in result.stderr
