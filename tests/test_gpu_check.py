"""bench/gpu_check: the dry mode end to end, and the comparisons that decide pass or fail."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


gc = _load()


def test_dry_run_checks_the_script_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "PYTHON": sys.executable, "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--dry-run", "--out-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for stage in gc.STAGES:  # every stage listed and timed
        assert f"stage {stage}: pass in " in done.stdout, (stage, done.stdout[-3000:])
    report = json.loads((out / "gpu.json").read_text())
    assert report["dry_run"] and report["status"] == "pass" and report["exit_code"] == 0
    stages = {s["name"]: s for s in report["stages"]}
    assert set(stages) == {"self-checks", *gc.STAGES}
    assert all(s["status"] == "pass" for s in stages.values()), stages
    parity = stages["filter-parity"]
    assert parity["rows"] and all(r["ok"] and r["max_abs"] == 0 for r in parity["rows"])
    perturbed = parity["data"]["perturbed"]  # the comparison caught a one-pixel change
    assert not perturbed["ok"] and "max abs diff" in perturbed["why"]
    (engine,) = stages["engines"]["rows"]  # the CLI's ONNX export, reused by the runtime
    assert engine["ok"] and engine["export"].startswith("built ") and engine["psnr_diff"] == 0
    (run,) = stages["run-100mp"]["rows"]
    assert run["exit"] == 0 and run["psnr_output"] > run["psnr_input"] + 1
    markdown = (out / "gpu.md").read_text()
    assert "# GPU check" in markdown and "## filter-parity" in markdown and "**pass**" in markdown


def test_filter_comparison_passes_equal_and_catches_a_changed_pixel() -> None:
    clean = gc.scene(32, 40, 3)
    out = gc.gaussian_noisy(clean, 10, 0)
    assert gc.judge(gc.compare(out, out.copy(), clean), *gc.filter_tolerance("median")) == (
        True,
        "",
    )
    changed = out.copy()
    changed[5, 7, 1] += np.float32(1e-6)
    ok, why = gc.judge(gc.compare(out, changed, clean), *gc.filter_tolerance("median"))
    assert not ok and "max abs diff" in why
    # nlm tolerates float rounding (1e-4) but not a visible change
    assert gc.judge(gc.compare(out, changed, clean), *gc.filter_tolerance("nlm"))[0]
    changed[5, 7, 1] += np.float32(0.01)
    assert not gc.judge(gc.compare(out, changed, clean), *gc.filter_tolerance("nlm"))[0]
    assert gc.filter_tolerance("some-new-filter") == gc.DEFAULT_FILTER_TOLERANCE


def test_non_finite_output_and_shape_mismatch_fail() -> None:
    clean = gc.scene(16, 16, 1)
    bad = clean.copy()
    bad[0, 0, 0] = np.nan
    ok, why = gc.judge(gc.compare(clean, bad, clean), 1.0, 1.0)
    assert not ok and "non-finite" in why
    with pytest.raises(ValueError, match="shapes differ"):
        gc.compare(clean, clean[:8], clean)


@pytest.mark.parametrize(
    ("engine_psnr", "ok"), [(30.0, True), (29.96, True), (30.049, True), (29.94, False)]
)
def test_fp16_engines_must_stay_within_005_db(engine_psnr: float, ok: bool) -> None:
    comparison = gc.Comparison(0.01, 30.0, engine_psnr, True)
    assert gc.judge(comparison, *gc.MODEL_TOLERANCE["fp16"])[0] is ok
    assert gc.MODEL_TOLERANCE["fp16"][1] == 0.05  # the limit


def test_fp32_engines_are_held_tighter_than_fp16() -> None:
    comparison = gc.Comparison(0.01, 30.0, 29.96, True)
    assert gc.judge(comparison, *gc.MODEL_TOLERANCE["fp16"])[0]
    assert not gc.judge(comparison, *gc.MODEL_TOLERANCE["fp32"])[0]
    big_error = gc.Comparison(0.3, 30.0, 30.0, True)  # a broken tile, PSNR barely moved
    assert not gc.judge(big_error, *gc.MODEL_TOLERANCE["fp16"])[0]


def test_pytest_summary_parser_and_device_verdict() -> None:
    counts = gc.parse_pytest_summary("..F\n===== 1 failed, 9 passed, 2 skipped in 4.20s =====\n")
    assert counts == {"failed": 1, "passed": 9, "skipped": 2}
    assert not gc.pytest_verdict(counts)[0]
    assert gc.pytest_verdict(gc.parse_pytest_summary("12 passed in 3.1s"))[0]
    skipped = gc.parse_pytest_summary("11 passed, 1 skipped in 3.1s")
    assert not gc.pytest_verdict(skipped)[0]  # a skip on the device hides a gap
    assert not gc.pytest_verdict(gc.parse_pytest_summary("ERROR collecting\n1 error in 0.5s"))[0]
    assert not gc.pytest_verdict(gc.parse_pytest_summary("Traceback ...\n"))[0]


def test_tool_output_parsers() -> None:
    rows = gc.parse_nvidia_smi_query("NVIDIA H200, 580.159.03, 143771 MiB, 9.0\n")
    assert rows == [
        {"name": "NVIDIA H200", "driver": "580.159.03", "memory": "143771 MiB",
         "compute_capability": "9.0"}
    ]  # fmt: skip
    assert gc.parse_smi_cuda_version("Driver Version: 580.159.03   CUDA Version: 13.0 ") == "13.0"
    assert gc.parse_smi_cuda_version("no header") is None
    text = "built /c/fdnet-real-estimator-fp16.engine\nreused /c/fdnet-real-denoiser.engine\n"
    assert [how for how, _ in gc.parse_export_output(text)] == ["built", "reused"]
    report = gc.parse_run_report('note\n{"files": {"ok": 1}, "results": []}')
    assert report["files"]["ok"] == 1
    with pytest.raises(ValueError):
        gc.parse_run_report("error: no CUDA GPU")


def test_shipped_variants_are_read_from_the_weights_folder(tmp_path: Path) -> None:
    def ship(name: str, arch: str, variant: str, with_file: bool = True) -> None:
        meta = {"arch": arch, "variant": variant, "file": f"{name}.safetensors"}
        (tmp_path / f"{name}.json").write_text(json.dumps(meta))
        if with_file:
            (tmp_path / f"{name}.safetensors").write_bytes(b"x" * (len(name) + 1))

    ship("mwcnn-real", "mwcnn", "real")
    ship("fdnet-real", "fdnet", "real")  # a model added later is found without code changes
    ship("pridnet-gray", "pridnet", "gray", with_file=False)  # metadata without weights
    (tmp_path / "broken.json").write_text("{not json")
    found = gc.shipped_variants(tmp_path)
    assert found == [("fdnet", "real"), ("mwcnn", "real")]
    assert gc.select_variants(found, "fdnet") == [("fdnet", "real")]
    assert gc.select_variants(found, "mwcnn:real,nope") == [("mwcnn", "real")]
    assert gc.smallest_variant(found, tmp_path) == ("fdnet", "real")
    assert ("mwcnn", "real") in gc.shipped_variants()  # the real folder


def test_budget_skips_stages_cleanly_and_reports_incomplete(tmp_path: Path) -> None:
    now = [1000.0]
    budget = gc.Budget(480, started=1000.0, clock=lambda: now[0])
    assert budget.allows(60, reserve_s=120)
    now[0] += 400  # 80 s left
    assert budget.allows(60) and not budget.allows(60, reserve_s=60)
    assert "80s left" in budget.why_not(60)
    assert gc.reserve_after("filter-parity") == sum(
        gc.STAGE_NEEDS[s] for s in ("engines", "filter-speed", "run-100mp")
    )
    assert gc.reserve_after("filter-parity", ("filter-parity", "run-100mp")) == 60
    now[0] += 50  # 30 s left: less than any stage needs
    ctx = gc.Context(budget, False, tmp_path / "cache", tmp_path, names=("cuda-tests", "engines"))
    results = gc.run_stages(ctx, ctx.names)
    assert [r.status for r in results] == ["skip", "skip"]
    assert all("time budget" in r.note for r in results)
    assert gc.exit_code(results) == 3 and gc.overall_status(results) == "incomplete"


def test_exit_code_failure_beats_skip() -> None:
    stages = [gc.StageResult("a"), gc.StageResult("b", gc.SKIP), gc.StageResult("c", gc.FAIL)]
    assert gc.exit_code(stages) == 1
    assert gc.exit_code(stages[:1]) == 0


def test_report_shows_a_mismatch(tmp_path: Path) -> None:
    ctx = gc.Context(gc.Budget(480), False, tmp_path, tmp_path)
    row = {"model": "mwcnn:real", "precision": "fp16", "psnr_diff": -0.2, "ok": False}
    stages = [gc.StageResult("engines", gc.FAIL, 3.0, "mwcnn:real fp16: PSNR", [row])]
    md, js = gc.write_report(gc.build_report(ctx, stages), tmp_path / "out")
    text = md.read_text()
    assert "**fail** (exit 1)" in text and "**MISMATCH**" in text and "| engines | fail |" in text
    assert json.loads(js.read_text())["stages"][0]["rows"][0]["psnr_diff"] == -0.2


def test_unknown_stage_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        gc.parse_args(["--only", "engines,warp-drive"])
    assert exit_info.value.code == 2
    assert gc.main(["--validate", "--only", "engines"]) == 0


def test_psnr_of_identical_images_is_infinite_and_diff_zero() -> None:
    clean = gc.scene(8, 8, 3)
    assert math.isinf(gc.psnr(clean, clean))
    assert gc.compare(clean, clean, clean).psnr_diff == 0.0


@pytest.mark.parametrize("arch", ["fdnet", "rednet"])
def test_export_prebuilds_every_file_the_runtime_uses(arch: str, tmp_path: Path) -> None:
    """What gpu_check's engines stage asserts on the GPU, here with ONNX on the CPU: after
    `fastdenoise export`, building and running the model adds nothing to the cache (FDNet:
    its estimator and conditioned denoiser are two files)."""
    pytest.importorskip("onnxruntime")
    from fastdenoise.engines import cache
    from typer.testing import CliRunner

    from fastdenoise import methods
    from fastdenoise.cli import app

    from .test_models import write_weights

    weights = write_weights(tmp_path, arch)
    folder = cache.cache_dir()
    result = CliRunner().invoke(
        app, ["export", "-m", arch, "--weights", str(weights), "-o", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 0, result.output
    exported = gc.parse_export_output(result.output)
    assert len(exported) == (2 if arch == "fdnet" else 1), result.output
    assert all(Path(path).exists() for _, path in exported)
    copies = sorted(p.name for p in tmp_path.glob("m*.onnx"))
    assert copies == (["m-denoiser.onnx", "m-estimator.onnx"] if arch == "fdnet" else ["m.onnx"])
    before = gc.cache_files(folder, ".onnx")
    denoiser = methods.get(arch).build(device="cpu", engine="onnxruntime", weights=str(weights))
    image = gc.gaussian_noisy(gc.scene(40, 48, 3), 25, 0)
    assert gc.run_model(denoiser, image).shape == image.shape
    assert gc.cache_files(folder, ".onnx") == before, "the runtime exported again"


def test_no_gpu_skips_every_later_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        gc.STAGE_FUNCTIONS, "versions", lambda ctx: gc.StageResult("versions", gc.FAIL)
    )
    ctx = gc.Context(gc.Budget(480), False, tmp_path, tmp_path, names=("versions", "engines"))
    results = gc.run_stages(ctx, ctx.names)
    assert [(r.name, r.status) for r in results] == [("versions", "fail"), ("engines", "skip")]
    assert "no usable GPU" in results[1].note and gc.exit_code(results) == 1
