"""DCAD (Wang et al., DCC 2017): a plain 10-conv residual CNN.

Input conv, ``num_blocks`` (ReLU, conv) pairs, ReLU, output conv; the
network predicts a residual that is added to the input. With the default 8
blocks there are 10 conv layers in all.
"""

from __future__ import annotations

import torch
from torch import nn
from .registry import Citation, plain_stack_radius, register_generator


@register_generator(
    "dcad",
    paper=dict(mid_channels=64, num_blocks=8),
    tiny=dict(mid_channels=16, num_blocks=2),
    citation=Citation(
        "A Novel Deep Learning-Based Method of Improving Coding Efficiency from the Decoder-End for HEVC",
        "DCC", 2017,
    ),
    radius=plain_stack_radius,
)
class DCAD(nn.Module):
    def __init__(self, io_channels: int = 3, mid_channels: int = 64, num_blocks: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(io_channels, mid_channels, 3, padding=1)]
        for _ in range(num_blocks):
            layers += [nn.ReLU(), nn.Conv2d(mid_channels, mid_channels, 3, padding=1)]
        layers += [nn.ReLU(), nn.Conv2d(mid_channels, io_channels, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def output_layer(self) -> nn.Module:
        """The last conv before the global residual (zeroed by an identity start)."""
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)
