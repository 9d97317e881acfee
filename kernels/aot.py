"""Ahead-of-time compiled CPU drivers: a run that starts without importing Numba.

A process that calls a Numba kernel pays for Numba before the first pixel even when the machine
code comes from the on-disk cache (:mod:`jitcache`): importing Numba and its first-use set-up
of the CPU target take about 1 s of CPU on a 2-core Zen 3, several times the work on one photo.
So the CLI, which production scripts call once per file, runs its first kernels from extension
modules built from the very same drivers with ``numba.pycc``: each family's module (``median``,
``median_u8``, ``adaptive_median``, ``wiener``, ``nlm``) is compiled once per machine, for this
CPU, from the drivers' Python source (no second source: ``prange`` loops compile as plain
loops), and loads in milliseconds with numpy alone. Every other call, and every call outside
an opted-in process (see :func:`enable`), takes the Numba JIT drivers.

The rules, in :func:`driver`:

* opt-in: only a process that called :func:`enable` (``fastdenoise run``) uses or builds them,
  and ``FASTDENOISE_AOT=0`` turns them off everywhere; library calls, benches and tests get
  the JIT drivers, exactly as before;
* built on first need, in a detached background process (C and C++ compilers needed, as
  ``numba.pycc`` builds a CPython extension; 20-40 s on a 2-core Zen 3): the run that starts
  the build takes the JIT drivers and does not wait, later runs load the module; it lies next to
  the JIT cache in a file named after the hash of every kernel
  source and this CPU; a failed build (no compiler) is remembered and the JIT drivers serve;
* serial: an AOT driver runs its ``prange`` rows on one thread while the JIT drivers spread them
  over every core, so a process uses AOT drivers until it has spent :data:`BUDGET_S` seconds in
  them (then JIT's start-up pays for itself) or once Numba is imported anyway; with one thread
  (``-j 1``) the two are the same speed and AOT serves throughout;
* the same machine code, bit for bit: the same drivers, the same LLVM, this CPU's features.

``numba.pycc`` is pending deprecation in Numba (0.57 and later); if a future Numba drops it,
the build fails once and every run uses the JIT drivers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import platform
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastdenoise.atomic import replacing

from . import jitcache

ENV = "FASTDENOISE_AOT"  # "0" turns ahead-of-time drivers off
BUDGET_S = 1.0  # seconds of serial AOT work, past which the parallel JIT drivers take over
BUILD_TIMEOUT_S = 900
_CHILD = "import sys\nfrom fastdenoise.kernels import aot\naot.compile_family(*sys.argv[1:])"
_BACKGROUND = (
    "import sys\nfrom fastdenoise.kernels import aot\naot.build(sys.argv[1], aot.Path(sys.argv[2]))"
)

ARRAY = "f4[:,:,::1]"  # C-contiguous float32 (C, H, W): every driver's padded input and output
PIXELS = ("u1", "u2", "f4", "f8")  # HxWxC pixel dtypes of the whole-image paths


@dataclass(frozen=True)
class Export:
    """One driver in a family's module: ``module.attribute`` (or ``attribute(variant)``)."""

    name: str
    module: str
    attribute: str
    variant: int | None
    signature: str


def _sizes(name: str, module: str, values: tuple[int, ...], extra: str) -> tuple[Export, ...]:
    """Closure drivers, one per constant (window or patch side)."""
    signature = f"void({ARRAY}, {ARRAY}, {extra})"
    return tuple(Export(f"{name}{v}", module, "_cpu_driver", v, signature) for v in values)


# The drivers with their Numba signatures, as the fronts (:mod:`front`) call them. Variants
# not listed here (other window or patch sides) always take the JIT drivers.
FAMILIES: dict[str, tuple[Export, ...]] = {
    "median": (
        *(
            Export(f"network{s}", "median", f"_cpu_median{s}", None, f"void({ARRAY}, {ARRAY})")
            for s in (3, 5, 7)
        ),
        Export("select", "median", "_cpu_select_driver", None, f"void({ARRAY}, {ARRAY}, i8)"),
    ),
    "median_u8": tuple(
        Export(
            f"size{s}",
            "median_u8",
            f"_cpu_median{s}_u8",
            None,
            "void(u1[:,::1], u1[:,::1], i8, i8)",
        )
        for s in (3, 5)
    ),
    "adaptive_median": (
        Export("driver", "adaptive_median", "_cpu_driver", None, f"void({ARRAY}, {ARRAY}, i8)"),
        # the whole-image path (front.adaptive_median_pixels): bands of interleaved pixel rows
        Export(
            "strided",
            "adaptive_median",
            "_cpu_strided_driver",
            None,
            f"void({ARRAY}, {ARRAY}, i8, i8)",
        ),
        *(
            Export(
                f"pad_{t}",
                "adaptive_median",
                "_pad_band",
                None,
                f"void({t}[:,:,::1], i8, i8, f4, {ARRAY})",
            )
            for t in PIXELS
        ),
        *(
            Export(
                f"store_{t}",
                "adaptive_median",
                "_store_band",
                None,
                f"void({ARRAY}, {t}[:,:,::1], i8, i8)",
            )
            for t in PIXELS
        ),
    ),
    "wiener": _sizes("size", "wiener", (3, 5, 7), "f8"),
    "nlm": _sizes("patch", "nlm", (3, 5, 7), "i8, f4, f4"),
}

