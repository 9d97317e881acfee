"""`fastdenoise eda` on generated SIDD and NIND layout fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fastdenoise.cli import app
from fastdenoise.eda import parse_sidd_scene

runner = CliRunner()
SCENES = {
    "0001_001_S6_00100_00060_3200_L": 10,
    "0002_001_S6_00800_00350_3200_N": 40,
    "0003_002_GP_00800_00100_5500_N": 40,
    "0004_003_IP_01600_00050_4400_H": 25,
    "0005_003_IP_00100_00160_4400_L": 10,
}


def _pair(folder, stem_noisy, stem_clean, sigma, rng):
    clean = np.clip(rng.normal(128, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
    clean = np.repeat(np.repeat(clean[::8, ::8], 8, 0), 8, 1)  # flat 8x8 blocks
    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(folder / f"{stem_noisy}.PNG")
    Image.fromarray(clean).save(folder / f"{stem_clean}.PNG")


@pytest.fixture
def sidd_root(tmp_path, rng):
    root = tmp_path / "SIDD_Small_sRGB_Only" / "Data"
    for name, sigma in SCENES.items():
        (root / name).mkdir(parents=True)
        _pair(root / name, "NOISY_SRGB_010", "GT_SRGB_010", sigma, rng)
    return root.parent


def test_sidd_counts_and_noise(sidd_root, tmp_path):
    result = runner.invoke(app, ["eda", str(sidd_root), "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 5
    phones = sorted(r["phone"] for r in records)
    assert phones == [
        "Google Pixel",
        "Samsung Galaxy S6 Edge",
        "Samsung Galaxy S6 Edge",
        "iPhone 7",
        "iPhone 7",
    ]
    assert sorted(r["iso"] for r in records) == [100, 100, 800, 800, 1600]
    assert sorted(r["brightness"] for r in records) == ["high", "low", "low", "normal", "normal"]
    by_scene = {r["scene"]: r for r in records}
    low, high = by_scene["0001_001"], by_scene["0002_001"]
    assert low["psnr"] > high["psnr"] + 8  # sigma 10 vs 40
    assert abs(high["sigma"] - 40) < 8 and abs(low["sigma"] - 10) < 3


def test_sidd_tables_and_plots(sidd_root, tmp_path):
    plots = tmp_path / "plots"
    result = runner.invoke(app, ["eda", str(sidd_root), "--plots", str(plots)])
    assert result.exit_code == 0, result.output
    assert "5 noisy/clean pairs in 5 scenes" in result.stdout
    assert "ISO x phone" in result.stdout and "measured noise per iso" in result.stdout
    names = sorted(p.name for p in plots.iterdir())
    assert names == [
        "count_brightness.png",
        "count_iso.png",
        "count_phone.png",
        "count_shutter.png",
        "iso_by_phone.png",
        "sigma_by_iso.png",
    ]


def test_nind_iso_from_file_names(tmp_path, rng):
    scene = tmp_path / "NIND" / "bird"
    scene.mkdir(parents=True)
    for iso, sigma in ((200, 1), (3200, 12), (6400, 25)):
        clean_like = rng.integers(90, 160, (32, 32, 3), dtype=np.uint8)
        noisy = np.clip(clean_like + rng.normal(0, sigma, clean_like.shape), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(scene / f"NIND_bird_ISO{iso}.png")
    result = runner.invoke(app, ["eda", str(tmp_path / "NIND"), "--json", "--no-measure"])
    assert result.exit_code == 0, result.output
    assert sorted(r["iso"] for r in json.loads(result.stdout)) == [3200, 6400]


def test_parse_sidd_scene():
    fields = parse_sidd_scene("0001_001_S6_00100_00060_3200_L")
    assert fields == {
        "scene": "0001_001",
        "phone": "Samsung Galaxy S6 Edge",
        "iso": 100,
        "shutter": 60,
        "temperature": 3200,
        "brightness": "low",
    }
    assert parse_sidd_scene("holiday_photos") is None


def test_not_a_dataset_is_a_usage_error(tmp_path):
    assert runner.invoke(app, ["eda", str(tmp_path)]).exit_code == 2


POLYU = {  # camera_aperture_shutter_ISO_scene_crop, as in PolyU's CroppedImages
    "Canon5D2_5_160_3200_chair_11": 12,
    "Canon80D_8_8_800_GO_1": 6,
    "NikonD800_4-5_160_100_classroom_3": 3,
    "Sony_4-5_125_3200_plant__4": 12,
}


def test_polyu_noisy_gt_folders(tmp_path, rng):
    root = tmp_path / "PolyU_crops"
    for folder in ("noisy", "gt"):
        (root / folder).mkdir(parents=True)
    for stem, sigma in POLYU.items():
        _pair(root / "noisy", f"{stem}_real", f"../gt/{stem}_mean", sigma, rng)
    result = runner.invoke(app, ["eda", str(root), "--json"])
    assert result.exit_code == 0, result.output
    records = {Path(r["noisy"]).name: r for r in json.loads(result.stdout)}
    chair = records["Canon5D2_5_160_3200_chair_11_real.PNG"]
    assert (chair["phone"], chair["iso"], chair["shutter"]) == ("Canon5D2", 3200, 160)
    assert chair["scene"] == "chair" and chair["dataset"] == "PolyU"
    assert records["Sony_4-5_125_3200_plant__4_real.PNG"]["scene"] == "plant"
    assert chair["psnr"] < records["NikonD800_4-5_160_100_classroom_3_real.PNG"]["psnr"]


def test_polyu_flat_folder_and_numeric_order(tmp_path, rng):
    root = tmp_path / "CroppedImages"
    root.mkdir()
    for stem, sigma in POLYU.items():
        _pair(root, f"{stem}_real", f"{stem}_mean", sigma, rng)
    result = runner.invoke(app, ["eda", str(root), "--no-measure"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("# pairs per iso")
    assert [line.split("\t")[0] for line in lines[start + 2 : start + 5]] == ["100", "800", "3200"]
    start = lines.index("# pairs per shutter")
    assert [line.split("\t")[0] for line in lines[start + 2 : start + 5]] == ["8", "125", "160"]


def test_layout_that_matches_nothing_is_one_line(tmp_path):
    (tmp_path / "holiday").mkdir()
    for layout in ("auto", "sidd", "folders"):
        result = runner.invoke(app, ["eda", str(tmp_path / "holiday"), "--layout", layout])
        assert result.exit_code == 2, (layout, result.output)
        assert "Traceback" not in result.output and "error" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
