"""Discriminator realism scores (paper Tables 1-2).

A trained discriminator scores patches of the raw, enhanced and compressed
images: sigmoid of its logit, averaged over patches (and over pixels for the
UNet discriminator's per-pixel map). The conditional discriminator also gets
the compressed patch as its condition, for all three domains alike.
Patches are non-overlapping crops of the training patch size (128 in the
paper), as the paper crops its evaluation images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import json

from ..core.atomic import write_text
from ..paths import result_path
from ..train import checkpoint as ckpt
from ..core.imageio import read_rgb, to_tensor
from ..core.device import resolve_device
from ..core.errors import BadImageError, ConfigError
from ..core.progress import track
from ..core.provenance import base_record, sha256_file
from ..train.trainer import discriminator_for


def load_discriminator(train_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The final discriminator of a training folder (discriminator.pt) and the run's config."""
    path = Path(train_dir) / ckpt.DISCRIMINATOR_NAME
    if not path.is_file():
        cfg = ckpt.model_meta(Path(train_dir) / ckpt.MODEL_NAME)["config"]
        raise ConfigError(f"{path}: missing; method trained without a discriminator (recipe {cfg.get('recipe')})"
                          if cfg.get("discriminator") is None else f"{path}: missing; rerun its training job")
    obj = ckpt.load(path)
    cfg = ckpt.model_meta(path)["config"]
    net = discriminator_for(cfg)
    net.load_state_dict(obj["state_dict"])
    return net.to(device).eval(), cfg


def grid_patches(img: np.ndarray, patch: int) -> np.ndarray:
    """Non-overlapping patch×patch crops (row-major), as (N, patch, patch, 3)."""
    h, w = img.shape[:2]
    tiles = [img[y:y + patch, x:x + patch] for y in range(0, h - patch + 1, patch)
             for x in range(0, w - patch + 1, patch)]
    return np.stack(tiles) if tiles else np.zeros((0, patch, patch, 3), img.dtype)


@torch.no_grad()
def realism_scores(train_dir: str | Path, raw_dir: str | Path, comp_dir: str | Path, enh_dir: str | Path,
                   *, patch: int | None = None, batch: int = 16, device: str = "cpu") -> dict:
    """Mean realism of raw, enhanced and compressed patches under one trained discriminator."""
    device = resolve_device(device)
    net, cfg = load_discriminator(train_dir, device)
    conditional = bool(cfg["conditional_d"])
    # The VGG-style discriminator's linear head fixes its input size.
    patch = cfg["patch"] if cfg["discriminator"] == "vgg" or patch is None else patch
    sums = {"raw": 0.0, "enhanced": 0.0, "compressed": 0.0}
    count = 0
    names = sorted(p.name for p in Path(enh_dir).glob("*.png"))
    if not names:
        raise BadImageError(f"{enh_dir}: no enhanced images")
    for name in names:
        imgs = {}
        for key, folder in (("raw", raw_dir), ("enhanced", enh_dir), ("compressed", comp_dir)):
            imgs[key] = read_rgb(Path(folder) / name)[0]
        shapes = {k: v.shape for k, v in imgs.items()}
        if len(set(shapes.values())) != 1:
            raise BadImageError(f"{name}: sizes differ between raw, enhanced and compressed {shapes}")
        tiles = {k: grid_patches(v, patch) for k, v in imgs.items()}
        for start in range(0, len(tiles["raw"]), batch):
            cond = to_tensor(tiles["compressed"][start:start + batch]).to(device)
            for key in sums:
                x = to_tensor(tiles[key][start:start + batch]).to(device)
                logits = net(torch.cat([x, cond], 1) if conditional else x)
                sums[key] += float(torch.sigmoid(logits.float()).flatten(1).mean(1).sum())
            count += cond.shape[0]
    if count == 0:
        raise BadImageError(f"{enh_dir}: no image is at least {patch}×{patch} pixels; no patch to score")
    out = {k: v / count for k, v in sums.items()}
    out.update(
        conditional=conditional, discriminator=cfg["discriminator"], patch=patch, patches=count,
        provenance=base_record(discriminator=str(Path(train_dir) / ckpt.DISCRIMINATOR_NAME),
                               discriminator_sha256=sha256_file(Path(train_dir) / ckpt.DISCRIMINATOR_NAME)),
    )
    return out


def realism_for_method(method: str, dataset: str, codecs: dict, settings: dict, results: str | Path,
                       raw_dir: str | Path, *, patch: int = 128, device: str = "auto") -> None:
    """``results/realism/{method}/{dataset}/{codec}/{level}.json`` for every codec level."""
    units = [(codec, lv) for codec, levels in codecs.items() for lv in levels]
    for codec, lv in track(units, desc=f"realism {method} {dataset}", unit="level"):
        at = dict(dataset=dataset, codec=codec, level=lv)
        out = realism_scores(result_path("train_dir", results, method=method, codec=codec,
                                         setting=settings[codec][str(lv)]),
                             raw_dir, result_path("compressed_png", results, **at),
                             result_path("enhanced", results, method=method, **at), patch=patch, device=device)
        write_text(result_path("realism", results, method=method, **at),
                   json.dumps(out, indent=2, default=str) + "\n")
