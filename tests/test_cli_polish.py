"""Newcomer polish (issue 20): pipe-friendly output, small CLI options, one syntax everywhere."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import fastdenoise
from fastdenoise import methods
from fastdenoise.cli import app
from fastdenoise.methods import Denoiser, Method, Param
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


# --- item 6: small things a user trips over --------------------------------------------------


class _Recorder(Denoiser):
    """A test-only filter that records the thread count it was built with."""

    built_with: ClassVar[list[int]] = []

    def __init__(self, threads: int = 0, device: str = "auto") -> None:
        _Recorder.built_with.append(threads)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return tile.copy()


methods.register(
    Method(
        "test-threads",
        "filter",
        "test-only: records threads",
        _Recorder,
        (Param("threads", 0, "threads", int),),
    )
)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fastdenoise {fastdenoise.__version__}"


def test_threads_option_reaches_the_method_and_numba(photo_dir, tmp_path):
    import numba

    _Recorder.built_with.clear()
    try:
        result = invoke(
            "run",
            str(photo_dir / "a.png"),
            "-o",
            str(tmp_path / "o"),
            "-m",
            "test-threads",
            "-j",
            "1",
        )
        assert result.exit_code == 0, result.output
        assert _Recorder.built_with == [1]
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert invoke("run", str(photo_dir), "-m", "test-box", "-j", "0").exit_code == 2


def test_output_file_with_one_input(photo_dir, tmp_path):
    target = tmp_path / "clean.jpg"
    result = invoke("run", str(photo_dir / "a.png"), "-o", str(target), "-m", "test-box", "-q")
    assert result.exit_code == 0, result.output
    assert target.is_file()
    assert Image.open(target).format == "JPEG"
    many = invoke("run", str(photo_dir), "-o", str(tmp_path / "x.png"), "-m", "test-box", "-q")
    assert many.exit_code == 2
    assert "x.png" in many.stderr and "directory" in many.stderr
    assert not (tmp_path / "x.png").exists()


def test_unknown_name_placeholder_is_named(photo_dir, tmp_path):
    result = invoke(
        "run",
        str(photo_dir),
        "-o",
        str(tmp_path / "o"),
        "-m",
        "test-box",
        "--name",
        "{stem}_{methd}",
    )
    assert result.exit_code == 2
    assert "{methd}" in result.stderr and "{method}" in result.stderr


def test_image_bytes_on_stdin_explain_the_list(photo_dir, tmp_path):
    data = (photo_dir / "a.png").read_bytes()
    result = invoke("run", "-", "-o", str(tmp_path / "o"), "-m", "test-box", stdin=data)
    assert result.exit_code == 2
    assert "list of" in result.stderr and "paths" in result.stderr
    assert "null byte" not in result.stderr


def test_export_copy_uses_the_umask(tmp_path, monkeypatch):
    from fastdenoise.cli_export import copy_atomic  # fastdenoise.atomic's, as export uses it

    source = tmp_path / "model.onnx"
    source.write_bytes(b"onnx")
    previous = os.umask(0o022)
    try:
        copy_atomic(source, tmp_path / "out" / "copy.onnx")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out" / "copy.onnx").stat().st_mode) == 0o644
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["copy.onnx"]


# --- item 5: one method-spec and one noise-spec syntax ----------------------------------------


def test_run_takes_method_spec_and_params(photo_dir, tmp_path):
    image = str(photo_dir / "a.png")
    spec = invoke(
        "run", image, "-o", str(tmp_path / "s"), "-m", "test-box:radius=1", "--json", "-q"
    )
    assert spec.exit_code == 0, spec.output
    flag = invoke(
        "run", image, "-o", str(tmp_path / "p"), "-m", "test-box", "-p", "radius=1", "--json", "-q"
    )
    assert flag.exit_code == 0, flag.output
    assert (tmp_path / "s" / "a.png").read_bytes() == (tmp_path / "p" / "a.png").read_bytes()
    named = invoke(
        "run", image, "-o", str(tmp_path / "n"), "-m", "test-box:radius=1", "--name", "{method}.png"
    )
    assert named.exit_code == 0 and (tmp_path / "n" / "test-box.png").exists()
    clash = invoke("run", image, "-m", "test-box:radius=1", "-p", "radius=2", "--dry-run")
    assert clash.exit_code == 2 and "radius" in clash.stderr
    assert invoke("run", image, "-m", "test-box:size=3", "--dry-run").exit_code == 2


def test_bench_takes_params_too(tmp_path, rng):
    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray(noisy_rgb(rng)).save(folder / "0.png")
    common = ("--data", str(folder), "--format", "json")
    by_spec = json.loads(invoke("bench", "test-box:radius=1", *common).stdout)
    by_flag = json.loads(invoke("bench", "test-box", "-p", "radius=1", *common).stdout)
    assert by_flag[0]["psnr"] == by_spec[0]["psnr"]
    assert by_flag[0]["method"] == "test-box:radius=1"


def test_one_noise_syntax_and_salt_and_pepper_aliases():
    from fastdenoise import noise
    from fastdenoise.bench import parse_noise

    for alias in ("salt-and-pepper", "salt-pepper", "salt_pepper", "salt_and_pepper"):
        assert parse_noise(f"{alias}:0.2") == [("salt-and-pepper", 0.2)]
        image = np.full((64, 64, 3), 0.5, np.float32)
        out = noise.parse(f"{alias}:0.2")(image, np.random.default_rng(0))
        assert 0.1 < np.mean(np.any(out != 0.5, axis=-1)) < 0.3
    assert parse_noise("gaussian:sigma=15;poisson:peak=30") == [
        ("gaussian", 15.0),
        ("poisson", 30.0),
    ]
    flat = np.full((64, 64, 3), 0.5, np.float32)
    bare = noise.parse("gaussian:25")(flat, np.random.default_rng(1))
    keyed = noise.parse("gaussian:sigma=25")(flat, np.random.default_rng(1))
    np.testing.assert_array_equal(bare, keyed)
    with pytest.raises(ValueError, match="sigma"):
        noise.parse("gaussian:25,sigma=30")


def test_export_takes_the_method_spec():
    mixed = invoke("export", "-m", "mwcnn:variant=real", "--variant", "gaussian")
    assert mixed.exit_code == 2 and "variant is set twice" in mixed.stderr
    other = invoke("export", "-m", "mwcnn", "-p", "tta=true")
    assert other.exit_code == 2 and "variant and weights" in other.stderr
    unknown = invoke("export", "-m", "mwcnn:variant=nope")
    assert unknown.exit_code == 2 and "nope" in unknown.stderr


# --- item 3: stdin lists keep the folder tree; nothing is read back from -o -------------------


def test_stdin_list_keeps_the_tree_relative_to_cwd(tmp_path, rng, monkeypatch):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(noisy_rgb(rng)).save(tmp_path / folder / "x.png")
    monkeypatch.chdir(tmp_path)
    listing = "a/x.png\n./b/x.png\n"
    first = invoke("run", "-", "-o", "clean", "-m", "test-box", "-q", stdin=listing)
    assert first.exit_code == 0, first.output
    assert outputs(tmp_path / "clean") == ["a/x.png", "b/x.png"]
    # a second run over everything (find . -name '*.png') never reads its own outputs back
    everything = "\n".join(str(p.relative_to(tmp_path)) for p in sorted(tmp_path.rglob("*.png")))
    again = invoke(
        "run",
        "-",
        "-o",
        "clean",
        "-m",
        "test-box",
        "--skip-existing",
        "--json",
        "-q",
        stdin=everything,
    )
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["files"] == {"total": 2, "ok": 0, "failed": 0, "skipped": 2}
    assert outputs(tmp_path / "clean") == ["a/x.png", "b/x.png"]


def test_stdin_list_with_base(tmp_path, rng):
    shoot = tmp_path / "shoot"
    (shoot / "day1").mkdir(parents=True)
    Image.fromarray(noisy_rgb(rng)).save(shoot / "day1" / "x.png")
    listing = f"{shoot / 'day1' / 'x.png'}\n"
    out = tmp_path / "out"
    result = invoke(
        "run", "-", "-o", str(out), "--base", str(shoot), "-m", "test-box", "-q", stdin=listing
    )
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["day1/x.png"]
    outside = invoke(
        "run",
        "-",
        "-o",
        str(out),
        "--base",
        str(shoot / "day1" / "none"),
        "-m",
        "test-box",
        "-q",
        stdin=listing,
    )
    assert outside.exit_code == 1 and "--base" in outside.stderr


def test_glob_never_takes_files_inside_the_output(photo_dir):
    out = photo_dir / "clean"
    first = invoke("run", str(photo_dir / "**" / "*.png"), "-o", str(out), "-m", "test-box", "-q")
    assert first.exit_code == 0, first.output
    again = invoke(
        "run",
        str(photo_dir / "**" / "*.png"),
        "-o",
        str(out),
        "-m",
        "test-box",
        "-q",
        "--dry-run",
        "--json",
    )
    sources = [row["source"] for row in json.loads(again.stdout)["plan"]]
    assert sorted(Path(s).name for s in sources) == ["a.png", "c.png"]
