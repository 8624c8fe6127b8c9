"""Reading images as 8-bit RGB, with explicit, logged conversions.

Every image that enters the pipeline goes through :func:`read_rgb`: a file
that cannot be decoded raises :class:`BadImageError` naming it; grayscale,
palette, alpha and 16-bit images are converted and the conversion is
reported, so nothing changes silently.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.atomic import atomic_path
from ..core.errors import BadImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def read_rgb(path: str | Path) -> tuple[np.ndarray, str | None]:
    """Decode ``path`` to uint8 H×W×3 RGB; return (array, note or None).

    The note says what conversion happened ("16-bit -> 8-bit", "RGBA -> RGB
    (alpha dropped)", ...).
    """
    path = Path(path)
    if not path.is_file():
        raise BadImageError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()  # force a full decode so truncation is caught here
                if im.format == "PNG" and _png_bit_depth(path) == 16 and im.mode == "RGB":
                    arr, note = _read_png16_rgb(path), "16-bit RGB -> 8-bit RGB (rounded)"
                else:
                    arr, note = _to_rgb8(im)
    except UnidentifiedImageError:
        raise BadImageError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"{path}: cannot decode image ({exc})") from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadImageError(f"{path}: image has no pixels ({arr.shape[1]}×{arr.shape[0]})")
    return arr, note


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as fh:
        head = fh.read(25)
    return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else 8


def _read_png16_rgb(path: Path) -> np.ndarray:
    # Pillow keeps only the high byte of 16-bit RGB PNGs; round instead.
    import imagecodecs

    a = imagecodecs.png_decode(path.read_bytes())[..., :3].astype(np.float64)
    return np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)


def _to_rgb8(im: Image.Image) -> tuple[np.ndarray, str | None]:
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im).copy(), None
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        a = np.asarray(im).astype(np.float64)
        peak = 65535.0 if a.max() > 255 or mode.startswith("I;16") else 255.0
        g = np.clip(np.round(a / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2), f"{mode} (16-bit grayscale) -> 8-bit RGB"
    if mode == "F":
        raise ValueError("floating-point images are not supported")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        note = f"{mode} -> RGB (alpha channel dropped)"
    elif mode == "P":
        note = "palette -> RGB"
    elif mode in ("L", "1"):
        note = f"{mode} (grayscale) -> RGB"
    else:
        note = f"{mode} -> RGB"
    return np.asarray(im.convert("RGB")).copy(), note


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write uint8 RGB as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="PNG", compress_level=1)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadImageError(f"{folder}: not a folder of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
