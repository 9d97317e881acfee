"""`-m auto` chooses per image and says what it chose."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from fastdenoise import methods
from fastdenoise.auto import AutoDenoiser
from fastdenoise.cli import app
from tests.conftest import noisy_rgb


def test_impulses_go_to_adaptive_median(rng):
    image = noisy_rgb(rng, 64, 64)
    image[rng.random((64, 64)) < 0.1] = 255
    bound = AutoDenoiser().prepare(image)
    label = bound.describe()
    assert label.startswith("auto -> adaptive-median(") and "(salt-and-pepper-like" in label


def test_clean_passes_through():
    y, x = np.mgrid[0:64, 0:64]
    clean = np.stack([x * 4, y * 4, x * 2], -1).astype(np.uint8)
    bound = AutoDenoiser().prepare(clean)
    assert "unchanged" in bound.describe()
    tile = clean.astype(np.float32) / 255
    np.testing.assert_array_equal(bound(tile), tile)


def test_cli_reports_the_choice(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noisy_rgb(rng, 64, 80)).save(src / "gauss.png")
    result = CliRunner().invoke(app, ["run", str(src), "-o", str(tmp_path / "out"), "-m", "auto"])
    assert result.exit_code == 0, result.output
    assert "gauss.png: auto -> " in result.stderr
    assert (tmp_path / "out" / "gauss.png").exists()


def test_white_noise_to_the_gaussian_model_else_gray_to_nlm_and_colour_to_the_real(rng):
    from fastdenoise.auto import is_gray

    color = noisy_rgb(rng, 64, 64)  # white noise, sigma 20
    gray = np.repeat(color[..., :1], 3, axis=2)
    assert is_gray(gray) and is_gray(gray[..., :1]) and not is_gray(color)
    from fastdenoise.auto import PREFERRED, PREFERRED_GRAY
    from fastdenoise.models import zoo

    def first_shipped(names: tuple[str, ...]) -> str:
        return next(n for n in names if n not in zoo.ARCHITECTURES or zoo.shipped(n))

    for white in (color, gray, gray[..., :1]):
        label = AutoDenoiser().prepare(white).describe()
        assert label.startswith("auto -> fdnet:gaussian (") and "(white noise: " in label
    ramp = np.add.outer(np.arange(64.0), np.arange(64.0))[:, :, None] * [1.5, 1.0, 0.5] + 40
    mild = np.clip(np.rint(ramp + rng.normal(0, 5, ramp.shape)), 0, 255).astype(np.uint8)
    label = AutoDenoiser().prepare(mild).describe()  # under WHITE_SIGMA: the real-noise model
    assert label.startswith(f"auto -> {first_shipped(PREFERRED)}:real (")  # names its variant
    assert "-like noise: " in label
    mild_gray = np.repeat(mild[..., :1], 3, axis=2)
    label = AutoDenoiser().prepare(mild_gray).describe()
    assert label.startswith(f"auto -> {first_shipped(PREFERRED_GRAY)}")


def test_white_noise_is_as_strong_at_fine_scale_as_the_learned_reading(monkeypatch):
    """AWGN reads ~1x the learned level at fine scale, camera noise 0.1-0.45x; weak noise and
    non-Gaussian kinds never ask the estimator."""
    from fastdenoise import noisemap
    from fastdenoise.analyze import NoiseReport
    from fastdenoise.auto import WHITE_RATIO, WHITE_SIGMA, is_white

    image = np.zeros((8, 8, 3), np.uint8)
    readings: list[float] = []
    monkeypatch.setattr(noisemap, "noise_rms", lambda pixels: readings.pop())
    monkeypatch.setattr(noisemap, "available", lambda: True)
    sigma = WHITE_SIGMA + 5
    report = NoiseReport("gaussian", sigma, sigma, 0.0, 0.0)
    readings[:] = [sigma / WHITE_RATIO * 0.99]
    assert is_white(image, report)
    readings[:] = [sigma / 0.44]  # the SIDD block: fine-scale 15.6, learned 35.6
    assert not is_white(image, report)
    assert is_white(image, NoiseReport("gaussian", sigma, sigma, 0.0, 0.0, rms=sigma))
    for quiet in (
        NoiseReport("gaussian", WHITE_SIGMA - 1, WHITE_SIGMA - 1, 0.0, 0.0),
        NoiseReport("poisson", sigma, sigma, 0.0, 0.5),
    ):
        assert not is_white(image, quiet)  # no reading left: the estimator was not asked


def test_clean_looking_photos_are_denoised_and_only_noiseless_ones_pass(rng):
    """Real camera noise reads far below analyze's clean threshold at fine scale: between the
    8-bit floor and that threshold auto still runs the real-noise model."""
    from fastdenoise.analyze import CLEAN_SIGMA, analysis_plane, estimate_sigma
    from fastdenoise.auto import NOISE_FLOOR, PREFERRED
    from fastdenoise.models import zoo

    y, x = np.mgrid[0:96, 0:96]
    ramp = np.stack([x * 2, y * 2, (x + y)], -1).astype(np.float64)
    mild = np.clip(np.rint(ramp + rng.normal(0, 0.9, ramp.shape)), 0, 255).astype(np.uint8)
    sigma = estimate_sigma(analysis_plane(mild))
    assert NOISE_FLOOR < sigma < CLEAN_SIGMA  # analyze's "clean", above the floor
    label = AutoDenoiser().prepare(mild).describe()
    first = next(n for n in PREFERRED if n not in zoo.ARCHITECTURES or zoo.shipped(n))
    assert label.startswith(f"auto -> {first}") and "clean-looking at fine scale" in label
    assert "a trial takes off " in label  # the evidence against calling it clean
    noiseless = ramp.astype(np.uint8)
    assert estimate_sigma(analysis_plane(noiseless)) < NOISE_FLOOR
    assert "unchanged" in AutoDenoiser().prepare(noiseless).describe()
    # above the floor, a photo the model barely changes in flat areas is clean (the trial):
    # here noise as faint as 8-bit rounding's
    faint = np.clip(np.rint(100 + rng.normal(0, 0.25, ramp.shape)), 0, 255).astype(np.uint8)
    assert NOISE_FLOOR < estimate_sigma(analysis_plane(faint)) < 0.3
    label = AutoDenoiser().prepare(faint).describe()
    assert label.startswith("auto -> unchanged (clean: ") and "in flat areas" in label


def test_the_trial_denoise_decides_clean_only_for_colour_photos_bound_for_a_model(monkeypatch):
    """A trial residual under CLEAN_RESIDUAL passes the photo; above it, or for gray photos
    (bound for NLM) and white noise, the chosen method runs."""
    from fastdenoise import auto as auto_module
    from fastdenoise.auto import CLEAN_RESIDUAL

    residuals: list[float] = []
    monkeypatch.setattr(auto_module, "trial_residual", lambda den, image: (residuals.pop(), None))
    rng = np.random.default_rng(3)
    ramp = np.add.outer(np.arange(64.0), np.arange(64.0))[:, :, None] * [1.5, 1.0, 0.5] + 40
    mild = np.clip(np.rint(ramp + rng.normal(0, 1, ramp.shape)), 0, 255).astype(np.uint8)
    residuals[:] = [CLEAN_RESIDUAL * 0.9]
    assert "unchanged (clean: " in AutoDenoiser().prepare(mild).describe()
    residuals[:] = [CLEAN_RESIDUAL * 1.1]
    assert "unchanged" not in AutoDenoiser().prepare(mild).describe()
    residuals[:] = [float("nan")]  # every block clipped: no evidence of cleanness
    assert "unchanged" not in AutoDenoiser().prepare(mild).describe()
    assert residuals == []
    gray = np.repeat(mild[..., :1], 3, axis=2)
    assert "unchanged" not in AutoDenoiser().prepare(gray).describe()  # the trial not asked


def test_only_filters_are_given_the_fine_scale_sigma(monkeypatch):
    """fdnet also takes `-p sigma`, but reads real noise with its own estimator: auto must not
    pin it to the fine-scale reading (2-4x low on camera noise); NLM gets the reading."""
    from fastdenoise import auto as auto_module
    from fastdenoise.analyze import NoiseReport

    report = NoiseReport("gaussian", 1.234, 1.234, 0.0, 0.0)
    chooser = AutoDenoiser(device="cpu")
    monkeypatch.setattr(chooser, "_build", lambda name, **params: None)
    for preferred, expected in ((("fdnet",), {}), (("nlm",), {"sigma": 1.23})):
        monkeypatch.setattr(auto_module, "PREFERRED", preferred)
        assert chooser.choose(report) == (preferred[0], expected)
        assert chooser.choose(report, white=True) == ("fdnet", {"variant": "gaussian"})
        assert chooser.choose(report, gray=True, white=True) == ("fdnet", {"variant": "gaussian"})
        assert chooser.choose(report, gray=True) == ("nlm", {"sigma": 1.23})


def test_a_small_image_is_denoised_once_the_trial_answers_its_tile(rng):
    """An image tried whole is one tile: the tiler gets the trial's result, bit for bit what
    the chosen model gives, without running the model again."""
    from fastdenoise.auto import PREFERRED, TRIAL_WHOLE
    from fastdenoise.models import zoo
    from fastdenoise.tiler import run_tiled

    first = next(n for n in PREFERRED if n not in zoo.ARCHITECTURES or zoo.shipped(n))
    ramp = np.add.outer(np.arange(200.0), np.arange(168.0))[:, :, None] * [0.6, 0.4, 0.2] + 40
    mild = np.clip(np.rint(ramp + rng.normal(0, 1.5, ramp.shape)), 0, 255).astype(np.uint8)
    bound = AutoDenoiser(device="cpu").prepare(mild)
    assert bound.describe().startswith(f"auto -> {first}") and max(mild.shape) <= TRIAL_WHOLE
    calls: list[tuple[int, ...]] = []
    inner = bound.inner

    def counted(tile: np.ndarray) -> np.ndarray:
        calls.append(tile.shape)
        return inner(tile)

    bound.inner = counted
    reused = run_tiled(mild, bound)
    assert calls == []
    fresh = run_tiled(mild, methods.get(first).build(device="cpu").prepare(mild))
    np.testing.assert_array_equal(reused, fresh)
    assert not np.array_equal(reused, mild)
    run_tiled(mild, bound, tile=64)  # smaller regions than the trial's: the model runs
    assert len(calls) > 1


def test_precision_engine_and_threads_reach_the_methods_that_take_them(monkeypatch):
    built: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        methods.Method, "build", lambda self, **params: built.append((self.name, params))
    )
    chooser = AutoDenoiser(device="cpu", precision="fp16", engine="torch", threads=1)
    chooser._build("fdnet", variant="gaussian")
    chooser._build("nlm", sigma=2.0)
    fdnet_params, nlm_params = built[0][1], built[1][1]
    assert fdnet_params == {
        "device": "cpu",
        "precision": "fp16",
        "engine": "torch",
        "threads": 1,
        "variant": "gaussian",
    }
    assert "precision" not in nlm_params and "engine" not in nlm_params
    assert nlm_params["sigma"] == 2.0


def test_bad_model_settings_are_refused_before_any_image():
    import pytest

    with pytest.raises(ValueError, match="precision must be"):
        AutoDenoiser(precision="fp8")
    with pytest.raises(ValueError, match="engine must be"):
        AutoDenoiser(engine="cuda")


def test_cli_passes_fp16_to_the_model_auto_chooses(tmp_path, rng):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noisy_rgb(rng, 64, 80)).save(src / "gauss.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(src), "-o", str(out), "--fp16"])
    assert result.exit_code == 0, result.output
    assert "gauss.png: auto -> fdnet:gaussian (" in result.stderr
    assert (out / "gauss.png").exists()
    bad = CliRunner().invoke(app, ["run", str(src), "-o", str(out), "-p", "engine=cuda"])
    assert bad.exit_code == 2 and "engine must be" in bad.output
