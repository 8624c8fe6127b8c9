"""Registry of networks: generators by name, the two discriminators.

Each generator entry carries the class, the ``paper`` kwargs (the sizes of
the first author's BasicSR-based code), ``tiny`` kwargs for CPU presets and
tests, and the citation of the source paper.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import nn

from ..core.errors import ConfigError
from .arcnn import ARCNN
from .cbdnet import CBDNet
from .dcad import DCAD
from .discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from .dncnn import DnCNN
from .mprnet import MPRNet
from .rbqe import RBQE
from .rdn import RDN
from .rrdbnet import RRDBNet

SIZES = ("paper", "tiny")


@dataclass(frozen=True)
class Citation:
    title: str
    venue: str
    year: int

    def __str__(self) -> str:
        return f"{self.title} ({self.venue} {self.year})"


@dataclass(frozen=True)
class GeneratorEntry:
    name: str
    cls: type[nn.Module]
    paper: Mapping[str, object]
    tiny: Mapping[str, object]
    citation: Citation
    note: str = ""

    def kwargs(self, size: str) -> dict:
        if size not in SIZES:
            raise ConfigError(f"network size must be one of {', '.join(SIZES)}, got {size!r}")
        return dict(self.paper if size == "paper" else self.tiny)


@dataclass(frozen=True)
class DiscriminatorEntry:
    name: str
    cls: type[nn.Module]
    paper: Mapping[str, object]
    tiny: Mapping[str, object]
    citation: Citation
    extra: Mapping[str, object] = field(default_factory=dict)

    def kwargs(self, size: str) -> dict:
        if size not in SIZES:
            raise ConfigError(f"network size must be one of {', '.join(SIZES)}, got {size!r}")
        return dict(self.paper if size == "paper" else self.tiny)


def _ro(**kw) -> Mapping[str, object]:
    return MappingProxyType(kw)


GENERATORS: dict[str, GeneratorEntry] = {
    e.name: e
    for e in [
        GeneratorEntry(
            "arcnn", ARCNN,
            paper=_ro(channels=(64, 32, 16), kernels=(9, 7, 1, 5)),
            tiny=_ro(channels=(16, 8, 8), kernels=(9, 7, 1, 5)),
            citation=Citation("Compression Artifacts Reduction by a Deep Convolutional Network", "ICCV", 2015),
        ),
        GeneratorEntry(
            "dcad", DCAD,
            paper=_ro(mid_channels=64, num_blocks=8),
            tiny=_ro(mid_channels=16, num_blocks=2),
            citation=Citation(
                "A Novel Deep Learning-Based Method of Improving Coding Efficiency from the Decoder-End for HEVC",
                "DCC", 2017,
            ),
        ),
        GeneratorEntry(
            "dncnn", DnCNN,
            paper=_ro(mid_channels=64, num_blocks=15, bn=False),
            tiny=_ro(mid_channels=16, num_blocks=3, bn=False),
            citation=Citation(
                "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising", "IEEE TIP", 2017
            ),
            note="the paper's reference [54] is the same authors' CVPR 2017 denoiser-prior paper",
        ),
        GeneratorEntry(
            "cbdnet", CBDNet,
            paper=_ro(estimate_channels=32, levels=3, base_channels=64),
            tiny=_ro(estimate_channels=8, levels=3, base_channels=8),
            citation=Citation("Toward Convolutional Blind Denoising of Real Photographs", "CVPR", 2019),
        ),
        GeneratorEntry(
            "rdn", RDN,
            paper=_ro(mid_channels=32, num_blocks=4, num_layers=4, growth=16),
            tiny=_ro(mid_channels=8, num_blocks=2, num_layers=2, growth=8),
            citation=Citation("Residual Dense Network for Image Super-Resolution", "CVPR", 2018),
        ),
        GeneratorEntry(
            "rbqe", RBQE,
            paper=_ro(base_channels=32, levels=5, eca=False),
            tiny=_ro(base_channels=8, levels=3, eca=False),
            citation=Citation(
                "Early Exit or Not: Resource-Efficient Blind Quality Enhancement for Compressed Images", "ECCV", 2020
            ),
        ),
        GeneratorEntry(
            "mprnet", MPRNet,
            paper=_ro(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=1),
            tiny=_ro(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1),
            citation=Citation("Multi-Stage Progressive Image Restoration", "CVPR", 2021),
        ),
        GeneratorEntry(
            "rrdbnet", RRDBNet,
            paper=_ro(num_feat=64, num_block=23, num_grow_ch=32, scale=1),
            tiny=_ro(num_feat=16, num_block=1, num_grow_ch=8, scale=1),
            citation=Citation("ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", "ECCV Workshops", 2018),
            note="generator of both the ESRGAN and the Real-ESRGAN recipes",
        ),
    ]
}

DISCRIMINATORS: dict[str, DiscriminatorEntry] = {
    "vgg": DiscriminatorEntry(
        "vgg", VGGStyleDiscriminator,
        paper=_ro(num_feat=64), tiny=_ro(num_feat=8),
        citation=Citation("ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", "ECCV Workshops", 2018),
    ),
    "unet": DiscriminatorEntry(
        "unet", UNetDiscriminatorSN,
        paper=_ro(num_feat=64, skip_connection=True), tiny=_ro(num_feat=8, skip_connection=True),
        citation=Citation(
            "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data", "ICCV Workshops", 2021
        ),
    ),
}

VGG19_CITATION = Citation("Very Deep Convolutional Networks for Large-Scale Image Recognition", "ICLR", 2015)


def _check_overrides(cls: type, what: str, overrides: Mapping[str, object]) -> None:
    params = inspect.signature(cls.__init__).parameters
    bad = sorted(k for k in overrides if k not in params or k == "self")
    if bad:
        allowed = ", ".join(k for k in params if k != "self")
        raise ConfigError(f"{what}: unknown argument(s) {', '.join(bad)}; allowed: {allowed}")


def build_generator(name: str, size: str = "paper", **overrides) -> nn.Module:
    """Build generator ``name`` at ``size`` ("paper" | "tiny"), kwargs overridable."""
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; allowed: {', '.join(GENERATORS)}")
    entry = GENERATORS[name]
    _check_overrides(entry.cls, f"generator {name!r}", overrides)
    kwargs = entry.kwargs(size)
    kwargs.update(overrides)
    return entry.cls(**kwargs)


def build_discriminator(
    kind: str, in_channels: int = 3, size: str = "paper", input_size: int = 128, **overrides
) -> nn.Module:
    """Build the ``vgg`` or ``unet`` discriminator.

    ``in_channels`` is 3 for the plain and 6 for the conditional
    discriminator (compressed image concatenated); nothing else differs.
    ``input_size`` (128 or 256) only concerns the VGG-style one.
    """
    if kind not in DISCRIMINATORS:
        raise ConfigError(f"unknown discriminator {kind!r}; allowed: {', '.join(DISCRIMINATORS)}")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ConfigError(f"discriminator in_channels must be a positive int (3 plain, 6 conditional), got {in_channels!r}")
    entry = DISCRIMINATORS[kind]
    _check_overrides(entry.cls, f"discriminator {kind!r}", overrides)
    kwargs = entry.kwargs(size)
    kwargs["in_channels"] = in_channels
    if kind == "vgg":
        if input_size not in (128, 256):
            raise ConfigError(f"VGG-style discriminator input_size must be 128 or 256, got {input_size!r}")
        kwargs["input_size"] = input_size
    kwargs.update(overrides)
    return entry.cls(**kwargs)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of (distinct) parameters; shared parameters count once."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
