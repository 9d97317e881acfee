"""Networks: shapes, Haar transforms, tiler round trips, weights loading, ONNX export."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastdenoise  # noqa: E402
from fastdenoise import methods  # noqa: E402
from fastdenoise.models import zoo  # noqa: E402
from fastdenoise.models.layers import HaarDWT, HaarIWT  # noqa: E402

TINY = {
    "fdnet": {"widths": [8, 16], "enc": [1, 1], "middle": 1, "dec": [1, 1], "estimator_width": 8},
    "mwcnn": {"widths": [8, 16], "depth": 2, "head": 4},
    "rednet": {"width": 8, "depth": 4},
    "autoencoder": {"widths": [8, 16], "depth": 1},
    "pridnet": {
        "estimator_width": 8,
        "estimator_depth": 2,
        "unet_width": 4,
        "unet_levels": 1,
        "scales": [1, 2, 4],
        "fuse_width": 4,
    },
}


def write_weights(folder: Path, arch: str, channels: int = 3, seed: int = 0) -> Path:
    """Random tiny weights + metadata, as ``fastdenoise train`` writes them."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    config = {"channels": channels, **TINY[arch]}
    model = zoo.build_model(arch, **config)
    path = folder / f"{arch}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    meta = {"arch": arch, "config": config, "sha256": zoo.sha256_file(path)}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def test_zoo_registers_models_without_importing_torch() -> None:
    code = (
        "import sys, fastdenoise.methods as m; names = m.available();"
        "assert {'autoencoder', 'rednet', 'mwcnn', 'pridnet'} <= set(names), names;"
        "assert all(names[n].kind == 'model' for n in ('mwcnn', 'rednet'));"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_haar_round_trip_is_exact_and_orthonormal() -> None:
    x = torch.randn(2, 3, 10, 14)
    dwt, iwt = HaarDWT(3), HaarIWT(3)
    bands = dwt(x)
    assert bands.shape == (2, 12, 5, 7)
    assert torch.allclose(iwt(bands), x, atol=1e-6)
    assert torch.allclose(bands.square().sum(), x.square().sum(), rtol=1e-5)  # energy kept
    flat = torch.ones(1, 1, 4, 4)
    assert torch.allclose(HaarDWT(1)(flat)[0, 1:], torch.zeros(3, 2, 2))  # no detail in flat


@pytest.mark.parametrize("arch", sorted(TINY))
def test_forward_keeps_shape(arch: str) -> None:
    model = zoo.build_model(arch, channels=3, **TINY[arch])
    m = model.multiple
    x = torch.rand(2, 3, 2 * m, 3 * m)
    assert model(x).shape == x.shape


@pytest.mark.parametrize("arch", sorted(TINY))
@pytest.mark.parametrize(("shape", "tile"), [((37, 53, 3), 24), ((29, 41), 0)])
def test_odd_sizes_through_the_tiler(tmp_path: Path, arch: str, shape: tuple, tile: int) -> None:
    weights = write_weights(tmp_path, arch)
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    out = fastdenoise.denoise(image, arch, tile=tile, weights=str(weights), threads=1)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.isfinite(out).all()
    # untiled and tiled agree closely in the interior (blending only at seams)
    whole = fastdenoise.denoise(image, arch, tile=0, weights=str(weights), threads=1)
    assert np.abs(out - whole).mean() < 0.05


def test_gray_model_on_color_and_uint8(tmp_path: Path) -> None:
    weights = write_weights(tmp_path, "mwcnn", channels=1)
    image = np.random.default_rng(1).integers(0, 256, (21, 19, 3), dtype=np.uint8)
    out = fastdenoise.denoise(image, "mwcnn", weights=str(weights))
    assert out.shape == image.shape and out.dtype == np.uint8


def test_wrong_checksum_is_refused(tmp_path: Path) -> None:
    weights = write_weights(tmp_path, "rednet")
    meta_path = weights.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(zoo.ChecksumError, match="refusing"):
        fastdenoise.denoise(np.zeros((8, 8, 3), np.float32), "rednet", weights=str(weights))


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    weights = write_weights(tmp_path, "autoencoder")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.ChecksumError):
        zoo.load_user_weights(weights)


def test_missing_variant_gives_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(zoo.WeightsNotFoundError) as info:
        zoo.load_variant("pridnet", "nope", folder=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "nope" in message and "not shipped" in message


def test_shipped_weights_match_their_checksums() -> None:
    for arch in zoo.ARCHITECTURES:
        for variant, meta in zoo.shipped(arch).items():
            assert zoo.sha256_file(zoo.WEIGHTS_DIR / meta["file"]) == meta["sha256"], variant
            assert (zoo.WEIGHTS_DIR / meta["card"]).exists()


def test_method_params_are_documented() -> None:
    method = methods.get("mwcnn")
    names = {p.name for p in method.params}
    assert {"variant", "weights", "precision", "threads"} <= names
    assert next(p for p in method.params if p.name == "variant").default == "real"


def _export(model: torch.nn.Module, path: Path, dynamo: bool) -> None:
    x = torch.rand(1, 3, 32, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            dims = {
                2: torch.export.Dim("h", min=16, max=4096),
                3: torch.export.Dim("w", min=16, max=4096),
            }
            torch.onnx.export(
                model, (x,), str(path), dynamo=True, dynamic_shapes={"x": dims}, verbose=False
            )
        else:
            axes = {"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}}
            torch.onnx.export(
                model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                dynamic_axes=axes,
            )  # fmt: skip


@pytest.mark.parametrize(("arch", "dynamo"), [(a, False) for a in sorted(TINY)] + [("mwcnn", True)])
def test_onnx_export_with_dynamic_height_width(tmp_path: Path, arch: str, dynamo: bool) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    if dynamo:
        pytest.importorskip("onnxscript")
    model = zoo.build_model(arch, channels=3, **TINY[arch]).eval()
    path = tmp_path / f"{arch}.onnx"
    _export(model, path, dynamo)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    m = model.multiple
    for height, width in ((4 * m, 5 * m), (16 * 3, 16 * 7)):
        height, width = -(-height // m) * m, -(-width // m) * m
        x = torch.rand(1, 3, height, width)
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            want = model(x).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)
