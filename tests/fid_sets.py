"""Small image sets and a stand-in feature extractor for the FID tests (test_fid, test_fid_interval)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_set(folder: Path, n: int, size: int, seed: int, shift: float = 0.0) -> list[Path]:
    """``n`` seeded random RGB PNGs of ``size`` px in ``folder``, brightened by ``shift``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.fromarray(np.clip(rng.random((size, size, 3)) * 200 + shift, 0, 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


def level_job(root: Path, n: int, size: int = 64):
    """(raw folder, LevelPaths) of one BPG QP 37 evaluation: raw, comp and enh sets of ``n`` images
    that differ in brightness, outputs under ``root``/m and ``root``/d."""
    from debiasqe.evaluate.stage import LevelPaths

    raw = write_set(root / "raw", n, size, 0)[0].parent
    comp = write_set(root / "comp", n, size, 1, shift=30)[0].parent
    enh = write_set(root / "enh", n, size, 2, shift=10)[0].parent
    return raw, LevelPaths(37, comp, enh, root / "m" / "37.csv", root / "d" / "37.json", None)


class MeanNet:
    """Stand-in feature extractor: per-channel means (3-d features)."""

    def __call__(self, x):
        return [x.mean(dim=(2, 3), keepdim=True)]
