"""Training patches: aligned sub-images of raw and compressed images, cut at read time.

Storage (an *image store*, one per source: raw; each codec/level): ONE flat
uint8 ``.npy`` holding every image's pixels (H×W×3, row-major) back to back,
memory-mapped for random reads, plus a JSON index (``<name>.index.json``,
see :func:`index_path_for`) listing each image's name, file, height, width
and byte ``offset``. Both files are written atomically (the index last).
A store holds whole images only, so one store serves every recipe (paper
and ESRGAN 128/64, Real-ESRGAN 256/128) and costs the images' pixels, not
the ~(patch/step)² = 4× of pre-cut overlapping patches.

Patches are cut when read, on a grid that follows BasicSR's
``extract_subimages``: ``0, step, 2*step, ...`` along each axis, plus the
last position ``H - patch`` when the grid does not reach the edge, so every
pixel is covered (BasicSR's ``thresh_size`` is 0 here). Patch ``first +
r*len(xs) + c`` of an image is ``image[ys[r]:ys[r]+P, xs[c]:xs[c]+P]``
(:class:`PatchGrid`, :meth:`PatchGrid.locate`). Raw and compressed stores
align when their indexes list the same images with the same sizes; the
dataset checks this and refuses otherwise.

An image smaller than the patch is an error (BadImageError naming it and
the store): it has to be the same for raw and compressed versions, and
silently dropping it would change the training set without a trace.

:class:`debiasqe.train.patch_dataset.PairedPatchDataset` (the trainer's torch
``Dataset``, kept out of this module so that ``debiasqe patches`` never loads
torch) reads these stores.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.atomic import atomic_path, write_text
from ..core.errors import BadImageError, ConfigError, DebiasqeError
from ..core.progress import track
from ..core.provenance import base_record
from .datasets import dataset_images

log = logging.getLogger(__name__)

INDEX_FORMAT = "debiasqe-images/1"


class PatchAlignmentError(DebiasqeError):
    """Raw and compressed image stores do not hold the same images (names, sizes)."""


def index_path_for(npy: str | os.PathLike) -> Path:
    """Conventional index path beside a store: ``x.npy`` -> ``x.index.json``."""
    npy = Path(npy)
    return npy.with_name(npy.name.removesuffix(".npy") + ".index.json")


def patch_positions(length: int, patch: int, step: int) -> list[int]:
    """Start positions along one axis, covering the edge (last start ``length - patch``)."""
    if patch <= 0 or step <= 0:
        raise ConfigError(f"patch size and step must be positive, got patch={patch}, step={step}")
    if length < patch:
        raise ValueError(f"length {length} < patch {patch}")
    pos = list(range(0, length - patch + 1, step))
    if pos[-1] != length - patch:
        pos.append(length - patch)
    return pos


def _open_rgb(path: Path):
    try:
        img = Image.open(path)
    except (OSError, UnidentifiedImageError) as e:
        raise BadImageError(f"{path}: cannot read image: {e}") from e
    if img.mode != "RGB":
        img.close()
        raise BadImageError(f"{path}: mode {img.mode}, expected 8-bit RGB (normalise the dataset first)")
    return img


# ---------------------------------------------------------------- writing


def write_image_store(image_paths: Sequence[str | os.PathLike], out_npy: str | os.PathLike,
                      out_index: str | os.PathLike | None = None, *, names: Sequence[str] | None = None,
                      grid: tuple[int, int] | None = None, progress: bool = True) -> int:
    """Store every image, whole, in one flat uint8 ``out_npy`` plus its JSON index; return the image count.

    ``names`` overrides the image names recorded (default: file stems), e.g. so
    compressed files named differently still align with their raw images.
    ``grid`` (patch, step), if given, is recorded as the store's default grid
    (used by :class:`~debiasqe.train.patch_dataset.PairedPatchDataset` when it is given none).
    """
    paths = [Path(p) for p in image_paths]
    if not paths:
        raise ConfigError(f"{out_npy}: no images to store")
    names = [p.stem for p in paths] if names is None else list(names)
    if len(names) != len(paths):
        raise ConfigError(f"{out_npy}: {len(names)} names for {len(paths)} images")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{out_npy}: duplicate image names {dup[:5]}")
    out_npy = Path(out_npy)
    out_index = index_path_for(out_npy) if out_index is None else Path(out_index)

    # pass 1: sizes from headers only
    entries, total = [], 0
    for path, name in zip(paths, names, strict=True):
        with _open_rgb(path) as img:
            w, h = img.size
        entries.append({"name": name, "file": path.name, "height": h, "width": w, "offset": total})
        total += h * w * 3

    # pass 2: decode each image into its slice of the memory map
    _fill_store(paths, entries, total, out_npy, progress)
    index = {"format": INDEX_FORMAT, "npy": out_npy.name, "count": len(entries), "bytes": total,
             "images": entries, "provenance": base_record()}
    if grid is not None:
        index["grid"] = {"patch": int(grid[0]), "step": int(grid[1])}
    try:
        write_text(out_index, json.dumps(index) + "\n")
    except BaseException:
        out_npy.unlink(missing_ok=True)  # a store without its index is not a finished output
        raise
    log.info("%s: %d images, %d bytes", out_npy, len(entries), total)
    return len(entries)


def _fill_store(paths: list[Path], entries: list[dict], total: int, out_npy: Path, progress: bool) -> None:
    """Decode each image into its slice of ``out_npy`` (written atomically); add its pixels' sha256 to its entry."""
    with atomic_path(out_npy) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total,))
        # The map is a sparse file: without reserving its blocks, a full disk would
        # surface as SIGBUS on some later page write. Reserve them now: ENOSPC here.
        with open(tmp, "r+b") as fh:
            _preallocate(fh.fileno(), os.fstat(fh.fileno()).st_size)
        for path, e in zip(track(paths, desc=f"store {out_npy}", unit="img", bar=progress), entries, strict=True):
            with _open_rgb(path) as img:
                try:
                    arr = np.asarray(img, dtype=np.uint8)
                except OSError as err:
                    raise BadImageError(f"{path}: cannot decode image: {err}") from err
            if arr.shape != (e["height"], e["width"], 3):
                raise BadImageError(f"{path}: decoded shape {arr.shape} differs from its header")
            mm[e["offset"]:e["offset"] + arr.size] = arr.reshape(-1)
            # the pixels' digest: what a training checkpoint's fingerprint compares (store_digest)
            e["sha256"] = hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()
        mm.flush()
        del mm


