"""Signals during a run: clean exit codes and no partial outputs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# A launcher in the background (`cmd &` in a script, some CI runners) starts its children with
# SIGINT ignored, which Python then keeps; these tests are about our handling, so the child
# gets Python's default (KeyboardInterrupt) back first.
LAUNCH = (
    "import signal, tests.conftest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from fastdenoise.cli import main; main()"
)


def noise_folder(root: Path, count: int, seed: int) -> Path:
    """``count`` random 96x96 RGB PNGs in ``root/in``."""
    rng = np.random.default_rng(seed)
    src = root / "in"
    src.mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(src / f"{i}.png")
    return src


def run_args(src: Path, out: Path, method: str, *extra: str) -> list[str]:
    """The CLI command line that denoises ``src`` into ``out`` (with the test methods)."""
    return [sys.executable, "-c", LAUNCH, "run", str(src), "-o", str(out), "-m", method, *extra]


def start_and_wait_for_first_output(args: list[str], out: Path, **popen) -> subprocess.Popen:
    """Start the run and return once its first output file exists."""
    proc = subprocess.Popen(args, cwd=REPO, **popen)
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def assert_whole_images(out: Path) -> None:
    for path in out.glob("*.png"):  # every output that exists is a whole, decodable image
        assert np.asarray(Image.open(path)).shape == (96, 96, 3)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_leaves_no_partial_outputs(tmp_path, sig, code):
    src, out = noise_folder(tmp_path, 12, seed=0), tmp_path / "out"
    args = run_args(src, out, "test-slow", "--tile", "16", "-q")
    proc = start_and_wait_for_first_output(args, out, stderr=subprocess.PIPE, text=True)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    written = sorted(out.iterdir())
    assert 0 < len(written) < 12
    assert not [p for p in written if p.name.endswith(".fdtmp")]
    assert_whole_images(out)
    resumed = subprocess.run(
        run_args(src, out, "test-box", "--skip-existing", "-q"),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(list(out.glob("*.png"))) == 12


def test_sigkill_leaves_only_ignored_temporaries(tmp_path):
    """A killed run leaves whole images or hidden temporaries; the rerun ignores the latter."""
    src, out = noise_folder(tmp_path, 10, seed=1), tmp_path / "out"
    args = run_args(src, out, "test-slow", "--tile", "32", "-q")
    proc = start_and_wait_for_first_output(args, out, stderr=subprocess.DEVNULL)
    proc.kill()
    proc.wait(timeout=30)
    (out / ".3.png.deadbeef.fdtmp").write_bytes(b"half an image")  # as a kill mid-write leaves
    assert_whole_images(out)
    resumed = subprocess.run(
        run_args(src, out, "test-box", "--skip-existing", "-q", "--json"),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{i}.png" for i in range(10))
    assert np.asarray(Image.open(out / "3.png")).shape == (96, 96, 3)
