"""Dataset loaders on generated fixtures in the SIDD / RENOIR / NIND / folder layouts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fastdenoise import datasets, noise
from fastdenoise.io import read_pixels


def write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = pixels[:, :, ::-1] if pixels.ndim == 3 and pixels.shape[2] >= 3 else pixels
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))
    return path


def rgb(seed: int, height: int = 40, width: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_sidd_layout(tmp_path: Path) -> None:
    root = tmp_path / "SIDD_Small_sRGB_Only" / "Data"
    for scene in ("0001_001_S6_00100_00060_3200_L", "0002_001_S6_00100_00020_3200_N"):
        for n in ("010", "011"):
            write(root / scene / f"NOISY_SRGB_{n}.PNG", rgb(1))
            write(root / scene / f"GT_SRGB_{n}.PNG", rgb(2))
    write(root / "not_a_scene" / "NOISY_SRGB_010.PNG", rgb(3))
    write(root / "0003_001_S6_00100_00020_3200_H" / "NOISY_SRGB_010.PNG", rgb(3))  # no GT
    pairs = datasets.sidd_pairs(tmp_path)
    assert len(pairs) == 4
    for noisy, clean in pairs:
        assert noisy.name.startswith("NOISY_SRGB") and clean.name == noisy.name.replace(
            "NOISY", "GT"
        )
        assert noisy.parent == clean.parent
    assert datasets.find_pairs(tmp_path) == pairs


def test_renoir_layout(tmp_path: Path) -> None:
    for cam in ("Mi3_Aligned", "T3i_Aligned"):
        batch = tmp_path / cam / "Batch_001"
        write(batch / "IMG_0001Reference.bmp", rgb(1))
        write(batch / "IMG_0002full.bmp", rgb(2))
        write(batch / "IMG_0003Noisy.bmp", rgb(3))
        write(batch / "IMG_0004Noisy.bmp", rgb(4))
    pairs = datasets.renoir_pairs(tmp_path)
    assert len(pairs) == 4
    assert all("Reference" in clean.name and "Noisy" in noisy.name for noisy, clean in pairs)
    assert datasets.find_pairs(tmp_path, "renoir") == pairs


def test_nind_layout(tmp_path: Path) -> None:
    scene = tmp_path / "NIND" / "MuseeL-Bobo"
    for iso in ("ISO200", "ISO200-2", "ISO3200", "ISO6400", "ISOH1"):
        write(scene / f"NIND_MuseeL-Bobo_{iso}.png", rgb(len(iso)))
    write(tmp_path / "NIND" / "lonely" / "NIND_lonely_ISO200.png", rgb(9))
    pairs = datasets.nind_pairs(tmp_path)
    assert sorted(p.name for p, _ in pairs) == [
        "NIND_MuseeL-Bobo_ISO3200.png",
        "NIND_MuseeL-Bobo_ISO6400.png",
        "NIND_MuseeL-Bobo_ISOH1.png",
    ]
    assert {clean.name for _, clean in pairs} == {"NIND_MuseeL-Bobo_ISO200.png"}


def test_plain_folders_match_by_name(tmp_path: Path) -> None:
    for i in (1, 2, 3):  # the Nam layout: NN_noise.png / NN_gt.png
        write(tmp_path / "noisy" / f"{i:02d}_noise.png", rgb(i))
        write(tmp_path / "gt" / f"{i:02d}_gt.png", rgb(10 + i))
    pairs = datasets.find_pairs(tmp_path)
    assert next((n.name, c.name) for n, c in pairs) == ("01_noise.png", "01_gt.png")
    assert len(pairs) == 3


def test_polyu_split_holds_out_whole_scenes(tmp_path: Path) -> None:
    names = [  # PolyU_crops names, quirks included (double underscore, capitals)
        "Canon80D_8_8_3200_ball_16",
        "Canon80D_8_8_3200_ball_2",
        "NikonD800_6-3_125_5000_plant__4",
        "Canon80D_8_8_800_GO_11",
        "NikonD800_8_125_6400_photo_19",
    ]
    for i, name in enumerate(names):
        write(tmp_path / "noisy" / f"{name}_real.JPG", rgb(i))
        write(tmp_path / "gt" / f"{name}_mean.JPG", rgb(10 + i))
    held = datasets.polyu_split(tmp_path, held_out=True)
    kept = datasets.polyu_split(tmp_path, held_out=False)
    assert sorted(datasets.polyu_scene(n) for n, _ in held) == ["ball", "ball", "photo"]
    assert sorted(datasets.polyu_scene(n) for n, _ in kept) == ["GO", "plant"]
    assert all(n.name.replace("_real", "_mean") == c.name for n, c in held + kept)
    with pytest.raises(ValueError, match="not a PolyU crop name"):
        datasets.polyu_scene(Path("IMG_0001.JPG"))


def test_plain_folders_size_mismatch_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "noisy" / "a.png", rgb(1))
    write(tmp_path / "clean" / "a.png", rgb(2, 30, 30))
    with pytest.raises(ValueError, match="size mismatch"):
        datasets.load_pairs(datasets.folder_pairs(tmp_path), 3)


def test_no_pairs_found(tmp_path: Path) -> None:
    write(tmp_path / "x" / "a.png", rgb(1))
    with pytest.raises(ValueError, match="no noisy/clean pairs"):
        datasets.find_pairs(tmp_path)


def test_read_pixels_gray_color_16bit_alpha(tmp_path: Path) -> None:
    gray = write(tmp_path / "g.png", np.full((5, 6), 77, np.uint8))
    deep = write(tmp_path / "d.png", np.full((5, 6, 3), 40000, np.uint16))
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA order
    rgba_path = tmp_path / "a.png"
    cv2.imwrite(str(rgba_path), rgba)
    assert read_pixels(gray).shape == (5, 6, 1)
    assert read_pixels(gray, 3).shape == (5, 6, 3)
    assert read_pixels(deep).dtype == np.uint16
    assert read_pixels(rgba_path)[0, 0].tolist() == [200, 0, 0]
    assert read_pixels(write(tmp_path / "c.png", rgb(1)), 1).shape == (40, 48, 1)
    with pytest.raises(OSError, match=r"c\.txt"):
        read_pixels(tmp_path / "c.txt")


def test_dihedral_gives_eight_distinct_views() -> None:
    a = np.arange(12).reshape(3, 4, 1)
    views = {
        datasets.dihedral(a, k).tobytes() + bytes(datasets.dihedral(a, k).shape) for k in range(8)
    }
    assert len(views) == 8


def test_patch_sampler_clean_and_pairs_aligned() -> None:
    clean = [rgb(1, 50, 60), rgb(2, 64, 40)]
    pair_clean = rgb(3, 48, 48)
    pair_noisy = (pair_clean.astype(np.int16) // 2).astype(np.uint8)  # aligned by construction
    sampler = datasets.PatchSampler(
        clean, noise.parse("gaussian:sigma=10"), [(pair_noisy, pair_clean)], patch=32
    )
    rng = np.random.default_rng(0)
    noisy, target = sampler.sample(rng, 16)
    assert noisy.shape == target.shape == (16, 32, 32, 3) and noisy.dtype == np.float32
    only_pairs = datasets.PatchSampler([], None, [(pair_noisy, pair_clean)], patch=32)
    n, c = only_pairs.sample(rng, 8)
    np.testing.assert_allclose(n, np.floor(c * 255 / 2) / 255, atol=1e-6)


def test_patch_sampler_rejects_small_images() -> None:
    with pytest.raises(ValueError, match="smaller than patch"):
        datasets.PatchSampler([rgb(1, 20, 20)], noise.parse("gaussian"), patch=32)


def test_load_clean_folder(tmp_path: Path) -> None:
    write(tmp_path / "b.png", rgb(1))
    write(tmp_path / "a.jpg", rgb(2))
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in datasets.list_images(tmp_path)] == ["a.jpg", "b.png"]
    assert len(datasets.load_clean([tmp_path], 3)) == 2


def test_gray_fraction_gives_gray_patches_with_identical_channel_noise() -> None:
    clean = [rgb(1, 50, 60), rgb(2, 64, 40)]
    sampler = datasets.PatchSampler(
        clean, noise.parse("gaussian:sigma=20"), patch=32, gray_fraction=0.5
    )
    noisy, target = sampler.sample(np.random.default_rng(0), 64)
    gray = [np.ptp(t, axis=2).max() == 0 for t in target]
    assert 16 < sum(gray) < 48  # about half
    for n, t, is_gray in zip(noisy, target, gray, strict=True):
        same_noise = np.array_equal(n[..., 0], n[..., 1]) and np.array_equal(n[..., 1], n[..., 2])
        assert same_noise == is_gray
        assert np.std(n - t) > 0.05  # noise was added either way
    never = datasets.PatchSampler(clean, noise.parse("gaussian:sigma=20"), patch=32)
    assert not any(
        np.ptp(t, axis=2).max() == 0 for t in never.sample(np.random.default_rng(0), 32)[1]
    )
