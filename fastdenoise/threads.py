"""One CPU thread count for every runtime: Numba kernels, torch and ONNX Runtime models.

Models take their count as the ``threads`` parameter (their engines size their pools with
it). Numba's kernels read the count of the calling thread, so :func:`limit_threads` is called
on the thread that denoises (the CLI's main thread).
"""

from __future__ import annotations

import os
import sys

from fastdenoise.methods import Method


def limit_threads(count: int) -> None:
    """Cap Numba's parallel kernels (and torch, when loaded) to ``count`` CPU threads."""
    if count < 1:
        raise ValueError(f"--threads {count}: need at least 1")
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(count)  # read once when Numba starts its pool
    else:
        import numba

        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)


def thread_params(method: Method, count: int | None) -> dict[str, int]:
    """``{"threads": count}`` for methods that take a thread count, else nothing."""
    if count is None or "threads" not in {param.name for param in method.params}:
        return {}
    return {"threads": count}
