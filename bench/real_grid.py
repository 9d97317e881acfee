"""A side-by-side grid of real-noise crops: noisy | each method | reference where one exists.

    .venv/bin/python bench/real_grid.py --data ../shared/data -o docs/real_noise_grid.png \
        -m nlm -m mwcnn:variant=gaussian -m mwcnn:variant=real

Real noise here has no clean ground truth except the SIDD block (GT shown, PSNR in the
labels); the other rows (SIDD_NAFNet_demo, NC12, RNI15) are for looking at: blotches, colour
shifts and smeared texture show up where numbers cannot. Every method gets the noisy 8-bit
file as it is, like `fastdenoise run`; NLM estimates its own noise level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fastdenoise.cli import method_spec
from fastdenoise.evaluate import method_fn, scores, to_uint8
from fastdenoise.io import read_pixels

# (label, noisy file, reference file or None, crop top-left (y, x)) under --data
ROWS = [
    ("SIDD block", "SIDD_val_block_DANet/noisy.png", "SIDD_val_block_DANet/gt.png", (64, 64)),
    ("SIDD NAFNet demo", "SIDD_NAFNet_demo/noisy.png", None, (96, 64)),
    ("NC12 dog", "NC12/__192x192__dog.png", None, (32, 32)),
    ("NC12 room", "NC12/__192x192__room.png", None, (32, 32)),
    ("RNI15 Flowers", "RNI15/Flowers.png", None, (40, 80)),
    ("RNI15 Postcards", "RNI15/Postcards.png", None, (300, 170)),
]


def read_rgb(path: Path) -> np.ndarray:
    """An 8-bit file as uint8 ``HxWx3`` RGB (alpha dropped, gray replicated)."""
    image = read_pixels(path, 3)
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: {image.dtype} pixels, an 8-bit file expected")
    return image


def label(tile: np.ndarray, text: str) -> np.ndarray:
    """The tile with a caption bar on top."""
    bar = np.full((18, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("-o", "--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("-m", "--method", action="append", required=True, help="NAME[:k=v,...]")
    parser.add_argument("--crop", type=int, default=128)
    args = parser.parse_args(argv)

    methods = []  # each built once (a model loads its weights once), run on every row
    for spec in args.method:
        name, params = method_spec(spec)
        methods.append(method_fn(name, **params))
    rows = []
    for name, noisy_rel, ref_rel, (top, left) in ROWS:
        noisy = read_rgb(args.data / noisy_rel)
        ref = read_rgb(args.data / ref_rel) if ref_rel else None
        window = (slice(top, top + args.crop), slice(left, left + args.crop))
        tiles = [label(noisy[window], name if ref is None else f"{name} noisy")]
        for denoise, spec in zip(methods, args.method, strict=True):
            out = to_uint8(denoise(noisy).astype(np.float64) / 255)
            caption = spec.replace("variant=", "").replace(":", " ")
            if ref is not None:
                caption += f" {scores(out, ref)[0]:.2f} dB"
            tiles.append(label(out[window], caption))
        tiles.append(label(ref[window], "ground truth") if ref is not None else None)
        rows.append(tiles)
    blank = np.full_like(rows[0][0], 255)
    grid = np.concatenate(
        [np.concatenate([t if t is not None else blank for t in row], axis=1) for row in rows]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), grid[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
