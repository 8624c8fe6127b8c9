"""DnCNN (Zhang et al., IEEE TIP 2017): residual learning with a deep plain CNN.

The authors' quality-enhancement configuration uses 15 middle blocks and no
batch normalisation (``bn=False``); with ``bn=True`` each middle conv drops
its bias and is followed by BatchNorm (momentum 0.9, eps 1e-4, as in KAIR).
"""

from __future__ import annotations

import torch
from torch import nn
from .registry import Citation, plain_stack_radius, register_generator


@register_generator(
    "dncnn",
    paper=dict(mid_channels=64, num_blocks=15, bn=False),
    tiny=dict(mid_channels=16, num_blocks=3, bn=False),
    citation=Citation(
        "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising", "IEEE TIP", 2017
    ),
    note="the paper's reference [54] is the same authors' CVPR 2017 denoiser-prior paper",
    radius=plain_stack_radius,
)
class DnCNN(nn.Module):
    def __init__(
        self, io_channels: int = 3, mid_channels: int = 64, num_blocks: int = 15, bn: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(io_channels, mid_channels, 3, padding=1)]
        for _ in range(num_blocks):
            layers.append(nn.ReLU(inplace=True))
            if bn:
                layers += [
                    nn.Conv2d(mid_channels, mid_channels, 3, padding=1, bias=False),
                    nn.BatchNorm2d(mid_channels, momentum=0.9, eps=1e-4),
                ]
            else:
                layers.append(nn.Conv2d(mid_channels, mid_channels, 3, padding=1))
        layers += [nn.ReLU(inplace=True), nn.Conv2d(mid_channels, io_channels, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def output_layer(self) -> nn.Module:
        """The last conv before the global residual (zeroed by an identity start)."""
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)
