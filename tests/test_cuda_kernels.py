"""The CUDA kernels without a GPU: correctness under the simulator, and a PTX build.

* The checks of tests/_filter_checks.py run against the CUDA kernels in a separate pytest
  process with ``NUMBA_ENABLE_CUDASIM=1`` (tests/cudasim_checks.py).
* Every CUDA kernel compiles to PTX for sm_80 and sm_90 (``numba.cuda.compile_ptx``: NVVM from
  ``numba-cuda[cu13]``, no GPU needed), in a fresh process so this test run's own CUDA state
  does not matter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PTX_SCRIPT = """
from numba import cuda
from fastdenoise.kernels import cuda_kernels
kernels = cuda_kernels()
for name, (function, argtypes) in kernels.items():
    for cc in ((8, 0), (9, 0)):
        ptx, _ = cuda.compile_ptx(function, argtypes, cc=cc)
        assert f".target sm_{cc[0]}{cc[1]}" in ptx and ".entry" in ptx, (name, cc)
print(len(kernels), "kernels")
"""


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1", **env}
    return subprocess.run(args, cwd=ROOT, env=environment, capture_output=True, text=True)


@pytest.mark.cudasim
def test_cuda_kernels_under_simulator():
    result = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cudasim_checks.py"],
        NUMBA_ENABLE_CUDASIM="1",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout


def test_every_cuda_kernel_compiles_to_ptx_for_sm80_and_sm90():
    pytest.importorskip("numba.cuda")
    result = _run([sys.executable, "-c", PTX_SCRIPT])
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.split()[0]) >= 10, result.stdout
