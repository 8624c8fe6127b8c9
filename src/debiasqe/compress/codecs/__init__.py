"""Codecs behind one interface (``base.Codec``), each registered by name where it is defined.

A codec is a ``Codec`` subclass decorated with ``@register_codec`` in any
module of this package; every module is imported here, so a new file is
all a new codec needs.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import CODECS, Codec, Encoded, get_codec, register_codec

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CODECS", "Codec", "Encoded", "get_codec", "register_codec"]
