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
LAUNCH = "import tests.conftest; from fastdenoise.cli import main; main()"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_leaves_no_partial_outputs(tmp_path, sig, code):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(src / f"{i}.png")
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-c",
        LAUNCH,
        "run",
        str(src),
        "-o",
        str(out),
        "-m",
        "test-slow",
        "--tile",
        "16",
        "-q",
    ]
    proc = subprocess.Popen(args, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    written = sorted(out.iterdir())
    assert 0 < len(written) < 12
    assert not [p for p in written if p.name.endswith(".fdtmp")]
    for path in written:  # every output that exists is a whole, decodable image
        assert np.asarray(Image.open(path)).shape == (96, 96, 3)
    resumed = subprocess.run(
        [*args[:8], "test-box", "--skip-existing", "-q"], cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(list(out.glob("*.png"))) == 12


def test_sigkill_leaves_only_ignored_temporaries(tmp_path):
    """A killed run leaves whole images or hidden temporaries; the rerun ignores the latter."""
    rng = np.random.default_rng(1)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(src / f"{i}.png")
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-c",
        LAUNCH,
        "run",
        str(src),
        "-o",
        str(out),
        "-m",
        "test-slow",
        "--tile",
        "32",
        "-q",
    ]
    proc = subprocess.Popen(args, cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=30)
    (out / ".3.png.deadbeef.fdtmp").write_bytes(b"half an image")  # as a kill mid-write leaves
    for path in out.glob("*.png"):
        assert np.asarray(Image.open(path)).shape == (96, 96, 3)
    resumed = subprocess.run(
        [*args[:8], "test-box", "--skip-existing", "-q", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{i}.png" for i in range(10))
    assert np.asarray(Image.open(out / "3.png")).shape == (96, 96, 3)
