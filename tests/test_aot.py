"""Ahead-of-time compiled drivers (kernels/aot.py): built once, loaded without Numba, same bits.

Building every family takes one to two minutes of CPU (Numba compiles each driver, then a C
compiler builds the extension); like the JIT cache, the modules go to this checkout's kernel
cache folder, so that happens once per edit of the kernel sources, not once per session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastdenoise.kernels import aot
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HAS_COMPILER = all(shutil.which(tool) for tool in ("cc", "c++"))


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "FASTDENOISE_AOT": "1", "NUMBA_NUM_THREADS": "2", **extra}


def _python(script: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_export_names_a_driver_with_its_arity():
    from numba.core import sigutils

    for exports in aot.FAMILIES.values():
        for export in exports:
            module = __import__(f"fastdenoise.kernels.{export.module}", fromlist=["_"])
            target = getattr(module, export.attribute)
            if export.variant is not None:
                target = target(export.variant)
            args, _ = sigutils.normalize_signature(export.signature)
            assert target.py_func.__code__.co_argcount == len(args), export


def test_front_constants_match_the_kernel_modules():
    from fastdenoise.kernels import front, median, median_u8

    assert front.UINT8_SIZES == median_u8.SIZES
    assert set(front.MEDIAN_NETWORKS) == set(median.NETWORK_DRIVERS)


def test_the_policy_without_building(monkeypatch):
    fake = type("Module", (), {"size5": staticmethod(lambda *args: None)})()
    monkeypatch.setattr(aot, "_module", lambda family: fake)
    monkeypatch.setitem(aot._state, "spent", 0.0)
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # restored after the test
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    monkeypatch.setenv(aot.ENV, "1")
    aot.enable(False)
    assert aot.driver("wiener", "size5") is None  # library calls: JIT unless enabled
    aot.enable()
    try:
        assert aot.driver("wiener", "size5") is fake.size5
        assert aot.driver("wiener", "size9") is None  # a variant it does not have
        monkeypatch.setenv(aot.ENV, "0")
        assert aot.driver("wiener", "size5") is None
        monkeypatch.setenv(aot.ENV, "1")
        aot._state["spent"] = aot.BUDGET_S  # serial work past the JIT's start-up cost
        assert aot.driver("wiener", "size5") is None
        monkeypatch.setenv("NUMBA_NUM_THREADS", "1")  # one thread: AOT is as fast
        assert aot.driver("wiener", "size5") is fake.size5
        monkeypatch.setitem(sys.modules, "numba", object())  # Numba loaded: its cost is paid
        assert aot.driver("wiener", "size5") is None
    finally:
        aot.enable(False)


def test_a_missing_module_is_built_in_the_background_while_jit_serves(monkeypatch, tmp_path):
    started, original = [], aot.build_in_background
    monkeypatch.setattr(aot, "module_path", lambda family: tmp_path / f"fd_aot_{family}.so")
    monkeypatch.setattr(aot, "build_in_background", lambda *args: started.append(args))
    aot._module.cache_clear()
    try:
        assert aot._module("wiener") is None  # no waiting for the compiler
        assert started == [("wiener", tmp_path / "fd_aot_wiener.so")]
    finally:
        aot._module.cache_clear()
    popen = []
    monkeypatch.setattr(aot.subprocess, "Popen", lambda *a, **k: popen.append((a, k)))
    (tmp_path / "x.failed").write_text("no compiler")
    original("x", tmp_path / "x.so")  # failed before: not started again
    original("y", tmp_path / "y.so")
    assert len(popen) == 1 and popen[0][1]["start_new_session"]


def test_a_failed_build_is_remembered(tmp_path):
    path = tmp_path / "aot" / "fd_aot_nope_x_y.so"
    assert not aot.build("nope", path)  # the child fails: no such family
    assert path.with_suffix(".failed").exists()
    assert "nope" in path.with_suffix(".failed").read_text()
    assert not aot.build("nope", path)  # and is not tried again


@pytest.fixture(scope="module")
def built() -> None:
    """Every family's module, built (or found) in the checkout's kernel cache folder."""
    if not HAS_COMPILER:
        pytest.skip("no C/C++ compiler: the JIT drivers serve (tested everywhere else)")
    script = (
        "import json\nfrom fastdenoise.kernels import aot\n"
        "print(json.dumps({f: str(aot.module_path(f)) if aot.build(f) else "
        "aot.module_path(f).with_suffix('.failed').read_text()[-3000:] for f in aot.FAMILIES}))"
    )
    paths = _python(script)
    assert all(Path(path).exists() for path in paths.values()), paths


EQUAL = """
import json, sys
import numpy as np
from fastdenoise import kernels
from fastdenoise.kernels import aot

