"""`fastdenoise run` end to end on generated folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from fastdenoise.cli import app

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["run", *args], input=stdin)


def outputs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_mirrors_tree_and_reports_json(photo_dir, tmp_path):
    out = tmp_path / "out"
    result = run(str(photo_dir), "-o", str(out), "-m", "test-box", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["a.png", "b.jpg", "sub/c.png"]
    report = json.loads(result.stdout)
    assert report["files"] == {"total": 3, "ok": 3, "failed": 0, "skipped": 0}
    assert set(report["stage_seconds"]) == {"read", "denoise", "write"}
    assert report["megapixels"] > 0 and report["wall_seconds"] > 0
    assert report["results"][0]["method"] == "BoxBlur"
    first = report["results"][0]
    assert set(first) == {
        "source",
        "destination",
        "status",
        "reason",
        "method",
        "notes",
        "megapixels",
        "read_s",
        "denoise_s",
        "write_s",
        "copied",
    }
    denoised = np.asarray(Image.open(out / "a.png"))
    assert denoised.shape == np.asarray(Image.open(photo_dir / "a.png")).shape
    assert denoised.std() < np.asarray(Image.open(photo_dir / "a.png")).std()


def test_bad_file_reported_others_complete(photo_dir, tmp_path):
    (photo_dir / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    result = run(str(photo_dir), "-o", str(out), "-m", "test-box", "-q")
    assert result.exit_code == 1
    assert "broken.png: not a recognised image file" in result.stderr
    assert "Traceback" not in result.output
    assert outputs(out) == ["a.png", "b.jpg", "sub/c.png"]


def test_fail_fast_stops_early(photo_dir, tmp_path):
    (photo_dir / "0broken.png").write_bytes(b"")
    out = tmp_path / "out"
    result = run(str(photo_dir), "-o", str(out), "-m", "test-box", "-q", "--fail-fast")
    assert result.exit_code == 1
    assert len(outputs(out)) < 3


def test_never_writes_onto_an_input(photo_dir):
    before = (photo_dir / "a.png").read_bytes()
    result = run(str(photo_dir / "a.png"), "-o", str(photo_dir), "-m", "test-box", "-q")
    assert result.exit_code == 1
    assert "overwrite the input" in result.stderr
    assert (photo_dir / "a.png").read_bytes() == before


def test_existing_outputs_need_overwrite_or_skip(photo_dir, tmp_path):
    out = tmp_path / "out"
    assert run(str(photo_dir), "-o", str(out), "-m", "test-box", "-q").exit_code == 0
    stamp = (out / "a.png").stat().st_mtime_ns
    again = run(str(photo_dir), "-o", str(out), "-m", "test-box", "-q", "--json")
    assert again.exit_code == 1 and "use --overwrite or --skip-existing" in again.stderr
    skipped = run(
        str(photo_dir), "-o", str(out), "-m", "test-box", "-q", "--skip-existing", "--json"
    )
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["files"]["skipped"] == 3
    assert (out / "a.png").stat().st_mtime_ns == stamp
    assert run(str(photo_dir), "-o", str(out), "-m", "test-box", "-q", "--overwrite").exit_code == 0


def test_skip_existing_completes_the_rest(photo_dir, tmp_path):
    out = tmp_path / "out"
    run(str(photo_dir / "a.png"), "-o", str(out), "-m", "test-box", "-q")
    result = run(
        str(photo_dir), "-o", str(out), "-m", "test-box", "-q", "--skip-existing", "--json"
    )
    files = json.loads(result.stdout)["files"]
    assert (files["ok"], files["skipped"]) == (2, 1)
    assert outputs(out) == ["a.png", "b.jpg", "sub/c.png"]


def test_shards_partition_the_job_list(photo_dir, tmp_path):
    seen = []
    for k in range(2):
        out = tmp_path / f"shard{k}"
        result = run(str(photo_dir), "-o", str(out), "-m", "test-box", "-q", "--shard", f"{k}/2")
        assert result.exit_code == 0
        seen.append(set(outputs(out)))
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] | seen[1] == {"a.png", "b.jpg", "sub/c.png"}
    assert run(str(photo_dir), "--shard", "2/2", "-m", "test-box").exit_code == 2


def test_stdin_list_glob_format_and_suffix(photo_dir, tmp_path):
    out = tmp_path / "out"
    listing = f"{photo_dir / 'a.png'}\n{photo_dir / 'sub' / 'c.png'}\n"
    result = run(
        "-",
        *("-o", str(out), "--base", str(photo_dir), "-m", "test-box", "-q"),
        *("-f", "tif", "--suffix", "_dn"),
        stdin=listing,
    )
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["a_dn.tif", "sub/c_dn.tif"]  # the tree below --base is kept
    globbed = run(
        str(photo_dir / "**" / "*.png"), "-o", str(tmp_path / "g"), "-m", "test-box", "-q"
    )
    assert globbed.exit_code == 0
    assert outputs(tmp_path / "g") == ["a.png", "sub/c.png"]


def test_dry_run_writes_nothing(photo_dir, tmp_path):
    out = tmp_path / "out"
    result = run(str(photo_dir), "-o", str(out), "-m", "test-box", "--dry-run")
    assert result.exit_code == 0
    assert "3 file(s)" in result.stderr
    assert not out.exists()


def test_usage_errors_exit_2(photo_dir):
    assert run(str(photo_dir), "-m", "nope").exit_code == 2
    assert run(str(photo_dir), "-m", "test-box", "-p", "radius").exit_code == 2
    assert run(str(photo_dir), "-m", "test-box", "--fp16").exit_code == 2
    assert run(str(photo_dir), "-m", "test-box", "-f", "gif").exit_code == 2


def test_missing_input_is_a_failed_file(tmp_path, photo_dir):
    result = run(
        str(tmp_path / "missing.png"),
        str(photo_dir / "a.png"),
        "-o",
        str(tmp_path / "o"),
        "-m",
        "test-box",
        "-q",
    )
    assert result.exit_code == 1
    assert "missing.png: no such file" in result.stderr
    assert outputs(tmp_path / "o") == ["a.png"]


def test_16bit_and_alpha_survive_the_cli(rng, tmp_path):
    import cv2

    src = tmp_path / "in"
    src.mkdir()
    rgba16 = rng.integers(0, 65536, (20, 24, 4), dtype=np.uint16)
    cv2.imwrite(str(src / "deep.png"), rgba16[:, :, [2, 1, 0, 3]])
    result = run(str(src), "-o", str(tmp_path / "out"), "-m", "test-box", "-q")
    assert result.exit_code == 0, result.output
    back = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back.shape == (20, 24, 4)
    np.testing.assert_array_equal(back[..., 3], rgba16[..., 3])
