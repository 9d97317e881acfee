"""Order statistics of a square window: sorting networks and quickselect.

Small windows (up to ``NETWORK_MAX`` pixels a side) use a sorting network: Batcher's odd-even
merge sort, pruned to the comparators that can reach the wanted outputs, and written out as
straight-line min/max code. With no branches and no scratch memory, the CPU driver's loop over a
row vectorises and each CUDA thread keeps the window in registers. Larger windows gather into a
scratch buffer and use quickselect. Either way the result is an exact element of the window.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .devices import pixel

NETWORK_MAX = 7  # window side up to which sorting networks are generated


def batcher_pairs(count: int) -> list[tuple[int, int]]:
    """Comparators (low, high) of Batcher's odd-even merge sort of ``count`` values."""
    size = 1 << max(0, (count - 1).bit_length())
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    # Wires past ``count`` hold +inf in the padded network and never move: drop them.
    return [(a, b) for a, b in pairs if b < count]


def pruned_network(count: int, outputs: tuple[int, ...]) -> list[tuple[int, int, bool, bool]]:
    """Comparators that can affect ``outputs`` (sorted positions), with which side is used."""
    needed = set(outputs)
    kept = []
    for a, b in reversed(batcher_pairs(count)):
        use_low, use_high = a in needed, b in needed
        if use_low or use_high:
            kept.append((a, b, use_low, use_high))
            needed |= {a, b}
    return kept[::-1]


def _network_source(name: str, side: int, outputs: tuple[int, ...]) -> str:
    """Python source of ``name(img, c, y, x)``: ranks ``outputs`` of the window at (y, x)."""
    lines = [f"def {name}(img, c, y, x):", "    u = np.uintp", "    c = u(c)"]
    for i in range(side):
        lines.append(f"    r{i} = u(y + {i})")
    for j in range(side):
        lines.append(f"    q{j} = u(x + {j})")
    for i in range(side):
        for j in range(side):
            lines.append(f"    v{i * side + j} = img[c, r{i}, q{j}]")
    for a, b, use_low, use_high in pruned_network(side * side, outputs):
        if use_low and use_high:
            lines.append(f"    v{a}, v{b} = min(v{a}, v{b}), max(v{a}, v{b})")
        elif use_low:
            lines.append(f"    v{a} = min(v{a}, v{b})")
        else:
            lines.append(f"    v{b} = max(v{a}, v{b})")
    values = ", ".join(f"v{k}" for k in outputs)
    lines.append(f"    return {values}")
    return "\n".join(lines) + "\n"


@functools.cache
def _network(side: int, outputs: tuple[int, ...]) -> Callable:
    name = f"rank_{side}x{side}_" + "_".join(map(str, outputs))
    namespace: dict = {"np": np}
    exec(compile(_network_source(name, side, outputs), f"<{name}>", "exec"), namespace)
    return pixel(namespace[name])


def median_network(side: int) -> Callable:
    """``f(img, c, y, x)``: median of ``img[c, y:y+side, x:x+side]`` (side odd, small)."""
    return _network(side, (side * side // 2,))


def min_median_max_network(side: int) -> Callable:
    """``f(img, c, y, x) -> (min, median, max)`` of ``img[c, y:y+side, x:x+side]``."""
    count = side * side
    return _network(side, (0, count // 2, count - 1))


@pixel
def select(buf, count, k):
    """The ``k``-th smallest of ``buf[:count]`` (Hoare's quickselect; reorders ``buf``)."""
    lo = 0
    hi = count - 1
    while lo < hi:
        pivot = buf[k]
        i = lo
        j = hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while pivot < buf[j]:
                j -= 1
            if i <= j:
                tmp = buf[i]
                buf[i] = buf[j]
                buf[j] = tmp
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    return buf[k]


@pixel
def gather_window(img, c, y, x, side, buf):
    """Copy ``img[c, y:y+side, x:x+side]`` into ``buf``; return (count, min, max)."""
    u = np.uintp
    lowest = img[u(c), u(y), u(x)]
    highest = lowest
    n = 0
    for i in range(side):
        for j in range(side):
            v = img[u(c), u(y + i), u(x + j)]
            buf[n] = v
            lowest = min(lowest, v)
            highest = max(highest, v)
            n += 1
    return n, lowest, highest


@pixel
def window_median(img, c, y, x, side, buf):
    """Median of ``img[c, y:y+side, x:x+side]`` for any odd ``side`` (scratch ``buf``)."""
    n, _, _ = gather_window(img, c, y, x, side, buf)
    return select(buf, n, n // 2)


@pixel
def window_min_median_max(img, c, y, x, side, buf):
    """(min, median, max) of ``img[c, y:y+side, x:x+side]`` for any odd ``side``."""
    n, lowest, highest = gather_window(img, c, y, x, side, buf)
    return lowest, select(buf, n, n // 2), highest
