"""Newcomer polish (issue 20): pipe-friendly output, small CLI options, one syntax everywhere."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from fastdenoise.cli import app
from tests.conftest import noisy_rgb

runner = CliRunner()


def invoke(*args: str, stdin: str | bytes | None = None):
    return runner.invoke(app, list(args), input=stdin)


def outputs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- item 2: complete rows when piped --------------------------------------------------------


def test_analyze_piped_prints_whole_tsv_rows(tmp_path, rng):
    long_name = tmp_path / ("a_rather_long_file_name_that_a_table_would_cut_" * 2 + "da.png")
    Image.fromarray(noisy_rgb(rng)).save(long_name)
    result = invoke("analyze", str(long_name))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["file", "noise", "level", "evidence"]
    fields = lines[1].split("\t")
    assert fields[0] == str(long_name)
    assert len(fields) == 4 and fields[1]


def test_bench_table_piped_is_tsv_with_full_values(tmp_path, rng):
    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray(noisy_rgb(rng)).save(folder / "0.png")
    result = invoke("bench", "test-box:radius=1", "--data", str(folder), "--noise", "gaussian:25")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split("\t")[:3] == ["method", "noise", "n"]
    values = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert values["method"] == "test-box:radius=1"
    assert float(values["PSNR"]) > float(values["input PSNR"])


def test_methods_json_and_tsv():
    result = invoke("methods", "--json")
    assert result.exit_code == 0, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert listed["test-box"]["kind"] == "filter"
    assert listed["test-box"]["params"] == [
        {"name": "radius", "default": 2, "type": "int", "help": "r"}
    ]
    piped = invoke("methods")
    assert any(line.startswith("test-box\tfilter\t") for line in piped.stdout.splitlines())


def test_dry_run_plan_on_stdout_reflects_existing_outputs(photo_dir, tmp_path):
    out = tmp_path / "out"
    options = ("-o", str(out), "-m", "test-box", "-q")
    assert invoke("run", str(photo_dir / "a.png"), *options).exit_code == 0  # out/a.png exists
    args = ("run", str(photo_dir), *options)
    plan = invoke(*args, "--dry-run", "--json")
    assert plan.exit_code == 1, plan.output  # a.png would fail: exists, no --skip-existing
    rows = {Path(r["source"]).name: r for r in json.loads(plan.stdout)["plan"]}
    assert rows["a.png"]["action"] == "fail" and "exists" in rows["a.png"]["reason"]
    assert rows["b.jpg"]["action"] == "write"
    skip = invoke(*args, "--dry-run", "--skip-existing")
    assert skip.exit_code == 0, skip.output
    lines = skip.stdout.splitlines()
    assert any(line.startswith("skip\t") and "a.png" in line for line in lines)
    assert sum(line.startswith("write\t") for line in lines) == 2
    assert outputs(out) == ["a.png"]


def test_dry_run_with_clashes_exits_non_zero(tmp_path, rng):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        Image.fromarray(noisy_rgb(rng)).save(tmp_path / folder / "same.png")
    files = [str(tmp_path / "x" / "same.png"), str(tmp_path / "y" / "same.png")]
    result = invoke("run", *files, "-o", str(tmp_path / "o"), "-m", "test-box", "--dry-run")
    assert result.exit_code == 1
    assert "also the output of" in result.stdout
