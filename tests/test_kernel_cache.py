"""Compiled kernels are cached on disk: a second process loads them instead of compiling.

Numba's per-dispatcher counters say which: ``stats.cache_hits`` (loaded from disk) and
``stats.cache_misses`` (compiled here). The probe runs every CPU driver family once on a tiny
image in a fresh interpreter; run twice, the second run must compile nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastdenoise.kernels import jitcache

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import numpy as np
from fastdenoise.kernels import (
    adaptive_median, adaptive_median_filter, jitcache, median, median_filter, median_u8, nlm,
    nlm_filter, wiener, wiener_filter,
)
planes = np.random.default_rng(0).random((3, 9, 11), dtype=np.float32)
median_filter(planes, 3)
median_filter(planes, 9)
adaptive_median_filter(planes, 5)
wiener_filter(planes, 3, 0.01)
nlm_filter(planes, 3, 5, 0.1)
median_u8.median_uint8(np.zeros((9, 11, 3), np.uint8), 3)
median_u8.median_uint8(np.zeros((9, 11, 3), np.uint8), 5)
adaptive_median.adaptive_median_pixels(np.zeros((9, 11, 3), np.uint8), 5)
drivers = {
    "median3": median._cpu_median3,
    "median-select": median._cpu_select_driver,
    "median3-uint8": median_u8._cpu_median3_u8,
    "median5-uint8": median_u8._cpu_median5_u8,
    "adaptive-median": adaptive_median._cpu_driver,
    "adaptive-median-bands": adaptive_median._cpu_strided_driver,
    "wiener3": wiener._cpu_driver(3),
    "nlm3": nlm._cpu_driver(3),
}
counts = {
    name: [sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())]
    for name, d in drivers.items()
}
cuda = "numba.cuda" in sys.modules
print(json.dumps({"counts": counts, "dir": jitcache.CACHE_DIR, "cuda": cuda}))
"""


def _probe(**env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment.update(NUMBA_NUM_THREADS="1", **env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_second_process_loads_every_kernel_from_the_cache():
    # The default folder: the first probe compiles only where this checkout's cache is cold.
    first = _probe()
    assert all(hits + misses == 1 for hits, misses in first["counts"].values()), first
    second = _probe()
    assert second["counts"] == {name: [1, 0] for name in first["counts"]}, second
    assert Path(second["dir"]) == jitcache.cache_dir()
    assert jitcache.source_hash() in second["dir"]  # tied to these kernel sources
    assert not second["cuda"]  # CPU work never imports numba.cuda


def test_a_users_numba_cache_dir_wins(tmp_path):
    script = "from fastdenoise.kernels import jitcache; print(jitcache.CACHE_DIR)"
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path)


def test_read_only_package_caches_per_user(tmp_path, monkeypatch):
    package = tmp_path / "kernels"
    package.mkdir()
    (package / "median.py").write_text("x = 1\n")
    (package / "__pycache__").write_text("")  # no folder can be made there (root-proof)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    folder = jitcache.cache_dir(package)
    assert folder == tmp_path / "user-cache" / "fastdenoise" / "numba" / jitcache.source_hash(
        package
    )

    (package / "__pycache__").unlink()  # writable again: next to the sources
    assert jitcache.cache_dir(package).parent == package / "__pycache__"


def test_editing_any_kernel_source_changes_the_cache_folder(tmp_path):
    package = tmp_path / "kernels"
    package.mkdir()
    (package / "rank.py").write_text("x = 1\n")
    (package / "median.py").write_text("y = 1\n")
    before = jitcache.source_hash(package)
    (package / "rank.py").write_text("x = 2\n")  # a callee's file, not the cached function's
    assert jitcache.source_hash(package) != before
