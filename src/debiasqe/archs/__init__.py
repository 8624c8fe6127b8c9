"""Networks: the fidelity and GAN generators, discriminators, VGG-19 features."""

from .arcnn import ARCNN
from .cbdnet import CBDNet
from .dcad import DCAD
from .discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from .dncnn import DnCNN
from .mprnet import MPRNet
from .rbqe import RBQE
from .rdn import RDN
from .registry import (
    DISCRIMINATORS,
    GENERATORS,
    SIZES,
    VGG19_CITATION,
    Citation,
    DiscriminatorEntry,
    GeneratorEntry,
    build_discriminator,
    build_generator,
    Tiling,
    count_parameters,
    generator_tiling,
)
from .rrdbnet import RRDBNet
from .vgg import VGG19_LAYERS, VGGFeatures

__all__ = [
    "ARCNN", "CBDNet", "DCAD", "DnCNN", "MPRNet", "RBQE", "RDN", "RRDBNet",
    "UNetDiscriminatorSN", "VGGStyleDiscriminator", "VGGFeatures", "VGG19_LAYERS",
    "GENERATORS", "DISCRIMINATORS", "SIZES", "VGG19_CITATION", "Citation", "GeneratorEntry",
    "DiscriminatorEntry", "build_generator", "build_discriminator", "count_parameters",
    "Tiling", "generator_tiling",
]
