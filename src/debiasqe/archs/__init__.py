"""Networks: the fidelity and GAN generators, discriminators, VGG-19 features.

Every module of this package is imported here, so each network file's
decorators fill the registry (registry.py) before anyone builds a network.
"""

import importlib
import pkgutil

from .registry import (
    DISCRIMINATORS,
    GENERATOR_INITS,
    GENERATORS,
    SIZES,
    VGG19_CITATION,
    Citation,
    NetworkEntry,
    Tiling,
    build_discriminator,
    build_generator,
    count_parameters,
    generator_tiling,
    identity_args,
    start_as_identity,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from .vgg import VGG19_LAYERS, VGGFeatures  # noqa: E402

__all__ = [
    "GENERATORS", "DISCRIMINATORS", "SIZES", "VGG19_CITATION", "Citation", "NetworkEntry",
    "build_generator", "build_discriminator", "count_parameters", "Tiling", "generator_tiling",
    "GENERATOR_INITS", "identity_args", "start_as_identity",
    "VGGFeatures", "VGG19_LAYERS",
]
