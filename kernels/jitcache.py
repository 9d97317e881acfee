"""Where Numba keeps the compiled kernels between processes (its on-disk cache).

Every CPU driver is ``njit(cache=True)``: the first process on a machine compiles it and writes
the machine code to disk, later processes load it (milliseconds instead of seconds). Numba keys
an entry on the content of the file that defines the cached function only; the per-pixel
functions it inlines live in other files of this package (``rank.py``, ``devices.py``). So the
cache lives in a folder named after a hash of *every* kernel source: editing any of them starts
a fresh folder instead of loading stale machine code.

The folder is ``kernels/__pycache__/numba-<hash>`` when the package directory is writable (a
source checkout or a per-user install) and ``$XDG_CACHE_HOME/fastdenoise/numba/<hash>``
(default ``~/.cache/...``) when it is not (a read-only system or container install). A
``NUMBA_CACHE_DIR`` set by the user always wins. Numba reads the setting when a cached function
is decorated, so importing this module calls :func:`configure`, and the package imports it
before any kernel module. It does not import Numba itself (a run that takes the ahead-of-time
drivers of :mod:`aot` never does): it sets ``NUMBA_CACHE_DIR``, which Numba reads when it is
first imported, and Numba's own setting where Numba is already loaded.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

KERNELS_DIR = Path(__file__).resolve().parent
SUBDIR = "fastdenoise/numba"  # below the user cache folder


def source_hash(package_dir: Path = KERNELS_DIR) -> str:
    """Short hash of every kernel source file (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def user_cache_root() -> Path:
    """The per-user cache folder of the kernels: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / SUBDIR


def _writable(folder: Path) -> bool:
    """True when ``folder`` exists (or can be made) and a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def cache_dir(package_dir: Path = KERNELS_DIR) -> Path:
    """The folder Numba should cache this version of the kernels in (see the module doc)."""
    version = source_hash(package_dir)
    in_tree = package_dir / "__pycache__"
    if _writable(in_tree):
        return in_tree / f"numba-{version}"
    return user_cache_root() / version


def configure() -> str:
    """Point Numba's cache at :func:`cache_dir` unless ``NUMBA_CACHE_DIR`` is set; return it."""
    chosen = os.environ.get("NUMBA_CACHE_DIR") or str(cache_dir())
    os.environ["NUMBA_CACHE_DIR"] = chosen  # Numba reads it at import; child processes agree
    if "numba" in sys.modules:  # imported before this package: set its live setting too
        sys.modules["numba"].config.CACHE_DIR = chosen
    return chosen


CACHE_DIR = configure()
