"""Image I/O: the one reader, the one PNG writer, the one uint8 <-> tensor conversion.

Every image that enters the pipeline goes through :func:`read_rgb`: a file
that cannot be decoded raises :class:`BadImageError` naming it; grayscale,
palette, alpha and 16-bit images are converted and the conversion is
reported, so nothing changes silently. Networks see :func:`to_tensor`'s
float [0, 1] and give back :func:`to_uint8`'s rounding (BasicSR's tensor2img).
The tensor helpers import torch lazily, so the data and compress stages never load it.

Images of a user's own folder (``own=True``) are also turned the way their
EXIF orientation says and converted from their ICC profile to sRGB (phones
and cameras rely on both); both are reported. The real datasets (DIV2K,
Flickr2K) keep their samples exactly as decoded, as the authors' OpenCV
reader gives them (their PNGs carry neither).

Hidden files (``.DS_Store``, macOS AppleDouble ``._name.jpg``) are not
images: :func:`scan_images` skips and counts them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from .atomic import atomic_path
from .errors import BadImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}

#: default ceiling on an image's size (config ``datasets.<name>.max_megapixels``): Pillow's own
#: hard limit (2 x MAX_IMAGE_PIXELS = 179 MP), which guards against decompression bombs.
DEFAULT_MAX_MEGAPIXELS = 179.0

#: EXIF orientation -> (what a viewer does, numpy transform of an H x W x C array)
_ORIENT = {
    2: ("mirrored left-right", lambda a: a[:, ::-1]),
    3: ("rotated 180°", lambda a: a[::-1, ::-1]),
    4: ("mirrored top-bottom", lambda a: a[::-1]),
    5: ("transposed", lambda a: a.transpose(1, 0, 2)),
    6: ("rotated 90° clockwise", lambda a: np.rot90(a, k=-1)),
    7: ("transversed", lambda a: a[::-1, ::-1].transpose(1, 0, 2)),
    8: ("rotated 90° counter-clockwise", lambda a: np.rot90(a, k=1)),
}


@contextlib.contextmanager
def _own_size_check():
    """Pillow's bomb check off: read_rgb checks the header's size against its own limit."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def read_rgb(path: str | Path, *, own: bool = False,
             max_megapixels: float | None = None) -> tuple[np.ndarray, str | None]:
    """Decode ``path`` to uint8 H×W×3 RGB; return (array, note or None).

    The note says what conversion happened ("16-bit -> 8-bit", "RGBA -> RGB
    (alpha dropped)", ...). ``own``: a user's image; apply its EXIF orientation
    and convert its ICC profile to sRGB (both noted). An image over
    ``max_megapixels`` (default :data:`DEFAULT_MAX_MEGAPIXELS`) is refused
    from its header, before any decoding.
    """
    path = Path(path)
    limit = DEFAULT_MAX_MEGAPIXELS if max_megapixels is None else float(max_megapixels)
    if not path.is_file():
        raise BadImageError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty file (0 bytes)")
    notes = []
    try:
        with _own_size_check(), Image.open(path) as im:
            w, h = im.size
            if w * h > limit * 1e6:
                raise BadImageError(
                    f"{path}: {w}x{h} is {w * h / 1e6:.1f} megapixels, over the limit of {limit:g} "
                    "(raise max_megapixels in the dataset's entry if the image is genuine)")
            im.load()  # force a full decode so truncation is caught here
            orientation = im.getexif().get(0x0112, 1) if own else 1
            icc = im.info.get("icc_profile") if own else None
            if im.format == "PNG" and _png_bit_depth(path) == 16 and im.mode == "RGB":
                arr, note = _read_png16_rgb(path), "16-bit RGB -> 8-bit RGB (rounded)"
                if icc:
                    notes.append("ICC profile ignored (16-bit)")
                    icc = None
            else:
                if icc and im.mode in ("RGB", "CMYK"):
                    im, icc_note = _to_srgb(im, icc)
                    if icc_note:
                        notes.append(icc_note)
                arr, note = _to_rgb8(im)
            if note:
                notes.insert(0, note)
            if orientation in _ORIENT:
                what, turn = _ORIENT[orientation]
                arr = np.ascontiguousarray(turn(arr))
                notes.append(f"EXIF orientation {orientation} -> upright ({what})")
    except UnidentifiedImageError:
        raise BadImageError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(f"{path}: cannot decode image ({exc})") from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadImageError(f"{path}: image has no pixels ({arr.shape[1]}×{arr.shape[0]})")
    return arr, "; ".join(notes) or None


def _to_srgb(im: Image.Image, icc: bytes) -> tuple[Image.Image, str | None]:
    """Convert ``im`` from its embedded profile to sRGB (perceptual); sRGB itself is left alone."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = (ImageCms.getProfileDescription(src) or "").strip() or "unnamed"
    except (OSError, ImageCms.PyCMSError) as exc:
        return im, f"unreadable ICC profile ignored ({exc})"
    if "srgb" in desc.lower().replace(" ", ""):
        return im, None
    try:
        out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except ImageCms.PyCMSError as exc:
        return im, f"ICC profile {desc!r} could not be applied ({exc})"
    return out, f"ICC profile {desc!r} -> sRGB"


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as fh:
        head = fh.read(25)
    return head[24] if len(head) == 25 and head[12:16] == b"IHDR" else 8


def _read_png16_rgb(path: Path) -> np.ndarray:
    # Pillow keeps only the high byte of 16-bit RGB PNGs; round instead.
    import imagecodecs  # lazy: only 16-bit PNGs need it (~50 ms of import off every other read)

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
    import torch  # lazy: data and compress use this module and must not load torch

    t = torch.from_numpy(np.asarray(a).copy())  # a C-ordered, writable copy
    t = t.permute(2, 0, 1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
    return t.contiguous().float().div_(255.0)


def to_uint8(x) -> np.ndarray:
    """float 3xHxW (or 1x3xHxW) in [0, 1] -> uint8 HxWx3, rounding as BasicSR's tensor2img."""
    import torch  # lazy: as in to_tensor

    x = x[0] if x.ndim == 4 else x
    return (x.float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def scan_images(folder: str | Path) -> tuple[list[Path], list[str]]:
    """(image files directly in ``folder`` sorted by name, hidden files skipped).

    Hidden files (name starting with ``.``: ``.DS_Store``, macOS AppleDouble
    ``._photo.jpg``, editors' and our own temporaries) are never images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BadImageError(f"{folder}: not a folder of images")
    images, hidden = [], []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        if p.name.startswith("."):
            hidden.append(p.name)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
    return images, hidden


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    return scan_images(folder)[0]
