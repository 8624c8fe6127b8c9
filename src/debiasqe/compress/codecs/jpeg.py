"""JPEG through libjpeg-turbo (Pillow), with OpenCV ``imencode`` settings.

The authors compressed with ``cv2.imencode('.jpg', img, [IMWRITE_JPEG_QUALITY, QF])``:
baseline (not progressive), Huffman tables not optimised, 4:2:0 chroma,
the IJG quality scaling. Pillow with ``subsampling=2`` (4:2:0),
``optimize=False``, ``progressive=False`` and no ``qtables`` gives the same
coefficients; the tests check decoded pixels against OpenCV.
"""

from __future__ import annotations

import io

import numpy as np
import PIL
from PIL import Image, features

from .base import Codec, Encoded, register_codec


@register_codec
class JpegCodec(Codec):
    name = "jpeg"
    level_name = "QF"
    level_range = (1, 100)
    extension = "jpg"
    backend = "libjpeg-turbo"

    def _encode(self, rgb: np.ndarray, level: int) -> Encoded:
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(
            buf, format="JPEG", quality=level, subsampling=2, optimize=False, progressive=False
        )
        data = buf.getvalue()
        return Encoded(data, len(data))

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    def describe(self) -> str:
        return f"libjpeg-turbo {features.version('libjpeg_turbo')} via Pillow {PIL.__version__}"