rng = np.random.default_rng(0)
shapes = [(3, 37, 50), (1, 5, 4), (2, 64, 9)]
images = [rng.random(s, dtype=np.float32) for s in shapes]
images.append(np.rint(rng.random((3, 21, 30)) * 255).astype(np.float32) / np.float32(255))
calls = []
for i, _ in enumerate(images):  # the defaults and a few others (each JIT variant compiles)
    calls += [("median_filter", i, (s,)) for s in (3, 5, 9)]
    calls += [("adaptive_median_filter", i, (m,)) for m in (3, 7)]
    calls += [("wiener_filter", i, (5, n)) for n in (0.0, 0.01)] + [("wiener_filter", i, (3, 0.01))]
    calls += [("nlm_filter", i, (p, w, 0.1, 0.05)) for p, w in ((3, 15), (5, 7))]

pixels = [
    rng.integers(0, 256, (33, 41, 3), dtype=np.uint8),
    rng.integers(0, 256, (70, 5, 1), dtype=np.uint8),
    rng.integers(0, 65536, (30, 20, 3), dtype=np.uint16),
    rng.random((19, 23, 3), dtype=np.float32),
]
native = [("median_uint8", k, (s,)) for k in (0, 1) for s in (3, 5)]
native += [("adaptive_median_pixels", k, (m, None)) for k in range(4) for m in (3, 7)]
native += [("adaptive_median_pixels", k, a) for k, a in ((0, (7, np.float32)), (2, (5, np.uint8)))]
calls += native

def outputs():
    return [
        getattr(kernels, name)(pixels[i] if (name, i, args) in native else images[i], *args)
        for name, i, args in calls
    ]

aot.enable()
ahead = outputs()
without_numba = "numba" not in sys.modules
aot.enable(False)
jit = outputs()
same = [bool(np.array_equal(a, b, equal_nan=True)) for a, b in zip(ahead, jit)]
print(json.dumps({"no_numba": without_numba, "numba_after": "numba" in sys.modules,
                  "differ": [str(calls[k]) for k, ok in enumerate(same) if not ok]}))
"""


@pytest.mark.slow
def test_ahead_of_time_drivers_equal_the_jit_drivers_bit_for_bit(built):
    report = _python(EQUAL)
    assert report["no_numba"], "the ahead-of-time calls imported Numba"
    assert report["numba_after"]  # the comparison really ran the JIT drivers
    assert report["differ"] == []


PROBE = """
import json, runpy, sys
sys.argv = ["fastdenoise", *json.loads(sys.argv[1])]
try:
    runpy.run_module("fastdenoise", run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "numba": "numba" in sys.modules}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["wiener", "nlm"])
def test_cli_run_loads_kernels_without_numba(built, tmp_path, method):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "a.png")
    args = ["run", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "-m", method, "-q"]
    report = _python(PROBE, json.dumps(args))
    assert report["code"] in (0, None)
    assert not report["numba"]
    ahead = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    jit = subprocess.run(
        [sys.executable, "-m", "fastdenoise", *args[:3], str(tmp_path / "jit"), *args[4:]],
        cwd=ROOT,
        env=_environment(FASTDENOISE_AOT="0"),
        capture_output=True,
        text=True,
    )
    assert jit.returncode == 0, jit.stderr[-3000:]
    assert np.array_equal(ahead, np.asarray(Image.open(tmp_path / "jit" / "a.png")))
