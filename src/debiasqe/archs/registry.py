"""Registry of networks: generators by name, the two discriminators.

Each generator entry carries the class, the ``paper`` kwargs (the sizes of
the first author's BasicSR-based code), ``tiny`` kwargs for CPU presets and
tests, and the citation of the source paper.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import nn

from ..errors import ConfigError
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
    #: receptive-field radius in input pixels from the built kwargs (math.inf:
    #: global pooling or image-size-dependent structure, see :class:`Tiling`)
    radius: Callable[[Mapping], float] = lambda kw: math.inf
    #: total down-sampling factor: tile origins must be multiples of it
    multiple: Callable[[Mapping], int] = lambda kw: 1
    #: why the output of the whole image cannot be had from tiles ("" when it can)
    whole_only: Callable[[Mapping], str] = lambda kw: ""

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


# ------------------------------------------------------------ receptive fields
# Radii are upper bounds in input pixels, summed along the longest path of
# the network: a k×k conv on features of spacing j (input pixels between
# neighbouring feature positions) adds (k // 2)·j; a ×2 down-sampling from
# spacing j (2×2 average pool, stride-2 3×3 conv) adds j; a ×2 up-sampling
# to spacing j (transposed conv, nearest) adds 2·j (one coarse position);
# pixel-unshuffle by u adds u - 1. Output pixels farther than the radius
# from a tile's border do not see that border, so a tile run with that much
# context (and origins on the down-sampling grid) equals the whole image.
# tests/test_enhance.py checks each radius with an impulse in float64.


def _radius_arcnn(kw) -> float:
    return sum(k // 2 for k in kw.get("kernels", (9, 7, 1, 5)))


def _radius_plain(kw) -> float:  # DCAD, DnCNN: input conv, num_blocks convs, output conv
    return kw["num_blocks"] + 2


def _radius_rdn(kw) -> float:
    # sfe1, sfe2, num_layers 3×3 per block (1×1 fusion adds nothing), gff 3×3, output
    return 2 + kw["num_blocks"] * kw["num_layers"] + 1 + 1


def _radius_cbdnet(kw) -> float:
    levels = kw.get("levels", 3)
    convs = [min(2**lvl, 8) for lvl in range(levels)]
    r = 5 + 1  # noise estimation (5 convs), U-Net input conv
    for lvl in range(1, levels):  # encoder: pool from spacing 2^(l-1), 1 + convs[l] convs
        r += 2 ** (lvl - 1) + (1 + convs[lvl]) * 2**lvl
    for lvl in range(levels - 2, -1, -1):  # decoder: transposed conv, 1 + convs[l] convs
        r += 2 * 2**lvl + (1 + convs[lvl]) * 2**lvl
    return r + 1  # output conv


def _radius_rbqe(kw) -> float:
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


def _radius_rrdbnet(kw) -> float:
    u = {1: 4, 2: 2, 4: 1}[kw.get("scale", 1)]
    r = (u - 1) + u  # unshuffle block, conv_first
    r += kw["num_block"] * 3 * 5 * u  # 3 RDBs of 5 chained convs per RRDB
    r += u  # conv_body
    r += 2 * (u / 2) + u / 2  # nearest ×2, conv_up1
    r += 2 * (u / 4) + 3 * (u / 4)  # nearest ×2, conv_up2, conv_hr, conv_last
    return math.ceil(r)


GENERATORS: dict[str, GeneratorEntry] = {
    e.name: e
    for e in [
        GeneratorEntry(
            "arcnn", ARCNN,
            paper=_ro(channels=(64, 32, 16), kernels=(9, 7, 1, 5)),
            tiny=_ro(channels=(16, 8, 8), kernels=(9, 7, 1, 5)),
            citation=Citation("Compression Artifacts Reduction by a Deep Convolutional Network", "ICCV", 2015),
            radius=_radius_arcnn,
        ),
        GeneratorEntry(
            "dcad", DCAD,
            paper=_ro(mid_channels=64, num_blocks=8),
            tiny=_ro(mid_channels=16, num_blocks=2),
            citation=Citation(
                "A Novel Deep Learning-Based Method of Improving Coding Efficiency from the Decoder-End for HEVC",
                "DCC", 2017,
            ),
            radius=_radius_plain,
        ),
        GeneratorEntry(
            "dncnn", DnCNN,
            paper=_ro(mid_channels=64, num_blocks=15, bn=False),
            tiny=_ro(mid_channels=16, num_blocks=3, bn=False),
            citation=Citation(
                "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising", "IEEE TIP", 2017
            ),
            note="the paper's reference [54] is the same authors' CVPR 2017 denoiser-prior paper",
            radius=_radius_plain,
        ),
        GeneratorEntry(
            "cbdnet", CBDNet,
            paper=_ro(estimate_channels=32, levels=3, base_channels=64),
            tiny=_ro(estimate_channels=8, levels=3, base_channels=8),
            citation=Citation("Toward Convolutional Blind Denoising of Real Photographs", "CVPR", 2019),
            radius=_radius_cbdnet, multiple=lambda kw: 2 ** (kw.get("levels", 3) - 1),
        ),
        GeneratorEntry(
            "rdn", RDN,
            paper=_ro(mid_channels=32, num_blocks=4, num_layers=4, growth=16),
            tiny=_ro(mid_channels=8, num_blocks=2, num_layers=2, growth=8),
            citation=Citation("Residual Dense Network for Image Super-Resolution", "CVPR", 2018),
            radius=_radius_rdn,
        ),
        GeneratorEntry(
            "rbqe", RBQE,
            paper=_ro(base_channels=32, levels=5, eca=False),
            tiny=_ro(base_channels=8, levels=3, eca=False),
            citation=Citation(
                "Early Exit or Not: Resource-Efficient Blind Quality Enhancement for Compressed Images", "ECCV", 2020
            ),
            radius=_radius_rbqe, multiple=lambda kw: 2 ** kw.get("levels", 5),
            whole_only=lambda kw: "ECA channel attention averages over the whole image" if kw.get("eca") else "",
        ),
        GeneratorEntry(
            "mprnet", MPRNet,
            paper=_ro(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=1),
            tiny=_ro(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1),
            citation=Citation("Multi-Stage Progressive Image Restoration", "CVPR", 2021),
            multiple=lambda kw: 8,
            whole_only=lambda kw: "channel attention averages over the whole image and stages 1-2 split it "
                                  "into halves and quarters",
        ),
        GeneratorEntry(
            "rrdbnet", RRDBNet,
            paper=_ro(num_feat=64, num_block=23, num_grow_ch=32, scale=1),
            tiny=_ro(num_feat=16, num_block=1, num_grow_ch=8, scale=1),
            citation=Citation("ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", "ECCV Workshops", 2018),
            note="generator of both the ESRGAN and the Real-ESRGAN recipes",
            radius=_radius_rrdbnet, multiple=lambda kw: {1: 4, 2: 2, 4: 1}[kw.get("scale", 1)],
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


@dataclass(frozen=True)
class Tiling:
    """What tiled inference of a generator needs to equal its whole-image output."""

    radius: float       # receptive-field radius in input pixels (inf: never tile)
    multiple: int       # tile origins must be multiples of this (down-sampling)
    whole_only: str     # reason the network must see the whole image ("" if none)


def generator_tiling(name: str, size: str = "paper", **overrides) -> Tiling:
    """:class:`Tiling` of generator ``name`` built with these arguments."""
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; allowed: {', '.join(GENERATORS)}")
    entry = GENERATORS[name]
    kw = {**_defaults(entry.cls), **entry.kwargs(size), **overrides}
    why = entry.whole_only(kw)
    return Tiling(math.inf if why else float(entry.radius(kw)), int(entry.multiple(kw)), why)


def _defaults(cls: type) -> dict:
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


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
