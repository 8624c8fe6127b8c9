"""One training job: a method's config and the patch stores -> model.pt."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .patch_dataset import PairedPatchDataset
from .trainer import resolve_config, train


def run_training(spec: dict, raw_store: str | Path, comp_stores: Sequence[str | Path], out_dir: str | Path,
                 *, step: int, init_from: str | Path | None = None, progress: bool = True) -> Path:
    """Train ``spec`` on (raw, compressed) patches of the stores; returns model.pt.

    The dataset yields un-augmented uint8 grid patches of the recipe's size;
    the trainer crops them and, on the device, converts and augments them as a
    function of (seed, step), so a killed job resumes to the same weights.
    """
    cfg = resolve_config({**spec, "init_from": str(init_from) if init_from else None, "progress": progress})
    dataset = PairedPatchDataset(raw_store, list(comp_stores), augment=False, patch=cfg["patch"], step=step,
                                 seed=cfg["seed"], uint8=True)
    return train(cfg, dataset, out_dir)
