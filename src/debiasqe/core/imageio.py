"""Image I/O: the one reader, the one PNG writer, the one uint8 <-> tensor conversion.

Every image that enters the pipeline goes through :func:`read_rgb`: a file
that cannot be decoded raises :class:`BadImageError` naming it; grayscale,
palette, alpha and 16-bit images are converted and the conversion is
reported, so nothing changes silently. Networks see :func:`to_tensor`'s
float [0, 1] and give back :func:`to_uint8`'s rounding (BasicSR's tensor2img).
The tensor helpers import torch lazily, so the data and compress stages never load it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import atomic_path
from .errors import BadImageError

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


def write_png(path: str | Path, rgb: np.ndarray, compress_level: int = 1) -> None:
    """Write uint8 RGB as PNG, atomically (zlib level 1: lossless either way, and fast)."""
    with atomic_path(path) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="PNG", compress_level=compress_level)


def to_tensor(a: np.ndarray):
    """uint8 HxWx3 (or NxHxWx3) -> float32 3xHxW (Nx3xHxW) in [0, 1].

    Copies the (possibly strided) array first, then permutes the uint8 tensor
    and converts: about 3x faster than transposing a strided view in numpy
    (benchmarks/patch_reads.py).
    """
    import torch

    t = torch.from_numpy(np.asarray(a).copy())  # a C-ordered, writable copy
    t = t.permute(2, 0, 1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
    return t.contiguous().float().div_(255.0)


def to_uint8(x) -> np.ndarray:
    """float 3xHxW (or 1x3xHxW) in [0, 1] -> uint8 HxWx3, rounding as BasicSR's tensor2img."""
    import torch

    x = x[0] if x.ndim == 4 else x
    return (x.float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadImageError(f"{folder}: not a folder of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
