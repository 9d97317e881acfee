"""FDNet: the noise map, its training signal, both engine views and the strength control."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastdenoise  # noqa: E402
from fastdenoise import methods  # noqa: E402
from fastdenoise.models import zoo  # noqa: E402
from fastdenoise.models.conditioned import ConditionedDenoiser  # noqa: E402
from fastdenoise.models.fdnet import Conditioned, Estimator, FDNet, local_rms  # noqa: E402
from fastdenoise.train import (  # noqa: E402
    TrainConfig,
    Trainer,
    clip_groups,
    estimator_loss,
    lowpass_l1,
)

TINY = {"widths": [8, 16], "enc": [1, 1], "middle": 1, "dec": [1, 1], "estimator_width": 8}


def tiny_weights(folder: Path, channels: int = 3) -> Path:
    torch.manual_seed(0)
    from safetensors.torch import save_file

    config = {"channels": channels, **TINY}
    net = zoo.build_model("fdnet", **config)
    path = folder / "fdnet.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    meta = {"arch": "fdnet", "config": config, "sha256": zoo.sha256_file(path)}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def test_local_rms_reads_the_noise_level_and_zero_without_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 3, 64, 64, generator=gen)
    sigma = 20 / 255
    noisy = clean + sigma * torch.randn(clean.shape, generator=gen)
    truth = local_rms(noisy, clean)
    assert truth.shape == clean.shape
    assert abs(float(truth.mean()) / sigma - 1) < 0.05
    assert float(local_rms(clean, clean).max()) == 0.0
    # a louder half reads louder
    noisy[..., 32:] = clean[..., 32:] + 3 * sigma * torch.randn(1, 3, 64, 32, generator=gen)
    half = local_rms(noisy, clean)
    assert float(half[..., 48:].mean()) > 2.5 * float(half[..., :16].mean())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the training step's context
        under_autocast = local_rms(noisy, clean)
    assert under_autocast.dtype == torch.float32
    assert torch.equal(under_autocast, half)


def test_training_losses_are_zero_at_the_target_and_grow_with_error() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert float(lowpass_l1(x, x)) == 0.0 and float(estimator_loss(x, x)) == 0.0
    assert float(lowpass_l1(x + 0.1, x)) == pytest.approx(0.1, rel=1e-4)  # a cast is seen
    noise = 0.2 * torch.sign(torch.randn_like(x))  # texture with no mean shift
    assert float(lowpass_l1(x + noise, x)) < 0.05
    assert float(estimator_loss(2 * x + 0.01, x)) > float(estimator_loss(1.1 * x, x))


def test_views_match_the_network_and_the_estimator_gets_no_denoising_gradient() -> None:
    net = FDNet(channels=3, **{k: tuple(v) if isinstance(v, list) else v for k, v in TINY.items()})
    x = torch.rand(1, 3, 32, 32)
    noise_map = torch.full_like(x, 0.05)
    with torch.no_grad():
        assert torch.allclose(Estimator(net)(x), net.estimate(x))
        both = torch.cat([x, noise_map], 1)
        assert torch.allclose(Conditioned(net)(both), net.denoise(x, noise_map))
        assert torch.allclose(net(x), net.denoise(x, net.estimate(x)))
    out, estimate = net(x, with_estimate=True)
    out.sum().backward()
    assert all(p.grad is None for p in net.estimator.parameters())
    assert (estimate > 0).all()


def test_one_training_step_feeds_both_losses(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "clean"
    data.mkdir()
    import cv2

    for i in range(2):
        cv2.imwrite(str(data / f"{i}.png"), rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    cfg = TrainConfig(
        out=str(tmp_path / "run"), model="fdnet", params=TINY, data=[str(data)],
        noise="gaussian:sigma=10-30", patch=32, batch=2, iters=2, warmup=1, threads=1,
        quantize=1.0, lowpass=1.0, map_forcing=0.5, bf16=False,
    )  # fmt: skip
    trainer = Trainer(cfg)
    trainer.sampler = trainer.load_data()
    before = [p.detach().clone() for p in trainer.model.estimator.parameters()]
    loss = trainer.train_step()
    assert np.isfinite(loss)
    after = list(trainer.model.estimator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    noisy, _ = trainer.sampler.sample(np.random.default_rng(1), 2)
    assert np.allclose(noisy * 255, np.rint(noisy * 255), atol=1e-4)  # quantized to 8 bits


def test_gradient_clipping_keeps_the_estimator_from_shrinking_the_denoiser_step() -> None:
    net = FDNet(channels=3, **{k: tuple(v) if isinstance(v, list) else v for k, v in TINY.items()})
    groups = clip_groups(net)
    names = {id(p): n for n, p in net.named_parameters()}
    assert [all(names[id(p)].startswith("estimator.") for p in g) for g in groups] == [False, True]
    for param in net.parameters():
        big = names[id(param)].startswith("estimator.")
        param.grad = torch.full_like(param, 10.0 if big else 1e-4)
    denoiser_norm = float(torch.sqrt(sum((p.grad**2).sum() for p in groups[0])))
    assert denoiser_norm < 1.0
    for group in groups:
        torch.nn.utils.clip_grad_norm_(group, 1.0)
    # the denoiser's small gradient is untouched; the estimator's alone is clipped to norm 1
    assert all(torch.allclose(p.grad, torch.full_like(p, 1e-4)) for p in groups[0])
    estimator_norm = float(torch.sqrt(sum((p.grad**2).sum() for p in groups[1])))
    assert estimator_norm == pytest.approx(1.0, rel=1e-4)


def test_freeze_trains_the_estimator_alone(tmp_path: Path) -> None:
    import cv2

    data = tmp_path / "clean"
    data.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(data / "a.png"), rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    cfg = TrainConfig(
        out=str(tmp_path / "run"), model="fdnet", params=TINY, data=[str(data)],
        noise="gaussian:sigma=5-30", patch=32, batch=2, iters=2, warmup=1, threads=1,
        freeze="denoiser", bf16=False,
    )  # fmt: skip
    trainer = Trainer(cfg)
    trainer.sampler = trainer.load_data()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert np.isfinite(trainer.train_step())
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("estimator.") for k in changed)
    with pytest.raises(ValueError, match="freeze"):
        Trainer(TrainConfig(out=str(tmp_path / "r2"), model="fdnet", params=TINY, freeze="x"))


class _Constant:
    """A stand-in engine returning a fixed map (estimator) or echoing its input's map."""

    def __init__(self, value: float | None) -> None:
        self.value = value

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self.value is not None:
            return np.full(tile.shape, self.value, np.float32)
        half = tile.shape[2] // 2
        return tile[:, :, half:]  # "denoiser" that shows the map it was given


