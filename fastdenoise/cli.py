"""The ``fastdenoise`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fastdenoise import methods
from fastdenoise.cli_export import export as export_command
from fastdenoise.cli_train import train as train_command
from fastdenoise.io import DEFAULT_MAX_MEMORY, DEFAULT_MAX_PIXELS, FORMAT_BY_SUFFIX, parse_bytes
from fastdenoise.sources import DEFAULT_NAME, Job, Naming, parse_shard, plan_jobs
from fastdenoise.threads import limit_threads, thread_params

if TYPE_CHECKING:
    from fastdenoise.pipeline import PipelineOptions

app = typer.Typer(
    name="fastdenoise",
    help="Fast image denoising: native classical filters and trained deep models.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_METHOD = "auto"  # per image: impulses, clean, else the real-noise model


def _print_version(requested: bool) -> None:
    if requested:
        from fastdenoise import __version__

        typer.echo(f"fastdenoise {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Fast image denoising: native classical filters and trained deep models."""


def _usage_error(message: str) -> typer.Exit:
    from rich.markup import escape

    from fastdenoise.console import error_line

    error_line("usage", escape(message))  # keep brackets ('fastdenoise[train]', paths)
    return typer.Exit(EXIT_USAGE)


def _require_bench(command: str) -> None:
    """A usage error naming the ``[bench]`` extra when scikit-image is not installed."""
    from fastdenoise.extras import MissingExtraError, require_bench

    try:
        require_bench(command)
    except MissingExtraError as error:
        raise _usage_error(str(error)) from None


def parse_params(pairs: list[str], method: methods.Method) -> dict[str, Any]:
    """``["size=5", "h=0.08"]`` -> typed keyword arguments for ``method``."""
    by_name = {param.name: param for param in method.params}
    parsed: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ValueError(
                f"{method.name}: {pair!r}: expected NAME=VALUE with NAME one of: {known}"
            )
        kind = by_name[name].type
        try:
            parsed[name] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
        except ValueError:
            raise ValueError(f"{pair}: {value!r} is not a valid {kind.__name__}") from None
    return parsed


