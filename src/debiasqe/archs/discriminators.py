"""Discriminators of the two GAN recipes.

``VGGStyleDiscriminator`` -- ESRGAN's discriminator (BasicSR layout): five
(or six, for 256 input) stages of [3x3 conv, 4x4 stride-2 conv], widths
nf, 2nf, 4nf, 8nf, 8nf (, 8nf), BatchNorm after every conv but the first,
LeakyReLU(0.2), then Linear(8nf*4*4, 100) -> LeakyReLU -> Linear(100, 1).
Output: N x 1 logits. The input must be exactly ``input_size`` square.

``UNetDiscriminatorSN`` -- Real-ESRGAN's U-Net discriminator: spectral norm
(``torch.nn.utils.parametrizations``, power iteration in float32; checkpoints
of the legacy ``torch.nn.utils.spectral_norm`` load too) on all but the first
and last convs, three stride-2 downsamplings, bilinear
x2 upsamplings with additive skips, per-pixel logits N x 1 x H x W. The
input is padded to a multiple of 8 and the map cropped back.

Both take ``in_channels``: 3 for the plain discriminator, 6 for the
conditional one of the debiasing method (compressed image concatenated to
the enhanced/raw image); that changes only the first conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

from ._common import pad_to_multiple
from .registry import Citation, register_discriminator


@register_discriminator(
    "vgg",
    paper=dict(num_feat=64), tiny=dict(num_feat=8),
    citation=Citation("ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", "ECCV Workshops", 2018),
)
class VGGStyleDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(f"VGGStyleDiscriminator input_size must be 128 or 256, got {input_size}")
        self.input_size = input_size
        nf = num_feat
        widths = [nf, 2 * nf, 4 * nf, 8 * nf, 8 * nf] + ([8 * nf] if input_size == 256 else [])
        layers: list[nn.Module] = []
        cin = in_channels
        for i, c in enumerate(widths):
            # first conv of stage 0 has a bias and no BN; all others: no bias + BN
            if i == 0:
                layers += [nn.Conv2d(cin, c, 3, 1, 1, bias=True), nn.LeakyReLU(0.2, inplace=True)]
            else:
                layers += [nn.Conv2d(cin, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c, affine=True), nn.LeakyReLU(0.2, inplace=True)]
            layers += [nn.Conv2d(c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c, affine=True), nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(widths[-1] * 4 * 4, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator expects {self.input_size}x{self.input_size} input, got "
                f"{tuple(x.shape[-2:])}"
            )
        return self.classifier(torch.flatten(self.features(x), 1))


class _SpectralNormFP32(_SpectralNorm):
    """torch's spectral-norm parametrization with its power iteration and
    sigma computed in float32 even under bf16 autocast (in bf16, sigma keeps
    about 3 significant digits)."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            return super().forward(weight.float())


def spectral_norm(module: nn.Module) -> nn.Module:
    """``torch.nn.utils.parametrizations.spectral_norm(module)`` (one power
    iteration per training forward), with the power iteration in float32."""
    parametrize.register_parametrization(module, "weight", _SpectralNormFP32(module.weight, 1, dim=0, eps=1e-12))
    return module


#: legacy ``torch.nn.utils.spectral_norm`` state-dict suffixes -> the parametrization's.
_LEGACY_SN_KEYS = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}


def _map_legacy_spectral_norm(state_dict, prefix, *_args) -> None:
    """Load-state-dict pre-hook: rename the keys of a checkpoint written with
    the legacy ``torch.nn.utils.spectral_norm`` (``conv1.weight_orig``,
    ``conv1.weight_u``, ``conv1.weight_v``) to the parametrization's."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        head, _, tail = key.rpartition(".")
        if tail in _LEGACY_SN_KEYS:
            state_dict[f"{head}.{_LEGACY_SN_KEYS[tail]}"] = state_dict.pop(key)


@register_discriminator(
    "unet",
    paper=dict(num_feat=64, skip_connection=True), tiny=dict(num_feat=8, skip_connection=True),
    citation=Citation(
        "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data", "ICCV Workshops", 2021
    ),
)
class UNetDiscriminatorSN(nn.Module):
    def __init__(self, in_channels: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        nf = num_feat
        self.skip_connection = skip_connection
        sn = spectral_norm
        self.conv0 = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)
        self._register_load_state_dict_pre_hook(_map_legacy_spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, 8)
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x0 = act(self.conv0(xp))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)[..., :h, :w]
