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
