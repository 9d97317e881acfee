"""Self-ensemble (--tta): exact inverse transforms, equivariance, CLI wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from PIL import Image
from typer.testing import CliRunner

from fastdenoise.cli import app
from fastdenoise.datasets import dihedral, undo_dihedral
from fastdenoise.methods import Denoiser, TilePlan
from fastdenoise.models.ensemble import SelfEnsemble

from .test_models import write_weights


class LeftToRightRamp(Denoiser):
    """Not orientation-equivariant: adds a ramp that grows along the width."""

    plan = TilePlan(halo=0, multiple=1, blend=True)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return tile + np.linspace(0.0, 1.0, tile.shape[1], dtype=np.float32)[None, :, None]


def test_undo_dihedral_inverts_every_transform() -> None:
    image = np.arange(5 * 7 * 2, dtype=np.float32).reshape(5, 7, 2)
    seen = set()
    for k in range(8):
        transformed = dihedral(image, k)
        seen.add(transformed.tobytes())
        assert np.array_equal(undo_dihedral(transformed, k), image)
    assert len(seen) == 8  # eight distinct transforms


def test_ensemble_is_orientation_equivariant_even_when_the_model_is_not() -> None:
    tile = np.random.default_rng(0).random((6, 6, 3), dtype=np.float32)
    inner, ensemble = LeftToRightRamp(), SelfEnsemble(LeftToRightRamp())
    flipped = np.ascontiguousarray(tile[:, ::-1])
    assert not np.allclose(inner(flipped)[:, ::-1], inner(tile))  # the model is not
    for k in range(8):
        moved = np.ascontiguousarray(dihedral(tile, k))
        np.testing.assert_allclose(ensemble(moved), dihedral(ensemble(tile), k), atol=1e-6)
    # the average of the ramp over all orientations is its mean, 0.5, everywhere
    np.testing.assert_allclose(ensemble(tile) - tile, 0.5, atol=1e-6)
    assert ensemble.plan == inner.plan and "self-ensemble" in ensemble.describe()


def test_cli_tta_runs_models_and_is_refused_for_filters(tmp_path: Path) -> None:
    weights = write_weights(tmp_path, "mwcnn")
    pixels = np.random.default_rng(4).integers(0, 256, (33, 41, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    runner, outputs = CliRunner(), {}
    for tta in (False, True):
        out = tmp_path / f"tta-{tta}"
        args = ["run", str(tmp_path / "in.png"), "-o", str(out), "-m", "mwcnn", "-q"]
        args += ["-p", f"weights={weights}", "--engine", "torch", *(["--tta"] if tta else [])]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs[tta] = np.asarray(Image.open(out / "in.png"))
    assert outputs[True].shape == pixels.shape
    assert not np.array_equal(outputs[True], outputs[False])  # random weights: not equivariant
    bad = runner.invoke(app, ["run", str(tmp_path / "in.png"), "-m", "median", "--tta"])
    assert bad.exit_code == 2 and "--tta applies to models" in bad.output


class SubImageMean(Denoiser):
    """Replaces a tile by its mean: shows which pixels were denoised together."""

    plan = TilePlan(halo=4, multiple=2, blend=True)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return np.full(tile.shape, tile.mean(), np.float32)


def test_pixel_shuffle_denoises_each_sub_image_alone() -> None:
    from fastdenoise.models.shuffle import PixelShuffleDenoiser

    tile = np.random.default_rng(0).random((8, 12, 3)).astype(np.float32)
    wrapped = PixelShuffleDenoiser(SubImageMean(), 2)
    assert wrapped.plan == TilePlan(halo=8, multiple=4, blend=True)
    out = wrapped(tile)
    for dy in range(2):
        for dx in range(2):
            assert np.allclose(out[dy::2, dx::2], tile[dy::2, dx::2].mean())
    assert len(np.unique(out.round(6))) == 4
    with pytest.raises(ValueError, match="stride"):
        PixelShuffleDenoiser(SubImageMean(), 0)


def test_shuffle_param_reaches_the_model(tmp_path: Path) -> None:
    import fastdenoise

    weights = write_weights(tmp_path, "rednet")
    image = np.random.default_rng(1).random((33, 45, 3)).astype(np.float32)
    plain = fastdenoise.denoise(image, "rednet", weights=str(weights), threads=1)
    shuffled = fastdenoise.denoise(image, "rednet", weights=str(weights), threads=1, shuffle=2)
    assert shuffled.shape == image.shape and np.isfinite(shuffled).all()
    assert not np.allclose(plain, shuffled)
    with pytest.raises(ValueError, match="shuffle"):
        fastdenoise.denoise(image, "rednet", weights=str(weights), shuffle=9)
