"""Random patch reads: image store (patches cut at read time) vs pre-cut (N, P, P, 3) patch array.

    python benchmarks/patch_reads.py [--images N] [--width W] [--height H] [--patch P] [--step S] [--reads R]

Both layouts hold the same patches of the same images (the grid of
``debiasqe.data.patches.PatchGrid``); the pre-cut array is the previous
layout. Timed: ``PairedPatchDataset.__getitem__`` (raw + one compressed
source, augmentation on, float tensors out) against the same work over the
pre-cut arrays, at the same random indexes, from the page cache (files just
written; a cold-cache comparison needs root to drop caches). Prints items/s
for both, the ratio, and the disk bytes of each layout.

Measured on the development machine (2 CPU cores shared with other jobs,
load ~7), defaults: store 1628 items/s, pre-cut 1653 items/s (0.98×);
11.9 vs 42.2 MiB per source (0.28×).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.core.imageio import to_tensor  # noqa: E402
from debiasqe.data.patches import (PatchGrid, augment_pair, index_path_for, read_index,  # noqa: E402
                                   write_image_store)
from debiasqe.train.patch_dataset import PairedPatchDataset  # noqa: E402


class PreCut:
    """The previous layout: every patch copied out once into (N, P, P, 3)."""

    def __init__(self, raw: Path, comp: Path, seed: int = 0):
        self.raw, self.comp = np.load(raw, mmap_mode="r"), np.load(comp, mmap_mode="r")
        self.seed, self.epoch = seed, 0

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        raw, comp = self.raw[i], self.comp[i]
        rng = np.random.default_rng((self.seed, self.epoch, int(i)))
        h, v, r = rng.random(3) < 0.5
        raw, comp = augment_pair((raw, comp), h, v, r)
        return to_tensor(raw), to_tensor(comp)


def precut(store: Path, grid: PatchGrid, out: Path) -> Path:
    flat = np.load(store, mmap_mode="r")
    mm = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=(grid.count, grid.patch, grid.patch, 3))
    for i in range(grid.count):
        mm[i] = grid.cut(flat, i)
    mm.flush()
    return out


def timed(ds, order) -> float:
    t0 = time.perf_counter()
    for i in order:
        ds[int(i)]
    return len(order) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--width", type=int, default=1020)   # half a DIV2K image per side
    ap.add_argument("--height", type=int, default=678)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--step", type=int, default=64)
    ap.add_argument("--reads", type=int, default=1500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stores = {}
        for tag, shift in (("raw", 0), ("comp", 3)):
            folder = tmp / tag
            folder.mkdir()
            paths = []
            for k in range(args.images):
                base = np.random.default_rng(k).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
                p = folder / f"{k:04d}.png"
                Image.fromarray(base + np.uint8(shift)).save(p, compress_level=0)
                paths.append(p)
            stores[tag] = tmp / f"{tag}.npy"
            write_image_store(paths, stores[tag], progress=False)
        grid = PatchGrid(read_index(index_path_for(stores["raw"])), args.patch, args.step)
        cut = {tag: precut(stores[tag], grid, tmp / f"{tag}.precut.npy") for tag in stores}
        new = PairedPatchDataset(stores["raw"], stores["comp"], patch=args.patch, step=args.step)
        old = PreCut(cut["raw"], cut["comp"])
        order = rng.integers(0, len(new), args.reads)
        for ds in (new, old):  # warm up: page cache and lazy opening
            timed(ds, order[:200])
        rates = {"store": [], "precut": []}
        for _ in range(3):  # interleaved, best of three
            rates["store"].append(timed(new, order))
            rates["precut"].append(timed(old, order))
        s, c = max(rates["store"]), max(rates["precut"])
        size_s = stores["raw"].stat().st_size
        size_c = cut["raw"].stat().st_size
    print(f"{args.images} images {args.width}x{args.height}, patch {args.patch} step {args.step}: "
          f"{grid.count} patches, {args.reads} random reads (raw + compressed, augmented, tensors)")
    print(f"{'layout':<10}{'items/s':>10}{'disk/source':>14}")
    print(f"{'store':<10}{s:>10.0f}{size_s / 2**20:>11.1f} MiB")
    print(f"{'pre-cut':<10}{c:>10.0f}{size_c / 2**20:>11.1f} MiB")
    print(f"store reads at {s / c:.2f}x the pre-cut speed and needs {size_s / size_c:.2f}x its disk")


if __name__ == "__main__":
    main()