def _preallocate(fd: int, size: int) -> None:
    if size and hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)


def store_digest(index_path: str | os.PathLike) -> str:
    """A cheap digest of an image store's contents, from its index alone.

    Stores written since the index records each image's pixel sha256: the
    digest covers names, sizes and those hashes (equal pixels, equal digest,
    whenever the store was rebuilt). Older indexes: the index file's sha256
    (a rebuilt store then counts as changed).
    """
    path = Path(index_path)
    index = read_index(path)
    images = index.get("images") or []
    if images and all("sha256" in e for e in images):
        rows = [[e["name"], e["height"], e["width"], e["sha256"]] for e in images]
        return "pixels:" + hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return "index:" + hashlib.sha256(path.read_bytes()).hexdigest()


def extract_patches(image_paths: Sequence[str | os.PathLike], patch: int, step: int,
                    out_npy: str | os.PathLike, out_index: str | os.PathLike | None = None, *,
                    names: Sequence[str] | None = None, progress: bool = True) -> int:
    """The previous API, kept for callers: an image store with (patch, step) as its default grid.

    Returns the number of patches on that grid; an image smaller than the
    patch is a BadImageError and nothing is left behind.
    """
    out_npy = Path(out_npy)
    out_index = index_path_for(out_npy) if out_index is None else Path(out_index)
    write_image_store(image_paths, out_npy, out_index, names=names, grid=(patch, step), progress=progress)
    try:
        return PatchGrid(read_index(out_index), patch, step, where=out_npy).count
    except BadImageError:
        out_npy.unlink(missing_ok=True)
        out_index.unlink(missing_ok=True)
        raise


def store_folder(folder: str | os.PathLike, out_npy: str | os.PathLike, *,
                 dataset: str | os.PathLike | None = None, progress: bool = True) -> int:
    """The patches stage: store the PNGs of ``folder`` in the order of the prepared ``dataset``'s manifest.

    ``folder`` is the prepared dataset itself (raw) or a compression output
    (``.../{codec}/{level}/png``) holding ``{image}.png`` for each image of
    ``dataset``; a missing one is a BadImageError naming it. Without
    ``dataset``, ``folder`` must be a prepared dataset.
    """
    folder = Path(folder)
    order = dataset_images(folder if dataset is None else dataset)
    paths = [folder / f"{p.stem}.png" for p in order]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise BadImageError(f"{missing[0]}: missing ({len(missing)} of the {len(paths)} images of "
                            f"{dataset or folder} are not in {folder})")
    return write_image_store(paths, out_npy, progress=progress)


# ---------------------------------------------------------------- reading


