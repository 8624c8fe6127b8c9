"""AR-CNN (Dong et al., ICCV 2015): four conv layers, residual output.

Layout as in the authors' re-implementation: conv(k9) -> ReLU -> conv(k7)
-> ReLU -> conv(k1) -> ReLU -> conv(k5), plus the input.
"""

from __future__ import annotations

import torch
from torch import nn
from .registry import Citation, register_generator


def _radius(kw) -> float:
    return sum(k // 2 for k in kw.get("kernels", (9, 7, 1, 5)))


@register_generator(
    "arcnn",
    paper=dict(channels=(64, 32, 16), kernels=(9, 7, 1, 5)),
    tiny=dict(channels=(16, 8, 8), kernels=(9, 7, 1, 5)),
    citation=Citation("Compression Artifacts Reduction by a Deep Convolutional Network", "ICCV", 2015),
    radius=_radius,
)
class ARCNN(nn.Module):
    def __init__(
        self,
        io_channels: int = 3,
        channels: tuple[int, int, int] = (64, 32, 16),
        kernels: tuple[int, int, int, int] = (9, 7, 1, 5),
    ) -> None:
        super().__init__()
        c1, c2, c3 = channels
        k1, k2, k3, k4 = kernels
        self.layers = nn.Sequential(
            nn.Conv2d(io_channels, c1, k1, padding=k1 // 2),
            nn.ReLU(),
            nn.Conv2d(c1, c2, k2, padding=k2 // 2),
            nn.ReLU(),
            nn.Conv2d(c2, c3, k3, padding=k3 // 2),
            nn.ReLU(),
            nn.Conv2d(c3, io_channels, k4, padding=k4 // 2),
        )

    def output_layer(self) -> nn.Module:
        """The last conv before the global residual (zeroed by an identity start)."""
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)
