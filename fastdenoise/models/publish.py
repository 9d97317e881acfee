"""Ship trained weights: copy a run's best weights into the package and measure them.

``python -m fastdenoise.models.publish export RUN ARCH VARIANT`` writes
``weights/<arch>-<variant>.safetensors`` (float16 by default) and its JSON metadata (config,
sha256, training summary). ``... measure ARCH VARIANT --data ../shared/data`` runs the
evaluation protocol on the shipped file and stores the table in the JSON (``measured``) with
the command that produced it; ``... card ARCH VARIANT`` writes the model card
(``<arch>-<variant>.md``) from that JSON. ``export`` also writes the variant's weights-free
ONNX graphs (the runtime's torch-free path); ``... graphs ARCH VARIANT`` rewrites them for an
already shipped variant (after a change to the network's code).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from fastdenoise.atomic import replacing, write_atomic
from fastdenoise.engines import onnx_graph
from fastdenoise.models.conditioned import runtime_parts
from fastdenoise.models.zoo import DEFAULT_HALO, WEIGHTS_DIR, sha256_file


def export(
    run: Path, arch: str, variant: str, dtype: str = "float16", folder: Path = WEIGHTS_DIR
) -> dict[str, Any]:
    """Copy ``run/best.safetensors`` to ``folder/<arch>-<variant>.safetensors`` + JSON."""
    import torch
    from safetensors.torch import load_file, save_file

    best = json.loads((run / "best.json").read_text())
    if best["arch"] != arch:
        raise ValueError(f"{run} trained {best['arch']}, not {arch}")
    tensors = load_file(str(run / "best.safetensors"))
    cast = {"float16": torch.float16, "float32": torch.float32}[dtype]
    tensors = {k: v.to(cast).contiguous() for k, v in tensors.items()}
    name = f"{arch}-{variant}"
    path = folder / f"{name}.safetensors"
    with replacing(path) as tmp:
        save_file(tensors, str(tmp))
    meta_path = folder / f"{name}.json"
    old = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    train = best["train"]
    continued = _continues(train.get("init"), path, old.get("sha256"))
    earlier = old.get("training", {}).get("stages", []) if continued else []
    stages = [*earlier, _stage(run, best)]
    digest = sha256_file(path)
    meta = {
        "arch": arch,
        "variant": variant,
        "file": path.name,
        "sha256": digest,
        "dtype": dtype,
        "config": best["config"],
        "halo": DEFAULT_HALO[arch],
        "parameters": sum(v.numel() for v in tensors.values()),
        "card": f"{name}.md",
        "training": {
            "step": best["step"],
            "cpu_hours": round(best["cpu_hours"], 2),
            "wall_hours": round(best["wall_hours"], 2),
            "validation": best["val"],
            "recipe": {k: train[k] for k in sorted(train) if k not in ("out",)},
            "total_cpu_hours": round(sum(stage["cpu_hours"] for stage in stages), 2),
            "stages": stages,
        },
        "measured": old.get("measured", {}) if old.get("sha256") == digest else {},
    }
    write_atomic(meta_path, json.dumps(meta, indent=1) + "\n")
    return write_graphs(arch, variant, folder)


def _continues(init: str | None, shipped: Path, shipped_sha256: str | None) -> bool:
    """Whether a run started from the shipped file: its path, or a copy of the same bytes."""
    if not init or not Path(init).is_file():
        return False
    if Path(init).resolve() == shipped.resolve():
        return True
    return shipped_sha256 is not None and sha256_file(Path(init)) == shipped_sha256


def write_graphs(arch: str, variant: str, folder: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """Export the shipped variant's runtime networks as weights-free ONNX graphs (torch).

    Writes ``<arch>-<variant>[-<part>].graph.onnx`` beside the weights and records them in
    the JSON (``graphs``: version, the weights' sha256, size multiple and per part the file,
    its sha256, channels and initializer -> weights-key table). Each graph is checked: filled
    from the shipped file it must give exactly what the full export gives.
    """
    import tempfile

    import onnxruntime as ort

    from fastdenoise.engines import onnx_export
    from fastdenoise.models.zoo import load_arrays, load_variant

    net, meta = load_variant(arch, variant, folder)
    weights = load_arrays(folder / meta["file"], meta)
    keys = {id(tensor): key for key, tensor in net.state_dict(keep_vars=True).items()}
    parts: dict[str, Any] = {}
    for part, module in runtime_parts(net).items():
        names = {k: keys[id(t)] for k, t in module.state_dict(keep_vars=True).items()}
        with tempfile.TemporaryDirectory() as tmp:
            full = onnx_export.export(module, Path(tmp) / "full.onnx").read_bytes()
        graph, table = onnx_graph.strip(full, names)
        filled = onnx_graph.fill(graph, table, weights)
        _check_graph(ort, full, filled, int(module.channels), int(net.multiple))
        stem = f"{arch}-{variant}" + ("" if part == "model" else f"-{part}")
        path = folder / f"{stem}.graph.onnx"
        write_atomic(path, graph)
        parts[part] = {
            "file": path.name,
            "sha256": onnx_graph.sha256_bytes(graph),
            "channels": int(module.channels),
            "initializers": table,
        }
    meta["graphs"] = {
        "version": onnx_graph.GRAPH_VERSION,
        "weights_sha256": meta["sha256"],
        "multiple": int(getattr(net, "multiple", 1)),
        "parts": parts,
    }
    write_atomic(folder / f"{arch}-{variant}.json", json.dumps(meta, indent=1) + "\n")
    return meta


def _check_graph(ort: Any, full: bytes, filled: bytes, channels: int, multiple: int) -> None:
    """Raise unless the filled graph's output equals the full export's on a random input."""
    import numpy as np

    side = max(16, multiple)
    x = np.random.default_rng(0).random((1, channels, 2 * side, 3 * side), dtype=np.float32)
    outputs = []
    for model in (full, filled):
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        outputs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    if not np.array_equal(*outputs):
        raise RuntimeError("the weights-free graph filled from the weights differs from the export")


def _stage(run: Path, best: dict[str, Any]) -> dict[str, Any]:
    """One training run's share of the shipped weights' history, up to the shipped step."""
    state = json.loads((run / "state.json").read_text())
    return {
        "run": run.name,
        "init": best["train"].get("init"),
        "noise": best["train"]["noise"],
        "steps": best["step"],
        "cpu_hours": round(best["cpu_hours"], 2),
        "validation_set": best["val"]["set"],
        "history": [
            {"step": h["step"], "psnr": round(h["psnr"], 2)}
            for h in state.get("history", [])
            if h["step"] <= best["step"]
        ],
    }


SETS = {
    "CBSD68": (3, (15, 25, 50)),
    "Kodak24": (3, (15, 25, 50)),
    "BSD68": (1, (15, 25, 50)),  # gray, through the color model (replicated, averaged back)
    "Set12": (1, (25,)),
}
# the users' protocol: noisy saved as 8-bit PNG, then denoised
EIGHT_BIT = {"CBSD68": 25, "BSD68": 25}
REAL_SETS = {
    "Nam_patches": "folders",
    "PolyU_crops": "folders",
    "PolyU_crops held-out": "held-out",  # the 21 pairs weights trained on PolyU never saw
    "SIDD_val_block_DANet": "single",
}


def measure(
    arch: str,
    variant: str,
    data: Path,
    sets: list[str] | None = None,
    tile: int = 512,
    threads: int = 1,
    folder: Path = WEIGHTS_DIR,
) -> dict[str, Any]:
    """Score the shipped weights on the benchmark sets; stores results in the JSON."""
    from fastdenoise import evaluate
    from fastdenoise.datasets import folder_pairs, polyu_split

    fn = evaluate.method_fn(arch, tile=tile, variant=variant, threads=threads, device="cpu")
    results: dict[str, Any] = {}
    for name in sets or [*SETS, *REAL_SETS]:
        if name in SETS:
            channels, sigmas = SETS[name]
            for sigma in sigmas:
                res = evaluate.evaluate_awgn(fn, data / name, sigma, channels)
                results[f"{name} sigma {sigma}"] = _row(res)
                print(res.summary(), flush=True)
            if name in EIGHT_BIT:
                sigma = EIGHT_BIT[name]
                res = evaluate.evaluate_awgn(fn, data / name, sigma, channels, eight_bit=True)
                results[f"{name} sigma {sigma} 8-bit"] = _row(res)
                print(res.summary(), flush=True)
        elif REAL_SETS.get(name) == "folders":
            pairs = folder_pairs(data / name)
            res = evaluate.evaluate_pairs(fn, pairs, name, 3)
            results[name] = _row(res)
            print(res.summary(), flush=True)
        elif REAL_SETS.get(name) == "held-out":
            pairs = polyu_split(data / "PolyU_crops", held_out=True)
            res = evaluate.evaluate_pairs(fn, pairs, name, 3)
            results[name] = _row(res)
            print(res.summary(), flush=True)
        elif name == "SIDD_val_block_DANet":
            root = data / name
            res = evaluate.evaluate_pairs(fn, [(root / "noisy.png", root / "gt.png")], name, 3)
            results[name] = _row(res)
            print(res.summary(), flush=True)
        else:
            raise ValueError(f"unknown set {name!r}")
    command = shlex.join(["python", "-m", "fastdenoise.models.publish", *sys.argv[1:]])
    store_measured(folder / f"{arch}-{variant}.json", results, command)
    return results


def store_measured(meta_path: Path, results: dict[str, Any], command: str) -> None:
    """Merge ``results`` (set -> row) into the JSON's table and its last stage's scores."""
    meta = json.loads(meta_path.read_text())
    measured = meta.get("measured", {})
    measured.update(results)
    commands = measured.get("commands", [])
    measured["commands"] = [*commands, command] if command not in commands else commands
    meta["measured"] = measured
    stages = meta.get("training", {}).get("stages", [])
    if stages:  # the shipped file is the last stage's end: keep its scores in the history
        scores = stages[-1].setdefault("measured", {})
        scores.update({name: row["psnr"] for name, row in results.items()})
    write_atomic(meta_path, json.dumps(meta, indent=1) + "\n")


ABOUT = {
    "mwcnn": (
        "MWCNN (Liu et al. 2018), Haar-wavelet U-Net, CPU-sized. Deviations from the paper: "
        "widths per level and convs per block are parameters (paper: 160/256/256, 4 convs, "
        "~16M parameters); no batch norm; a full-resolution head/tail conv and a global "
        "residual as in the authors' PyTorch release."
    ),
    "rednet": (
        "RED-Net (Mao et al. 2016): symmetric conv/deconv, skips every two layers, input "
        "added to the output. Deviations: width/depth are parameters (paper: 64 channels, "
        "15+15 layers)."
    ),
    "autoencoder": (
        "Convolutional encoder-decoder without skips (the case study's baseline); "
        "linear output instead of a sigmoid."
    ),
    "fdnet": (
        "FDNet, this project's own network for CPU throughput and real camera noise: a "
        "U-Net at half resolution (pixel-unshuffle in, pixel-shuffle out; strided 2x2 "
        "convolutions down, 1x1 conv + pixel-shuffle up; residual 3x3 conv pairs) conditioned "
        "on a per-pixel, per-channel noise map, plus a small estimator that predicts that map "
        "(the local RMS of noisy - clean) from the noisy image at quarter resolution. "
        "`-p strength=S` scales the map, `-p sigma=N` replaces it by a fixed level."
    ),
    "pridnet": (
        "PRIDNet (Zhao et al. 2019): channel-attention noise estimation, pyramid U-Nets, "
        "kernel selecting fusion. Deviations: U-Net width/levels are parameters (paper ~74M "
        "parameters); spatial means instead of adaptive pooling."
    ),
}


def card(arch: str, variant: str, notes: str = "", folder: Path = WEIGHTS_DIR) -> Path:
    """Write the model card ``<arch>-<variant>.md`` from the JSON metadata."""
    meta = json.loads((folder / f"{arch}-{variant}.json").read_text())
    tr, recipe = meta["training"], meta["training"]["recipe"]
    lines = [
        f"# {arch} `{variant}`",
        "",
        ABOUT.get(arch, arch),
        "",
        f"- file: `{meta['file']}` ({meta['dtype']}, {meta['parameters'] / 1e6:.2f}M parameters),"
        f" sha256 `{meta['sha256']}`",
        f"- config: `{json.dumps(meta['config'])}`; tiler halo {meta['halo']} px",
        "",
        "## Training",
        "",
        f"- data: {', '.join(recipe['data']) or '-'}"
        + (f"; real pairs: {', '.join(recipe['pairs'])}" if recipe.get("pairs") else ""),
        f"- noise: `{recipe['noise']}`",
        f"- recipe: {recipe['loss']} loss, AdamW lr {recipe['lr']:g} -> {recipe['min_lr']:g} "
        f"(cosine over {recipe['iters']} steps, warm-up {recipe['warmup']}), weight decay "
        f"{recipe['weight_decay']:g}, batch {recipe['batch']} x {recipe['patch']}^2 patches, "
        f"EMA {recipe['ema']:g}, bf16 autocast {recipe['bf16']}, seed {recipe['seed']}"
        + (f", initialised from `{recipe['init']}`" if recipe.get("init") else ""),
        f"- shipped weights: step {tr['step']} of {recipe['iters']}, "
        f"{tr['cpu_hours']:.1f} CPU hours ({recipe['threads']} thread)",
        f"- validation during training: {tr['validation']['set']} "
        f"({recipe['val_count']} images) {tr['validation']['psnr']:.2f} dB",
        *_history_lines(tr),
        *_scores_lines(tr),
        "",
        "## Measured (evaluation protocol of docs/DESIGN.md, shipped fp16 file run in fp32)",
        "",
    ]
    measured = meta.get("measured", {})
    rows = [(k, v) for k, v in measured.items() if isinstance(v, dict)]
    if rows:
        lines += ["| set | PSNR dB | SSIM | noisy input PSNR | images |", "|---|---|---|---|---|"]
        lines += [
            f"| {k} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['input_psnr']:.2f} | {v['images']} |"
            for k, v in rows
        ]
        lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in measured.get("commands", []))]
    else:
        lines.append("Not measured yet.")
    if notes:
        lines += ["", "## Notes", "", notes]
    lines += [
        "",
        "Training images (BSDS via CBSD432) are for research use; see ../shared/data/SOURCES.md.",
    ]
    path = folder / meta["card"]
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def curve_points(training: dict[str, Any]) -> list[dict[str, Any]]:
    """Validation points of every stage on one CPU-hour axis (constant speed within a stage)."""
    points, spent = [], 0.0
    for number, stage in enumerate(training.get("stages", []), start=1):
        for entry in stage["history"]:
            hours = spent + stage["cpu_hours"] * entry["step"] / max(stage["steps"], 1)
            points.append(
                {"stage": number, "step": entry["step"], "cpu_hours": round(hours, 2),
                 "set": stage["validation_set"], "psnr": entry["psnr"]}
            )  # fmt: skip
        spent += stage["cpu_hours"]
    return points


def stage_scores(training: dict[str, Any]) -> list[dict[str, Any]]:
    """Full-set PSNR measured at the end of each stage, on the same CPU-hour axis."""
    rows, spent = [], 0.0
    for number, stage in enumerate(training.get("stages", []), start=1):
        spent += stage["cpu_hours"]
        if stage.get("measured"):
            rows.append({"stage": number, "cpu_hours": round(spent, 2), **stage["measured"]})
    return rows


def _scores_lines(training: dict[str, Any]) -> list[str]:
    rows = stage_scores(training)
    if not rows:
        return []
    latest_first = [k for row in reversed(rows) for k in row if k not in ("stage", "cpu_hours")]
    names = list(dict.fromkeys(latest_first))
    lines = [
        "",
        "Full-set PSNR (dB) at the end of each stage, measured on the file that stage shipped"
        " (- where not measured):",
        "",
        "| stage | CPU h | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for row in rows:
        cells = [f"{row[k]:.2f}" if k in row else "-" for k in names]
        lines.append(f"| {row['stage']} | {row['cpu_hours']:.2f} | " + " | ".join(cells) + " |")
    return lines


def _history_lines(training: dict[str, Any]) -> list[str]:
    points = curve_points(training)
    if not points:
        return []
    stages = training["stages"]
    lines = [
        "",
        f"Validation history: {len(stages)} stage(s), {training['total_cpu_hours']:.2f} CPU "
        "hours in all (CPU hours of a point: earlier stages plus its share of its own).",
        "",
        "| stage | step | CPU h | validation set | PSNR dB |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {p['stage']} | {p['step']} | {p['cpu_hours']:.2f} | {p['set']} | {p['psnr']:.2f} |"
        for p in points
    ]
    return lines


def _row(result: Any) -> dict[str, float]:
    return {
        "psnr": round(result.psnr, 2),
        "ssim": round(result.ssim, 4),
        "input_psnr": round(result.input_psnr, 2),
        "images": len(result.images),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastdenoise.models.publish")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="copy a run's best weights into the package")
    ex.add_argument("run", type=Path)
    ex.add_argument("arch")
    ex.add_argument("variant")
    ex.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    me = sub.add_parser("measure", help="score shipped weights by the evaluation protocol")
    me.add_argument("arch")
    me.add_argument("variant")
    me.add_argument("--data", type=Path, required=True, help="folder holding CBSD68, Kodak24...")
    me.add_argument("--sets", nargs="*", help=f"default: {', '.join([*SETS, *REAL_SETS])}")
    me.add_argument("--tile", type=int, default=512)
    me.add_argument("--threads", type=int, default=1)
    gr = sub.add_parser("graphs", help="(re)write a shipped variant's weights-free ONNX graphs")
    gr.add_argument("arch")
    gr.add_argument("variant")
    ca = sub.add_parser("card", help="write the model card from the JSON metadata")
    ca.add_argument("arch")
    ca.add_argument("variant")
    ca.add_argument("--notes", default="", help="extra markdown (history, caveats)")
    args = parser.parse_args(argv)
    if args.command == "export":
        meta = export(args.run, args.arch, args.variant, args.dtype)
        print(json.dumps({k: meta[k] for k in ("file", "sha256", "parameters")}, indent=1))
    elif args.command == "graphs":
        meta = write_graphs(args.arch, args.variant)
        print(json.dumps({k: v["file"] for k, v in meta["graphs"]["parts"].items()}, indent=1))
    elif args.command == "card":
        print(card(args.arch, args.variant, args.notes))
    else:
        measure(args.arch, args.variant, args.data, args.sets, args.tile, args.threads)


if __name__ == "__main__":
    main()
