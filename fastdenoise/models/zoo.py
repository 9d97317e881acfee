"""The model zoo: architectures, shipped weights and their registration as methods.

Importing this module registers ``autoencoder``, ``rednet``, ``mwcnn`` and ``pridnet`` with
:mod:`fastdenoise.methods` without importing torch; torch is imported when a model is built.

Shipped weights live in ``weights/<arch>-<variant>.safetensors`` next to a JSON file with the
architecture config and the file's sha256 (checked at every load) and a model card
``<arch>-<variant>.md``. Weights are safetensors only, never pickle.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

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
DEFAULT_HALO = {"autoencoder": 32, "rednet": 32, "mwcnn": 64, "pridnet": 64, "fdnet": 64}


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


def load_network(weights: str | Path, meta: dict[str, Any]) -> Any:
    """Build the network described by ``meta`` and load ``weights`` after checking sha256."""
    from safetensors.torch import load_file

    actual = sha256_file(weights)
    if actual != meta["sha256"]:
        raise ChecksumError(
            f"{weights}: sha256 {actual[:12]}... does not match the recorded "
            f"{meta['sha256'][:12]}...; refusing to load it"
        )
    model = build_model(meta["arch"], **meta["config"])
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state, strict=True)
    return model


def load_variant(arch: str, variant: str, folder: Path = WEIGHTS_DIR) -> tuple[Any, dict]:
    """The shipped network ``arch``/``variant`` and its metadata."""
    variants = shipped(arch, folder)
    if variant not in variants:
        have = ", ".join(variants) or "none yet"
        raise WeightsNotFoundError(
            f"{arch} variant {variant!r} is not shipped (shipped: {have}); "
            f"choose one with -p variant=NAME or train your own with `fastdenoise train`"
        )
    meta = variants[variant]
    return load_network(folder / meta["file"], meta), meta


def load_user_weights(path: str | Path) -> tuple[Any, dict]:
    """Weights written by ``fastdenoise train`` (``best.safetensors`` + ``best.json``)."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} (the metadata beside {path.name}) is missing")
    meta = json.loads(meta_path.read_text())
    return load_network(path, meta), meta


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
        model, meta = load_user_weights(weights) if weights else load_variant(arch, variant)
        plan = TilePlan(
            halo=int(meta.get("halo", DEFAULT_HALO[arch])),
            multiple=int(getattr(model, "multiple", 1)),
            blend=True,
        )
        name = f"{arch}:{meta.get('variant', Path(weights).stem)}"
        if getattr(model, "conditioned", False):
            from fastdenoise.models import conditioned

            denoiser: Denoiser = conditioned.build(
                model, plan, name, engine, device, precision, threads, strength, sigma, chroma
            )
        else:
            denoiser = engines.create(engine, model, plan, name, device, precision, threads)
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
