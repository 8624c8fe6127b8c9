"""The embedded demo: colour photographs shipped inside scikit-image.

They need no download, so the default pipeline runs offline in minutes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _skimage(name: str, grey: bool = False) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data  # lazy: only preparing a demo split needs it (report.yaml has no scikit-image)

        img = getattr(data, name)()
        img = img[0] if isinstance(img, tuple) else img
        # a greyscale photograph as RGB (three equal channels): more training content for the demo
        return np.repeat(img[..., None], 3, axis=2) if grey else img

    return load


# name -> loader; all are RGB uint8 files in scikit-image's wheel.
DEMO_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),            # 512×512
    "chelsea": _skimage("chelsea"),                # 451×300
    "coffee": _skimage("coffee"),                  # 600×400
    "rocket": _skimage("rocket"),                  # 640×427
    "hubble_deep_field": _skimage("hubble_deep_field"),  # 1000×872
    "immunohistochemistry": _skimage("immunohistochemistry"),  # 512×512
    "motorcycle_left": _skimage("stereo_motorcycle"),  # 741×500
    "retina": _skimage("retina"),                  # 1411×1411
    "colorwheel": _skimage("colorwheel"),          # 371×370
    # greyscale photographs, as RGB
    "camera": _skimage("camera", grey=True),       # 512×512
    "brick": _skimage("brick", grey=True),         # 512×512
    "grass": _skimage("grass", grey=True),         # 512×512
    "gravel": _skimage("gravel", grey=True),       # 512×512
    "moon": _skimage("moon", grey=True),           # 512×512
    "coins": _skimage("coins", grey=True),         # 384×303
    "clock": _skimage("clock", grey=True),         # 400×300
    "text": _skimage("text", grey=True),           # 448×172
}

DEFAULT_SPLITS = {
    "demo_train": ["astronaut", "coffee", "motorcycle_left", "immunohistochemistry"],
    "demo_test": ["chelsea", "rocket"],
}
