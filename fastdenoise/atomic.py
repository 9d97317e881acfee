"""The one way files are written: a temporary file beside the target, then a rename.

Every file the project writes for others to read (denoised images, copies of inputs,
checkpoints and their JSON, cached ONNX files and engines, exported and published models)
goes through :func:`replacing`: the content is written to a hidden temporary name in the
target's folder (``.<name>.<8 hex>.fdtmp``, within the 255-byte name limit), given the mode a
plain ``open()`` would give it (0666 less the umask: writers such as safetensors or
``mkstemp`` create 0600 files), flushed to disk (``durable``), and renamed over the target. A
killed process leaves the old file or the whole new one, never a partial one; a failed write
removes its temporary file.

``durable=False`` skips the two fsyncs (file, then folder): batch image output does, where
they cost about 0.1 s per image, leaving durability against power loss to the filesystem as
cp or mv do. Standard library only, so importing it costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".fdtmp"
_MAX_NAME_BYTES = 255


def temp_path_for(path: Path) -> Path:
    """A hidden temporary name beside ``path`` that stays within the 255-byte name limit."""
    path = Path(path)
    tag = f".{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
    room = _MAX_NAME_BYTES - len(tag) - 1
    stem = os.fsencode(path.name)[:room].decode(errors="ignore") if room > 0 else ""
    return path.with_name(f".{stem}{tag}")


def umask() -> int:
    """The process umask, read without changing it where Linux allows (thread-safe)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (briefly visible to other threads)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permission bits ``open(path, "w")`` would give a new file: 0666 less the umask."""
    return 0o666 & ~umask()


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``path``, atomically.

    The temporary file exists (empty, with the umask's mode) when the block starts, so the name
    is reserved; the block may write it or replace it. The target's folder is created if need
    be. On any exception, ``KeyboardInterrupt`` included, the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(path)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temp
        os.chmod(temp, file_mode())
        if durable:
            _fsync(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    if durable:
        with contextlib.suppress(OSError):  # not every platform can open a folder
            _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def write_atomic(path: str | os.PathLike[str], data: bytes | str, durable: bool = True) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path, durable) as temp:
        temp.write_bytes(raw)


def copy_atomic(
    source: str | os.PathLike[str], path: str | os.PathLike[str], durable: bool = True
) -> None:
    """Copy the file ``source`` to ``path`` byte for byte, atomically (mode from the umask)."""
    with replacing(path, durable) as temp:
        shutil.copyfile(source, temp)