def read_index(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise PatchAlignmentError(f"{path}: image store index missing (needed to check alignment)") from None
    except (OSError, ValueError) as e:
        raise PatchAlignmentError(f"{path}: unreadable image store index: {e}") from e
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise PatchAlignmentError(f"{path}: not a {INDEX_FORMAT} index")
    return index


class PatchGrid:
    """The patch positions of an image store's index at (patch, step); patches numbered 0..count-1."""

    def __init__(self, index: dict, patch: int, step: int, *, where: str | os.PathLike = "image store"):
        if patch <= 0 or step <= 0:
            raise ConfigError(f"patch size and step must be positive, got patch={patch}, step={step}")
        self.patch, self.step = int(patch), int(step)
        self.entries: list[tuple[str, int, int, int, list[int], list[int]]] = []  # name, offset, h, w, ys, xs
        self.firsts: list[int] = []
        total = 0
        for e in index["images"]:
            h, w = e["height"], e["width"]
            if h < patch or w < patch:
                raise BadImageError(f"{where}: image {e['name']} ({w}x{h}) is smaller than the "
                                    f"{patch}x{patch} patch")
            ys, xs = patch_positions(h, patch, step), patch_positions(w, patch, step)
            self.entries.append((e["name"], e["offset"], h, w, ys, xs))
            self.firsts.append(total)
            total += len(ys) * len(xs)
        self.count = total

    def __len__(self) -> int:
        return self.count

    def where(self, i: int) -> tuple[int, int, int]:
        """Patch ``i`` -> (image number, y, x)."""
        if not 0 <= i < self.count:
            raise IndexError(f"patch {i} out of range 0..{self.count - 1}")
        k = bisect.bisect_right(self.firsts, i) - 1
        r, c = divmod(i - self.firsts[k], len(self.entries[k][5]))
        return k, self.entries[k][4][r], self.entries[k][5][c]

    def locate(self, i: int) -> tuple[str, int, int]:
        """Patch ``i`` -> (image name, y, x)."""
        k, y, x = self.where(i)
        return self.entries[k][0], y, x

    def images(self, store: np.ndarray) -> list[np.ndarray]:
        """Each image of a store's flat array as an (H, W, 3) view (no copy)."""
        return [store[off:off + h * w * 3].reshape(h, w, 3) for _, off, h, w, _, _ in self.entries]

    def cut(self, store: np.ndarray | list[np.ndarray], i: int) -> np.ndarray:
        """Patch ``i`` of a store (flat array, or its :meth:`images`): a (patch, patch, 3) view."""
        k, y, x = self.where(i)
        img = store[k] if isinstance(store, list) else self.images_of(store, k)
        return img[y:y + self.patch, x:x + self.patch]

    def images_of(self, store: np.ndarray, k: int) -> np.ndarray:
        _, off, h, w, _, _ = self.entries[k]
        return store[off:off + h * w * 3].reshape(h, w, 3)


def _layout(index: dict) -> tuple:
    return tuple((e["name"], e["height"], e["width"], e["offset"]) for e in index["images"])


def check_aligned(raw_index_path: Path, other_index_path: Path) -> None:
    """Raise PatchAlignmentError unless both indexes list the same images with the same sizes."""
    a, b = read_index(raw_index_path), read_index(other_index_path)
    if _layout(a) == _layout(b):
        return
    for ea, eb in zip(a["images"], b["images"], strict=False):
        if (ea["name"], ea["height"], ea["width"]) != (eb["name"], eb["height"], eb["width"]):
            raise PatchAlignmentError(
                f"{other_index_path}: image {eb['name']} ({eb['width']}x{eb['height']}) does not align with "
                f"{ea['name']} ({ea['width']}x{ea['height']}) of {raw_index_path}")
    raise PatchAlignmentError(f"{other_index_path}: {len(b['images'])} images but "
                              f"{raw_index_path} has {len(a['images'])}")


def check_array(npy: Path, index: dict) -> None:
    try:
        arr = np.load(npy, mmap_mode="r")
    except FileNotFoundError:
        raise PatchAlignmentError(f"{npy}: image store missing") from None
    except (OSError, ValueError) as e:
        raise PatchAlignmentError(f"{npy}: unreadable image store: {e}") from e
    want = (index["bytes"],)
    if arr.shape != want or arr.dtype != np.uint8:
        raise PatchAlignmentError(f"{npy}: shape {arr.shape} {arr.dtype}, its index says {want} uint8")


def augment_pair(arrays: Sequence[np.ndarray], hflip: bool, vflip: bool, rot90: bool) -> list[np.ndarray]:
    """BasicSR's ``augment`` on HWC arrays: the same flips/transpose on each."""
    out = []
    for a in arrays:
        if hflip:
            a = a[:, ::-1]
        if vflip:
            a = a[::-1]
        if rot90:
            a = a.transpose(1, 0, 2)
        out.append(a)
    return out
