"""Codecs beyond the paper, through imagecodecs: WebP, AVIF, JPEG XL, JPEG 2000.

Same interface as ``jpeg`` and ``bpg``; usable from the config
(``codecs: {webp: {levels: [...]}}``), not part of the default run.
"""

from __future__ import annotations

import numpy as np

from .base import Codec, Encoded, register_codec


class _ImagecodecsCodec(Codec):
    #: imagecodecs function prefix, e.g. "webp"
    imagecodecs_name = ""
    #: extra keyword arguments of the encoder
    encode_kwargs: dict = {}

    def _encode(self, rgb: np.ndarray, level: int) -> Encoded:
        import imagecodecs  # lazy: the codec registry loads with every command; only these codecs need it

        enc = getattr(imagecodecs, f"{self.imagecodecs_name}_encode")
        data = bytes(enc(np.ascontiguousarray(rgb), level=level, **self.encode_kwargs))
        return Encoded(data, len(data))

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs  # lazy: as in _encode

        out = np.asarray(getattr(imagecodecs, f"{self.imagecodecs_name}_decode")(data))
        if out.ndim == 2:
            out = np.repeat(out[..., None], 3, axis=2)
        return np.ascontiguousarray(out[..., :3].astype(np.uint8))

    def describe(self) -> str:
        import imagecodecs  # lazy: as in _encode

        lib = self.backend
        versions = dict(v.split("-", 1) for v in imagecodecs.version().split(", ") if "-" in v)
        return f"{lib} {versions.get(lib, '?')} via imagecodecs {imagecodecs.__version__}"


@register_codec
class WebpCodec(_ImagecodecsCodec):
    name, level_name, level_range, extension = "webp", "quality", (0, 100), "webp"
    imagecodecs_name, backend = "webp", "libwebp"
    encode_kwargs = {"lossless": False}


@register_codec
class AvifCodec(_ImagecodecsCodec):
    name, level_name, level_range, extension = "avif", "quality", (0, 100), "avif"
    imagecodecs_name, backend = "avif", "libavif"


@register_codec
class JpegXLCodec(_ImagecodecsCodec):
    name, level_name, level_range, extension = "jpegxl", "quality", (0, 100), "jxl"
    imagecodecs_name, backend = "jpegxl", "libjxl"


@register_codec
class Jpeg2000Codec(_ImagecodecsCodec):
    """Level is OpenJPEG's quality layer target in dB of PSNR."""

    name, level_name, level_range, extension = "jpeg2000", "PSNR target (dB)", (10, 80), "jp2"
    imagecodecs_name, backend = "jpeg2k", "openjpeg"
