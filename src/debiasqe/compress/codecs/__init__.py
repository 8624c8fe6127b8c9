"""Codecs behind one interface (``base.Codec``) and a registry by name."""

from __future__ import annotations

from ...core.errors import ConfigError
from .base import Codec, Encoded
from .bpg import BpgCodec
from .imagecodecs_codecs import AvifCodec, Jpeg2000Codec, JpegXLCodec, WebpCodec
from .jpeg import JpegCodec

CODECS: dict[str, type[Codec]] = {
    "jpeg": JpegCodec,
    "bpg": BpgCodec,
    "webp": WebpCodec,
    "avif": AvifCodec,
    "jpegxl": JpegXLCodec,
    "jpeg2000": Jpeg2000Codec,
}


def get_codec(name: str, **options) -> Codec:
    """Build the codec ``name``; ``options`` are its config keys (e.g. bpg's backend)."""
    try:
        cls = CODECS[name]
    except KeyError:
        raise ConfigError(f"codec {name!r} is unknown; allowed: {', '.join(CODECS)}") from None
    return cls(**options)


__all__ = ["CODECS", "Codec", "Encoded", "get_codec"]
