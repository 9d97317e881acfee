"""The method registry: the one place where filters and models are added.

A *method* is a named recipe (``median``, ``nlm``, ``mwcnn``...) with documented parameters.
Building it gives a :class:`Denoiser`, which the tiler drives tile by tile. Pixels inside the
library are float32, ``HxWxC`` (C is 1 or 3), nominally in ``[0, 1]``; dtype conversion, alpha
and metadata live at the edges (:mod:`fastdenoise.io`, :func:`fastdenoise.denoise`).

Adding a method touches one module: it calls :func:`register` at import time, and its module
is listed in ``_BUILTIN_MODULES`` so the registry is filled lazily on first use (importing the
registry never imports torch or compiles a kernel).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_BUILTIN_MODULES = ("fastdenoise.filters", "fastdenoise.models.zoo", "fastdenoise.auto")


class UnknownMethodError(KeyError):
    """Raised for a method name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class TilePlan:
    """What a denoiser needs from the tiler.

    halo:     pixels of context on each side of a tile. For an exact filter this is its radius
              of dependence, so tiled output equals untiled output bit for bit.
    multiple: the height and width fed to the denoiser are padded up to this multiple.
    blend:    feather the overlaps (models) instead of cropping them exactly (filters).
    """

    halo: int = 0
    multiple: int = 1
    blend: bool = False


@dataclass(frozen=True)
class Param:
    """One tunable parameter of a method, as shown by ``fastdenoise methods``."""

    name: str
    default: Any
    help: str
    type: type = float


class Denoiser(ABC):
    """A configured method: call it on float32 ``HxWxC`` tiles.

    ``prepare`` is called once per whole image before tiling, so image-wide decisions (such as
    a noise level estimated from the image) are the same for every tile.
    """

    plan: TilePlan = TilePlan()
    unchanged: bool = False  # True when it returns every tile as it is (the file can be copied)

    def prepare(self, image: np.ndarray) -> Denoiser:
        """Return a denoiser bound to one whole image (default: no per-image state).

        ``image`` is the native ``HxWxC`` array (uint8, uint16 or float32); convert what you
        look at with :func:`fastdenoise.tiler.to_float` (a crop or subsample on huge images).
        """
        return self

    @abstractmethod
    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """Denoise one float32 ``HxWxC`` tile; returns the same shape."""

    def run_native(self, pixels: np.ndarray, out_dtype: np.dtype) -> np.ndarray | None:
        """The whole ``HxWxC`` image as ``out_dtype``, or None to be tiled in float32.

        For an exact filter with a whole-image CPU path (the 8-bit median, the adaptive median
        in bands of rows): the tiler calls it first. It must return exactly what tiling would
        (float32 tiles from :func:`~fastdenoise.tiler.to_float`, back through
        :func:`~fastdenoise.tiler.from_float`), in memory bounded like the tiler's (the output
        plus a band of rows).
        """
        return None

    def describe(self) -> str:
        """A short human-readable account of the settings in use."""
        return type(self).__name__


@dataclass(frozen=True)
class Method:
    """A registered method: name, kind, documentation and a factory for denoisers."""

    name: str
    kind: str  # "filter" or "model"
    summary: str
    factory: Callable[..., Denoiser]  # factory(device="auto", **params) -> Denoiser
    params: tuple[Param, ...] = field(default_factory=tuple)

    def build(self, **params: Any) -> Denoiser:
        """Create a denoiser, rejecting parameters the method does not know."""
        known = {p.name for p in self.params} | {"device"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no parameter {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        denoiser = self.factory(**{k: v for k, v in params.items() if v is not None})
        if self.kind == "model":
            release_freed_heap()
        return denoiser


def release_freed_heap() -> None:
    """Return the heap's free pages to the OS (glibc's ``malloc_trim``; elsewhere nothing).

    Loading a model frees its temporaries (weights read, the filled graph's bytes, ONNX
    Runtime's optimizer) into the heap, where glibc keeps them resident: after a 100 MP image
    was read, building MWCNN `real` left ~90 MiB that nothing used again (issue 21). Tens of
    milliseconds, once per model built.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # a C library without it
            ctypes.CDLL(None).malloc_trim(0)


_REGISTRY: dict[str, Method] = {}
_loaded = False


def register(method: Method) -> Method:
    """Add a method to the registry (names are unique)."""
    if method.name in _REGISTRY and _REGISTRY[method.name] is not method:
        raise ValueError(f"method {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency, not an absent module
                raise


def available() -> dict[str, Method]:
    """All registered methods by name."""
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Method:
    """Look up a method by name, with a helpful error."""
    methods = available()
    if name not in methods:
        raise UnknownMethodError(
            f"unknown method {name!r}; available: {', '.join(methods) or 'none'}"
        )
    return methods[name]
