"""The runtime install (no extras) is enough for `run`, `analyze` and int8 models.

scikit-image, scipy and matplotlib are the ``[bench]`` extra (and ``[train]`` needs scikit-image
for its metrics): the runtime modules must not import them, and commands that need them name
the extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("skimage", "scipy", "matplotlib", "pywt", "torch")

RUNTIME = """
import json, sys
for name in %r:
    sys.modules[name] = None  # not installed
import fastdenoise.analyze, fastdenoise.auto, fastdenoise.cli, fastdenoise.filters
import fastdenoise.engines.quantize, fastdenoise.models.zoo, fastdenoise.pipeline
import numpy as np
from fastdenoise import analyze
from fastdenoise.engines.quantize import calibration_batches
plane = np.random.default_rng(0).random((64, 64)) * 255
report = analyze.identify(np.repeat(plane[:, :, None], 3, axis=2).astype(np.uint8))
batches = sum(1 for _ in calibration_batches())
print(json.dumps({"kind": report.kind, "batches": batches}))
"""


def test_runtime_modules_need_no_extra():
    result = subprocess.run(
        [sys.executable, "-c", RUNTIME % (EXTRAS,)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["batches"] == 9  # 3 photos x 3 noise levels


def test_calibration_photos_are_scikit_images_pixels():
    data = pytest.importorskip("skimage.data")
    from fastdenoise.engines.quantize import RECIPE, calibration_image

    for name in RECIPE["images"].split(":")[1].split(","):
        assert np.array_equal(calibration_image(name), getattr(data, name)()[:, :, :3]), name


@pytest.mark.parametrize("command", [["sample-images", "x"], ["bench"], ["eda", "x"]])
def test_bench_commands_name_their_extra(command):
    script = (
        "import sys\nsys.modules['skimage'] = None\nsys.argv = ['fastdenoise', *sys.argv[1:]]\n"
        "from fastdenoise.cli import main\nmain()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *command], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "pip install 'fastdenoise[bench]'" in result.stderr
    assert "Traceback" not in result.stderr
