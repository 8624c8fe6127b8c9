"""Helpers shared by the generator files: size padding and weight init."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``x`` (N, C, H, W) on the bottom/right to a multiple of ``multiple``.

    Uses reflect padding when the image is large enough for it and replicate
    padding otherwise. Returns the padded tensor and the original H, W so the
    caller can crop back with ``out[..., :h, :w]``.
    """
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph == 0 and pw == 0:
        return x, h, w
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w


def match_size(feat: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Crop or zero-pad ``feat`` so its H, W equal those of ``ref``.

    Extra rows/columns are cut from the bottom/right; missing ones are padded
    with zeros split as (d // 2, d - d // 2), as in the authors' U-Nets.
    """
    h, w = ref.shape[-2:]
    feat = feat[..., :h, :w]
    dh = h - feat.shape[-2]
    dw = w - feat.shape[-1]
    if dh or dw:
        feat = F.pad(feat, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
    return feat


@torch.no_grad()
def zero_init(conv: nn.Module) -> None:
    """Zero a layer's weight and bias: a global residual network then outputs its input."""
    nn.init.zeros_(conv.weight)
    if getattr(conv, "bias", None) is not None:
        nn.init.zeros_(conv.bias)


@torch.no_grad()
def scaled_kaiming_init(modules, scale: float = 1.0) -> None:
    """Kaiming-normal init scaled by ``scale``, zero bias (BasicSR convention)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()
