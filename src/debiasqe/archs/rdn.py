"""RDN (Zhang et al., CVPR 2018) at scale 1, as the authors used it for QE.

Shallow features (two 3x3 convs), ``num_blocks`` residual dense blocks of
``num_layers`` dense layers with growth ``growth``, global feature fusion
(1x1 then 3x3) with a global residual to the first shallow feature, then a
3x3 output conv. At scale 1 there is no upsampler, and -- as in the authors'
code -- the output is the conv result itself (no input skip). ``global_skip``
adds the input to the output (not the paper's network: for an identity start,
``training.generator_init: identity``).
"""

from __future__ import annotations

import torch
from torch import nn
from .registry import Citation, register_generator


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, growth, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.act(self.conv(x))], dim=1)


class RDB(nn.Module):
    """Residual dense block: dense layers, 1x1 local fusion, local residual."""

    def __init__(self, channels: int, growth: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[DenseLayer(channels + i * growth, growth) for i in range(num_layers)])
        self.lff = nn.Conv2d(channels + num_layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.lff(self.layers(x))


def _radius(kw) -> float:
    # sfe1, sfe2, num_layers 3×3 per block (1×1 fusion adds nothing), gff 3×3, output
    return 2 + kw["num_blocks"] * kw["num_layers"] + 1 + 1


@register_generator(
    "rdn",
    paper=dict(mid_channels=32, num_blocks=4, num_layers=4, growth=16),
    tiny=dict(mid_channels=8, num_blocks=2, num_layers=2, growth=8),
    citation=Citation("Residual Dense Network for Image Super-Resolution", "CVPR", 2018),
    radius=_radius,
)
class RDN(nn.Module):
    def __init__(
        self,
        io_channels: int = 3,
        mid_channels: int = 32,
        num_blocks: int = 4,
        num_layers: int = 4,
        growth: int = 16,
        global_skip: bool = False,
    ) -> None:
        super().__init__()
        self.global_skip = bool(global_skip)
        self.sfe1 = nn.Conv2d(io_channels, mid_channels, 3, padding=1)
        self.sfe2 = nn.Conv2d(mid_channels, mid_channels, 3, padding=1)
        self.rdbs = nn.ModuleList([RDB(mid_channels, growth, num_layers) for _ in range(num_blocks)])
        self.gff = nn.Sequential(
            nn.Conv2d(mid_channels * num_blocks, mid_channels, 1),
            nn.Conv2d(mid_channels, mid_channels, 3, padding=1),
        )
        self.output = nn.Conv2d(mid_channels, io_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sfe1 = self.sfe1(x)
        feat = self.sfe2(sfe1)
        locals_ = []
        for rdb in self.rdbs:
            feat = rdb(feat)
            locals_.append(feat)
        feat = self.gff(torch.cat(locals_, dim=1)) + sfe1
        out = self.output(feat)
        return x + out if self.global_skip else out

    def output_layer(self) -> nn.Module:
        """The last conv (with ``global_skip``, zeroed by an identity start)."""
        return self.output