def method_spec(spec: str, pairs: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The one method-spec parser: ``"mwcnn:variant=real,tta=true"`` plus ``-p k=v`` pairs.

    Returns the method name and its typed parameters. A parameter given both in the spec and
    with ``-p`` must agree.
    """
    name, _, rest = spec.partition(":")
    method = methods.get(name)
    params = parse_params([item for item in rest.split(",") if item], method)
    for key, value in parse_params(pairs or [], method).items():
        if key in params and params[key] != value:
            raise ValueError(f"{key} is set twice: {spec} and -p {key}={value}")
        params[key] = value
    return name, params


def _parse_cluster(spec: str) -> str:
    """``ray`` -> "" (start a local Ray), ``ray=HOST:PORT`` -> the address."""
    kind, _, address = spec.partition("=")
    if kind != "ray":
        raise ValueError(f"--cluster {spec}: only 'ray' or 'ray=ADDRESS' is supported")
    try:
        import ray  # noqa: F401
    except ModuleNotFoundError:
        raise ValueError("--cluster ray needs Ray: pip install 'fastdenoise[ray]'") from None
    return address


STDIN_HELP = "`run -` reads a list of image paths from stdin, one per line"


def _read_stdin_list() -> list[str]:
    """The paths listed on stdin; binary data (image bytes piped in) is a usage error."""
    try:
        text = sys.stdin.read()
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise ValueError(f"{STDIN_HELP} (e.g. find . -name '*.jpg' | ...), not image bytes")
    return [line.strip() for line in text.splitlines() if line.strip()]


NAME_FIELDS = ("stem", "suffix", "ext", "method")


def check_name_template(template: str) -> None:
    """Refuse a ``--name`` template with an unknown or malformed placeholder, naming it."""
    import string

    known = ", ".join("{" + field + "}" for field in NAME_FIELDS)
    try:
        fields = [
            field for _, field, _, _ in string.Formatter().parse(template) if field is not None
        ]
    except ValueError as error:
        raise ValueError(f"--name {template!r}: {error}; placeholders are {known}") from None
    for field in fields:
        if field not in NAME_FIELDS:
            raise ValueError(f"--name {template!r}: unknown placeholder {{{field}}}; use {known}")


def single_file_output(
    output: Path, specs: list[str], jobs: list[Job], out_format: str | None
) -> list[Job]:
    """``-o out.jpg``: one input file written to exactly that path; else the jobs unchanged.

    An ``-o`` that ends in an image suffix and is not an existing folder names a file. It
    takes one input file (not a folder or a pattern); more inputs are refused before any work.
    """
    from dataclasses import replace

    from fastdenoise.io import format_for

    if output.is_dir() or format_for(output) is None:
        return jobs
    if len(specs) != 1 or len(jobs) != 1 or not Path(specs[0]).is_file():
        raise ValueError(
            f"-o {output} names a file, which takes exactly one input file; "
            f"for {len(jobs)} file(s) give a directory"
        )
    if out_format is not None and out_format != format_for(output):
        raise ValueError(f"-o {output} and -f/--format disagree on the container")
    job = jobs[0]
    problem = job.problem
    if problem is None and output.resolve() == job.source.resolve():
        problem = "output would overwrite the input; choose another -o"
    return [replace(job, destination=output, problem=problem)]


@app.command()
def run(
    inputs: Annotated[
        list[str], typer.Argument(help="Files, directories (recursive), globs, or - for stdin.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")] = Path(
        "denoised"
    ),
    model: Annotated[
        str, typer.Option("-m", "--model", help="Method: a model or a filter (see `methods`).")
    ] = DEFAULT_METHOD,
    param: Annotated[
        list[str] | None,
        typer.Option("-p", "--param", help="Method parameter NAME=VALUE (repeatable)."),
    ] = None,
    fp16: Annotated[
        bool, typer.Option("--fp16", help="Reduced precision for models (bf16 on CPU).")
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(help="Model engine: auto, tensorrt, onnxruntime or torch (default auto)."),
    ] = None,
    tta: Annotated[
        bool, typer.Option("--tta", help="Models: average the 8 flips/rotations (8x slower).")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    tile: Annotated[int, typer.Option(help="Tile size in pixels; 0 = whole image.")] = 512,
    out_format: Annotated[
        str | None,
        typer.Option("-f", "--format", help="Output container: png, jpg, tif, webp, bmp."),
    ] = None,
    suffix: Annotated[str, typer.Option(help="Text added to each output's stem.")] = "",
    name: Annotated[
        str, typer.Option(help="Output name template: {stem} {suffix} {ext} {method}.")
    ] = DEFAULT_NAME,
    quality: Annotated[int, typer.Option(help="JPEG/WebP quality (WebP 100 = lossless).")] = 95,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
    skip_existing: Annotated[bool, typer.Option(help="Skip inputs whose output exists.")] = False,
    shard: Annotated[
        str | None, typer.Option(help="Process only part K/N of the sorted job list (0 <= K < N).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="List what would be done, write nothing.")] = False,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first failed file.")] = False,
    max_pixels: Annotated[
        int, typer.Option(help="Refuse images larger than this (checked before decoding).")
    ] = DEFAULT_MAX_PIXELS,
    max_memory: Annotated[
        str,
        typer.Option(
            help="Refuse images that would need more memory than this to denoise (estimated "
            "from the header before decoding: size, channels, bit depth, float copies).",
        ),
    ] = f"{DEFAULT_MAX_MEMORY // 1024**3}G",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress or report.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    cluster: Annotated[
        str | None,
        typer.Option(help="Run on Ray Data: 'ray' (local cluster) or 'ray=ADDRESS'."),
    ] = None,
    actors: Annotated[int, typer.Option(help="Denoising actors with --cluster ray.")] = 1,
    threads: Annotated[
        int | None,
        typer.Option("-j", "--threads", help="CPU threads for filters and models."),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(
            help="Files listed one by one (stdin '-') keep their path below this folder "
            "under -o (default for '-': the current directory)."
        ),
    ] = None,
) -> None:
    """Denoise files and directories.

    Example: fastdenoise run ./photos -o ./clean --model nlm
    """
    from fastdenoise.console import Failures, RunProgress, loading, print_report, progress_enabled
    from fastdenoise.kernels import aot
    from fastdenoise.pipeline import Interrupted, PipelineOptions, run_pipeline

    aot.enable()  # one process per file is common: start kernels without Numba (see aot)
    try:
        method_name, params = method_spec(model, param)
        method = methods.get(method_name)
        model_flags = {
            ("precision", "--fp16"): "fp16" if fp16 else None,
            ("engine", "--engine"): engine,
            ("tta", "--tta"): True if tta else None,
        }
        for (key, flag), value in model_flags.items():
            if value is None:
                continue
            if key not in {p.name for p in method.params}:
                raise ValueError(f"{flag} applies to models; {method.name!r} is a {method.kind}")
            params[key] = value
        fmt = None
        if out_format is not None:
            fmt = FORMAT_BY_SUFFIX.get("." + out_format.lower().lstrip("."))
            if fmt is None:
                raise ValueError(f"--format {out_format}: use png, jpg, tif, webp or bmp")
        if overwrite and skip_existing:
            raise ValueError("--overwrite and --skip-existing exclude each other")
        ray_address = _parse_cluster(cluster) if cluster else None
        if cluster and fail_fast:
            raise ValueError("--fail-fast is not supported with --cluster ray")
        shard_spec = parse_shard(shard) if shard else None
        memory_limit = parse_bytes(max_memory, "--max-memory")
        if threads is not None:
            limit_threads(threads)
            params.update(thread_params(method, threads))
        check_name_template(name)
        specs = _read_stdin_list() if inputs == ["-"] else inputs
        naming = Naming(output, name, suffix, fmt, method.name)
        from_list = base if base is not None else (Path() if inputs == ["-"] else None)
        planned = plan_jobs(specs, naming, shard_spec, base=from_list)
        jobs = single_file_output(output, specs, planned, fmt)
        denoiser = None
        if not dry_run:
            with loading(f"loading {model}…", progress_enabled(quiet)):
                denoiser = method.build(device=device, **params)
        if threads is not None:
            limit_threads(threads)  # again: building may have loaded Numba or torch
    except (ValueError, LookupError, RuntimeError) as error:
        raise _usage_error(str(error)) from None

    options = PipelineOptions(
        tile=tile or None,
        max_pixels=max_pixels,
        max_memory=memory_limit,
        quality=quality,
        overwrite=overwrite,
        skip_existing=skip_existing,
        fail_fast=fail_fast,
    )
    if dry_run:
        raise typer.Exit(_print_plan(jobs, options, as_json, quiet))

    def on_sigterm(signum: int, frame: object) -> None:
        raise Interrupted(143)

    signal.signal(signal.SIGTERM, on_sigterm)
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit fails the write (EFBIG), not the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    exit_code = EXIT_OK
    if cluster:
        from fastdenoise.console import error_line
        from fastdenoise.ray_run import run_on_ray

        report = run_on_ray(
            jobs,
            method.name,
            params,
            device,
            options,
            ray_address or None,
            actors,
            show_progress=progress_enabled(quiet),
        )
        for result in report.files:
            if result.status == "failed":
                error_line(result.source, result.reason or "failed")
    else:
        show_choices = method.kind == "meta" and not quiet
        bars = progress_enabled(quiet)
        sink = RunProgress(len(jobs), bars, show_choices) if bars or show_choices else Failures()
        with sink as progress:
            try:
                report = run_pipeline(jobs, denoiser, options, progress, method=model)
            except KeyboardInterrupt as interrupt:
                report, exit_code = interrupt.report, 130  # type: ignore[attr-defined]
            except Interrupted as interrupt:
                report = interrupt.report  # type: ignore[attr-defined]
                exit_code = interrupt.exit_code
    if not quiet:
        print_report(report)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    if exit_code == EXIT_OK and report.count("failed"):
        exit_code = EXIT_FAILED
    raise typer.Exit(exit_code)


def plan_rows(jobs: list[Job], options: PipelineOptions) -> list[dict[str, str | None]]:
    """What a run would do with each job: write, overwrite, skip or fail (with the reason)."""
    from fastdenoise.pipeline import FAILED, precheck

    rows: list[dict[str, str | None]] = []
    for job in jobs:
        verdict = precheck(job, options)
        if verdict is not None:
            action = "fail" if verdict.status == FAILED else "skip"
            reason = verdict.reason
        else:
            action = "overwrite" if job.destination.exists() else "write"
            reason = None
        rows.append(
            {
                "action": action,
                "source": job.display,
                "destination": str(job.destination),
                "reason": reason,
            }
        )
    return rows


def _print_plan(jobs: list[Job], options: PipelineOptions, as_json: bool, quiet: bool) -> int:
    """``--dry-run``: the plan on stdout (TSV or JSON); exit 1 when some job would fail."""
    from collections import Counter

    from fastdenoise.console import stderr

    rows = plan_rows(jobs, options)
    tally = Counter(row["action"] for row in rows)
    if as_json:
        typer.echo(json.dumps({"plan": rows, "actions": dict(tally)}, indent=2))
    else:
        for row in rows:
            fields = [row["action"], row["source"], row["destination"], row["reason"] or ""]
            typer.echo("\t".join(str(f) for f in fields).rstrip("\t"))
    if not quiet:
        counts = ", ".join(f"{tally[action]} {action}" for action in sorted(tally)) or "nothing"
        stderr.print(f"{len(rows)} file(s): {counts}; nothing written (--dry-run)", markup=False)
    return EXIT_FAILED if tally["fail"] else EXIT_OK


@app.command("methods")
def list_methods(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List the registered filters and models with their parameters."""
    from fastdenoise.console import print_rows

    listed = [_method_dict(method) for method in methods.available().values()]
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    print_rows(
        "fastdenoise methods",
        ("name", "kind", "summary", "parameters (-m NAME:k=v,... or -p k=v)"),
        (
            (
                entry["name"],
                entry["kind"],
                entry["summary"],
                "\n".join(f"{p['name']}={p['default']!r}: {p['help']}" for p in entry["params"]),
            )
            for entry in listed
        ),
    )


def _method_dict(method: methods.Method) -> dict[str, Any]:
    """A method's name, kind, summary and parameters as JSON-ready values."""
    return {
        "name": method.name,
        "kind": method.kind,
        "summary": method.summary,
        "params": [
            {
                "name": p.name,
                "default": p.default,
                "type": p.type.__name__,
                "help": p.help,
            }
            for p in method.params
        ],
    }


@app.command("sample-images")
def sample_images(
    folder: Annotated[Path, typer.Argument(help="Where to write the noisy sample PNGs.")],
    sigma: Annotated[float, typer.Option(help="Gaussian noise sigma (8-bit units).")] = 25.0,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
) -> None:
    """Write noisy versions of scikit-image's bundled photos (the embedded demo input)."""
    _require_bench("sample-images")
    from fastdenoise.demo import write_demo_images

    for path in write_demo_images(folder, sigma, seed):
        typer.echo(str(path))


@app.command()
def analyze(
    images: Annotated[list[Path], typer.Argument(help="Image files to analyse.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    learned: Annotated[
        bool,
        typer.Option(
            "--learned",
            help="Read the level with FDNet's learned estimator (experimental: see README).",
        ),
    ] = False,
) -> None:
    """Identify each image's noise type and level, with the evidence.

    Example: fastdenoise analyze photo.jpg scan.png
    """
    from fastdenoise.analyze import identify
    from fastdenoise.console import error_line, print_rows
    from fastdenoise.io import ImageError, read_image

    rows, failed = [], 0
    for path in images:
        try:
            report = identify(read_image(path).pixels, learned=learned)
        except ImageError as error:
            error_line(str(path), str(error))
            failed += 1
            continue
        rows.append({"file": str(path), **report.to_dict(), "evidence": report.evidence()})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        print_rows(
            "noise analysis (levels in 8-bit units)",
            ("file", "noise", "level", "evidence"),
            ([row["file"], row["kind"], _level_text(row), row["evidence"]] for row in rows),
        )
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _level_text(row: dict[str, Any]) -> str:
    """An analysed noise level as shown: a share of pixels for impulses, else a sigma."""
    if row["kind"] == "salt-and-pepper":
        return f"{100 * row['level']:.1f}%"
    return f"sigma {row['level']:.1f}"


def _bench_methods(names: list[str], pairs: list[str]) -> list[str]:
    """Bench specs: 'all', 'filters' or ``NAME[:k=v,...]`` each, with ``-p`` pairs folded in."""
    registered = methods.available()
    if not names or names == ["all"]:
        names = [
            name
            for name, method in registered.items()
            if method.kind in ("filter", "model") and not name.startswith("test-")
        ]
    elif names == ["filters"]:
        names = [name for name, method in registered.items() if method.kind == "filter"]
    specs = [_with_pairs(spec, pairs) for spec in names]
    for spec in specs:
        method_spec(spec)  # raises a clear error for an unknown name or parameter
    return specs


def _with_pairs(spec: str, pairs: list[str]) -> str:
    """``"nlm"`` + ``["h=0.1"]`` -> ``"nlm:h=0.1"`` (one label per bench row)."""
    if not pairs:
        return spec
    return spec + ("," if ":" in spec else ":") + ",".join(pairs)


@app.command()
def bench(
    method_names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[METHODS]...",
            help="Methods to compare, 'filters' or 'all'; NAME:k=v,... sets parameters "
            "(e.g. mwcnn:variant=real,tta=true).",
        ),
    ] = None,
    data: Annotated[
        str,
        typer.Option(help="'default' (scikit-image photos), a clean folder, or a pairs folder."),
    ] = "default",
    noise: Annotated[
        str,
        typer.Option(
            help="Synthetic noise, the spec of `train --noise`: gaussian (sigma), poisson (peak), "
            "speckle (sigma), salt-and-pepper (amount; alias salt-pepper, salt_pepper), camera "
            "(shot gain of the camera pipeline); several bare levels are a sweep, ';' joins "
            "specs, e.g. 'gaussian:15,25,50;camera:0.001,0.06' or 'gaussian:sigma=25'."
        ),
    ] = "gaussian:25",
    limit: Annotated[int | None, typer.Option(help="Use only the first N images.")] = None,
    tile: Annotated[int, typer.Option(help="Tile size; 0 = whole image.")] = 512,
    out_format: Annotated[
        str, typer.Option("--format", help="table, markdown, csv or json.")
    ] = "table",
    plot: Annotated[Path | None, typer.Option(help="Write PSNR vs MP/s plot (PNG).")] = None,
    grid: Annotated[Path | None, typer.Option(help="Write a crop comparison grid (PNG).")] = None,
    engine: Annotated[
        str | None, typer.Option(help="Engine for models: auto, tensorrt, onnxruntime, torch.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("-p", "--param", help="Method parameter NAME=VALUE for every method."),
    ] = None,
) -> None:
    """Compare methods: PSNR/SSIM of input and output, MP/s and peak memory.

    Example: fastdenoise bench filters --noise gaussian:15,25,50 --plot tradeoff.png
    """
    _require_bench("bench")
    from rich.progress import Progress

    from fastdenoise import bench as bench_lib
    from fastdenoise.console import error_line, progress_enabled, stderr

    if out_format not in ("table", "markdown", "csv", "json"):
        raise _usage_error(f"--format {out_format}: use table, markdown, csv or json")
    try:
        names = _bench_methods(method_names or [], param or [])
        if data == "default":
            sets = bench_lib.default_sets(bench_lib.parse_noise(noise), limit)
        elif _is_pairs_folder(Path(data)):
            sets = [("real", bench_lib.real_set(Path(data), limit))]
        else:
            images = bench_lib.folder_images(Path(data), limit)
            sets = list(bench_lib.synthetic_sets(images, bench_lib.parse_noise(noise)))
    except (ValueError, LookupError, FileNotFoundError) as error:
        raise _usage_error(str(error)) from None

    rows, grid_outputs = [], {}
    total = len(names) * sum(len(samples) for _, samples in sets)
    with Progress(console=stderr, disable=not progress_enabled(False), transient=True) as bar:
        task = bar.add_task("benchmarking", total=total)
        for spec in names:
            name, params = method_spec(spec)
            params.update(_engine_params(name, engine))
            for label, samples in sets:
                bar.update(task, description=f"{spec} · {label}")
                try:
                    row, outputs = bench_lib.bench_method(
                        name,
                        samples,
                        label,
                        params=params,
                        tile=tile or None,
                        on_image=lambda: bar.advance(task),
                    )
                except (ValueError, RuntimeError, LookupError, OSError) as error:
                    error_line(spec, str(error))
                    bar.advance(task, len(samples))
                    continue
                row.method = bench_lib.label(spec, row.method)  # mwcnn -> mwcnn:real
                rows.append(row)
                if label == sets[0][0]:
                    grid_outputs[spec] = outputs[0]
    if out_format == "json":
        typer.echo(json.dumps(bench_lib.rows_as_dicts(rows), indent=2))
    elif out_format == "csv":
        typer.echo(bench_lib.to_csv(rows), nl=False)
    elif out_format == "markdown":
        typer.echo(bench_lib.to_markdown(rows))
    else:
        _print_bench_table(rows, data)
    if plot is not None and rows:
        bench_lib.plot_tradeoff(rows, plot)
    if grid is not None and grid_outputs:
        bench_lib.plot_grid(sets[0][1][0], grid_outputs, grid)
    raise typer.Exit(EXIT_OK if rows else EXIT_FAILED)


def _print_bench_table(rows: list[Any], data: str) -> None:
    """The default ``bench`` output: a rich table, or complete TSV rows when piped."""
    from fastdenoise.console import print_rows

    columns = ("method", "noise", "n", "input PSNR", "input SSIM", "PSNR", "SSIM", "MP/s")
    print_rows(
        f"fastdenoise bench · data: {data} · MP/s warm, start-up apart",
        (*columns, "start-up s", "peak MiB"),
        (
            (
                r.method,
                r.noise,
                r.images,
                f"{r.input_psnr:.2f}",
                f"{r.input_ssim:.4f}",
                f"{r.psnr:.2f}",
                f"{r.ssim:.4f}",
                f"{r.megapixels_per_s:.3f}",
                f"{r.startup_s:.2f}",
                f"{r.peak_mib:.0f}",
            )
            for r in rows
        ),
        right=(*columns[2:], "start-up s", "peak MiB"),
    )


def _engine_params(name: str, engine: str | None) -> dict[str, str]:
    """``{"engine": engine}`` for methods that take an engine (models), else nothing."""
    if engine is None or "engine" not in {p.name for p in methods.get(name).params}:
        return {}
    return {"engine": engine}


def _is_pairs_folder(root: Path) -> bool:
    from fastdenoise.datasets import find_pairs

    try:
        return bool(find_pairs(root))
    except (ValueError, FileNotFoundError):
        return False


@app.command()
def eda(
    dataset: Annotated[
        Path,
        typer.Argument(help="Dataset root: SIDD, noisy/ + gt/ folders, PolyU, NIND or RENOIR."),
    ],
    layout: Annotated[
        str, typer.Option(help="auto, sidd, folders, polyu, nind or renoir.")
    ] = "auto",
    plots: Annotated[
        Path | None, typer.Option(help="Write bar charts and a heat map here.")
    ] = None,
    measure: Annotated[
        bool, typer.Option(help="Measure noise (PSNR vs GT, estimated sigma) per pair.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print records as JSON.")] = False,
) -> None:
    """Explore a real-noise dataset: cameras, ISO, shutter, brightness, and measured noise.

    Example: fastdenoise eda ../shared/data/PolyU_crops --plots eda/
    """
    _require_bench("eda")
    from rich.progress import track

    from fastdenoise import eda as eda_lib
    from fastdenoise.console import progress_enabled, stderr

    if layout not in ("auto", *eda_lib.LAYOUTS):
        raise _usage_error(f"--layout {layout}: use auto, {', '.join(eda_lib.LAYOUTS)}")
    try:
        records = eda_lib.collect(dataset, layout)
    except (ValueError, OSError) as error:
        raise _usage_error(str(error)) from None
    if measure:
        records = [
            eda_lib.measure(r)
            for r in track(
                records,
                "measuring noise",
                console=stderr,
                disable=not progress_enabled(False),
                transient=True,
            )
        ]
    if as_json:
        typer.echo(json.dumps(eda_lib.as_dicts(records), indent=2))
    else:
        _print_eda_tables(records, measure)
    if plots is not None:
        for path in eda_lib.write_plots(records, plots):
            stderr.print(f"wrote {path}")


def _print_eda_tables(records: list[Any], measured: bool) -> None:
    """Counts per camera/ISO/shutter/brightness, ISO x camera, and measured noise per group."""
    from fastdenoise import eda as eda_lib
    from fastdenoise.console import print_rows

    order = eda_lib.sort_key
    typer.echo(
        f"{records[0].dataset}: {len(records)} noisy/clean pairs "
        f"in {len({r.scene for r in records})} scenes"
    )
    for field in ("phone", "iso", "shutter", "brightness"):
        tally = eda_lib.counts(records, field)
        if set(tally) == {None}:
            continue
        rows = [(key, value) for key, value in sorted(tally.items(), key=lambda kv: order(kv[0]))]
        print_rows(f"pairs per {field}", (field, "pairs"), rows, right=("pairs",), sections=True)
    cross = eda_lib.cross_table(records, "iso", "phone")
    phones = sorted({p for row in cross.values() for p in row})
    if len(phones) > 1 or "unknown" not in phones:
        rows = [(iso, *[cross[iso][p] for p in phones]) for iso in sorted(cross, key=order)]
        print_rows("ISO x phone", ("ISO", *phones), rows, right=phones, sections=True)
    if measured:
        for field in ("iso", "phone"):
            rows = [
                (key, value["pairs"], f"{value['psnr']:.2f}", f"{value['sigma']:.2f}")
                for key, value in eda_lib.noise_by(records, field).items()
            ]
            columns = (field, "pairs", "noisy PSNR (dB)", "estimated sigma")
            print_rows(
                f"measured noise per {field}", columns, rows, right=columns[1:], sections=True
            )


app.command("train")(train_command)
app.command("export")(export_command)


def main() -> None:
    """Entry point for ``python -m fastdenoise``."""
    app()
