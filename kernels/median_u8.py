"""Median of 8-bit images on their own values, sizes 3 and 5: sorted columns, shared by windows.

Equals ``scipy.ndimage.median_filter(mode='reflect')`` on ``HxWxC`` uint8 pixels bit for bit
(the window's median is one of its values, so no rounding is involved). It is a CPU path for
one dtype: the float32 kernels of :mod:`fastdenoise.kernels.median`, which CUDA shares, take
every other case.

Rows are flat ``W C`` bytes (channels interleaved, so a pixel's neighbours are ``C`` bytes
away), 32 values per AVX2 instruction. A window's values, sorted along one direction, form a
matrix with sorted columns (or rows); sorting across keeps them sorted, and then only the
entries at (rank ``r``, line ``c``, from 1) with ``r c <= m`` and
``(size + 1 - r)(size + 1 - c) <= m`` (``m`` = the median's rank from 1) can be the median: the
others have too many values known to lie below or above them. The median is the middle one of
those candidates (3x3: the median of the largest low, the middle middle and the smallest high,
Smith's 3x3 filter). The sorting along the first direction is shared between windows:

* **5x5**, two vectorised passes per row: the 5 values above one another are sorted into one
  buffer per rank (every window along the row reads the same column 5 times: sorted once),
  then each window's network reads its 5 sorted columns from the buffers.
* **3x3**, one pass per two output rows, nothing stored between: each of the 4 input rows'
  horizontal triples is sorted in registers and serves both output rows' windows (a window and
  its transpose have the same median, so the network for sorted columns serves sorted rows).
  A buffer round trip costs more than the 6 min/max it would save here (a 256-bit store per
  cycle on Zen 3).

The comparators come from Batcher's odd-even merge sort (:mod:`fastdenoise.kernels.rank`);
then every comparator whose outcome is fixed by what is already known (sorted columns, earlier
comparators) and every one that cannot reach the output is dropped, and finally single
comparators or one of their two sides while the median stays right. Every such decision is
checked by the 0-1 principle: a network of min and max acts on any input as on the 0-1 inputs
obtained by thresholding it, and thresholding keeps columns sorted, so checking the
``(size + 1) ** size`` 0-1 windows with sorted columns is a proof (:func:`is_window_median`).
Per value: 3x3 takes 6 min/max for its column and 12 for the window, 5x5 18 and 98 (a plain
pruned network on the window: 40 and 202; OpenCV's ``medianBlur`` networks: 38 and about 200).

Borders are scipy's ``reflect`` (``d c b a | a b c d``, repeated for windows wider than the
image): rows by index; columns by copying sorted columns into the buffers' margins (5x5) or
through reflected byte offsets at the first and last pixel (3x3).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numba
import numpy as np
from numba import prange

from .rank import batcher_pairs

SIZES = (3, 5)  # window sides with a uint8 driver
CHUNK = 16  # rows per work item of the drivers' ``prange`` (even: the 3x3 driver does pairs)


# The window networks, as :func:`derive_window_network` finds them (a test re-derives them and
# proves each on every 0-1 input): (output wire, comparators ``(low wire, high wire, kept)``
# with ``kept`` "lh" for min and max, "l" for the min only, "h" for the max only).
WINDOW_NETWORKS: dict[int, tuple[int, tuple[tuple[int, int, str], ...]]] = {
    3: (4, ((0, 6, "h"), (3, 6, "h"), (1, 4, "lh"), (1, 7, "h"), (4, 7, "l"), (2, 5, "l"),
            (2, 8, "l"), (6, 4, "lh"), (6, 2, "h"), (4, 2, "l"))),
    5: (12, ((0, 5, "lh"), (10, 15, "lh"), (5, 15, "lh"), (5, 10, "h"), (0, 20, "h"),
             (10, 20, "h"), (15, 20, "lh"), (1, 6, "lh"), (11, 16, "lh"), (1, 11, "h"),
             (6, 16, "lh"), (6, 11, "lh"), (11, 21, "lh"), (6, 11, "h"), (16, 21, "lh"),
             (2, 7, "lh"), (12, 17, "lh"), (2, 12, "lh"), (7, 17, "lh"), (7, 12, "lh"),
             (2, 22, "h"), (12, 22, "lh"), (7, 12, "lh"), (17, 22, "l"), (3, 8, "lh"),
             (13, 18, "lh"), (3, 13, "lh"), (8, 18, "l"), (8, 13, "lh"), (3, 23, "lh"),
             (13, 23, "l"), (8, 13, "lh"), (4, 9, "lh"), (14, 19, "lh"), (4, 14, "lh"),
             (9, 19, "l"), (4, 24, "lh"), (14, 24, "l"), (9, 14, "l"), (21, 7, "lh"),
             (13, 4, "lh"), (15, 11, "h"), (20, 16, "lh"), (7, 17, "l"), (20, 11, "lh"),
             (7, 12, "lh"), (8, 13, "lh"), (20, 7, "lh"), (11, 21, "h"), (16, 7, "lh"),
             (16, 21, "lh"), (7, 12, "lh"), (4, 9, "l"), (20, 8, "h"), (16, 4, "l"),
             (21, 3, "h"), (7, 8, "l"), (12, 13, "l"), (16, 7, "h"), (12, 3, "l"),
             (7, 12, "h"))),
}  # fmt: skip

Network = list[tuple[int, int, str]]


@functools.cache
def zero_one_windows(side: int) -> np.ndarray:
    """Every 0-1 ``side x side`` window with sorted columns; wire ``c * side + r`` (read-only)."""
    count = side * side
    rows = []
    for zeros in itertools.product(range(side + 1), repeat=side):
        row = np.zeros(count, dtype=np.uint8)
        for column, k in enumerate(zeros):
            row[column * side + k : (column + 1) * side] = 1
        rows.append(row)
    windows = np.array(rows)
    windows.flags.writeable = False
    return windows


def run_network(values: np.ndarray, network: Network) -> np.ndarray:
    """Apply min/max comparators to rows of 0-1 (or any) values; returns a new array."""
    values = values.copy()
    for a, b, kept in network:
        low, high = np.minimum(values[:, a], values[:, b]), np.maximum(values[:, a], values[:, b])
        if "l" in kept:
            values[:, a] = low
        if "h" in kept:
            values[:, b] = high
    return values


def is_window_median(side: int, output: int, network: Network) -> bool:
    """True when ``network`` leaves the median on wire ``output`` for every window with sorted
    columns: exhaustive over the 0-1 ones, hence for all values (the 0-1 principle)."""
    windows = zero_one_windows(side)
    middle = side * side // 2
    median = windows.sum(axis=1) > side * side - middle - 1  # 1 iff at least middle + 1 ones
    return bool(np.array_equal(run_network(windows, network)[:, output], median))


def _used(network: Network, output: int) -> Network:
    """The comparator sides that can reach ``output``."""
    needed, kept = {output}, []
    for a, b, sides in reversed(network):
        sides = ("l" if "l" in sides and a in needed else "") + (
            "h" if "h" in sides and b in needed else ""
        )
        if sides:
            kept.append((a, b, sides))
            needed |= {a, b}
    return kept[::-1]


def derive_window_network(side: int) -> tuple[int, Network]:
    """Output wire and comparators of the median of a window with sorted columns.

    Sort the rows of the rank matrix, then the candidates (Batcher's networks); drop the
    comparators whose outcome is fixed on every 0-1 window or that cannot reach the output;
    then, one at a time, drop a comparator or one of its sides while the network still gives
    the median on every 0-1 window.
    """
    middle = side * side // 2
    pairs = []
    for rank in range(side):
        wires = [column * side + rank for column in range(side)]
        pairs += [(wires[a], wires[b]) for a, b in batcher_pairs(side)]
    candidates = [
        column * side + rank
        for rank in range(side)
        for column in range(side)
        if (rank + 1) * (column + 1) <= middle + 1 and (side - rank) * (side - column) <= middle + 1
    ]
    pairs += [(candidates[a], candidates[b]) for a, b in batcher_pairs(len(candidates))]
    output = candidates[len(candidates) // 2]
    values, acting = zero_one_windows(side), []
    for a, b in pairs:
        if np.all(values[:, a] <= values[:, b]):  # in order on every window already
            continue
        values = run_network(values, [(a, b, "lh")])
        acting.append((a, b, "lh"))
    network = _used(acting, output)

    def cost(net: Network) -> int:
        return sum(len(sides) for _, _, sides in net)

    changed = True
    while changed:  # sweeps until one changes nothing
        changed = False
        i = 0
        while i < len(network):
            a, b, sides = network[i]
            weaker = [[]] + ([[(a, b, "l")], [(a, b, "h")]] if sides == "lh" else [])
            for option in weaker:
                trial = _used(network[:i] + option + network[i + 1 :], output)
                if cost(trial) < cost(network) and is_window_median(side, output, trial):
                    network, changed = trial, True
                    break
            i += 1
    return output, network


def _operations(network, lines: list[str]) -> None:
    for a, b, sides in network:
        if sides == "lh":
            lines.append(f"        v{a}, v{b} = min(v{a}, v{b}), max(v{a}, v{b})")
        elif sides == "l":
            lines.append(f"        v{a} = min(v{a}, v{b})")
        else:
            lines.append(f"        v{b} = max(v{a}, v{b})")


def _read(side: int) -> list[int]:
    """The wires (rank ``w % side`` of column ``w // side``) the window network reads."""
    output, network = WINDOW_NETWORKS[side]
    return sorted({output} | {w for a, b, _ in network for w in (a, b)})


def _ranks(side: int) -> list[int]:
    """The ranks of a sorted column the window network reads."""
    return sorted({w % side for w in _read(side)})


def _columns_source(side: int) -> str:
    """``columns{side}(rows..., ranks..., n)``: sort ``n`` columns of ``side`` bytes each.

    Batcher's network, every output kept (both sizes read every rank of a column)."""
    names = [f"a{i}" for i in range(side)] + [f"s{r}" for r in _ranks(side)]
    lines = [
        f"def columns{side}({', '.join(names)}, n):",
        "    for j in range(n):",
    ]
    lines += [f"        v{i} = a{i}[j]" for i in range(side)]
    _operations([(a, b, "lh") for a, b in batcher_pairs(side)], lines)
    lines += [f"        s{r}[j] = v{r}" for r in _ranks(side)]
    return "\n".join(lines) + "\n"


def _windows_source(side: int) -> str:
    """``windows{side}(ranks..., out, n, step)``: the median of each window along a row."""
    output, network = WINDOW_NETWORKS[side]
    lines = [
        f"def windows{side}({', '.join(f's{r}' for r in _ranks(side))}, out, n, step):",
        "    u = np.uintp",
        "    for j in range(n):",  # unsigned offsets: no negative-index check, the loop vectorises
    ]
    lines += [f"        i{c} = u(j) + u({c} * step)" for c in range(side)]
    lines += [f"        v{w} = s{w % side}[i{w // side}]" for w in _read(side)]
    _operations(network, lines)
    lines.append(f"        out[j] = v{output}")
    return "\n".join(lines) + "\n"


def _window_source(side: int) -> str:
    """``window{side}(v0, ...)``: the median of one window given as its sorted columns."""
    output, network = WINDOW_NETWORKS[side]
    count = side * side
    lines = [f"def window{side}({', '.join(f'v{w}' for w in range(count))}):"]
    _operations(network, lines)
    lines.append(f"        return v{output}")
    return "\n".join(line.replace("        ", "    ", 1) for line in lines) + "\n"


def _compile(source: str, name: str, decorate: Callable | None = None) -> Callable:
    namespace: dict = {"np": np}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    if decorate is not None:
        return decorate(namespace[name])
    return numba.njit(namespace[name], inline="always", nogil=True)


def window_function(side: int, decorate: Callable) -> Callable:
    """``window{side}(v0, ...)`` (the median of a window given as sorted columns or rows),
    made by ``decorate``: :func:`fastdenoise.kernels.devices.pixel` for per-pixel math."""
    return _compile(_window_source(side), f"window{side}", decorate)


window3 = _compile(_window_source(3), "window3")
columns5 = _compile(_columns_source(5), "columns5")
windows5 = _compile(_windows_source(5), "windows5")


@numba.njit(nogil=True, cache=True)
def reflect_index(i, length):
    """scipy's ``reflect`` index of ``i`` in ``range(length)``, for any ``i``."""
    if i < 0:
        i = -1 - i
    if i < length:
        return i
    period = 2 * length  # windows wider than the image: the reflections repeat
    i %= period
    return i if i < length else period - 1 - i


@numba.njit(inline="always", nogil=True)
def _sorted3(a, b, c):
    a, b = min(a, b), max(a, b)
    a, c = min(a, c), max(a, c)
    b, c = min(b, c), max(b, c)
    return a, b, c


@numba.njit(inline="always", nogil=True)
def _pair3(r0, r1, r2, r3, upper, lower, n, step):
    """3x3 medians of two rows (input rows ``r1``, ``r2``; ``r0`` above, ``r3`` below) at the
    pixels with both horizontal neighbours: each input row's three horizontal neighbours are
    sorted once, in registers, and serve both output rows (the window network is the same for
    sorted rows as for sorted columns: a median does not change when the window is transposed).
    """
    u = np.uintp
    for j in range(n - 2 * step):
        i0 = u(j)
        i1 = i0 + u(step)
        i2 = i1 + u(step)
        a0, a1, a2 = _sorted3(r0[i0], r0[i1], r0[i2])
        b0, b1, b2 = _sorted3(r1[i0], r1[i1], r1[i2])
        c0, c1, c2 = _sorted3(r2[i0], r2[i1], r2[i2])
        d0, d1, d2 = _sorted3(r3[i0], r3[i1], r3[i2])
        upper[i1] = window3(a0, a1, a2, b0, b1, b2, c0, c1, c2)
        lower[i1] = window3(b0, b1, b2, c0, c1, c2, d0, d1, d2)


@numba.njit(inline="always", nogil=True)
def _pair3_edges(r0, r1, r2, r3, upper, lower, columns, step):
    """:func:`_pair3` at the first and last pixel, whose neighbours ``columns`` (byte offsets
    of the reflected pixel columns -1, 0, 1 and W - 2, W - 1, W) come from the reflection."""
    for e in range(2):
        at = columns[3 * e + 1]
        for k in range(step):
            i0, i1, i2 = columns[3 * e] + k, at + k, columns[3 * e + 2] + k
            a0, a1, a2 = _sorted3(r0[i0], r0[i1], r0[i2])
            b0, b1, b2 = _sorted3(r1[i0], r1[i1], r1[i2])
            c0, c1, c2 = _sorted3(r2[i0], r2[i1], r2[i2])
            d0, d1, d2 = _sorted3(r3[i0], r3[i1], r3[i2])
            upper[at + k] = window3(a0, a1, a2, b0, b1, b2, c0, c1, c2)
            lower[at + k] = window3(b0, b1, b2, c0, c1, c2, d0, d1, d2)


# One top-level driver per size (see kernels/median.py on Numba's cache): rows in chunks of
# ``chunk`` (even) go to threads.


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_median3_u8(img, out, step, chunk):
    rows, n = img.shape
    width = n // step
    columns = np.empty(6, dtype=np.intp)
    for d in range(3):
        columns[d] = reflect_index(d - 1, width) * step
        columns[3 + d] = reflect_index(width - 2 + d, width) * step
    for t in prange((rows + chunk - 1) // chunk):
        spare = np.empty(n, dtype=np.uint8)  # the row after an odd last row
        for y in range(t * chunk, min(rows, (t + 1) * chunk), 2):
            lower = out[y + 1] if y + 1 < rows else spare
            r0 = img[reflect_index(y - 1, rows)]
            r2 = img[reflect_index(y + 1, rows)]
            r3 = img[reflect_index(y + 2, rows)]
            _pair3(r0, img[y], r2, r3, out[y], lower, n, step)
            _pair3_edges(r0, img[y], r2, r3, out[y], lower, columns, step)


@numba.njit(parallel=True, nogil=True, cache=True)
def _cpu_median5_u8(img, out, step, chunk):
    """Two passes per row (see the module doc): sorted columns into one buffer per rank, pixel
    column ``x`` at ``(x + 2) * step``, the margins reflected; then the windows."""
    rows, n = img.shape
    width = n // step
    sources = np.empty(4, dtype=np.intp)  # margin columns 0, 1, width + 2, width + 3
    for p in range(2):
        sources[p] = (2 + reflect_index(p - 2, width)) * step
        sources[2 + p] = (2 + reflect_index(width + p, width)) * step
    for t in prange((rows + chunk - 1) // chunk):
        s0 = np.empty(n + 4 * step, dtype=np.uint8)  # separate buffers: no aliasing checks
        s1 = np.empty_like(s0)
        s2 = np.empty_like(s0)
        s3 = np.empty_like(s0)
        s4 = np.empty_like(s0)
        for y in range(t * chunk, min(rows, (t + 1) * chunk)):
            a0 = img[reflect_index(y - 2, rows)]
            a1 = img[reflect_index(y - 1, rows)]
            a3 = img[reflect_index(y + 1, rows)]
            a4 = img[reflect_index(y + 2, rows)]
            i = 2 * step
            columns5(a0, a1, img[y], a3, a4, s0[i:], s1[i:], s2[i:], s3[i:], s4[i:], n)
            for p in range(4):
                target = (p if p < 2 else width + p) * step
                for k in range(step):
                    j, f = target + k, sources[p] + k
                    s0[j], s1[j], s2[j], s3[j], s4[j] = s0[f], s1[f], s2[f], s3[f], s4[f]
            windows5(s0, s1, s2, s3, s4, out[y], n, step)


DRIVERS: dict[int, Callable] = {3: _cpu_median3_u8, 5: _cpu_median5_u8}


def median_uint8(pixels: np.ndarray, size: int) -> np.ndarray | None:
    """Median of every ``size x size`` window of ``HxWxC`` uint8 pixels, per channel.

    Returns a new uint8 array, or None where this path does not apply (another dtype or size).
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or size not in DRIVERS:
        return None
    if pixels.size == 0:
        return pixels.copy()
    rows, cols, channels = pixels.shape
    img = np.ascontiguousarray(pixels).reshape(rows, cols * channels)
    out = np.empty((rows, cols, channels), dtype=np.uint8)
    DRIVERS[size](img, out.reshape(rows, cols * channels), channels, CHUNK)
    return out
