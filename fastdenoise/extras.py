"""Optional dependencies: one clear line when a command needs one that is not installed.

PyTorch is the ``[train]`` extra: training, the ``torch`` and ``tensorrt`` engines,
``fastdenoise export``, and models run from weights without a shipped graph (your own
``-p weights=``). Shipped models on ONNX Runtime need none of it. scikit-image (with scipy) and
matplotlib are the ``[bench]`` extra: ``bench``, ``eda``, ``sample-images`` and their plots;
``run``, ``analyze`` and ``methods`` need neither.
"""

from __future__ import annotations

import importlib.util

TRAIN_EXTRA = "pip install 'fastdenoise[train]'"
BENCH_EXTRA = "pip install 'fastdenoise[bench]'"


class MissingExtraError(RuntimeError):
    """A feature needs an optional dependency that is not installed (message: one line)."""


def has_torch() -> bool:
    """Whether PyTorch can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except ValueError:  # sys.modules["torch"] is None (blocked) or has no spec
        return False


def require_torch(what: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra when PyTorch is not installed."""
    if not has_torch():
        raise MissingExtraError(f"{what} needs PyTorch: {TRAIN_EXTRA}")


def has_module(name: str) -> bool:
    """Whether a top-level module can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:
        return False


def require_bench(what: str) -> None:
    """Raise :class:`MissingExtraError` naming ``[bench]`` when scikit-image is missing."""
    if not has_module("skimage"):
        raise MissingExtraError(f"{what} needs scikit-image: {BENCH_EXTRA}")
