"""RBQE (Xing et al., ECCV 2020): nested U-Nets with dense skips, early exits.

The encoder-decoder is a stack of ``levels`` progressively deeper U-Nets: the
i-th U-Net goes down one level further than the (i-1)-th (strided conv) and
climbs back up i+1 times (transposed conv), each up step fusing the
upsampled feature with every earlier feature at that level (dense
connection, ``base * (2 + step)`` input channels). Each U-Net ends at an
exit; as in the authors' non-blind setting only the last exit is built and
used, so the IQA-driven early-exit module (inference-time only, no weights)
is not part of this network. The output conv predicts a residual that is
added to the input.

Defaults follow the authors' BasicSR code: base 32, 5 levels, strided-conv
down, transposed-conv up, plain (non-separable) convs, no ECA attention.
The input is padded to a multiple of 2**levels and cropped back.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import match_size, pad_to_multiple
from .registry import Citation, register_generator


class ECA(nn.Module):
    """Efficient channel attention (1-D conv over pooled channels)."""

    def __init__(self, k_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3)).unsqueeze(1)  # N, 1, C
        y = torch.sigmoid(self.conv(y)).transpose(1, 2).unsqueeze(-1)  # N, C, 1, 1
        return x * y


def _conv(cin: int, cout: int, eca: bool, stride: int = 1) -> list[nn.Module]:
    layers: list[nn.Module] = [ECA()] if eca else []
    layers.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
    return layers


class Down(nn.Module):
    """conv, strided conv (halves H, W), conv -- no activations (as in the original)."""

    def __init__(self, channels: int, eca: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            *_conv(channels, channels, eca),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            *_conv(channels, channels, eca),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Up(nn.Module):
    """Transposed conv x2, concatenate dense skips, conv-ReLU-conv."""

    def __init__(self, channels: int, in_channels: int, eca: bool) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1)
        self.layers = nn.Sequential(
            *_conv(in_channels, channels, eca), nn.ReLU(inplace=True), *_conv(channels, channels, eca)
        )

    def forward(self, small: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        feat = match_size(self.up(small), skips[0])
        return self.layers(torch.cat([feat, *skips], dim=1))


def _radius(kw) -> float:
    if kw.get("eca", False):
        return math.inf
    levels = kw.get("levels", 5)
    # history[k][level] -> radius of that feature (mirrors RBQE.forward)
    history: list[dict[int, float]] = [{0: 2}]  # in_conv: two 3×3 convs
    for i in range(levels):
        prev_deepest = history[-1][max(history[-1])]
        # Down i -> i + 1: conv (2^i), stride-2 conv (2^i), conv at 2^(i+1)
        feats = {i + 1: prev_deepest + 2**i + 2**i + 2 ** (i + 1)}
        for j in range(i + 1):
            t = i - j
            skips = [h[t] for h in history[-(j + 1):] if t in h]
            # transposed conv to spacing 2^t, then two 3×3 convs at 2^t
            feats[t] = max([feats[t + 1] + 2 * 2**t, *skips]) + 2 * 2**t
        history.append(feats)
    return history[-1][0] + 1  # output conv


@register_generator(
    "rbqe",
    paper=dict(base_channels=32, levels=5, eca=False),
    tiny=dict(base_channels=8, levels=3, eca=False),
    citation=Citation(
        "Early Exit or Not: Resource-Efficient Blind Quality Enhancement for Compressed Images", "ECCV", 2020
    ),
    radius=_radius, multiple=lambda kw: 2 ** kw.get("levels", 5),
    whole_only=lambda kw: "ECA channel attention averages over the whole image" if kw.get("eca") else "",
)
class RBQE(nn.Module):
    def __init__(self, io_channels: int = 3, base_channels: int = 32, levels: int = 5, eca: bool = False) -> None:
        super().__init__()
        c = base_channels
        self.levels = levels
        self.in_conv = nn.Sequential(
            nn.Conv2d(io_channels, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1)
        )
        self.downs = nn.ModuleList([Down(c, eca) for _ in range(levels)])
        # ups[i][j]: j-th up step of the i-th U-Net, fed with (j + 1) dense skips
        self.ups = nn.ModuleList(
            [nn.ModuleList([Up(c, c * (2 + j), eca) for j in range(i + 1)]) for i in range(levels)]
        )
        self.out_conv = nn.Sequential(*_conv(c, io_channels, eca))

    def output_layer(self) -> nn.Module:
        """The last conv before the global residual (zeroed by an identity start)."""
        return self.out_conv[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, 2**self.levels)
        # history[k]: features of the k-th U-Net from its deepest level up to
        # level 0; history[0] holds only the input feature (level 0).
        history: list[list[torch.Tensor]] = [[self.in_conv(xp)]]
        for i in range(self.levels):
            feats = [self.downs[i](history[-1][0])]  # level i + 1
            for j in range(i + 1):
                # features at the target level (i - j) of the last j + 1 U-Nets
                skips = [lst[k] for k, lst in enumerate(history[-(j + 1):])]
                feats.append(self.ups[i][j](feats[-1], skips))
            history.append(feats)
        out = self.out_conv(history[-1][-1])
        return x + out[..., :h, :w]
