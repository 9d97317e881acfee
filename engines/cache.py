"""The engine cache: exported ONNX files and built engines, keyed, atomic, verified.

Location: ``$FASTDENOISE_CACHE``, else ``$XDG_CACHE_HOME/fastdenoise``, else
``~/.cache/fastdenoise``. Each entry is a file plus a sidecar ``<file>.json`` holding the key
(sha256 of the key parts: weights hash, precision, tile shape, GPU name, library versions...)
and the file's own sha256. An entry is used only when the sidecar's key matches and the file
hashes to the recorded value; anything else (missing, truncated, corrupt, another key) is
rebuilt. Files are written through :func:`fastdenoise.atomic.replacing` (a temporary name in
the same folder, renamed into place), so a reader never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastdenoise.atomic import replacing, write_atomic


def cache_dir() -> Path:
    """The cache folder (not created)."""
    override = os.environ.get("FASTDENOISE_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "fastdenoise"


def key_of(parts: dict[str, Any]) -> str:
    """sha256 of the key parts (JSON with sorted keys)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_path(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """A usable cache entry: its file and whether it was reused (not rebuilt)."""

    path: Path
    key: str
    reused: bool


def is_valid(path: Path, key: str) -> bool:
    """Whether ``path`` exists, its sidecar names ``key`` and its sha256 matches."""
    sidecar = path.with_name(path.name + ".json")
    try:
        meta = json.loads(sidecar.read_text())
        return meta.get("key") == key and sha256_path(path) == meta.get("sha256")
    except (OSError, ValueError, AttributeError):
        return False


def get_or_build(
    stem: str,
    suffix: str,
    parts: dict[str, Any],
    build: Callable[[Path], None],
    folder: Path | None = None,
) -> Entry:
    """The cached file for ``parts``, building it with ``build(tmp_path)`` when needed.

    ``stem`` is a readable prefix (``mwcnn-real``); the file is ``<stem>-<key[:16]><suffix>``.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key = key_of(parts)
    path = folder / f"{stem}-{key[:16]}{suffix}"
    if is_valid(path, key):
        return Entry(path, key, reused=True)
    with replacing(path) as tmp:
        build(tmp)
        digest = sha256_path(tmp)
    sidecar = {"key": key, "sha256": digest, "parts": parts}
    text = json.dumps(sidecar, indent=1, default=str)
    write_atomic(path.with_name(path.name + ".json"), text)
    return Entry(path, key, reused=False)
