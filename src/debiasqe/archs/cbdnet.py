"""CBDNet (Guo et al., CVPR 2019): noise estimation sub-net + U-Net denoiser.

As in the authors' quality-enhancement version: a 5-conv estimation branch
(``estimate_channels`` wide, ReLU after every conv) produces a 3-channel
map, which is concatenated with the input and fed to a U-Net with
``levels`` levels (average-pool down, transposed-conv up, skip fusion by
addition, channel width doubling per level, conv count 1, 2, 4, ... per
level). The U-Net predicts a residual that is added to the input.

The input is padded (reflect/replicate) to a multiple of 2**(levels-1) and
the output cropped back, so any H x W works.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import match_size, pad_to_multiple
from .registry import Citation, register_generator


def _conv_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]


class UNet(nn.Module):
    """The authors' plain U-Net (no residual), used as CBDNet's denoiser."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        levels: int = 3,
        base_channels: int = 64,
        channel_growth: int = 2,
        max_channels: int = 1024,
        base_convs: int = 1,
        conv_growth: int = 2,
        max_convs: int = 8,
    ) -> None:
        super().__init__()
        self.levels = levels
        widths = [base_channels]
        convs = [base_convs]
        for _ in range(1, levels):
            widths.append(min(widths[-1] * channel_growth, max_channels))
            convs.append(min(convs[-1] * conv_growth, max_convs))
        self.inc = nn.Sequential(*_conv_relu(in_channels, base_channels))
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        for lvl in range(1, levels):
            self.down.append(nn.AvgPool2d(2))
            layers = _conv_relu(widths[lvl - 1], widths[lvl])
            for _ in range(convs[lvl]):
                layers += _conv_relu(widths[lvl], widths[lvl])
            self.enc.append(nn.Sequential(*layers))
        # decoders are indexed by the level they produce (0 .. levels-2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for lvl in range(levels - 1):
            self.up.append(nn.ConvTranspose2d(widths[lvl + 1], widths[lvl + 1] // 2, 3, stride=2, padding=1))
            layers = _conv_relu(widths[lvl], widths[lvl])
            for _ in range(convs[lvl]):
                layers += _conv_relu(widths[lvl], widths[lvl])
            self.dec.append(nn.Sequential(*layers))
        self.outc = nn.Conv2d(base_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.inc(x)
        skips = []
        for down, enc in zip(self.down, self.enc):
            skips.append(feat)
            feat = enc(down(feat))
        for lvl in range(self.levels - 2, -1, -1):
            skip = skips[lvl]
            feat = match_size(self.up[lvl](feat), skip) + skip
            feat = self.dec[lvl](feat)
        return self.outc(feat)


def _radius(kw) -> float:
    levels = kw.get("levels", 3)
    convs = [min(2**lvl, 8) for lvl in range(levels)]
    r = 5 + 1  # noise estimation (5 convs), U-Net input conv
    for lvl in range(1, levels):  # encoder: pool from spacing 2^(l-1), 1 + convs[l] convs
        r += 2 ** (lvl - 1) + (1 + convs[lvl]) * 2**lvl
    for lvl in range(levels - 2, -1, -1):  # decoder: transposed conv, 1 + convs[l] convs
        r += 2 * 2**lvl + (1 + convs[lvl]) * 2**lvl
    return r + 1  # output conv


@register_generator(
    "cbdnet",
    paper=dict(estimate_channels=32, levels=3, base_channels=64),
    tiny=dict(estimate_channels=8, levels=3, base_channels=8),
    citation=Citation("Toward Convolutional Blind Denoising of Real Photographs", "CVPR", 2019),
    radius=_radius, multiple=lambda kw: 2 ** (kw.get("levels", 3) - 1),
)
class CBDNet(nn.Module):
    def __init__(
        self,
        io_channels: int = 3,
        estimate_channels: int = 32,
        levels: int = 3,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        est: list[nn.Module] = _conv_relu(io_channels, estimate_channels)
        for _ in range(3):
            est += _conv_relu(estimate_channels, estimate_channels)
        est += _conv_relu(estimate_channels, io_channels)
        self.estimate = nn.Sequential(*est)
        self.denoise = UNet(io_channels * 2, io_channels, levels=levels, base_channels=base_channels)
        self.multiple = 2 ** (levels - 1)

    def output_layer(self) -> nn.Module:
        """The last conv before the global residual (zeroed by an identity start)."""
        return self.denoise.outc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, self.multiple)
        noise = self.estimate(xp)
        res = self.denoise(torch.cat([xp, noise], dim=1))
        return x + res[..., :h, :w]
