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