def test_strength_and_sigma_shape_the_map() -> None:
    plan = methods.TilePlan()
    tile = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)

    def run(**kw: float) -> np.ndarray:
        d = ConditionedDenoiser(_Constant(0.04), _Constant(None), plan, "t", **kw)  # type: ignore[arg-type]
        return d(tile)

    assert np.allclose(run(), 0.04)
    assert np.allclose(run(strength=0.5), 0.02)
    assert np.allclose(run(sigma=25.0), 25 / 255)
    assert np.allclose(run(sigma=25.0, strength=2.0), 50 / 255)
    assert np.array_equal(run(strength=0.0), tile)  # 0 leaves the image as it is
    gray = ConditionedDenoiser(_Constant(0.04), _Constant(None), plan, "t")  # type: ignore[arg-type]
    assert gray(tile[:, :, :1]).shape == (8, 8, 1)


class _Shrink:
    """A "denoiser" pulling each pixel towards grey by the map it is given."""

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        half = tile.shape[2] // 2
        return tile[:, :, :half] * (1 - tile[:, :, half:])


def test_chroma_strength_keeps_luma_of_one_and_colour_of_the_other() -> None:
    from fastdenoise.models.conditioned import LUMA, with_luma_of

    plan = methods.TilePlan()
    tile = np.random.default_rng(3).random((6, 6, 3)).astype(np.float32)

    def run(**kw: float) -> np.ndarray:
        return ConditionedDenoiser(_Constant(0.2), _Shrink(), plan, "t", **kw)(tile)  # type: ignore[arg-type]

    both, luma_only = run(strength=1.0), run(strength=1.0, chroma=0.0)
    assert np.allclose(luma_only @ LUMA, both @ LUMA, atol=1e-6)  # luma from strength 1
    chroma = lambda a: a - (a @ LUMA)[:, :, None]  # noqa: E731
    assert np.allclose(chroma(luma_only), chroma(tile), atol=1e-6)  # colour untouched
    assert not np.allclose(chroma(both), chroma(tile), atol=1e-3)
    mixed = with_luma_of(tile, both)
    assert np.allclose(mixed @ LUMA, both @ LUMA, atol=1e-6)
    assert np.array_equal(run(strength=0.0, chroma=0.0), tile)
    assert ConditionedDenoiser(_Constant(0.2), _Shrink(), plan, "t", strength=0.0).unchanged  # type: ignore[arg-type]
    assert not ConditionedDenoiser(_Constant(0.2), _Shrink(), plan, "t").unchanged  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [{"strength": -0.1}, {"strength": 4.5}, {"sigma": -1.0}, {"chroma": 5.0}]
)
def test_bad_controls_are_refused_before_weights_load(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ValueError, match=r"strength|sigma|chroma"):
        methods.get("fdnet").build(weights=str(tmp_path / "missing.safetensors"), **bad)


