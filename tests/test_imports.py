"""Commands import only what they use: checked in fresh interpreters through ``sys.modules``.

Each case runs the CLI in a subprocess (``runpy``, as ``python -m fastdenoise`` does) and then
lists which heavy modules got imported. ``numba.cuda`` alone costs seconds; torch, onnxruntime
and matplotlib about a second each; Numba, scipy and scikit-image 0.5-1 s of CPU; OpenCV and
tifffile a tenth each, which ``--help`` and ``methods`` should not pay either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# OpenCV and tifffile (~0.13 s together) are imported by the codecs that need them, not by --help.
HEAVY = (
    "torch",
    "numba",
    "numba.cuda",
    "onnxruntime",
    "matplotlib",
    "skimage",
    "scipy",
    "scipy.ndimage",
    "scipy.special",
    "cv2",
    "tifffile",
    "rich",
)
HEAVY += ("cv2", "tifffile")

PROBE = """
import json, runpy, sys
sys.argv = ["fastdenoise", *json.loads(sys.argv[1])]
try:
    runpy.run_module("fastdenoise", run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"code": code, "loaded": [m for m in HEAVY if m in sys.modules]}))
"""


def imported(*args: str) -> set[str]:
    """Heavy modules in ``sys.modules`` after ``fastdenoise ARGS`` in a fresh interpreter."""
    script = f"HEAVY = {list(HEAVY)!r}\n" + PROBE
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(list(args))],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), result.stderr[-3000:]
    return set(report["loaded"])


@pytest.mark.parametrize("args", [("--help",), ("methods",), ("run", "--help")])
def test_help_and_methods_import_no_runtime(args):
    assert imported(*args) <= {"rich"}  # typer renders help with rich


def test_methods_piped_imports_nothing_heavy():
    assert imported("methods") == set()  # not a terminal: tab-separated lines, no rich


def test_filter_run_imports_no_model_runtime_and_no_cuda(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    loaded = imported("run", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "-m", "median")
    assert (tmp_path / "out" / "a.png").exists()
    assert "numba" in loaded  # the kernels ran (a probe that saw nothing would pass anyway)
    assert not loaded & {"torch", "onnxruntime", "matplotlib", "numba.cuda"}, loaded


def test_quiet_filter_run_imports_no_scipy_skimage_or_rich(tmp_path):
    # scipy itself may come with Numba's JIT (its BLAS check imports scipy.linalg where scipy is
    # installed); the noise estimate must not need scipy.ndimage or scipy.special
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    for method in ("wiener", "nlm"):  # both estimate the noise level first
        out = tmp_path / method
        loaded = imported("run", str(tmp_path / "a.png"), "-o", str(out), "-m", method, "-q")
        assert (out / "a.png").exists()
        unwanted = {"scipy.ndimage", "scipy.special", "skimage", "rich", "matplotlib", "torch"}
        assert not loaded & unwanted, loaded


def test_model_run_on_onnxruntime_from_shipped_graphs_imports_no_torch(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    args = ("run", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "-m", "rednet", "-j", "1")
    loaded = imported(*args)  # engine auto: onnxruntime on a CPU, from the shipped graph
    assert (tmp_path / "out" / "a.png").exists()
    assert "onnxruntime" in loaded  # the model ran
    assert not loaded & {"torch", "matplotlib", "numba.cuda"}, loaded
