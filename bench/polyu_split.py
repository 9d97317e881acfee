"""Link PolyU_crops into a training part and a held-out part (``datasets.POLYU_HELD_OUT``).

    .venv/bin/python bench/polyu_split.py ../shared/data/PolyU_crops checkpoints

makes ``checkpoints/polyu-train`` (79 pairs) and ``checkpoints/polyu-held`` (21 pairs), each
with ``noisy/`` and ``gt/`` folders of symbolic links, for ``fastdenoise train --pairs``.
Nothing is copied: the data stays in ../shared/data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastdenoise.datasets import polyu_split


def link_split(root: Path, out: Path) -> dict[str, int]:
    """Create (or refresh) the two folders of links; the number of pairs in each."""
    counts = {}
    for name, held_out in (("polyu-train", False), ("polyu-held", True)):
        pairs = polyu_split(root, held_out)
        for kind, index in (("noisy", 0), ("gt", 1)):
            folder = out / name / kind
            folder.mkdir(parents=True, exist_ok=True)
            for pair in pairs:
                link = folder / pair[index].name
                link.unlink(missing_ok=True)
                link.symlink_to(pair[index].resolve())
        counts[name] = len(pairs)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the PolyU_crops folder (noisy/, gt/)")
    parser.add_argument("out", type=Path, help="where polyu-train/ and polyu-held/ go")
    args = parser.parse_args()
    print(link_split(args.root, args.out))


if __name__ == "__main__":
    main()
