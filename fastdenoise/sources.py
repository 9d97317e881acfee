"""Inputs to jobs: files, directories, globs and stdin lists -> (source, destination) pairs.

Outputs mirror each input's relative tree under the output directory. Nothing here reads
pixels; it only decides which file goes where, and which jobs are invalid before they start
(an output that would land on an input, two inputs writing the same output).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fastdenoise.atomic import TEMP_SUFFIX
from fastdenoise.io import FORMAT_BY_SUFFIX, SUFFIX_BY_FORMAT, format_for, special_file_kind

DEFAULT_NAME = "{stem}{suffix}.{ext}"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Job:
    """One file to denoise. ``problem`` is set when the job is known to fail before reading."""

    source: Path
    destination: Path
    display: str
    problem: str | None = None


@dataclass(frozen=True)
class Naming:
    """How outputs are named and placed."""

    out_dir: Path
    template: str = DEFAULT_NAME
    suffix: str = ""
    out_format: str | None = None  # None keeps the input's container
    method: str = ""

    def destination(self, relative: Path) -> Path:
        fmt = self.out_format or format_for(relative) or "PNG"
        ext = SUFFIX_BY_FORMAT[fmt].lstrip(".")
        if self.out_format is None:
            ext = relative.suffix.lstrip(".") or ext  # keep the user's spelling (.jpeg, .TIF)
        name = self.template.format(
            stem=relative.stem, suffix=self.suffix, ext=ext, method=self.method
        )
        return self.out_dir / relative.parent / name


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``K/N`` (0 <= K < N) for splitting a job list across machines."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ValueError(f"--shard expects K/N such as 0/4, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 <= K < N")
    return index, count


def _is_candidate(path: Path) -> bool:
    return path.suffix.lower() in FORMAT_BY_SUFFIX and not path.name.endswith(TEMP_SUFFIX)


def _special(path: Path) -> str | None:
    """Why ``path`` (followed through symlinks) is not a regular file, or None if it is."""
    try:
        kind = special_file_kind(path.stat().st_mode)
    except OSError:
        return None  # missing or unreadable: the reader says which
    return None if kind is None else f"not a regular file ({kind})"


def _walk(root: Path, exclude: Path | None) -> Iterable[tuple[Path, str | None]]:
    """Image-named entries under ``root`` with the problem that refuses them, if any.

    Symlinked directories are not followed (loops cannot occur). A FIFO, device or socket
    named like an image is listed with its problem (it is never opened), and so is a
    directory named like an image (listed, not entered), so neither vanishes silently.
    """
    for folder, subdirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        keep = []
        for name in sorted(subdirs):
            path = here / name
            if name.startswith(".") or (exclude is not None and path.resolve() == exclude):
                continue
            if _is_candidate(path) and not path.is_symlink():
                yield path, "not a regular file (directory named like an image)"
            else:
                keep.append(name)
        subdirs[:] = keep
        for name in sorted(files):
            path = here / name
            if not name.startswith(".") and _is_candidate(path):
                yield path, _special(path)


def _inside(path: Path, folder: Path | None) -> bool:
    """Whether ``path`` lies in ``folder`` (a resolved path); the file itself is not followed."""
    if folder is None:
        return False
    where = path.parent.resolve() / path.name
    return folder == where or folder in where.parents


def _relative_to_base(path: Path, base: Path) -> tuple[Path, str | None]:
    """A listed file's path below ``base`` (no symlinks followed), or a problem if outside."""
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)), None
    except ValueError:
        return Path(path.name), f"not below {base}; give --base a folder that holds it"


def expand(
    specs: Iterable[str], exclude: Path | None = None, base: Path | None = None
) -> list[tuple[Path, Path, str | None]]:
    """Expand input specs to ``(file, path relative to its input root, problem)`` triples.

    Files inside ``exclude`` (the output folder) are never taken from a folder, a pattern or
    a list (a file named on the command line is the user's choice). A file named on its own
    keeps its path relative to ``base`` when given (stdin lists: the current directory), so
    ``a/x.tif`` and ``b/x.tif`` stay apart; without ``base`` only its name is kept.
    """
    found: list[tuple[Path, Path, str | None]] = []
    for spec in specs:
        path = Path(spec)
        if _GLOB_CHARS & set(spec) and not path.exists():
            root = _glob_root(path)
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            files = [
                m
                for m in matches
                if not m.is_dir() and _is_candidate(m) and not _inside(m, exclude)
            ]
            if not files:
                found.append((path, Path(path.name), "no image matches this pattern"))
            found.extend((m, m.relative_to(root), _special(m)) for m in files)
        elif path.is_dir():
            found.extend((f, f.relative_to(path), why) for f, why in _walk(path, exclude))
        elif base is not None and _inside(path, exclude):
            continue  # a listed file inside -o: an earlier run's output
        else:
            problem = _special(path)
            if not path.exists():
                problem = "dangling symlink" if path.is_symlink() else "no such file"
            relative, outside = _relative_to_base(path, base) if base else (Path(path.name), None)
            found.append((path, relative, problem or outside))
    return found


def _glob_root(pattern: Path) -> Path:
    parts: list[str] = []
    for part in pattern.parts:
        if _GLOB_CHARS & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def plan_jobs(
    specs: Iterable[str],
    naming: Naming,
    shard: tuple[int, int] | None = None,
    base: Path | None = None,
) -> list[Job]:
    """Turn input specs into jobs, marking the ones that must not run.

    ``base``: files named one by one (a stdin list) keep their tree relative to it.
    """
    out_root = naming.out_dir.resolve()
    expanded = expand(specs, exclude=out_root, base=base)
    unique: dict[Path, tuple[Path, Path, str | None]] = {}
    for source, relative, problem in expanded:
        unique.setdefault(source.absolute(), (source, relative, problem))
    items = sorted(unique.values(), key=lambda item: str(item[0]))
    if shard is not None:
        index, count = shard
        items = items[index::count]

    jobs: list[Job] = []
    claimed: dict[Path, str] = {}
    for source, relative, problem in items:
        destination = naming.destination(relative)
        key = destination.resolve()
        if problem is None and source.exists() and key == source.resolve():
            problem = "output would overwrite the input; choose another -o or --suffix"
        if problem is None and key in claimed:
            problem = f"output {destination} is also the output of {claimed[key]}"
        claimed.setdefault(key, str(source))
        jobs.append(Job(source, destination, str(source), problem))
    return jobs
