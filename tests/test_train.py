"""Training: loss falls, exact resume, schedule, checkpoints, clean stop, evaluation, torchrun."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

import fastdenoise  # noqa: E402
from fastdenoise import distributed, evaluate  # noqa: E402
from fastdenoise import train as train_module  # noqa: E402
from fastdenoise.train import (  # noqa: E402
    STATE,
    TrainConfig,
    Trainer,
    loss_fn,
    lr_at,
    train,
    weights_digest,
)

TINY = {"widths": [8, 16], "depth": 2, "head": 8}
# the same tiny network and patches on the command line, for runs in a subprocess
TINY_CLI = [
    "-p", "widths=8,16", "-p", "depth=2", "-p", "head=8", "--patch", "32", "--batch", "2",
    "--threads", "1", "--no-bf16",
]  # fmt: skip


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smooth generated photos-like images (no ../shared)."""
    root = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:72, 0:88] / 40.0
    for i in range(4):
        f = rng.uniform(0.5, 2.0, 3)
        img = np.stack([np.sin(f[c] * x + i) * np.cos(f[c] * y) for c in range(3)], -1)
        u8 = np.rint((img * 0.4 + 0.5) * 255).astype(np.uint8)
        cv2.imwrite(str(root / f"{i}.png"), u8[:, :, ::-1])
    return root


def config(out: Path, data: Path, **kw: object) -> TrainConfig:
    base = dict(
        out=str(out), model="mwcnn", params=TINY, data=[str(data)], noise="gaussian:sigma=25",
        patch=32, batch=4, iters=40, lr=2e-3, warmup=2, ckpt_every=10, log_every=10,
        val_every=20, threads=1, seed=3, ema=0.9,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_tiny_model_loss_falls(tmp_path: Path, clean_dir: Path) -> None:
    params = {"widths": [16, 32], "depth": 2, "head": 16}
    trainer = Trainer(config(tmp_path, clean_dir, iters=100, bf16=False, params=params))
    trainer.sampler = trainer.load_data()
    losses = [trainer.train_step() for _ in range(100)]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])


