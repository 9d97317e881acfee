"""``fastdenoise export``: build ONNX files or TensorRT engines ahead of time.

Mounted by the CLI as ``app.command("export")(export)``. The result goes to the engine cache
(so later runs reuse it) and, with ``-o``, is also copied to a path of your choice for
production images (copy the cache folder, or set ``FASTDENOISE_CACHE`` to it, to reuse it
without rebuilding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fastdenoise.atomic import copy_atomic


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _variant_and_weights(
    params: dict[str, object], variant: str | None, weights: Path | None
) -> tuple[str | None, Path | None]:
    """Fold ``variant``/``weights`` from a method spec into the options; nothing else applies."""
    other = sorted(set(params) - {"variant", "weights"})
    if other:
        raise ValueError(f"export takes variant and weights, not {', '.join(other)}")
    if "variant" in params:
        if variant is not None and variant != params["variant"]:
            raise ValueError(f"variant is set twice: {params['variant']} and --variant {variant}")
        variant = str(params["variant"])
    if params.get("weights"):
        weights = Path(str(params["weights"]))
    return variant, weights


def _numbered(output: Path, stem: str, count: int) -> Path:
    """``-o`` for one of several files: the part's suffix before the extension."""
    if count == 1:
        return output
    return output.with_name(f"{output.stem}-{stem.rsplit('-', 1)[-1]}{output.suffix}")


def export(
    model: Annotated[
        str,
        typer.Option("-m", "--model", help="Model (mwcnn...), or NAME:variant=...,weights=..."),
    ],
    fmt: Annotated[str, typer.Option("--format", help="onnx or tensorrt.")] = "onnx",
    fp16: Annotated[bool, typer.Option("--fp16", help="fp16 TensorRT engine.")] = False,
    tile: Annotated[int, typer.Option(help="Tile size the TensorRT engine is built for.")] = 512,
    variant: Annotated[
        str | None, typer.Option(help="Shipped weights variant (default: the model's).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Your own .safetensors from `fastdenoise train`.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also copy the result here.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("-p", "--param", help="variant=NAME or weights=PATH, as with run."),
    ] = None,
) -> None:
    """Export a model to ONNX or build its TensorRT engine, into the engine cache.

    Example: fastdenoise export -m mwcnn --format tensorrt --fp16 --tile 512 -o mwcnn.engine
    """
    from fastdenoise import methods
    from fastdenoise.cli import method_spec
    from fastdenoise.extras import TRAIN_EXTRA, has_torch
    from fastdenoise.models import zoo

    if not has_torch():
        raise _fail(f"export needs PyTorch: {TRAIN_EXTRA}")
    try:
        model, params = method_spec(model, param)
        variant, weights = _variant_and_weights(params, variant, weights)
    except (LookupError, ValueError) as error:
        raise _fail(str(error)) from None
    if model not in zoo.ARCHITECTURES:
        raise _fail(f"unknown model {model!r}; known: {', '.join(zoo.ARCHITECTURES)}")
    if fmt not in ("onnx", "tensorrt"):
        raise _fail(f"--format {fmt}: use onnx or tensorrt")
    if fp16 and fmt == "onnx":
        raise _fail("--fp16 applies to --format tensorrt (ONNX files are exported in fp32)")
    if tile < 16:
        raise _fail("--tile must be at least 16")
    default = next(p.default for p in methods.get(model).params if p.name == "variant")
    try:
        if weights is not None:
            net, meta = zoo.load_user_weights(weights)
        else:
            net, meta = zoo.load_variant(model, variant or default)
    except (LookupError, ValueError, FileNotFoundError) as error:
        raise _fail(str(error)) from None
    stem = f"{model}-{meta.get('variant', weights.stem if weights else 'custom')}"
    from fastdenoise.models.conditioned import part_stem, runtime_parts

    parts = [(part_stem(stem, part), view) for part, view in runtime_parts(net).items()]
    if fmt == "onnx":
        from fastdenoise.engines import onnx_export

        entries = [(name, onnx_export.cached_export(part, name)) for name, part in parts]
    else:
        try:
            import tensorrt  # noqa: F401
            import torch
        except ModuleNotFoundError:
            raise _fail("--format tensorrt needs: pip install 'fastdenoise[tensorrt]'") from None
        if not torch.cuda.is_available():
            raise _fail("--format tensorrt needs a CUDA GPU (engines are built per GPU)")
        from fastdenoise.engines import tensorrt_engine
        from fastdenoise.methods import TilePlan

        plan = TilePlan(int(meta.get("halo", zoo.DEFAULT_HALO[model])), int(net.multiple), True)
        side = tensorrt_engine.engine_side(tile, plan)
        precision = "fp16" if fp16 else "fp32"
        entries = []
        for name, part in parts:
            shape = (1, int(getattr(part, "channels", 3)), side, side)
            entries.append((name, tensorrt_engine.cached_engine(part, name, shape, precision)))
    for name, entry in entries:
        typer.echo(f"{'reused' if entry.reused else 'built'} {entry.path}")
        if output is not None:
            target = _numbered(output, name, len(entries))
            copy_atomic(entry.path, target)
            typer.echo(f"copied to {target}")
