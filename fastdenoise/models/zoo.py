"""The model zoo: architectures, shipped weights and their registration as methods.

Importing this module registers ``autoencoder``, ``rednet``, ``mwcnn`` and ``pridnet`` with
:mod:`fastdenoise.methods` without importing torch; torch is imported when a model is built.
"""

from __future__ import annotations

import importlib
from typing import Any

ARCHITECTURES = {
    "autoencoder": "fastdenoise.models.autoencoder:Autoencoder",
    "rednet": "fastdenoise.models.rednet:REDNet",
    "mwcnn": "fastdenoise.models.mwcnn:MWCNN",
    "pridnet": "fastdenoise.models.pridnet:PRIDNet",
}


def build_model(arch: str, **config: Any) -> Any:
    """Instantiate an architecture (a ``torch.nn.Module``) from its config."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    module, _, name = ARCHITECTURES[arch].partition(":")
    cls = getattr(importlib.import_module(module), name)
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    return cls(**config)
