"""RRDBNet, the ESRGAN generator (Wang et al., ECCV Workshops 2018).

Scale 1 follows BasicSR: the input is pixel-unshuffled by 4 (so the body
runs at 1/4 resolution on 3 * 16 channels), then the trunk of residual-in-
residual dense blocks, and two (nearest x2 upsample, conv, LeakyReLU)
steps bring it back to full resolution. Scale 2 unshuffles by 2 and scale 4
does not unshuffle (the super-resolution case). The output is the conv
result itself (no input skip), as in ESRGAN / Real-ESRGAN; ``global_skip``
adds the input (scale 1 only; not the paper's network: for an identity
start, ``training.generator_init: identity``).

Dense-block convs use BasicSR's init: Kaiming normal scaled by 0.1, zero
bias. The input is padded to a multiple of the unshuffle factor and the
output cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import pad_to_multiple, scaled_kaiming_init
from .registry import Citation, register_generator


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(num_feat + i * num_grow_ch, num_grow_ch, 3, padding=1) for i in range(4)]
            + [nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, padding=1)]
        )
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        scaled_kaiming_init(self.convs, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(self.lrelu(conv(torch.cat(feats, dim=1))))
        return x + 0.2 * self.convs[-1](torch.cat(feats, dim=1))


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdbs = nn.Sequential(*[ResidualDenseBlock(num_feat, num_grow_ch) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdbs(x)


def _radius(kw) -> float:
    u = {1: 4, 2: 2, 4: 1}[kw.get("scale", 1)]
    r = (u - 1) + u  # unshuffle block, conv_first
    r += kw["num_block"] * 3 * 5 * u  # 3 RDBs of 5 chained convs per RRDB
    r += u  # conv_body
    r += 2 * (u / 2) + u / 2  # nearest ×2, conv_up1
    r += 2 * (u / 4) + 3 * (u / 4)  # nearest ×2, conv_up2, conv_hr, conv_last
    return math.ceil(r)


@register_generator(
    "rrdbnet",
    paper=dict(num_feat=64, num_block=23, num_grow_ch=32, scale=1),
    tiny=dict(num_feat=16, num_block=1, num_grow_ch=8, scale=1),
    citation=Citation("ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", "ECCV Workshops", 2018),
    note="generator of both the ESRGAN and the Real-ESRGAN recipes",
    radius=_radius, multiple=lambda kw: {1: 4, 2: 2, 4: 1}[kw.get("scale", 1)],
)
class RRDBNet(nn.Module):
    def __init__(
        self,
        io_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        scale: int = 1,
        global_skip: bool = False,
    ) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet scale must be 1, 2 or 4, got {scale}")
        if global_skip and scale != 1:
            raise ValueError(f"RRDBNet global_skip needs scale 1, got scale {scale}")
        self.global_skip = bool(global_skip)
        self.scale = scale
        self.unshuffle = {1: 4, 2: 2, 4: 1}[scale]
        self.conv_first = nn.Conv2d(io_channels * self.unshuffle**2, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, io_channels, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, self.unshuffle)
        feat = F.pixel_unshuffle(xp, self.unshuffle) if self.unshuffle > 1 else xp
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))[..., : h * self.scale, : w * self.scale]
        return x + out if self.global_skip else out

    def output_layer(self) -> nn.Module:
        """The last conv (with ``global_skip``, zeroed by an identity start)."""
        return self.conv_last
