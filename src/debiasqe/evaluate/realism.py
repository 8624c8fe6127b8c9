"""Discriminator realism scores (paper Tables 1-2).

A trained discriminator scores patches of the raw, enhanced and compressed
images the way it was trained to judge them:

* relativistic (RaGAN, the ESRGAN recipe): the critic C is trained only
  through differences C(real) - mean C(fake), so the level of C itself is
  arbitrary. Raw and compressed patches are scored relative to the enhanced
  set, sigmoid(C(x) - mean C(enhanced)), enhanced patches relative to the raw
  set, sigmoid(C(x) - mean C(raw)); the means run over every patch of the
  level (and every pixel of a per-pixel map). Raw + enhanced then sum to about
  one, as the paper's Table 1 rows for [43] do (0.73 + 0.27, 0.74 + 0.26).
* absolute (vanilla BCE GAN, the Real-ESRGAN recipe): sigmoid(C(x)),
  averaged over the UNet discriminator's per-pixel map.

Scores are averaged over patches; the JSON's ``score`` says which form
(``relativistic`` or ``sigmoid``). The conditional discriminator also gets
the compressed patch as its condition, for all three domains alike.
Patches are non-overlapping crops of the training patch size (128 in the
paper: "in accordance with the patch size during training"), as the paper
crops its evaluation images.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)


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


def score_logits(logits: dict[str, torch.Tensor], relativistic: bool) -> dict[str, float]:
    """Realism of ``raw``, ``enhanced`` and ``compressed`` from their logits, each (patches, pixels).

    Absolute: mean over patches of the per-patch mean sigmoid. Relativistic
    (RaGAN): raw and compressed against the enhanced set's mean logit, enhanced
    against the raw set's, as the discriminator's loss compares them.
    """
    if relativistic:
        ref = {"raw": "enhanced", "compressed": "enhanced", "enhanced": "raw"}
        return {k: float(torch.sigmoid(v - logits[ref[k]].mean()).mean(1).mean()) for k, v in logits.items()}
    return {k: float(torch.sigmoid(v).mean(1).mean()) for k, v in logits.items()}


@torch.no_grad()
def realism_scores(train_dir: str | Path, raw_dir: str | Path, comp_dir: str | Path, enh_dir: str | Path,
                   *, patch: int | None = None, batch: int = 16, device: str = "cpu") -> dict:
    """Mean realism of raw, enhanced and compressed patches under one trained discriminator."""
    device = resolve_device(device)
    net, cfg = load_discriminator(train_dir, device)
    conditional = bool(cfg["conditional_d"])
    relativistic = cfg.get("gan") == "ragan"
    # The VGG-style discriminator's linear head fixes its input size.
    patch = cfg["patch"] if cfg["discriminator"] == "vgg" or patch is None else patch
    if patch != cfg["patch"]:
        log.warning("realism: scoring %d-px patches with a discriminator trained on %d-px patches "
                    "(the paper scores at the training patch size)", patch, cfg["patch"])
    logits = {"raw": [], "enhanced": [], "compressed": []}  # per batch, (N, pixels) on the CPU
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
            for key in logits:
                x = to_tensor(tiles[key][start:start + batch]).to(device)
                logit = net(torch.cat([x, cond], 1) if conditional else x)
                logits[key].append(logit.float().flatten(1).cpu())
            count += cond.shape[0]
    if count == 0:
        raise BadImageError(f"{enh_dir}: no image is at least {patch}×{patch} pixels; no patch to score")
    out = score_logits({k: torch.cat(v) for k, v in logits.items()}, relativistic)
    out.update(
        score="relativistic" if relativistic else "sigmoid",
        conditional=conditional, discriminator=cfg["discriminator"], patch=patch, train_patch=cfg["patch"],
        patches=count,
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
