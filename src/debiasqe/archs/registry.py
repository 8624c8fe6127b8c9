"""Registry of networks: generators and discriminators by name.

A network is one file in this package whose class registers itself with
:func:`register_generator` or :func:`register_discriminator`: the ``paper``
kwargs (the sizes of the first author's BasicSR-based code), ``tiny`` kwargs
for CPU presets and tests, and the citation of the source paper. The package
imports every module in it, so a new file is all a new network needs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from torch import nn

from ..core.errors import ConfigError
from ._common import scaled_kaiming_init, zero_init

SIZES = ("paper", "tiny")


@dataclass(frozen=True)
class Citation:
    title: str
    venue: str
    year: int

    def __str__(self) -> str:
        return f"{self.title} ({self.venue} {self.year})"


@dataclass(frozen=True)
class NetworkEntry:
    """A registered generator or discriminator: its class, paper and tiny kwargs, source paper."""

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


GENERATORS: dict[str, NetworkEntry] = {}
DISCRIMINATORS: dict[str, NetworkEntry] = {}


def _register(table: dict, entry) -> None:
    if entry.name in table:
        raise ValueError(f"network {entry.name!r} registered twice ({table[entry.name].cls.__name__}, "
                         f"{entry.cls.__name__})")
    table[entry.name] = entry


def register_generator(name: str, *, paper: dict, tiny: dict, citation: Citation, note: str = "",
                       radius: Callable[[Mapping], float] | None = None,
                       multiple: Callable[[Mapping], int] | None = None,
                       whole_only: Callable[[Mapping], str] | None = None):
    """Class decorator: ``name`` builds this generator (``paper`` and ``tiny`` kwargs, source paper).

    ``radius``, ``multiple`` and ``whole_only`` say how it may be tiled (:class:`Tiling`);
    without ``radius`` it is never tiled.
    """
    tiling = {k: v for k, v in dict(radius=radius, multiple=multiple, whole_only=whole_only).items() if v}

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _register(GENERATORS, NetworkEntry(name, cls, MappingProxyType(dict(paper)),
                                           MappingProxyType(dict(tiny)), citation, note, **tiling))
        return cls
    return decorate


def register_discriminator(name: str, *, paper: dict, tiny: dict, citation: Citation):
    """Class decorator: ``name`` builds this discriminator (a recipe's ``discriminator``)."""
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _register(DISCRIMINATORS, NetworkEntry(name, cls, MappingProxyType(dict(paper)),
                                               MappingProxyType(dict(tiny)), citation))
        return cls
    return decorate


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


# ------------------------------------------------------ identity start
#: ``training.generator_init``: the paper's initialisation, or a start as the identity.
GENERATOR_INITS = ("paper", "identity")


def identity_args(name: str) -> dict:
    """Extra kwargs generator ``name`` needs for an identity start: ``global_skip`` where
    the paper's network has no input skip (RDN, RRDBNet), else none."""
    if name not in GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; allowed: {', '.join(GENERATORS)}")
    return {"global_skip": True} if "global_skip" in inspect.signature(GENERATORS[name].cls.__init__).parameters else {}


def start_as_identity(net: nn.Module, scale: float = 0.0) -> None:
    """Start a global-residual generator at (or near) the identity: its last layer zeroed
    (``scale`` 0: it outputs its input), or Kaiming-normal × ``scale`` with a zero bias (it
    outputs its input plus a small residual; every layer then gets a gradient from step 0)."""
    if not hasattr(net, "output_layer") or not getattr(net, "global_skip", True):
        raise ConfigError(f"{type(net).__name__} has no global residual: an identity start needs one "
                          "(build it with identity_args)")
    if scale:
        scaled_kaiming_init([net.output_layer()], scale)
    else:
        zero_init(net.output_layer())


# ------------------------------------------------------------ tiling
# Radii are upper bounds in input pixels, summed along the longest path of
# the network: a k×k conv on features of spacing j (input pixels between
# neighbouring feature positions) adds (k // 2)·j; a ×2 down-sampling from
# spacing j (2×2 average pool, stride-2 3×3 conv) adds j; a ×2 up-sampling
# to spacing j (transposed conv, nearest) adds 2·j (one coarse position);
# pixel-unshuffle by u adds u - 1. Output pixels farther than the radius
# from a tile's border do not see that border, so a tile run with that much
# context (and origins on the down-sampling grid) equals the whole image.
# tests/enhance/test_enhance.py checks each radius with an impulse in float64.


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


def plain_stack_radius(kw) -> float:
    """A plain stack of 3×3 convs (DCAD, DnCNN): input conv, ``num_blocks`` convs, output conv."""
    return kw["num_blocks"] + 2


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
