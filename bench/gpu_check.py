"""One prepared GPU check: the CUDA kernels and TensorRT engines on a real NVIDIA GPU.

Run it through ``bash bench/gpu_check.sh`` (or ``make gpu-check``), which makes a venv with
the GPU extras and a CUDA build of torch and then calls this module:

    python bench/gpu_check.py [--budget 480] [--started-at EPOCH] [--out-dir bench/results]
    python bench/gpu_check.py --dry-run      # CPU only, installs nothing: checks this script

Stages, in order (each prints one timing line; a stage that does not fit in what is left of
``--budget`` is skipped and says so):

* ``versions``: GPU, driver, CUDA, TensorRT, Numba, torch, ONNX Runtime.
* ``cuda-tests``: the CUDA kernel checks of tests/cudasim_checks.py on the real device (not
  the simulator), the PTX build test and the TensorRT-equals-torch test.
* ``filter-parity``: every registered filter on the GPU against the same filter on the CPU, on
  the same generated images: max abs difference and PSNR difference, per filter tolerance.
* ``engines``: for every shipped model variant (found at run time from
  fastdenoise/models/weights/*.json), ``fastdenoise export --format tensorrt`` in fp32 and
  fp16 (timed: the engine build), then the runtime must reuse those engines, and their output
  must match ONNX Runtime on the CPU (PSNR within 0.05 dB for fp16); MP/s on the GPU beside
  ONNX Runtime on the CPU.
* ``filter-speed``: MP/s of every filter, warm, GPU (default tile and whole image) beside CPU.
* ``run-100mp``: ``fastdenoise run --device cuda --fp16`` on a folder holding one generated
  100 MP photo; the output must exist, keep the shape and be cleaner than the input.

Everything lands in ``<out-dir>/gpu.md`` and ``<out-dir>/gpu.json``. Exit code: 0 when every
stage ran and passed, 1 on any mismatch or failure, 3 when nothing failed but a stage was
skipped (time budget, or a component such as TensorRT missing), 2 on bad arguments.

The dry mode runs the same functions on the CPU with small inputs: stages listed, parsers fed
captured tool output, the comparisons shown to pass on equal outputs and to catch perturbed
ones, ONNX export through the CLI and its reuse by the runtime, an end-to-end ``run`` on the
CPU, and the report written to a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    import numpy as np
except ImportError:  # the shell validates arguments with the bare base interpreter
    np = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "fastdenoise" / "models" / "weights"
DEFAULT_BUDGET_S = 480.0
MODEL_TILE = 512  # the tile `fastdenoise export` and the runtime both default to

PASS, FAIL, SKIP = "pass", "fail", "skip"

# --------------------------------------------------------------------------- thresholds

# GPU against CPU output of the same filter on the same image: (max abs, |PSNR diff| dB).
# Order statistics are exact on both devices; sums and exponentials may round differently.
FILTER_TOLERANCE: dict[str, tuple[float, float]] = {
    "median": (0.0, 0.0),
    "adaptive-median": (0.0, 0.0),
    "wiener": (1e-5, 0.001),
    "nlm": (1e-4, 0.01),
}
DEFAULT_FILTER_TOLERANCE = (1e-4, 0.01)  # a filter added later, until it gets its own line
DRY_FILTER_CASES = [("median", {"size": 3})]  # the dry run's one quick CPU filter

# A TensorRT engine against ONNX Runtime on the CPU (fp32 reference), float outputs in [0, 1]
# units: the issue's 0.05 dB for fp16; fp32 engines may use TF32 on Hopper, hence not 0.
MODEL_TOLERANCE: dict[str, tuple[float, float]] = {
    "fp32": (0.05, 0.02),  # (max abs, |PSNR diff| dB)
    "fp16": (0.25, 0.05),
}

# Filter settings compared and timed; a filter not named here runs with its defaults.
FILTER_SETTINGS: dict[str, list[dict[str, Any]]] = {
    "median": [{"size": 3}, {"size": 5}, {"size": 7}, {"size": 9}],
    "adaptive-median": [{"max_size": 7}],
    "wiener": [{"size": 5, "sigma": 25.0}],
    "nlm": [{"sigma": 25.0}, {"sigma": 40.0}],  # the two presets: patch 3/15 and 5/21
}

# Minimum seconds a stage needs to be started (estimates on one H200 + 16 cores).
STAGE_NEEDS: dict[str, float] = {
    "versions": 5.0,
    "cuda-tests": 60.0,
    "filter-parity": 40.0,
    "engines": 45.0,  # per variant: two engine builds, parity and timing
    "filter-speed": 25.0,
    "run-100mp": 60.0,
}
STAGE_TEXT = {
    "versions": "GPU, driver, CUDA, TensorRT, Numba, torch and ONNX Runtime versions",
    "cuda-tests": "CUDA-kernel tests on the real device (not the simulator), TensorRT test",
    "filter-parity": "every filter, GPU against CPU on the same images (max abs, PSNR)",
    "engines": "fastdenoise export fp32/fp16 per shipped variant, TensorRT vs ONNX Runtime CPU",
    "filter-speed": "filter MP/s, warm, GPU beside CPU",
    "run-100mp": "fastdenoise run --device cuda --fp16 on a 100 MP photo",
}
STAGES = tuple(STAGE_NEEDS)

# Tests run on the real device: the simulator's checks (tests/cudasim_checks.py honours
# FASTDENOISE_CUDA_DEVICE=1), the PTX build, and TensorRT against torch.
DEVICE_TESTS = (
    "tests/cudasim_checks.py",
    "tests/test_cuda_kernels.py::test_every_cuda_kernel_compiles_to_ptx_for_sm80_and_sm90",
    "tests/test_engines.py::test_tensorrt_engine_equals_torch",
)


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class StageResult:
    """What one stage did: status, seconds, a one-line note, rows for the report."""

    name: str
    status: str = PASS
    seconds: float = 0.0
    note: str = ""
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


def overall_status(stages: list[StageResult]) -> str:
    """``fail`` if any stage failed, else ``incomplete`` if any was skipped, else ``pass``."""
    if any(s.status == FAIL for s in stages):
        return "fail"
    if any(s.status == SKIP for s in stages):
        return "incomplete"
    return "pass"


def exit_code(stages: list[StageResult]) -> int:
    """0 all ran and passed, 1 any failure or mismatch, 3 nothing failed but something skipped."""
    return {"pass": 0, "fail": 1, "incomplete": 3}[overall_status(stages)]


class Budget:
    """Wall-clock budget counted from ``started`` (the shell's start, installs included)."""

    def __init__(
        self, total_s: float, started: float | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.total_s, self.clock = float(total_s), clock
        self.started = clock() if started is None else float(started)

    def left(self) -> float:
        return self.total_s - (self.clock() - self.started)

    def allows(self, need_s: float, reserve_s: float = 0.0) -> bool:
        """Whether ``need_s`` fits while keeping ``reserve_s`` for the stages after it."""
        return self.left() >= need_s + reserve_s

    def why_not(self, need_s: float, reserve_s: float = 0.0) -> str:
        kept = f" + {reserve_s:.0f}s kept for later stages" if reserve_s else ""
        return f"time budget: {self.left():.0f}s left, needs {need_s:.0f}s{kept}"


def reserve_after(stage: str, selected: tuple[str, ...] = STAGES) -> float:
    """Seconds the selected stages after ``stage`` need to start (kept free while it runs)."""
    later = STAGES[STAGES.index(stage) + 1 :]
    return sum(STAGE_NEEDS[name] for name in later if name in selected)


def log(message: str) -> None:
    print(f"[gpu-check] {message}", flush=True)


# --------------------------------------------------------------------------- comparisons


def psnr(clean: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB of ``image`` (clipped to [0, 1]) against ``clean``; inf when equal."""
    diff = np.clip(image.astype(np.float64), 0.0, 1.0) - clean.astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


@dataclasses.dataclass
class Comparison:
    """A candidate output against a reference output of the same input, and the clean image."""

    max_abs: float
    psnr_reference: float
    psnr_candidate: float
    finite: bool

    @property
    def psnr_diff(self) -> float:
        """Candidate minus reference, dB (0 when both are exact)."""
        if self.psnr_reference == self.psnr_candidate:
            return 0.0
        return self.psnr_candidate - self.psnr_reference


def compare(reference: np.ndarray, candidate: np.ndarray, clean: np.ndarray) -> Comparison:
    """Max abs difference and both PSNRs against ``clean`` (float images in [0, 1] units)."""
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: reference {reference.shape}, got {candidate.shape}")
    finite = bool(np.isfinite(candidate).all())
    delta = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    max_abs = float(np.nanmax(delta)) if finite else math.inf
    return Comparison(max_abs, psnr(clean, reference), psnr(clean, candidate), finite)


def judge(comparison: Comparison, max_abs: float, max_psnr_diff: float) -> tuple[bool, str]:
    """Whether a comparison is within tolerance, and why not."""
    if not comparison.finite:
        return False, "non-finite values in the output"
    if comparison.max_abs > max_abs:
        return False, f"max abs diff {comparison.max_abs:.3g} > {max_abs:g}"
    if abs(comparison.psnr_diff) > max_psnr_diff:
        return False, f"PSNR diff {comparison.psnr_diff:+.4f} dB beyond ±{max_psnr_diff:g}"
    return True, ""


def filter_tolerance(name: str) -> tuple[float, float]:
    return FILTER_TOLERANCE.get(name, DEFAULT_FILTER_TOLERANCE)


# --------------------------------------------------------------------------- parsers


def parse_nvidia_smi_query(text: str) -> list[dict[str, str]]:
    """Rows of ``nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap
    --format=csv,noheader``."""
    keys = ("name", "driver", "memory", "compute_capability")
    rows = []
    for line in text.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) >= 2:
            rows.append(dict(zip(keys, values, strict=False)))
    return rows


def parse_smi_cuda_version(text: str) -> str | None:
    """The driver's CUDA version from plain ``nvidia-smi`` output (``CUDA Version: 13.0``)."""
    found = re.search(r"CUDA Version:\s*([0-9.]+)", text)
    return found.group(1) if found else None


_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def parse_pytest_summary(text: str) -> dict[str, int]:
    """Counts from pytest's closing line (``3 passed, 1 skipped in 2.1s``); empty if none."""
    for line in reversed(text.strip().splitlines()):
        if re.search(r"\bin [0-9.]+s\b", line) or "no tests ran" in line:
            counts: dict[str, int] = {}
            for number, word in _COUNT.findall(line):
                key = "errors" if word.startswith("error") else word
                counts[key] = counts.get(key, 0) + int(number)
            return counts
    return {}


def pytest_verdict(counts: dict[str, int]) -> tuple[bool, str]:
    """On the device every selected test must run and pass: a skip there hides a gap."""
    if not counts:
        return False, "no pytest summary line"
    bad = {k: counts.get(k, 0) for k in ("failed", "errors", "skipped")}
    if any(bad.values()) or counts.get("passed", 0) == 0:
        described = ", ".join(f"{v} {k}" for k, v in counts.items())
        return False, described or "nothing passed"
    return True, f"{counts['passed']} passed"


def parse_export_output(text: str) -> list[tuple[str, str]]:
    """``(built|reused, path)`` for every file ``fastdenoise export`` reports."""
    return re.findall(r"^(built|reused) (\S.*)$", text, flags=re.MULTILINE)


def parse_run_report(text: str) -> dict[str, Any]:
    """The JSON report of ``fastdenoise run --json`` (the last JSON object on stdout)."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON report in the output of fastdenoise run")
    report = json.loads(text[start:])
    if "files" not in report or "results" not in report:
        raise ValueError("not a fastdenoise run report (no files/results)")
    return report


# --------------------------------------------------------------------------- inputs


def scene(height: int, width: int, channels: int = 3, y0: int = 0, x0: int = 0) -> np.ndarray:
    """A clean synthetic photo region (float32 in [0.05, 0.95]): gradients, edges, texture.

    A function of absolute coordinates, so any crop of a large image can be rebuilt alone.
    """
    y = np.arange(y0, y0 + height, dtype=np.float32)[:, None]
    x = np.arange(x0, x0 + width, dtype=np.float32)[None, :]
    planes = []
    for c in range(channels):
        ramp = (x * (0.7 + 0.1 * c) + y * (0.5 - 0.1 * c)) % 512 / 512
        blocks = ((x // (37 + 11 * c) + y // 53) % 2) * 0.25
        texture = 0.1 * np.sin(x / (3.0 + c)) * np.cos(y / 5.0)
        planes.append(0.05 + 0.9 * np.clip(0.55 * ramp + blocks + texture + 0.1, 0, 1))
    return np.stack(planes, axis=-1).astype(np.float32)


def gaussian_noisy(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``clean`` plus AWGN of ``sigma`` on the 0-255 scale, float32, unclipped."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(sigma / 255)
    return clean + noise


def impulse_noisy(clean: np.ndarray, density: float, seed: int) -> np.ndarray:
    """Salt and pepper: a ``density`` fraction of values set to 0 or 1."""
    rng = np.random.default_rng(seed)
    noisy = clean.copy()
    hit = rng.random(clean.shape) < density
    noisy[hit] = (rng.random(int(hit.sum())) < 0.5).astype(np.float32)
    return noisy


@dataclasses.dataclass
class TestImage:
    name: str
    clean: np.ndarray
    noisy: np.ndarray


def filter_images(scale: float = 1.0) -> list[TestImage]:
    """Colour and gray images, an odd size among them, Gaussian and impulse noise."""

    def side(n: int) -> int:
        return max(24, int(n * scale))

    colour = scene(side(768), side(1024), 3)
    gray = scene(side(389), side(517), 1)
    impulses = scene(side(480), side(640), 3, 100, 200)
    return [
        TestImage(f"rgb {colour.shape[1]}x{colour.shape[0]} awgn 25", colour,
                  gaussian_noisy(colour, 25, 1)),
        TestImage(f"gray {gray.shape[1]}x{gray.shape[0]} awgn 25", gray,
                  gaussian_noisy(gray, 25, 2)),
        TestImage(f"rgb {impulses.shape[1]}x{impulses.shape[0]} s&p 10%", impulses,
                  impulse_noisy(impulses, 0.10, 3)),
    ]  # fmt: skip


def model_images(scale: float = 1.0) -> list[TestImage]:
    """A multi-tile image and an odd-sized one (edge tiles padded) with AWGN 25."""
    h1, w1 = max(32, int(512 * scale)), max(32, int(768 * scale))
    h2, w2 = max(24, int(517 * scale)), max(24, int(333 * scale))
    a, b = scene(h1, w1, 3), scene(h2, w2, 3, 7, 11)
    return [
        TestImage(f"rgb {w1}x{h1} awgn 25", a, gaussian_noisy(a, 25, 4)),
        TestImage(f"rgb {w2}x{h2} awgn 25", b, gaussian_noisy(b, 25, 5)),
    ]


# --------------------------------------------------------------------------- stage: versions


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _command_output(args: list[str], timeout: float = 30) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def collect_versions() -> dict[str, Any]:
    """What runs this check: GPU, driver, CUDA, libraries (``None`` where absent)."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    packages = ("fastdenoise", "numpy", "numba", "numba-cuda", "torch", "onnxruntime",
                "onnxruntime-gpu", "tensorrt", "tensorrt-cu12", "tensorrt-cu13")  # fmt: skip
    info["packages"] = {name: _dist_version(name) for name in packages}
    query = "name,driver_version,memory.total,compute_cap"
    smi = _command_output(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"])
    info["gpus"] = parse_nvidia_smi_query(smi) if smi else []
    plain = _command_output(["nvidia-smi"])
    info["driver_cuda"] = parse_smi_cuda_version(plain) if plain else None
    import numba

    info["numba_threads"] = int(numba.config.NUMBA_NUM_THREADS)
    from fastdenoise.kernels import cuda_available

    info["numba_cuda_available"] = bool(cuda_available())
    if info["numba_cuda_available"]:
        with contextlib.suppress(Exception):
            from numba import cuda

            info["numba_cuda_runtime"] = ".".join(map(str, cuda.runtime.get_version()))
            info["numba_cuda_device"] = cuda.get_current_device().name.decode()
    try:
        import torch

        info["torch_cuda"] = torch.version.cuda
        info["torch_cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            info["torch_device"] = torch.cuda.get_device_name(0)
            info["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    except ImportError:
        info["torch_cuda"] = None
    with contextlib.suppress(ImportError):
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    try:
        import tensorrt

        info["tensorrt_version"] = tensorrt.__version__
    except Exception as error:  # ImportError, or a library that fails to load
        info["tensorrt_version"] = None
        info["tensorrt_error"] = f"{type(error).__name__}: {error}"[:200]
    return info


def versions_line(info: dict[str, Any]) -> str:
    gpu = info["gpus"][0] if info.get("gpus") else {}
    packages = info.get("packages", {})
    parts = [
        f"GPU {gpu.get('name', 'none')}",
        f"driver {gpu.get('driver', '-')}",
        f"CUDA {info.get('driver_cuda') or '-'} (torch {info.get('torch_cuda') or '-'})",
        f"TensorRT {info.get('tensorrt_version') or '-'}",
        f"Numba {packages.get('numba') or '-'} / numba-cuda {packages.get('numba-cuda') or '-'}",
        f"torch {packages.get('torch') or '-'}",
    ]
    return ", ".join(parts)


def stage_versions(ctx: Context) -> StageResult:
    info = collect_versions()
    ctx.versions = info
    result = StageResult("versions", note=versions_line(info), data=info)
    if not ctx.dry_run:
        if not info["gpus"] and not info.get("torch_cuda_available"):
            result.status = FAIL
            result.note = "no NVIDIA GPU seen (nvidia-smi, torch): " + result.note
        elif not info["numba_cuda_available"]:
            result.status, result.note = FAIL, "numba.cuda sees no GPU: " + result.note
    log(result.note)
    return result


# --------------------------------------------------------------------------- stage: cuda tests


def importable(module: str) -> bool:
    """Whether ``module`` imports (TensorRT can be installed yet fail to load its libraries)."""
    try:
        __import__(module)
    except Exception:
        return False
    return True


def device_test_ids_present(ids: tuple[str, ...] = DEVICE_TESTS, root: Path = ROOT) -> list[str]:
    """The device test ids whose file or function is missing (checked as text, no import)."""
    missing = []
    for test_id in ids:
        path, _, function = test_id.partition("::")
        file = root / path
        if not file.exists() or (function and f"def {function}(" not in file.read_text()):
            missing.append(test_id)
    return missing


def stage_cuda_tests(ctx: Context) -> StageResult:
    result = StageResult("cuda-tests")
    missing = device_test_ids_present()
    if missing:
        result.status, result.note = FAIL, f"device tests not found: {', '.join(missing)}"
        return result
    tests, not_run = list(DEVICE_TESTS), ""
    if not ctx.dry_run and not importable("tensorrt"):  # it would skip, and a skip fails here
        tests = [t for t in tests if "tensorrt" not in t]
        not_run = "; TensorRT test not run (tensorrt not importable)"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    if ctx.dry_run:
        result.note = "would run: " + " ".join(command[1:])
        result.data["command"] = command[1:]
        return result
    env = {**os.environ, "FASTDENOISE_CUDA_DEVICE": "1", "NUMBA_ENABLE_CUDASIM": "0"}
    timeout = max(30.0, ctx.budget.left() - reserve_after("cuda-tests", ctx.names))
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        partial = error.stdout or b""
        partial = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        output = f"{partial}\ntimed out after {timeout:.0f}s"
    counts = parse_pytest_summary(output)
    ok, note = pytest_verdict(counts)
    result.status = FAIL if not ok else (SKIP if not_run else PASS)
    result.note = note + not_run
    result.data = {"counts": counts, "tail": output[-3000:]}
    if not ok:
        print(output[-3000:], flush=True)
    return result


# --------------------------------------------------------------------------- stage: filters


def registered_filters() -> list[str]:
    """Every filter in the registry, test-only ones aside."""
    from fastdenoise import methods

    return sorted(
        name
        for name, method in methods.available().items()
        if method.kind == "filter" and not name.startswith("test-")
    )


def filter_cases(names: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, params)
        for name in (names if names is not None else registered_filters())
        for params in FILTER_SETTINGS.get(name, [{}])
    ]


def settings_text(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def run_filter(name: str, params: dict[str, Any], image: np.ndarray, device: str, tile: int | None):
    import fastdenoise

    return fastdenoise.denoise(image, name, device=device, tile=tile, **params)


def filter_parity_row(
    name: str,
    params: dict[str, Any],
    image: TestImage,
    reference: np.ndarray,
    candidate: np.ndarray,
) -> dict[str, Any]:
    """One report row: GPU (candidate) against CPU (reference) output, judged."""
    comparison = compare(reference, candidate, image.clean)
    max_abs, max_db = filter_tolerance(name)
    ok, why = judge(comparison, max_abs, max_db)
    return {
        "filter": name,
        "settings": settings_text(params),
        "image": image.name,
        "max_abs": float(f"{comparison.max_abs:.3g}"),
        "psnr_cpu": round(comparison.psnr_reference, 4),
        "psnr_gpu": round(comparison.psnr_candidate, 4),
        "psnr_diff": round(comparison.psnr_diff, 5),
        "limits": f"{max_abs:g} / {max_db:g} dB",
        "ok": ok,
        "why": why,
    }


def stage_filter_parity(ctx: Context) -> StageResult:
    result = StageResult("filter-parity")
    device = "cpu" if ctx.dry_run else "cuda"
    images = filter_images(0.125 if ctx.dry_run else 1.0)
    cases = DRY_FILTER_CASES if ctx.dry_run else filter_cases()
    for name, params in cases:
        for image in images:
            reference = run_filter(name, params, image.noisy, "cpu", 512)
            candidate = run_filter(name, params, image.noisy, device, 512)
            result.rows.append(filter_parity_row(name, params, image, reference, candidate))
    if ctx.dry_run:  # the comparison must catch a wrong pixel: a perturbed copy of the output
        name, params = cases[0]
        image = images[0]
        reference = run_filter(name, params, image.noisy, "cpu", 512)
        perturbed = reference.copy()
        perturbed[0, 0, 0] += np.float32(1 / 255)
        row = filter_parity_row(name, params, image, reference, perturbed)
        row["image"] += " (perturbed copy: must fail)"
        result.data["perturbed"] = row
        if row["ok"]:
            result.status, result.note = FAIL, "a perturbed output passed the comparison"
            return result
    bad = [r for r in result.rows if not r["ok"]]
    if bad:
        result.status = FAIL
        result.note = "; ".join(
            f"{r['filter']} {r['settings']} {r['image']}: {r['why']}" for r in bad
        )
    else:
        worst = max((r["max_abs"] for r in result.rows), default=0.0)
        result.note = f"{len(result.rows)} comparisons within tolerance, worst max abs {worst:.2g}"
    return result


def megapixels_per_second(pixels: int, seconds: float) -> float:
    return pixels / 1e6 / seconds if seconds > 0 else math.inf


def time_call(call: Callable[[], Any], repeats: int = 2) -> float:
    """Seconds of the fastest of ``repeats`` calls after one warm-up call."""
    call()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def stage_filter_speed(ctx: Context) -> StageResult:
    result = StageResult("filter-speed")
    gpu_side, cpu_side = (96, 96) if ctx.dry_run else (4096, 1024)  # CPU: 1 MP, slow filters
    gpu_image = gaussian_noisy(scene(gpu_side, gpu_side, 3), 25, 6)
    cpu_image = gpu_image[:cpu_side, :cpu_side]
    device = "cpu" if ctx.dry_run else "cuda"
    for name, params in DRY_FILTER_CASES if ctx.dry_run else filter_cases():
        row: dict[str, Any] = {"filter": name, "settings": settings_text(params)}
        cpu_s = time_call(lambda n=name, p=params: run_filter(n, p, cpu_image, "cpu", 512), 1)
        row["cpu_mps"] = round(megapixels_per_second(cpu_side * cpu_side, cpu_s), 3)
        for label, tile in (("gpu_mps_tile512", 512), ("gpu_mps_whole", 0)):
            seconds = time_call(
                lambda n=name, p=params, t=tile: run_filter(n, p, gpu_image, device, t)
            )
            row[label] = round(megapixels_per_second(gpu_side * gpu_side, seconds), 3)
        row["speedup"] = round(
            max(row["gpu_mps_tile512"], row["gpu_mps_whole"]) / row["cpu_mps"], 2
        )
        result.rows.append(row)
        log(f"  {name} {row['settings']}: CPU {row['cpu_mps']} MP/s, GPU {row['gpu_mps_tile512']} "
            f"(tile 512) / {row['gpu_mps_whole']} (whole) MP/s")  # fmt: skip
        if not ctx.budget.allows(5.0, reserve_after("filter-speed", ctx.names)):
            result.status, result.note = SKIP, "stopped early: " + ctx.budget.why_not(5.0)
            return result
    result.note = f"{len(result.rows)} filter settings timed (GPU {gpu_side}², CPU {cpu_side}²)"
    return result


# --------------------------------------------------------------------------- stage: engines


def shipped_variants(folder: Path = WEIGHTS_DIR) -> list[tuple[str, str]]:
    """``(arch, variant)`` of every weights JSON shipped now, read at run time."""
    found = []
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(path.read_text())
            usable = isinstance(meta, dict) and meta.get("arch") and meta.get("variant")
            if usable and (folder / str(meta.get("file", ""))).exists():
                found.append((str(meta["arch"]), str(meta["variant"])))
    return sorted(set(found))


def select_variants(found: list[tuple[str, str]], wanted: str | None) -> list[tuple[str, str]]:
    """Keep ``arch`` or ``arch:variant`` entries of a comma list (all when ``wanted`` empty)."""
    if not wanted:
        return found
    keys = {w.strip() for w in wanted.split(",") if w.strip()}
    return [(a, v) for a, v in found if a in keys or f"{a}:{v}" in keys]


def smallest_variant(found: list[tuple[str, str]], folder: Path = WEIGHTS_DIR):
    """The variant with the smallest weights file (the dry mode's quick model)."""

    def size(item: tuple[str, str]) -> int:
        return (folder / f"{item[0]}-{item[1]}.safetensors").stat().st_size

    return min(found, key=size)


def export_command(arch: str, variant: str, fmt: str, precision: str) -> list[str]:
    command = [sys.executable, "-m", "fastdenoise", "export", "-m", arch, "--variant", variant]
    command += ["--format", fmt]
    if fmt == "tensorrt":
        command += ["--tile", str(MODEL_TILE)] + (["--fp16"] if precision == "fp16" else [])
    return command


def cache_files(folder: Path, suffix: str) -> set[str]:
    """Finished cache entries of one kind (temporary files start with a dot)."""
    if not folder.exists():
        return set()
    return {p.name for p in folder.glob(f"*{suffix}") if not p.name.startswith(".")}


def build_model(arch: str, variant: str, device: str, engine: str, precision: str):
    from fastdenoise import methods

    return methods.get(arch).build(
        device=device, variant=variant, engine=engine, precision=precision
    )


def run_model(denoiser: Any, image: np.ndarray) -> np.ndarray:
    from fastdenoise.tiler import run_tiled

    return run_tiled(image, denoiser.prepare(image), tile=MODEL_TILE, out_dtype=np.float32)


def model_parity_row(
    label: str, precision: str, image: TestImage, reference: np.ndarray, candidate: np.ndarray
) -> dict[str, Any]:
    comparison = compare(reference, candidate, image.clean)
    max_abs, max_db = MODEL_TOLERANCE[precision]
    ok, why = judge(comparison, max_abs, max_db)
    return {
        "model": label,
        "precision": precision,
        "image": image.name,
        "max_abs": float(f"{comparison.max_abs:.3g}"),
        "psnr_reference": round(comparison.psnr_reference, 4),
        "psnr_engine": round(comparison.psnr_candidate, 4),
        "psnr_diff": round(comparison.psnr_diff, 4),
        "limits": f"{max_abs:g} / {max_db:g} dB",
        "ok": ok,
        "why": why,
    }


def check_variant(
    ctx: Context, arch: str, variant: str, engine: str = "tensorrt"
) -> list[dict[str, Any]]:
    """Export, reuse check, parity against ONNX Runtime on the CPU, and MP/s, for one variant.

    Real run: TensorRT fp32 and fp16 engines built by ``fastdenoise export`` against ONNX
    Runtime CPU fp32 (``engine="torch"``, where TensorRT is missing: torch on CUDA, no export).
    Dry run: the ONNX file exported by ``fastdenoise export`` run by ONNX Runtime on the CPU
    against torch on the CPU.
    """
    label = f"{arch}:{variant}"
    images = model_images(0.125 if ctx.dry_run else 1.0)
    if ctx.dry_run:
        fmt, suffix, engine, device = "onnx", ".onnx", "onnxruntime", "cpu"
        precisions, ref_engine = ("fp32",), "torch"
    else:
        fmt, suffix, device = "tensorrt", ".engine", "cuda"
        precisions, ref_engine = ("fp32", "fp16"), "onnxruntime"
    reference_model = build_model(arch, variant, "cpu", ref_engine, "fp32")
    references = [run_model(reference_model, image.noisy) for image in images]
    cpu_s = time_call(lambda: run_model(reference_model, images[0].noisy), repeats=1)
    cpu_mps = megapixels_per_second(images[0].noisy.shape[0] * images[0].noisy.shape[1], cpu_s)
    rows = []
    for precision in precisions:
        row: dict[str, Any] = {"model": label, "engine": engine, "precision": precision}
        if engine != "torch":
            command = export_command(arch, variant, fmt, precision)
            start = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            row["export_s"] = round(time.perf_counter() - start, 2)
            exported = parse_export_output(done.stdout)
            row["export"] = ", ".join(f"{how} {Path(path).name}" for how, path in exported)
            if done.returncode != 0 or not exported:
                why = f"export exit {done.returncode}: {done.stderr.strip()[-300:]}"
                row.update(ok=False, why=why)
                rows.append(row)
                continue
        before = cache_files(ctx.cache_dir, suffix)
        model = build_model(arch, variant, device, engine, precision)
        outputs = [run_model(model, image.noisy) for image in images]
        rebuilt = sorted(cache_files(ctx.cache_dir, suffix) - before)
        checks = [
            model_parity_row(label, precision, image, reference, output)
            for image, reference, output in zip(images, references, outputs, strict=True)
        ]
        worst = max(checks, key=lambda r: abs(r["psnr_diff"]))
        row.update({k: worst[k] for k in ("max_abs", "psnr_reference", "psnr_engine", "psnr_diff")})
        row["limits"] = worst["limits"]
        row["max_abs"] = max(r["max_abs"] for r in checks)
        whys = [f"{r['image']}: {r['why']}" for r in checks if not r["ok"]]
        if rebuilt:
            whys.append(f"the runtime built {', '.join(rebuilt)}: export did not prebuild it")
        row["ok"], row["why"] = not whys, "; ".join(whys)
        side = 96 if ctx.dry_run else 2048
        big = gaussian_noisy(scene(side, side, 3), 25, 7)
        seconds = time_call(lambda m=model, b=big: run_model(m, b), repeats=1 if ctx.dry_run else 2)
        row["engine_mps"] = round(megapixels_per_second(side * side, seconds), 3)
        row["cpu_mps"] = round(cpu_mps, 3)
        row["speedup"] = round(row["engine_mps"] / row["cpu_mps"], 1) if row["cpu_mps"] else None
        rows.append(row)
        built = f"export {row['export_s']}s ({row['export']})" if "export" in row else "no export"
        log(f"  {label} {engine} {precision}: {built}, "
            f"ΔPSNR {row['psnr_diff']:+.4f} dB, max abs {row['max_abs']:.3g}, "
            f"{row['engine_mps']} MP/s vs CPU {row['cpu_mps']} MP/s"
            + ("" if row["ok"] else f"  MISMATCH: {row['why']}"))  # fmt: skip
    return rows


def stage_engines(ctx: Context) -> StageResult:
    result = StageResult("engines")
    engine, missing = "tensorrt", ""
    found = select_variants(shipped_variants(), ctx.models)
    result.data["variants"] = [f"{a}:{v}" for a, v in found]
    if not found:
        result.status, result.note = FAIL, "no shipped model variant found in " + str(WEIGHTS_DIR)
        return result
    if ctx.dry_run:
        found = [smallest_variant(found)]
    else:
        try:
            import tensorrt  # noqa: F401
        except Exception as error:  # still prove the models on the GPU, through torch
            engine = "torch"
            missing = f"TensorRT not importable ({type(error).__name__}: {error})"[:200]
            log(f"  {missing}: torch on CUDA against ONNX Runtime CPU instead")
    skipped = []
    for arch, variant in found:
        if not ctx.budget.allows(STAGE_NEEDS["engines"], reserve_after("engines", ctx.names)):
            skipped.append(f"{arch}:{variant}")
            continue
        try:
            result.rows += check_variant(ctx, arch, variant, engine)
        except Exception as error:  # one variant's crash is a failed row, not a lost stage
            traceback.print_exc()
            result.rows.append({"model": f"{arch}:{variant}", "ok": False,
                                "why": f"{type(error).__name__}: {error}"[:400]})  # fmt: skip
    bad = [r for r in result.rows if not r.get("ok")]
    notes = [f"{r['model']} {r.get('precision', '')}: {r['why']}" for r in bad]
    if skipped:
        why = ctx.budget.why_not(STAGE_NEEDS["engines"], reserve_after("engines", ctx.names))
        notes.append(f"not checked ({why}): {', '.join(skipped)}")
        result.data["skipped"] = skipped
    if missing:
        notes.insert(0, f"{missing}; torch CUDA checked instead ({len(result.rows)} rows)")
    result.status = FAIL if bad else (SKIP if skipped or missing else PASS)
    result.note = "; ".join(notes) or f"{len(result.rows)} engines match ONNX Runtime on the CPU"
    if ctx.dry_run and not bad:
        result.note = f"{found[0][0]}:{found[0][1]} ONNX export reused by the runtime, ORT = torch"
    return result


def dry_model_threshold_check() -> tuple[bool, str]:
    """The fp16 limit must pass a 0.01 dB shift and catch a 0.2 dB one (synthetic outputs)."""
    clean = scene(64, 64, 3)
    reference = gaussian_noisy(clean, 5, 8)
    within = compare(reference, reference + np.float32(0.0005), clean)
    beyond = compare(reference, gaussian_noisy(reference, 3, 9), clean)
    ok_small, _ = judge(within, *MODEL_TOLERANCE["fp16"])
    ok_large, why = judge(beyond, *MODEL_TOLERANCE["fp16"])
    if ok_small and not ok_large:
        return True, f"fp16 limit passes {within.psnr_diff:+.3f} dB, catches ({why})"
    return False, f"fp16 limit wrong: {within.psnr_diff:+.3f} dB ok={ok_small}, " + (
        f"{beyond.psnr_diff:+.3f} dB ok={ok_large}"
    )


# --------------------------------------------------------------------------- stage: run 100 MP


def write_big_photo(path: Path, height: int, width: int, sigma: float = 25, band: int = 1000):
    """A noisy JPEG of ``height x width`` built band by band (bounded memory), quality 95."""
    from PIL import Image

    pixels = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, band):
        rows = min(band, height - top)
        noisy = gaussian_noisy(scene(rows, width, 3, y0=top), sigma, seed=1000 + top)
        pixels[top : top + rows] = np.clip(noisy * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95)


def centre_psnr(path: Path, height: int, width: int, crop: int = 1024) -> float:
    """PSNR of a centre crop of the image at ``path`` against the same crop of the scene."""
    from fastdenoise.io import read_pixels
    from fastdenoise.tiler import to_float

    pixels = read_pixels(path, 3)
    if pixels.shape[:2] != (height, width):
        raise ValueError(f"{path.name}: size {pixels.shape[1::-1]}, expected {(width, height)}")
    rows, cols = min(crop, height), min(crop, width)
    top, left = (height - rows) // 2, (width - cols) // 2
    region = to_float(pixels[top : top + rows, left : left + cols])
    clean = scene(region.shape[0], region.shape[1], 3, y0=top, x0=left)
    return psnr(clean, region)


def end_to_end(
    work: Path, height: int, width: int, device: str, fp16: bool, method: str | None,
    min_gain_db: float = 1.0,
) -> dict[str, Any]:  # fmt: skip
    """Write a noisy photo, ``fastdenoise run`` it, check the report and the output."""
    source, target = work / "in", work / "out"
    source.mkdir(parents=True, exist_ok=True)
    photo = source / f"photo-{height * width // 1_000_000}mp.jpg"
    start = time.perf_counter()
    write_big_photo(photo, height, width)
    row: dict[str, Any] = {
        "image": f"{width}x{height} JPEG",
        "write_s": time.perf_counter() - start,
    }
    command = [sys.executable, "-m", "fastdenoise", "run", str(source), "-o", str(target),
               "--device", device, "--json", "--overwrite", "-q"]  # fmt: skip
    command += ["--fp16"] if fp16 else []
    command += ["-m", method] if method else []
    row["command"] = "fastdenoise " + " ".join(command[3:])
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    row["run_s"] = round(time.perf_counter() - start, 2)
    row["exit"] = done.returncode
    problems = []
    try:
        report = parse_run_report(done.stdout)
    except ValueError as error:
        report = {}
        problems.append(f"{error}; stderr: {done.stderr.strip()[-300:]}")
    if report:
        row["method"] = report["results"][0].get("method") if report["results"] else None
        row["megapixels_per_second"] = report.get("megapixels_per_second")
        row["stage_seconds"] = report.get("stage_seconds")
        if report["files"].get("ok") != 1:
            reasons = [r.get("reason") for r in report["results"]]
            problems.append(f"files {report['files']}: {reasons}")
    if done.returncode != 0:
        problems.append(f"exit code {done.returncode}: {done.stderr.strip()[-300:]}")
    outputs = sorted(target.rglob("*.jpg")) if target.exists() else []
    if not problems:
        if not outputs:
            problems.append("no output file written")
        else:
            row["psnr_input"] = round(centre_psnr(photo, height, width), 3)
            row["psnr_output"] = round(centre_psnr(outputs[0], height, width), 3)
            if row["psnr_output"] < row["psnr_input"] + min_gain_db:
                problems.append(
                    f"output PSNR {row['psnr_output']} dB is not {min_gain_db} dB above the "
                    f"input's {row['psnr_input']} dB"
                )
    row["ok"], row["why"] = not problems, "; ".join(problems)
    return row


def stage_run_100mp(ctx: Context) -> StageResult:
    result = StageResult("run-100mp")
    height, width = (192, 256) if ctx.dry_run else (10000, 10000)
    device, fp16 = ("cpu", False) if ctx.dry_run else ("cuda", True)
    method = "median" if ctx.dry_run else ctx.e2e_method
    with tempfile.TemporaryDirectory(prefix="gpu-check-run-", dir=ctx.work_dir) as work:
        row = end_to_end(Path(work), height, width, device, fp16, method)
    result.rows.append(row)
    result.status = PASS if row["ok"] else FAIL
    result.note = row["why"] or (
        f"{row.get('method')}: {row['run_s']}s wall, report {row.get('megapixels_per_second')} "
        f"MP/s, PSNR {row.get('psnr_input')} -> {row.get('psnr_output')} dB"
    )
    return result


# --------------------------------------------------------------------------- report


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "ok" if value else "**MISMATCH**"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return "" if value is None else str(value).replace("|", "/")


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> list[str]:
    if not rows:
        return []
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The human report: verdict, machine, one line per stage, then each stage's table."""
    lines = [
        "# GPU check",
        "",
        f"`bash bench/gpu_check.sh{' --dry-run' if report['dry_run'] else ''}` on "
        f"{report['date']}: **{report['status']}** (exit {report['exit_code']}), "
        f"{report['seconds']:.0f}s of a {report['budget_s']:.0f}s budget.",
        "",
        f"Machine: {report.get('machine', '')}",
        "",
        "| stage | status | seconds | note |",
        "|---|---|---:|---|",
    ]
    for stage in report["stages"]:
        lines.append(
            f"| {stage['name']} | {stage['status']} | {stage['seconds']:.1f} | "
            f"{_cell(stage['note'])} |"
        )
    dropped = {"tail", "command"}
    for stage in report["stages"]:
        if stage["rows"]:
            columns = [
                c for c in dict.fromkeys(k for r in stage["rows"] for k in r) if c not in dropped
            ]
            lines += ["", f"## {stage['name']}", "", *markdown_table(stage["rows"], columns)]
    lines += ["", "Thresholds: filters GPU vs CPU (max abs / |ΔPSNR|): "
              + ", ".join(f"{k} {v[0]:g} / {v[1]:g} dB" for k, v in FILTER_TOLERANCE.items())
              + "; engines vs ONNX Runtime CPU: "
              + ", ".join(f"{k} {v[0]:g} / {v[1]:g} dB" for k, v in MODEL_TOLERANCE.items())
              + ".", ""]  # fmt: skip
    return "\n".join(lines)


def build_report(ctx: Context, stages: list[StageResult]) -> dict[str, Any]:
    info = ctx.versions or {}
    gpu = info.get("gpus", [{}])[0] if info.get("gpus") else {}
    machine = ", ".join(
        x
        for x in (
            gpu.get("name") or "no GPU",
            f"{info.get('cpu_count')} CPUs ({info.get('cpu')})" if info else "",
            versions_line(info) if info else "",
        )
        if x
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "dry_run": ctx.dry_run,
        "status": overall_status(stages),
        "exit_code": exit_code(stages),
        "budget_s": ctx.budget.total_s,
        "seconds": round(ctx.budget.clock() - ctx.budget.started, 1),
        "machine": machine,
        "versions": info,
        "stages": [dataclasses.asdict(s) for s in stages],
    }


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``gpu.md`` and ``gpu.json`` in ``out_dir`` (written whole, then renamed)."""
    from fastdenoise.atomic import write_atomic

    paths = out_dir / "gpu.md", out_dir / "gpu.json"
    texts = render_markdown(report), json.dumps(report, indent=1, default=str) + "\n"
    for path, text in zip(paths, texts, strict=True):
        write_atomic(path, text)
    return paths


# --------------------------------------------------------------------------- driver


@dataclasses.dataclass
class Context:
    budget: Budget
    dry_run: bool
    cache_dir: Path
    work_dir: Path
    models: str | None = None
    e2e_method: str | None = None
    names: tuple[str, ...] = STAGES
    versions: dict[str, Any] | None = None


STAGE_FUNCTIONS: dict[str, Callable[[Context], StageResult]] = {
    "versions": stage_versions,
    "cuda-tests": stage_cuda_tests,
    "filter-parity": stage_filter_parity,
    "engines": stage_engines,
    "filter-speed": stage_filter_speed,
    "run-100mp": stage_run_100mp,
}


def install_stage(args: argparse.Namespace) -> StageResult | None:
    """The shell's install step, as a stage (``--install-status``/``-seconds``/``-note``)."""
    if not args.install_status:
        return None
    # offline: nothing could be installed; what is missing shows up as skipped stages
    status = {"ok": PASS, "offline": PASS, "failed": FAIL}.get(args.install_status, FAIL)
    return StageResult("install", status, float(args.install_seconds or 0), args.install_note or "")


@contextlib.contextmanager
def timed_stage(name: str, ctx: Context) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {}
    start = time.perf_counter()
    yield holder
    result = holder["result"]
    result.seconds = round(time.perf_counter() - start, 2)
    log(f"stage {name}: {result.status} in {result.seconds:.1f}s "
        f"({ctx.budget.left():.0f}s of budget left) {result.note[:240]}")  # fmt: skip


def run_stages(ctx: Context, names: tuple[str, ...]) -> list[StageResult]:
    results = []
    for name in STAGES:
        if name not in names:
            continue
        need, reserve = STAGE_NEEDS[name], reserve_after(name, names)
        no_gpu = [r for r in results if r.name == "versions" and r.status == FAIL]
        if no_gpu:  # every later stage needs the GPU that the versions stage did not find
            result = StageResult(name, SKIP, note="skipped: no usable GPU (see versions)")
            log(f"stage {name}: {result.note}")
            results.append(result)
            continue
        if name != "versions" and not ctx.budget.allows(need, reserve):
            result = StageResult(name, SKIP, note="skipped: " + ctx.budget.why_not(need, reserve))
            log(f"stage {name}: {result.note}")
            results.append(result)
            continue
        log(f"stage {name}: {STAGE_TEXT[name]}")
        with timed_stage(name, ctx) as holder:
            try:
                holder["result"] = STAGE_FUNCTIONS[name](ctx)
            except Exception as error:
                traceback.print_exc()
                note = f"crashed: {type(error).__name__}: {error}"[:400]
                holder["result"] = StageResult(name, FAIL, note=note)
        results.append(holder["result"])
    return results


def dry_self_checks() -> StageResult:
    """Parsers fed captured tool output; budget and threshold logic on made-up numbers."""
    result = StageResult("self-checks")
    problems = []
    smi = parse_nvidia_smi_query("NVIDIA H200, 580.159.03, 143771 MiB, 9.0\n")
    if smi != [{"name": "NVIDIA H200", "driver": "580.159.03", "memory": "143771 MiB",
                "compute_capability": "9.0"}]:  # fmt: skip
        problems.append(f"nvidia-smi query parser: {smi}")
    header = "| NVIDIA-SMI 580.159.03   Driver Version: 580.159.03   CUDA Version: 13.0     |"
    if parse_smi_cuda_version(header) != "13.0":
        problems.append("nvidia-smi CUDA version parser")
    good = parse_pytest_summary("....\n12 passed in 3.40s\n")
    bad = parse_pytest_summary("F.s\n1 failed, 10 passed, 1 skipped, 2 errors in 5.0s\n")
    if not pytest_verdict(good)[0] or pytest_verdict(bad)[0] or bad.get("errors") != 2:
        problems.append(f"pytest summary parser: {good} {bad}")
    exported = parse_export_output("built /c/mwcnn-real-fp16-640x640-ab.engine\ncopied to x\n")
    if exported != [("built", "/c/mwcnn-real-fp16-640x640-ab.engine")]:
        problems.append(f"export output parser: {exported}")
    clock = iter([0.0, 100.0, 470.0]).__next__
    budget = Budget(480, clock=clock)  # started at 0
    if not budget.allows(60) or budget.allows(20):  # 380 s left, then 10 s left
        problems.append("budget arithmetic")
    ok, note = dry_model_threshold_check()
    if not ok:
        problems.append(note)
    missing = device_test_ids_present()
    if missing:
        problems.append(f"device test ids missing: {missing}")
    result.rows = [{"check": "parsers, budget, fp16 threshold, device test ids", "note": note}]
    if problems:
        result.status, result.note = FAIL, "; ".join(problems)
    else:
        result.note = "parsers, budget, thresholds and device test ids behave"
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU only, small inputs")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds in all")
    parser.add_argument("--started-at", type=float, help="epoch the budget counts from")
    parser.add_argument("--out-dir", type=Path, help="gpu.md/gpu.json (default bench/results; "
                        "dry run: a temporary folder)")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, help="engine cache (default .gpu-check/cache)")
    parser.add_argument("--only", help="comma list of stages: " + ", ".join(STAGES))
    parser.add_argument("--models", help="comma list of arch or arch:variant (default: all)")
    parser.add_argument("--e2e-method", help="-m for the 100 MP run (default: the CLI's auto)")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    parser.add_argument("--validate", action="store_true", help=argparse.SUPPRESS)
    for name in ("status", "seconds", "note"):
        parser.add_argument(f"--install-{name}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        unknown = set(args.only.split(",")) - set(STAGES)
        if unknown:
            parser.error(
                f"unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}"
            )
    return args


def list_stages() -> None:
    for name in STAGES:
        print(f"  {name:<14} needs >= {STAGE_NEEDS[name]:>3.0f}s  {STAGE_TEXT[name]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.validate:  # arguments checked before the shell spends minutes on installs
        return 0
    if args.list:
        list_stages()
        return 0
    budget = Budget(args.budget, args.started_at)
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    cache_dir = args.cache_dir or (
        scratch / "cache" if args.dry_run else ROOT / ".gpu-check" / "cache"
    )
    os.environ["FASTDENOISE_CACHE"] = str(cache_dir)
    out_dir = args.out_dir or (scratch / "results" if args.dry_run else ROOT / "bench" / "results")
    names = tuple(args.only.split(",")) if args.only else STAGES
    ctx = Context(budget, args.dry_run, cache_dir, scratch, args.models, args.e2e_method, names)
    log(("DRY RUN (CPU, no installs): " if args.dry_run else "")
        + f"budget {args.budget:.0f}s, {budget.left():.0f}s left; stages:")  # fmt: skip
    list_stages()
    stages: list[StageResult] = []
    installed = install_stage(args)
    if installed:
        stages.append(installed)
    if args.dry_run:
        stages.append(dry_self_checks())
        log(f"stage self-checks: {stages[-1].status} {stages[-1].note}")
    stages += run_stages(ctx, names)
    report = build_report(ctx, stages)
    md, js = write_report(report, out_dir)
    shutil.rmtree(scratch / "cache", ignore_errors=True)
    log(f"wrote {md} and {js}")
    log(f"result: {report['status']} (exit {report['exit_code']}) in {report['seconds']:.0f}s")
    return int(report["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