def test_resume_gives_the_same_next_steps(tmp_path: Path, clean_dir: Path) -> None:
    whole = tmp_path / "whole"
    train(config(whole, clean_dir))
    split = tmp_path / "split"
    stopped = train(config(split, clean_dir), until=20)
    assert stopped["step"] == 20
    assert json.loads((split / STATE).read_text())["step"] == 20
    train(config(split, clean_dir), resume=True)
    a = load_file(str(whole / "ckpt-0000040.safetensors"))
    b = load_file(str(split / "ckpt-0000040.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert len(list(split.glob("ckpt-*.safetensors"))) == 1  # old checkpoints removed


def test_resume_refuses_a_mismatched_checkpoint(tmp_path: Path, clean_dir: Path) -> None:
    train(config(tmp_path, clean_dir, iters=10))
    state = json.loads((tmp_path / STATE).read_text())
    state["sha256"] = "0" * 64
    (tmp_path / STATE).write_text(json.dumps(state))
    with pytest.raises(RuntimeError, match="sha256"):
        train(config(tmp_path, clean_dir, iters=20), resume=True, overrides={"iters": 20})


def test_resume_rejects_recipe_changes(tmp_path: Path, clean_dir: Path) -> None:
    train(config(tmp_path, clean_dir, iters=10))
    with pytest.raises(ValueError, match="cannot change lr"):
        train(config(tmp_path, clean_dir), resume=True, overrides={"lr": 1.0})


def test_validation_writes_best_weights_usable_by_denoise(tmp_path: Path, clean_dir: Path) -> None:
    result = train(config(tmp_path, clean_dir, iters=20, val=str(clean_dir), val_count=2))
    assert result["best_psnr"] > 0
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["arch"] == "mwcnn" and best["step"] == 20
    image = np.random.default_rng(0).random((30, 26, 3)).astype(np.float32)
    out = fastdenoise.denoise(image, "mwcnn", weights=str(tmp_path / "best.safetensors"))
    assert out.shape == image.shape
    history = json.loads((tmp_path / STATE).read_text())["history"]
    assert [h["step"] for h in history] == [20]


def test_lr_schedule_warmup_and_cosine() -> None:
    cfg = TrainConfig(out="x", lr=1e-3, min_lr=1e-5, warmup=10, iters=110)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx((1e-3 + 1e-5) / 2)
    assert lr_at(110, cfg) == pytest.approx(1e-5)


@pytest.mark.parametrize("name", ["l1", "charbonnier", "mse", "psnr", "psnr50"])
def test_losses_are_minimal_at_the_target(name: str) -> None:
    target = torch.rand(2, 3, 8, 8)
    worse = loss_fn(name, target + 0.1 * torch.randn_like(target), target)
    assert loss_fn(name, target + 0.01, target) < worse


def test_sigterm_stops_cleanly_with_a_checkpoint(tmp_path: Path, clean_dir: Path) -> None:
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "fastdenoise.train", "-o", str(out), "-d", str(clean_dir),
        *TINY_CLI, "--iters", "100000", "--ckpt-every", "100000", "--log-every", "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if line.startswith("step ") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, rest
    assert "stopped at step" in rest
    state = json.loads((out / STATE).read_text())
    assert state["step"] >= 5 and (out / state["checkpoint"]).exists()


def test_sigkill_resumes_from_the_last_complete_checkpoint(tmp_path: Path, clean_dir: Path) -> None:
    """A run killed at a random moment resumes to the same weights as an uninterrupted one."""
    args = [
        sys.executable, "-m", "fastdenoise.train", "-d", str(clean_dir), *TINY_CLI,
        "--iters", "40", "--ckpt-every", "5", "--log-every", "5", "--seed", "3",
    ]  # fmt: skip
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = subprocess.Popen([*args, "-o", str(killed)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        state = killed / STATE
        if state.exists() and json.loads(state.read_text())["step"] >= 10:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait(timeout=30)
    at_kill = json.loads((killed / STATE).read_text())["step"]
    assert 10 <= at_kill < 40
    for out, extra in ((killed, ["--resume"]), (whole, [])):
        done = subprocess.run([*args, "-o", str(out), *extra], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    a = load_file(str(killed / "ckpt-0000040.safetensors"))
    b = load_file(str(whole / "ckpt-0000040.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_protocol_on_identity(clean_dir: Path) -> None:
    result = evaluate.evaluate_awgn(lambda a: a, clean_dir, 25, channels=3, indices=[0, 2])
    assert [r["file"] for r in result.images] == ["0.png", "2.png"]
    assert result.psnr == pytest.approx(result.input_psnr)
    assert 20.0 < result.psnr < 20.5  # AWGN sigma 25, clipped+rounded output
    again = evaluate.evaluate_awgn(lambda a: a, clean_dir, 25, channels=3, indices=[0, 2])
    assert again.psnr == result.psnr  # seeded


def test_evaluate_method_fn_and_pairs(clean_dir: Path) -> None:
    files = sorted(clean_dir.glob("*.png"))
    pairs = [(files[0], files[1]), (files[1], files[2])]
    result = evaluate.evaluate_pairs(lambda a: a, pairs, "real", 3)
    assert result.psnr == pytest.approx(result.input_psnr) and len(result.images) == 2
    fn = evaluate.method_fn("test-box", tile=16, radius=1)
    smoothed = evaluate.evaluate_awgn(fn, clean_dir, 25, channels=3, indices=[1])
    assert smoothed.psnr > smoothed.input_psnr + 3
    noisy = evaluate.awgn(np.zeros((4, 4, 3), np.uint8), 25, 0)
    assert noisy.dtype == np.float64 and noisy.min() < 0  # unclipped
    assert evaluate.to_uint8(noisy).dtype == np.uint8


def test_publish_export_and_card(tmp_path: Path, clean_dir: Path) -> None:
    from fastdenoise.models import publish, zoo

    run = tmp_path / "run"
    train(config(run, clean_dir, iters=10, val=str(clean_dir), val_count=1, val_every=10))
    shipped = tmp_path / "weights"
    shipped.mkdir()
    meta = publish.export(run, "mwcnn", "test", folder=shipped)
    assert meta["dtype"] == "float16" and meta["training"]["step"] == 10
    card = publish.card("mwcnn", "test", notes="tiny", folder=shipped)
    assert "step 10 of 10" in card.read_text()
    model, loaded = zoo.load_variant("mwcnn", "test", folder=shipped)
    assert loaded["sha256"] == zoo.sha256_file(shipped / "mwcnn-test.safetensors")
    x = torch.rand(1, 3, 32, 32)
    assert model(x).shape == x.shape

    # a second run from the shipped file continues its history; one from elsewhere restarts it
    again = tmp_path / "again"
    init = str(shipped / "mwcnn-test.safetensors")
    train(
        config(again, clean_dir, iters=10, val=str(clean_dir), val_count=1, val_every=5, init=init)
    )
    stages = publish.export(again, "mwcnn", "test", folder=shipped)["training"]["stages"]
    assert [s["steps"] for s in stages] == [10, 10]
    assert [len(s["history"]) for s in stages] == [1, 2]
    points = publish.curve_points(json.loads((shipped / "mwcnn-test.json").read_text())["training"])
    assert [p["stage"] for p in points] == [1, 2, 2]
    hours = [p["cpu_hours"] for p in points]
    assert hours == sorted(hours)
    card = publish.card("mwcnn", "test", folder=shipped)
    assert "Validation history: 2 stage(s)" in card.read_text()

    # measured scores land in the table and in the last stage, and survive the next export
    meta_path = shipped / "mwcnn-test.json"
    row = {"psnr": 30.5, "ssim": 0.9, "input_psnr": 20.0, "images": 1}
    publish.store_measured(meta_path, {"CBSD68 sigma 25": row}, "measure mwcnn test")
    training = json.loads(meta_path.read_text())["training"]
    assert publish.stage_scores(training) == [
        {"stage": 2, "cpu_hours": training["total_cpu_hours"], "CBSD68 sigma 25": 30.5}
    ]
    assert "| 2 |" in publish.card("mwcnn", "test", folder=shipped).read_text().split("Full-set")[1]
    third = tmp_path / "third"
    train(
        config(third, clean_dir, iters=10, val=str(clean_dir), val_count=1, val_every=5, init=init)
    )
    stages = publish.export(third, "mwcnn", "test", folder=shipped)["training"]["stages"]
    assert [s.get("measured") for s in stages] == [None, {"CBSD68 sigma 25": 30.5}, None]
    fresh = publish.export(run, "mwcnn", "test", folder=shipped)["training"]["stages"]
    assert len(fresh) == 1
    # a run from a copy of the shipped bytes (the shipped file may change meanwhile) continues
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes((shipped / "mwcnn-test.safetensors").read_bytes())
    fourth = tmp_path / "fourth"
    train(config(fourth, clean_dir, iters=10, val=str(clean_dir), val_count=1, init=str(copy)))
    assert len(publish.export(fourth, "mwcnn", "test", folder=shipped)["training"]["stages"]) == 2


def test_synthetic_validation_and_keep_last(tmp_path: Path, clean_dir: Path) -> None:
    cfg = config(tmp_path, clean_dir, iters=20, val=str(clean_dir), val_count=1, val_every=10)
    cfg.val_noise, cfg.keep = "camera:shot=1e-2-2e-2", "last"
    train(cfg)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["step"] == 20 and "camera" in best["val"]["set"]
    fn = evaluate.evaluate_synthetic
    a = fn(lambda x: x, clean_dir, "camera", 3, [1])
    assert a.psnr == fn(lambda x: x, clean_dir, "camera", 3, [1]).psnr  # seeded


@pytest.mark.parametrize("native", [True, False])
def test_bf16_only_where_the_cpu_has_it(
    tmp_path: Path, clean_dir: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: native)
    assert Trainer(config(tmp_path, clean_dir, bf16=True)).autocast is native
    assert Trainer(config(tmp_path, clean_dir, bf16=False)).autocast is False


# ---------------------------------------------------------------------------------------------
# torchrun: 2 CPU processes (gloo on 127.0.0.1)


def torchrun(out: Path, data: Path, *args: str) -> list[str]:
    """``torchrun --nproc-per-node 2 -m fastdenoise.train`` on 127.0.0.1, a tiny model."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(port),
        "-m", "fastdenoise.train", "-o", str(out), "-d", str(data),
        *TINY_CLI, "--noise", "gaussian:sigma=25", "--lr", "2e-3", "--warmup", "2",
        "--ema", "0.9", "--seed", "3", *args,
    ]  # fmt: skip


ENV = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def launch(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def workers(launcher: subprocess.Popen) -> dict[int, int]:
    """torchrun's worker processes: ``{rank: pid}``."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    found = {}
    for pid in map(int, children):
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        found.update({int(e[5:]): pid for e in env if e.startswith(b"RANK=")})
    return found


def kill(launcher: subprocess.Popen) -> None:
    """Kill a launch that still runs, and its workers (they are in sessions of their own)."""
    if launcher.poll() is None:
        for pid in workers(launcher).values():
            os.kill(pid, signal.SIGKILL)
        launcher.kill()
        launcher.wait()


def finish(launcher: subprocess.Popen, timeout: float = 120) -> str:
    """The launch's output once it exits; a hang is killed and fails the test."""
    try:
        return launcher.communicate(timeout=timeout)[0]
    finally:
        kill(launcher)


def run_ok(cmd: list[str]) -> str:
    launcher = launch(cmd)
    log = finish(launcher)
    assert launcher.returncode == 0, log
    return log


def check_state(out: Path) -> dict:
    """state.json (written by rank 0) holds both ranks; each rank's weights match the file."""
    state = json.loads((out / STATE).read_text())
    ranks = state["ranks"]
    assert len(ranks) == 2 and ranks[0]["rng"] == state["rng"]
    assert ranks[0]["rng"] != ranks[1]["rng"]  # each rank samples its own patches
    saved = load_file(str(out / state["checkpoint"]))
    synced = {k: v for k, v in saved.items() if k.startswith(("model.", "ema."))}
    # every rank hashed its own live weights + EMA; all equal what rank 0 wrote
    assert [r["weights_sha256"] for r in ranks] == [weights_digest(synced)] * 2
    assert sorted(p.name for p in out.iterdir()) == [state["checkpoint"], STATE]
    return state


@pytest.mark.slow
def test_torchrun_stop_and_exact_resume_with_two_processes(tmp_path: Path, clean_dir: Path) -> None:
    """Stop (signal to rank 1), resume to step+4: the same state as 2 processes without a stop."""
    split, whole = tmp_path / "split", tmp_path / "whole"
    steps = ("--iters", "100000", "--ckpt-every", "100000")
    launcher = launch(torchrun(split, clean_dir, *steps, "--log-every", "5"))
    assert launcher.stdout is not None
    head, deadline = [], time.monotonic() + 90
    try:
        for line in launcher.stdout:
            head.append(line)
            if line.startswith("step ") or time.monotonic() > deadline:
                break
        assert head and head[-1].startswith("step "), "".join(head)
        os.kill(workers(launcher)[1], signal.SIGTERM)  # to rank 1 only: both stop
        log = "".join(head) + finish(launcher)
    finally:
        kill(launcher)
    assert log.count("step 5/100000 loss") == 1 and log.count("stopped at step") == 1, log
    stopped = check_state(split)["step"]
    assert stopped >= 5 and f"stopped at step {stopped};" in log

    until = ("--until", str(stopped + 4))
    log = run_ok(torchrun(split, clean_dir, "--resume", *until))
    assert log.count(f"resumed from step {stopped}") == 1
    run_ok(torchrun(whole, clean_dir, *steps, *until))  # the same steps without a break
    assert check_state(split)["ranks"] == check_state(whole)["ranks"]
    a = load_file(str(whole / f"ckpt-{stopped + 4:07d}.safetensors"))
    b = load_file(str(split / f"ckpt-{stopped + 4:07d}.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_helpers_without_a_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.enabled() and distributed.is_main()
    assert (distributed.rank(), distributed.world_size()) == (0, 1)
    assert distributed.gather({"a": 1}) == [{"a": 1}]
    assert distributed.any_rank(True) and not distributed.any_rank(False)
    assert distributed.mean(2.5) == 2.5
    assert distributed.backend("cpu") == "gloo" and distributed.backend("cuda:0") == "nccl"
    assert distributed.init_from_env() is False  # WORLD_SIZE unset: one process
    distributed.barrier()
    distributed.teardown()


def test_checkpoints_get_the_umask_mode(tmp_path: Path, clean_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        path = Trainer(config(tmp_path / "run", clean_dir, bf16=False)).save()
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "run" / STATE).stat().st_mode & 0o777 == 0o644


def test_a_gray_validation_set_is_scored_gray(tmp_path: Path, clean_dir: Path, monkeypatch) -> None:
    """Noise on one channel, replicated through the colour model and averaged back (what
    `publish measure` and `run` do), not independent noise on three copies of the image."""
    from fastdenoise.datasets import is_gray_folder

    gray_dir = tmp_path / "gray"
    gray_dir.mkdir()
    for path in sorted(clean_dir.glob("*.png")):
        cv2.imwrite(str(gray_dir / path.name), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    assert is_gray_folder(gray_dir) and not is_gray_folder(clean_dir)
    (gray_dir / "colour.png").write_bytes((clean_dir / "0.png").read_bytes())
    assert not is_gray_folder(gray_dir)
    (gray_dir / "colour.png").unlink()
    seen: list[int | None] = []
    scored = evaluate.evaluate_awgn

    def spy(fn, folder, sigma, channels=None, indices=None, eight_bit=False):
        seen.append(channels)
        result = scored(fn, folder, sigma, channels, indices)
        assert np.isfinite(result.psnr)
        return result

    monkeypatch.setattr(evaluate, "evaluate_awgn", spy)
    trainer = Trainer(config(tmp_path / "run", clean_dir, val=str(gray_dir), val_count=1))
    trainer.validate()
    trainer.cfg.val = str(clean_dir)
    trainer.validate()
    assert seen == [1, 3]


def test_module_fn_runs_a_gray_image_through_a_colour_module() -> None:
    class Offsets(torch.nn.Module):
        channels = 3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert x.shape[1] == 3
            return x + torch.tensor([0.0, 0.1, 0.2]).view(1, 3, 1, 1)

    gray = np.full((10, 12, 1), 0.5, np.float32)
    out = evaluate.module_fn(Offsets(), multiple=8)(gray)
    assert out.shape == (10, 12, 1)
    np.testing.assert_allclose(out, 0.6, atol=1e-6)  # replicated, then averaged back