_state = {"enabled": False, "spent": 0.0}


def enable(on: bool = True) -> None:
    """Let this process use (and build) AOT drivers; ``FASTDENOISE_AOT=0`` still wins."""
    _state["enabled"] = on


def enabled() -> bool:
    return bool(_state["enabled"]) and os.environ.get(ENV, "1").lower() not in ("0", "off", "no")


def _threads() -> int:
    """The CPU threads the JIT drivers would use (Numba's default: every core)."""
    value = os.environ.get("NUMBA_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def driver(family: str, name: str) -> Callable[..., Any] | None:
    """The AOT driver ``name`` of ``family`` when this call should use one, else None."""
    if not enabled() or "numba" in sys.modules:  # Numba loaded: its start-up is paid
        return None
    if _threads() > 1 and _state["spent"] >= BUDGET_S:
        return None
    module = _module(family)
    return getattr(module, name, None) if module is not None else None


def call(fn: Callable[..., Any], *args: Any) -> None:
    """Run an AOT driver, counting its time against :data:`BUDGET_S`."""
    started = time.perf_counter()
    try:
        fn(*args)
    finally:
        _state["spent"] += time.perf_counter() - started


@functools.cache
def cpu_key() -> str:
    """A short key for this CPU (model and feature flags): machine code is built for it."""
    text = f"{platform.machine()} {platform.processor()}"
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        wanted = [x for x in lines if x.startswith(("model name", "flags", "Features"))]
        text += "\n".join(dict.fromkeys(wanted))  # the first core's lines (all cores agree)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def module_name(family: str) -> str:
    """The extension's name: family, kernel sources and CPU (a stale file is never loaded)."""
    return f"fd_aot_{family}_{_sources()}_{cpu_key()}"


@functools.cache
def _sources() -> str:
    return jitcache.source_hash()


def module_path(family: str) -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return Path(jitcache.CACHE_DIR) / "aot" / (module_name(family) + suffix)


@functools.cache
def _module(family: str) -> Any | None:
    """The family's loaded extension; None (JIT serves) while there is none yet, whose build
    this call then starts in the background."""
    path = module_path(family)
    if not path.exists():
        build_in_background(family, path)
        return None
    spec = importlib.util.spec_from_file_location(module_name(family), path)
    if spec is None or spec.loader is None:
        return None
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError:  # a foreign or broken file: the JIT drivers serve
        return None
    return module


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[bool]:
    """True when this process holds ``lock`` (never waits: another builder means JIT now)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, concurrent builds just replace each other
        yield True
        return
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_in_background(family: str, path: Path) -> None:
    """Start :func:`build` in a detached process that outlives this one (nothing if it failed
    before, or cannot start)."""
    if path.with_suffix(".failed").exists():
        return
    command = [sys.executable, "-c", _BACKGROUND, family, str(path)]
    with contextlib.suppress(OSError):
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def build(family: str, path: Path | None = None) -> bool:
    """Build ``family``'s module at ``path`` in a child process; False if it cannot be built.

    A failure is written next to it (``.failed``, with the compiler's last words) and not
    retried for these sources on this CPU; delete that file to try again.
    """
    path = path or module_path(family)
    failed = path.with_suffix(".failed")
    if failed.exists():
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    with _exclusive(path.with_suffix(".lock")) as mine:
        if not mine:
            return False
        if path.exists():  # another process built it since this one looked
            return True
        command = [sys.executable, "-c", _CHILD, family, str(path)]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            failed.write_text(f"{' '.join(command)}: {error}\n")
            return False
        if result.returncode != 0 or not path.exists():
            failed.write_text(result.stdout[-4000:] + result.stderr[-8000:])
            return False
    return True


def compile_family(family: str, path: str | Path) -> None:
    """Compile ``family``'s drivers with ``numba.pycc`` into ``path`` (in :func:`build`'s child
    process: it imports Numba and adjusts pycc's code generator)."""
    path = Path(path)
    import importlib
    import warnings

    warnings.simplefilter("ignore")  # pycc's pending-deprecation warning
    import llvmlite.binding as ll
    from numba.core import codegen
    from numba.pycc import CC

    # pycc targets a CPU model by name only; give it this CPU's actual feature flags too, as
    # Numba's JIT does (a virtual machine may hide some of its model's features).
    features = ll.get_host_cpu_features().flatten()
    codegen.AOTCPUCodegen._customize_tm_features = lambda self: features  # type: ignore[method-assign]

    with replacing(path, durable=False) as temp:  # pycc links straight into the temp name
        cc = CC(path.name.split(".")[0])
        cc.output_dir, cc.output_file = str(temp.parent), temp.name
        cc.target_cpu = ll.get_host_cpu_name()
        for export in FAMILIES[family]:
            module = importlib.import_module(f"fastdenoise.kernels.{export.module}")
            target = getattr(module, export.attribute)
            if export.variant is not None:
                target = target(export.variant)
            cc.export(export.name, export.signature)(target.py_func)
        cc.compile()
