"""The Ray Data path gives byte-identical outputs to the local run (loopback-only Ray)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fastdenoise.cli import app
from fastdenoise.pipeline import PipelineOptions
from fastdenoise.sources import Naming, plan_jobs

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'fastdenoise[ray]')")
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_outputs_equal_local_outputs(tmp_path, rng, local_ray):
    from fastdenoise.ray_run import run_on_ray

    src = tmp_path / "in"
    (src / "nested").mkdir(parents=True)
    for i in range(5):
        image = rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)
        Image.fromarray(image).save(src / ("nested" if i % 2 else ".") / f"{i}.png")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")

    local = runner.invoke(
        app, ["run", str(src), "-o", str(tmp_path / "local"), "-m", "median", "-q", "--json"]
    )
    assert local.exit_code == 1

    jobs = plan_jobs([str(src)], Naming(tmp_path / "ray"))
    report = run_on_ray(jobs, "median", {}, "cpu", PipelineOptions(), actors=1)
    assert (report.count("ok"), report.count("failed")) == (5, 1)
    failed = next(r for r in report.files if r.status == "failed")
    assert failed.source.endswith("corrupt.png") and "corrupt" in (failed.reason or "")

    local_files = sorted(
        p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png")
    )
    ray_files = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.png"))
    assert local_files == ray_files and len(ray_files) == 5
    for relative in ray_files:
        assert (tmp_path / "ray" / relative).read_bytes() == (
            tmp_path / "local" / relative
        ).read_bytes()
    local_status = {r["source"]: r["status"] for r in json.loads(local.stdout)["results"]}
    assert local_status == {r.source: r.status for r in report.files}


def test_ray_respects_skip_existing(tmp_path, rng, local_ray):
    from fastdenoise.ray_run import run_on_ray

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(src / f"{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "0.png").write_bytes(b"already here")
    jobs = plan_jobs([str(src)], Naming(out))
    report = run_on_ray(jobs, "median", {}, "cpu", PipelineOptions(skip_existing=True))
    assert (report.count("ok"), report.count("skipped")) == (2, 1)
    assert (out / "0.png").read_bytes() == b"already here"
