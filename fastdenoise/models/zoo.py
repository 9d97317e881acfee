"""The model zoo: architectures, shipped weights and their registration as methods.

Importing this module registers ``autoencoder``, ``rednet``, ``mwcnn`` and ``pridnet`` with
:mod:`fastdenoise.methods` without importing torch; torch is imported when a network is built.

Shipped weights live in ``weights/<arch>-<variant>.safetensors`` next to a JSON file with the
architecture config and the file's sha256 (checked at every load) and a model card
``<arch>-<variant>.md``. Weights are safetensors only, never pickle.

Each variant also ships its network as weights-free ONNX graphs (``<arch>-<variant>.graph.onnx``;
FDNet: ``-estimator``/``-denoiser``), listed in the JSON under ``graphs``. On ONNX Runtime a
shipped variant runs from them, filled with the safetensors read by ``safetensors.numpy``
(:mod:`fastdenoise.engines.onnx_graph`): no torch. Other engines, and weights without graphs
(``-p weights=`` files from ``fastdenoise train``), build the torch network.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from fastdenoise.engines.onnx_graph import GRAPH_VERSION, ShippedGraph
from fastdenoise.extras import require_torch
from fastdenoise.methods import Denoiser, Method, Param, TilePlan, register

WEIGHTS_DIR = Path(__file__).with_name("weights")

ARCHITECTURES = {
    "autoencoder": "fastdenoise.models.autoencoder:Autoencoder",
    "rednet": "fastdenoise.models.rednet:REDNet",
    "mwcnn": "fastdenoise.models.mwcnn:MWCNN",
    "pridnet": "fastdenoise.models.pridnet:PRIDNet",
    "fdnet": "fastdenoise.models.fdnet:FDNet",
}

# networks that take a noise map (strength and sigma controls)
CONDITIONED = frozenset({"fdnet"})

# overlap (pixels of context per tile side) that hides seams; stored per weights file too
DEFAULT_HALO = {"autoencoder": 32, "rednet": 32, "mwcnn": 64, "pridnet": 64, "fdnet": 32}


class ChecksumError(ValueError):
    """A weights file does not match the sha256 recorded in its metadata."""


class WeightsNotFoundError(LookupError):
    """The requested variant has no shipped weights."""

    def __str__(self) -> str:
        return str(self.args[0])


def build_model(arch: str, **config: Any) -> Any:
    """Instantiate an architecture (a ``torch.nn.Module``) from its config."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    module, _, name = ARCHITECTURES[arch].partition(":")
    cls = getattr(importlib.import_module(module), name)
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    return cls(**config)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shipped(arch: str, folder: Path = WEIGHTS_DIR) -> dict[str, dict[str, Any]]:
    """Metadata of the shipped variants of ``arch``, by variant name."""
    found = {}
    for meta_path in sorted(folder.glob(f"{arch}-*.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("arch") == arch:
            found[meta["variant"]] = meta
    return found


def check_sha256(weights: str | Path, meta: dict[str, Any]) -> None:
    """Raise :class:`ChecksumError` unless ``weights`` hashes to ``meta["sha256"]``."""
    actual = sha256_file(weights)
    if actual != meta["sha256"]:
        raise ChecksumError(
            f"{weights}: sha256 {actual[:12]}... does not match the recorded "
            f"{meta['sha256'][:12]}...; refusing to load it"
        )


def load_network(weights: str | Path, meta: dict[str, Any]) -> Any:
    """Build the network described by ``meta`` and load ``weights`` after checking sha256."""
    require_torch(f"loading {Path(weights).name} into a network (no shipped graph for it)")
    from safetensors.torch import load_file

    check_sha256(weights, meta)
    model = build_model(meta["arch"], **meta["config"])
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state, strict=True)
    return model


def load_arrays(weights: str | Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The tensors of ``weights`` as float32 numpy arrays, after checking sha256 (no torch)."""
    from safetensors.numpy import load_file

    check_sha256(weights, meta)
    return {k: v.astype(np.float32) for k, v in load_file(str(weights)).items()}


def variant_meta(arch: str, variant: str, folder: Path | None = None) -> dict[str, Any]:
    """The metadata of the shipped variant ``arch``/``variant`` (raises when not shipped)."""
    variants = shipped(arch, folder or WEIGHTS_DIR)
    if variant not in variants:
        have = ", ".join(variants) or "none yet"
        raise WeightsNotFoundError(
            f"{arch} variant {variant!r} is not shipped (shipped: {have}); "
            f"choose one with -p variant=NAME or train your own with `fastdenoise train`"
        )
    return variants[variant]


def load_variant(arch: str, variant: str, folder: Path | None = None) -> tuple[Any, dict]:
    """The shipped network ``arch``/``variant`` (a ``torch.nn.Module``) and its metadata."""
    meta = variant_meta(arch, variant, folder)
    return load_network((folder or WEIGHTS_DIR) / meta["file"], meta), meta


def load_graphs(meta: dict[str, Any], folder: Path | None = None) -> dict[str, ShippedGraph]:
    """The shipped weights-free ONNX graphs of a variant, by part, filled from its weights.

    Parts: ``model``, or ``estimator`` and ``denoiser`` for a noise-map-conditioned network
    (``publish graphs`` writes them). Empty when the variant ships none, or ones written for
    other weights (then the network is built with torch, as before graphs existed).
    """
    folder = folder or WEIGHTS_DIR
    graphs = meta.get("graphs") or {}
    usable = (
        graphs.get("version") == GRAPH_VERSION
        and graphs.get("weights_sha256") == meta["sha256"]
        and all((folder / part["file"]).is_file() for part in graphs.get("parts", {}).values())
    )
    if not usable:
        return {}
    tensors = functools.cache(lambda: load_arrays(folder / meta["file"], meta))
    return {
        name: ShippedGraph(
            path=folder / part["file"],
            sha256=part["sha256"],
            weights_sha256=meta["sha256"],
            initializers=part["initializers"],
            tensors=tensors,
            channels=int(part["channels"]),
            multiple=int(graphs["multiple"]),
        )
        for name, part in graphs["parts"].items()
    }


def load_user_weights(path: str | Path) -> tuple[Any, dict]:
    """Weights written by ``fastdenoise train`` (``best.safetensors`` + ``best.json``)."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} (the metadata beside {path.name}) is missing")
    meta = json.loads(meta_path.read_text())
    return load_network(path, meta), meta


def _engines(
    parts: dict[str, Any],
    engine: str,
    plan: TilePlan,
    name: str,
    device: str,
    precision: str,
    threads: int,
    controls: tuple[float, float, float],
) -> Denoiser:
    """Engines for a model's runtime parts: one ``model``, or a noise-map network's
    ``estimator`` and ``denoiser`` (torch modules, or shipped graphs on ONNX Runtime)."""
    from fastdenoise import engines
    from fastdenoise.models.conditioned import ConditionedDenoiser, part_stem

    built = {
        part: engines.create(engine, net, plan, part_stem(name, part), device, precision, threads)
        for part, net in parts.items()
    }
    if "model" in built:
        return built["model"]
    strength, sigma, chroma = controls
    channels = int(parts["estimator"].channels)
    return ConditionedDenoiser(
        built["estimator"], built["denoiser"], plan, name, strength, sigma, channels, chroma
    )


def _factory(arch: str, default_variant: str) -> Any:
    def factory(
        device: str = "auto",
        variant: str = default_variant,
        weights: str = "",
        precision: str = "fp32",
        threads: int = 0,
        engine: str = "auto",
        tta: bool = False,
        shuffle: int = 1,
        strength: float = 1.0,
        sigma: float = 0.0,
        chroma: float = -1.0,
    ) -> Denoiser:
        from fastdenoise import engines

        if not 1 <= shuffle <= 4:
            raise ValueError(f"shuffle must be a stride from 1 to 4, not {shuffle}")
        if arch in CONDITIONED:
            from fastdenoise.models.conditioned import check_controls

            check_controls(strength, sigma, chroma)  # before any weights are read
        chosen = engines.pick(engine, device, precision)
        if chosen in ("torch", "tensorrt"):
            require_torch(f"the {chosen} engine")
        graphs: dict[str, ShippedGraph] = {}
        if weights:
            model, meta = load_user_weights(weights)
        else:
            meta = variant_meta(arch, variant)
            graphs = load_graphs(meta) if chosen == "onnxruntime" else {}
            model = None if graphs else load_network(WEIGHTS_DIR / meta["file"], meta)
        multiple = next(iter(graphs.values())).multiple if graphs else model.multiple
        plan = TilePlan(
            halo=int(meta.get("halo", DEFAULT_HALO[arch])), multiple=int(multiple), blend=True
        )
        name = f"{arch}:{meta.get('variant', Path(weights).stem)}"
        if graphs:  # shipped graphs on ONNX Runtime: no torch
            parts: dict[str, Any] = dict(graphs)
        else:
            from fastdenoise.models.conditioned import runtime_parts

            parts = runtime_parts(model)
        controls = (strength, sigma, chroma)
        denoiser = _engines(parts, chosen, plan, name, device, precision, threads, controls)
        if shuffle > 1:
            from fastdenoise.models.shuffle import PixelShuffleDenoiser

            denoiser = PixelShuffleDenoiser(denoiser, shuffle)
        if tta:
            from fastdenoise.models.ensemble import SelfEnsemble

            return SelfEnsemble(denoiser)
        return denoiser

    return factory


CONDITIONED_PARAMS = (
    Param("strength", 1.0, "0 = unchanged, <1 keeps grain, >1 cleans harder (0-4)", float),
    Param("chroma", -1.0, "colour-noise strength apart from luma (-1 = same as strength)"),
    Param("sigma", 0.0, "noise level in 8-bit units instead of the estimate (0 = estimate)"),
)


def _params(default_variant: str, conditioned: bool = False) -> tuple[Param, ...]:
    extra = CONDITIONED_PARAMS if conditioned else ()
    return (
        *extra,
        Param("variant", default_variant, "shipped weights: gaussian (blind AWGN) or real", str),
        Param("weights", "", "your own .safetensors from `fastdenoise train` (+ its .json)", str),
        Param("precision", "fp32", "fp32, fp16 (CUDA half, CPU bf16), int8 (onnxruntime)", str),
        Param("threads", 0, "CPU threads (0 = the engine's default)", int),
        Param("engine", "auto", "auto, torch, onnxruntime or tensorrt (auto: best available)", str),
        Param("tta", False, "self-ensemble: average the 8 flips/rotations (8x the time)", bool),
        Param("shuffle", 1, "pixel-shuffle stride (2: strongly correlated real noise)", int),
    )


_SUMMARIES = {
    "fdnet": (
        "real",
        "FDNet: fast noise-map-conditioned U-Net with its own real-noise estimator.",
    ),
    "autoencoder": ("gaussian", "Conv encoder-decoder without skips (the baseline; blurs)."),
    "rednet": ("gaussian", "RED-Net: symmetric conv/deconv with skips every two layers."),
    "mwcnn": ("real", "MWCNN: Haar-wavelet U-Net; 'real' for photos, 'gaussian' for AWGN."),
    "pridnet": ("gaussian", "PRIDNet: noise estimation, pyramid U-Nets, kernel selection."),
}

for _arch, (_variant, _summary) in _SUMMARIES.items():
    _params_of = _params(_variant, _arch in CONDITIONED)
    register(Method(_arch, "model", _summary, _factory(_arch, _variant), _params_of))