def test_denoise_with_tiny_weights_on_both_engines(tmp_path: Path) -> None:
    weights = tiny_weights(tmp_path)
    image = np.random.default_rng(2).random((40, 52, 3)).astype(np.float32)
    outs = [
        fastdenoise.denoise(image, "fdnet", weights=str(weights), engine=e, threads=1, tile=0)
        for e in ("torch", "onnxruntime")
    ]
    assert outs[0].shape == image.shape and np.isfinite(outs[0]).all()
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-4)
    same = fastdenoise.denoise(image, "fdnet", weights=str(weights), strength=0.0)
    assert np.array_equal(same, image)
    (tmp_path / "gray").mkdir()
    gray = tiny_weights(tmp_path / "gray", channels=1)
    out = fastdenoise.denoise(image, "fdnet", weights=str(gray), threads=1)
    assert out.shape == image.shape


def test_int8_quantizes_both_parts_with_their_inputs(tmp_path: Path) -> None:
    """The conditioned denoiser is calibrated on ``image ‖ map`` (6 channels), not 3."""
    from fastdenoise.engines.quantize import calibration_batches

    shapes = {
        (c, m): {b.shape[1] for b in calibration_batches(c, m)} for c in (1, 3) for m in (0, 1)
    }
    assert shapes == {(1, 0): {1}, (1, 1): {2}, (3, 0): {3}, (3, 1): {6}}
    maps = [b[0, 3:] for b in calibration_batches(3, with_map=True)]
    assert sorted({float(m.mean()) * 255 for m in maps})[:3] == pytest.approx([10, 25, 50])
    weights = tiny_weights(tmp_path)
    image = np.random.default_rng(4).random((40, 52, 3)).astype(np.float32)
    kwargs = {"weights": str(weights), "threads": 1, "tile": 0}
    fp32 = fastdenoise.denoise(image, "fdnet", **kwargs)
    int8 = fastdenoise.denoise(image, "fdnet", precision="int8", **kwargs)
    assert int8.shape == image.shape and np.abs(int8 - fp32).max() < 0.1
