"""MPRNet (Zamir et al., CVPR 2021): multi-stage progressive restoration.

Three stages on a multi-patch hierarchy: stage 1 runs a channel-attention
U-Net encoder-decoder on four quarter patches, stage 2 on two half patches
(with cross-stage feature fusion from stage 1), stage 3 an original
resolution sub-network (ORSNet, three ORBs of ``num_cab`` CABs) at full
resolution. Supervised attention modules (SAM) pass features between the
stages. Only the stage-3 image is returned (the intermediate SAM images are
not needed for the L1 recipe used by the authors), as the residual
``tail(x) + input``.

One PReLU module is shared by every channel-attention block, as in the
original code. Each quarter patch is downsampled twice inside the U-Nets,
so the input is padded to a multiple of 8 and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import pad_to_multiple
from .registry import Citation, register_generator


def conv(cin: int, cout: int, k: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class CALayer(nn.Module):
    def __init__(self, channels: int, reduction: int, bias: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, channels // reduction, 1, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class CAB(nn.Module):
    """Channel attention block: conv-act-conv, channel attention, residual."""

    def __init__(self, channels: int, k: int, reduction: int, bias: bool, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, k, bias), act, conv(channels, channels, k, bias))
        self.ca = CALayer(channels, reduction, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ca(self.body(x))


class SAM(nn.Module):
    """Supervised attention module (1x1 convs here, as in the original)."""

    def __init__(self, channels: int, io_channels: int, k: int, bias: bool) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, k, bias)
        self.conv2 = conv(channels, io_channels, k, bias)
        self.conv3 = conv(io_channels, channels, k, bias)

    def forward(self, x: torch.Tensor, x_img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.conv2(x) + x_img
        attn = torch.sigmoid(self.conv3(img))
        return self.conv1(x) * attn + x, img


class Resample(nn.Module):
    """Bilinear x``factor`` followed by a 1x1 conv (no bias)."""

    def __init__(self, cin: int, cout: int, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)
        return self.conv(x)


def _cabs(n: int, channels: int, k: int, reduction: int, bias: bool, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(*[CAB(channels, k, reduction, bias, act) for _ in range(n)])


class Encoder(nn.Module):
    def __init__(self, f: int, s: int, k: int, reduction: int, act: nn.Module, bias: bool, csff: bool) -> None:
        super().__init__()
        widths = (f, f + s, f + 2 * s)
        self.levels = nn.ModuleList([_cabs(2, c, k, reduction, bias, act) for c in widths])
        self.downs = nn.ModuleList([Resample(widths[0], widths[1], 0.5), Resample(widths[1], widths[2], 0.5)])
        self.csff = csff
        if csff:
            self.csff_enc = nn.ModuleList([nn.Conv2d(c, c, 1, bias=bias) for c in widths])
            self.csff_dec = nn.ModuleList([nn.Conv2d(c, c, 1, bias=bias) for c in widths])

    def forward(self, x, enc_prev=None, dec_prev=None):
        outs = []
        for i, level in enumerate(self.levels):
            if i > 0:
                x = self.downs[i - 1](x)
            x = level(x)
            if self.csff and enc_prev is not None:
                x = x + self.csff_enc[i](enc_prev[i]) + self.csff_dec[i](dec_prev[i])
            outs.append(x)
        return outs


class Decoder(nn.Module):
    def __init__(self, f: int, s: int, k: int, reduction: int, act: nn.Module, bias: bool) -> None:
        super().__init__()
        widths = (f, f + s, f + 2 * s)
        self.levels = nn.ModuleList([_cabs(2, c, k, reduction, bias, act) for c in widths])
        self.skip_attn = nn.ModuleList([CAB(widths[0], k, reduction, bias, act), CAB(widths[1], k, reduction, bias, act)])
        self.ups = nn.ModuleList([Resample(widths[1], widths[0], 2), Resample(widths[2], widths[1], 2)])

    def forward(self, enc):
        dec3 = self.levels[2](enc[2])
        dec2 = self.levels[1](self.ups[1](dec3) + self.skip_attn[1](enc[1]))
        dec1 = self.levels[0](self.ups[0](dec2) + self.skip_attn[0](enc[0]))
        return [dec1, dec2, dec3]


class ORB(nn.Module):
    def __init__(self, channels: int, k: int, reduction: int, act: nn.Module, bias: bool, num_cab: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_cabs(num_cab, channels, k, reduction, bias, act), conv(channels, channels, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ORSNet(nn.Module):
    def __init__(self, f: int, so: int, s: int, k: int, reduction: int, act: nn.Module, bias: bool, num_cab: int) -> None:
        super().__init__()
        c = f + so
        self.orbs = nn.ModuleList([ORB(c, k, reduction, act, bias, num_cab) for _ in range(3)])
        self.up_enc1 = Resample(f + s, f, 2)
        self.up_dec1 = Resample(f + s, f, 2)
        self.up_enc2 = nn.Sequential(Resample(f + 2 * s, f + s, 2), Resample(f + s, f, 2))
        self.up_dec2 = nn.Sequential(Resample(f + 2 * s, f + s, 2), Resample(f + s, f, 2))
        self.conv_enc = nn.ModuleList([nn.Conv2d(f, c, 1, bias=bias) for _ in range(3)])
        self.conv_dec = nn.ModuleList([nn.Conv2d(f, c, 1, bias=bias) for _ in range(3)])

    def forward(self, x, enc, dec):
        x = self.orbs[0](x)
        x = x + self.conv_enc[0](enc[0]) + self.conv_dec[0](dec[0])
        x = self.orbs[1](x)
        x = x + self.conv_enc[1](self.up_enc1(enc[1])) + self.conv_dec[1](self.up_dec1(dec[1]))
        x = self.orbs[2](x)
        x = x + self.conv_enc[2](self.up_enc2(enc[2])) + self.conv_dec[2](self.up_dec2(dec[2]))
        return x


@register_generator(
    "mprnet",
    paper=dict(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=1),
    tiny=dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1),
    citation=Citation("Multi-Stage Progressive Image Restoration", "CVPR", 2021),
    multiple=lambda kw: 8,
    whole_only=lambda kw: "channel attention averages over the whole image and stages 1-2 split it "
                          "into halves and quarters",
)
class MPRNet(nn.Module):
    def __init__(
        self,
        io_channels: int = 3,
        n_feat: int = 16,
        scale_unetfeats: int = 8,
        scale_orsnetfeats: int = 8,
        num_cab: int = 1,
        kernel_size: int = 3,
        reduction: int = 4,
        bias: bool = False,
    ) -> None:
        super().__init__()
        f, s, so, k = n_feat, scale_unetfeats, scale_orsnetfeats, kernel_size
        act = nn.PReLU()
        self.shallow = nn.ModuleList(
            [nn.Sequential(conv(io_channels, f, k, bias), CAB(f, k, reduction, bias, act)) for _ in range(3)]
        )
        self.stage1_encoder = Encoder(f, s, k, reduction, act, bias, csff=False)
        self.stage1_decoder = Decoder(f, s, k, reduction, act, bias)
        self.stage2_encoder = Encoder(f, s, k, reduction, act, bias, csff=True)
        self.stage2_decoder = Decoder(f, s, k, reduction, act, bias)
        self.stage3_orsnet = ORSNet(f, so, s, k, reduction, act, bias, num_cab)
        self.sam12 = SAM(f, io_channels, 1, bias)
        self.sam23 = SAM(f, io_channels, 1, bias)
        self.concat12 = conv(2 * f, f, k, bias)
        self.concat23 = conv(2 * f, f + so, k, bias)
        self.tail = conv(f + so, io_channels, k, bias)

    def output_layer(self) -> nn.Module:
        """The last conv before the global residual (zeroed by an identity start)."""
        return self.tail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h0, w0 = pad_to_multiple(x, 8)
        h, w = xp.shape[-2:]
        halves = [xp[..., : h // 2, :], xp[..., h // 2 :, :]]  # top, bottom
        # stage 1: four quarters, encoded separately, decoded per half
        feat1 = []
        for half in halves:
            left = self.stage1_encoder(self.shallow[0](half[..., : w // 2]))
            right = self.stage1_encoder(self.shallow[0](half[..., w // 2 :]))
            feat1.append([torch.cat([a, b], dim=3) for a, b in zip(left, right)])
        res1 = [self.stage1_decoder(f) for f in feat1]
        sam1 = [self.sam12(r[0], half)[0] for r, half in zip(res1, halves)]
        # stage 2: two halves
        feat2 = []
        for half, samf, f1, r1 in zip(halves, sam1, feat1, res1):
            x2 = self.concat12(torch.cat([self.shallow[1](half), samf], dim=1))
            feat2.append(self.stage2_encoder(x2, f1, r1))
        feat2 = [torch.cat([a, b], dim=2) for a, b in zip(*feat2)]
        res2 = self.stage2_decoder(feat2)
        sam2, _ = self.sam23(res2[0], xp)
        # stage 3: full resolution
        x3 = self.concat23(torch.cat([self.shallow[2](xp), sam2], dim=1))
        x3 = self.stage3_orsnet(x3, feat2, res2)
        out = self.tail(x3) + xp
        return out[..., :h0, :w0]
