"""`fastdenoise bench` on a tiny generated set: every format and both pictures."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fastdenoise import methods
from fastdenoise.bench import (
    GRAY_LABEL,
    WARMUP_SIDE,
    Sample,
    add_noise,
    bench_method,
    default_sets,
    label,
    parse_noise,
)
from fastdenoise.cli import app
from fastdenoise.evaluate import awgn
from fastdenoise.methods import Denoiser, Method, Param, TilePlan

runner = CliRunner()


@pytest.fixture
def clean_dir(tmp_path, rng):
    folder = tmp_path / "clean"
    folder.mkdir()
    y, x = np.mgrid[0:40, 0:56]
    for i in range(3):
        image = np.stack([x * 4 + i * 10, y * 5, (x + y) * 2], -1).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i}.png")
    return folder


def bench(*args: str):
    return runner.invoke(app, ["bench", "test-box", "test-identity", *args])


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_each_format(clean_dir, fmt):
    result = bench("--data", str(clean_dir), "--noise", "gaussian:15,25", "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        rows = json.loads(result.stdout)
        assert len(rows) == 4
        box = next(r for r in rows if r["method"] == "test-box" and r["noise"] == "gaussian 25")
        same = next(
            r for r in rows if r["method"] == "test-identity" and r["noise"] == "gaussian 25"
        )
        assert box["psnr"] > box["input_psnr"] + 3  # smoothing a smooth image helps
        assert abs(same["psnr"] - same["input_psnr"]) < 0.01  # identity changes nothing
        assert box["images"] == 3 and box["megapixels_per_s"] > 0
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert {r["method"] for r in rows} == {"test-box", "test-identity"}
    elif fmt == "markdown":
        assert result.stdout.startswith("| method | noise |")
        assert result.stdout.count("\n") >= 5
    else:
        assert "test-box" in result.stdout and "gaussian 25" in result.stdout


def test_plot_and_grid_are_pngs_of_expected_size(clean_dir, tmp_path):
    plot, grid = tmp_path / "plot.png", tmp_path / "grid.png"
    result = bench(
        "--data",
        str(clean_dir),
        "--plot",
        str(plot),
        "--grid",
        str(grid),
        "--format=json",
    )
    assert result.exit_code == 0, result.output
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (840, 540)
    with Image.open(grid) as image:  # 4 panels: noisy, two methods, ground truth
        assert image.format == "PNG" and image.size == (int(2.2 * 4 * 120), int(2.6 * 120))


def test_real_pairs_folder(tmp_path, rng):
    for sub in ("noisy", "gt"):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
    clean = rng.integers(60, 200, (32, 32, 3), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "pairs" / "noisy" / "01.png")
    Image.fromarray(clean).save(tmp_path / "pairs" / "gt" / "01.png")
    result = bench("--data", str(tmp_path / "pairs"), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["noise"] == "real" and rows[0]["images"] == 1


def test_noise_specs_and_seeding():
    assert parse_noise("gaussian:15,25;salt-pepper:0.1") == [
        ("gaussian", 15.0),
        ("gaussian", 25.0),
        ("salt-and-pepper", 0.1),  # one name; salt-pepper and salt_pepper are aliases
    ]
    with pytest.raises(ValueError, match="unknown noise"):
        parse_noise("pink:3")
    clean = np.full((8, 8, 3), 128, np.uint8)
    np.testing.assert_array_equal(add_noise(clean, "gaussian", 25, 3), awgn(clean, 25, 3))
    assert not np.array_equal(
        add_noise(clean, "poisson", 30, 0), add_noise(clean, "poisson", 30, 1)
    )
    assert parse_noise("camera:0.001,0.06") == [("camera", 0.001), ("camera", 0.06)]
    rgb = np.random.default_rng(0).integers(40, 220, (32, 32, 3)).astype(np.uint8)
    errors = [np.abs(add_noise(rgb, "camera", s, 0) - rgb / 255).mean() for s in (0.001, 0.06)]
    assert errors[0] < errors[1]


def test_unknown_method_is_a_usage_error():
    result = runner.invoke(app, ["bench", "nope"])
    assert result.exit_code == 2


def test_method_specs_set_parameters_and_label_rows(clean_dir):
    args = ["bench", "test-box:radius=1", "test-box:radius=4", "--data", str(clean_dir)]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"test-box:radius=1", "test-box:radius=4"}
    assert rows["test-box:radius=1"]["psnr"] != rows["test-box:radius=4"]["psnr"]
    bad = runner.invoke(app, ["bench", "test-box:size=3", "--data", str(clean_dir)])
    assert bad.exit_code == 2 and "radius" in bad.output


def _bench_script(name: str):
    """A script of bench/ as a module (bench/ is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_error_structure_tells_cast_blotches_and_grain_apart() -> None:
    stats = _bench_script("error_structure").error_stats
    clean = np.full((64, 64, 3), 128, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    grain = np.where((yy + xx) % 2 == 0, 10, -10)[..., None]  # pixel-scale checkerboard
    blotch = np.round(10 * np.sin(2 * np.pi * xx / 64))[..., None]  # one slow wave
    cast = np.array([-6, 0, 4])
    grainy = stats((clean + grain + cast).astype(np.uint8), clean)
    blotchy = stats((clean + blotch + cast).astype(np.uint8), clean)
    for result in (grainy, blotchy):
        assert np.allclose(result["mean"], cast, atol=0.3)
        assert result["psnr_no_cast"] > result["psnr"]
    assert grainy["std"] == pytest.approx(10, abs=0.2)
    assert grainy["low"][0] < 0.5 < blotchy["low"][2]
    assert blotchy["low"][2] > 0.6 * blotchy["std"]


class _Recorder(Denoiser):
    """A test-only model that records each call's tile shape and builds (a class-level log)."""

    plan = TilePlan(halo=0)
    name = "test-recorder:v1"
    calls: ClassVar[list[tuple[int, ...]]] = []
    builds: ClassVar[list[str]] = []

    def __init__(self, device: str = "auto", variant: str = "v1") -> None:
        type(self).builds.append(variant)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        type(self).calls.append(tile.shape)
        return tile.copy()


methods.register(
    Method("test-recorder", "model", "records calls", _Recorder, (Param("variant", "v1", "v"),))
)


def test_bench_warms_each_method_up_before_timing_it():
    _Recorder.calls.clear()
    _Recorder.builds.clear()
    clean = np.full((100, 90, 3), 128, np.uint8)
    samples = [Sample(str(i), clean, add_noise(clean, "gaussian", 25, i)) for i in range(2)]
    row, outputs = bench_method("test-recorder", samples, "gaussian 25", tile=None)
    assert _Recorder.builds == ["v1"]  # built once, by the warm-up
    # the first call is the warm-up crop, then one timed call per image at full size
    assert _Recorder.calls == [(WARMUP_SIDE, WARMUP_SIDE, 3), (100, 90, 3), (100, 90, 3)]
    assert len(outputs) == 2 and row.startup_s > 0 and row.megapixels_per_s > 0
    assert row.method == "test-recorder:v1"  # the name the model gives itself


def test_model_rows_name_their_variant():
    assert label("mwcnn", "mwcnn:real") == "mwcnn:real"
    assert label("mwcnn:tta=true", "mwcnn:real") == "mwcnn:real,tta=true"
    assert label("mwcnn:variant=gaussian", "mwcnn:gaussian") == "mwcnn:gaussian"
    assert label("median:size=5", "median") == "median:size=5"  # filters: the spec as given


def test_cli_rows_carry_startup_and_variant(clean_dir):
    result = runner.invoke(
        app, ["bench", "test-recorder", "--data", str(clean_dir), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["method"] == "test-recorder:v1" and row["startup_s"] > 0


def test_default_set_keeps_colour_and_gray_apart():
    sets = default_sets([("gaussian", 25.0)], limit=1)
    assert [name for name, _ in sets] == ["gaussian 25", "gaussian 25" + GRAY_LABEL]
    colour, gray = (samples for _, samples in sets)
    assert all(s.clean.shape[2] == 3 for s in colour)
    assert all(s.clean.shape[2] == 1 for s in gray)
