"""Training patches: aligned sub-images of raw and compressed images.

Positions follow BasicSR's ``extract_subimages``: ``0, step, 2*step, ...``
along each axis, plus the last position ``H - patch`` when the grid does
not reach the edge, so every pixel is covered (BasicSR's ``thresh_size`` is
0 here). Paper: patch 128, step 64; Real-ESRGAN recipe: 256, step 128.

An image smaller than the patch is an error (BadImageError naming it): it
has to be the same for raw and compressed versions, and silently dropping
it would change the training set without a trace. Filter such images
before calling if that is what you want.

Storage, per source (raw; each codec/level): a uint8 ``.npy`` of shape
``(N, P, P, 3)`` that is memory-mapped for fast random reads, plus a JSON
index (conventionally ``<name>.index.json``, see :func:`index_path_for`)
listing each image: name (stem), size, ``first`` patch number and the
row/column positions ``ys``/``xs``; patch ``first + r*len(xs) + c`` is
``image[ys[r]:ys[r]+P, xs[c]:xs[c]+P]`` (:func:`locate`). Both files are
written atomically (the index last). Raw and compressed arrays align when
their indexes list the same images, sizes and positions; the dataset
checks this and refuses otherwise.

:class:`PairedPatchDataset` yields ``(raw, compressed)`` float tensors in
[0, 1], CHW, with the same random hflip/vflip/90° rotation on both (as
BasicSR's ``augment``), drawn from a generator seeded by ``(seed, epoch,
index)`` so results do not depend on DataLoader workers. Given several
compressed arrays (all levels of a codec) it indexes ``(level, patch)``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_path, write_text
from ..errors import BadImageError, ConfigError, DebiasqeError
from ..provenance import base_record

log = logging.getLogger(__name__)

INDEX_FORMAT = "debiasqe-patches/1"


class PatchAlignmentError(DebiasqeError):
    """Raw and compressed patch arrays were not cut from the same images/positions."""


def index_path_for(npy: str | os.PathLike) -> Path:
    """Conventional index path beside a patch array: ``x.npy`` -> ``x.index.json``."""
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
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
    except (OSError, UnidentifiedImageError) as e:
        raise BadImageError(f"{path}: cannot read image: {e}") from e
    if img.mode != "RGB":
        img.close()
        raise BadImageError(f"{path}: mode {img.mode}, expected 8-bit RGB (normalise the dataset first)")
    return img


def extract_patches(image_paths: Sequence[str | os.PathLike], patch: int, step: int,
                    out_npy: str | os.PathLike, out_index: str | os.PathLike | None = None, *,
                    names: Sequence[str] | None = None, progress: bool = True) -> int:
    """Cut every image into ``patch``×``patch`` sub-images at ``step``; return the count N.

    Writes ``out_npy`` (uint8, (N, patch, patch, 3)) and the JSON index
    ``out_index`` (default :func:`index_path_for`). ``names`` overrides the
    image names recorded (default: file stems), e.g. so compressed files
    named differently still align with their raw images.
    """
    from tqdm import tqdm

    paths = [Path(p) for p in image_paths]
    if not paths:
        raise ConfigError(f"{out_npy}: no images to cut into patches")
    names = [p.stem for p in paths] if names is None else list(names)
    if len(names) != len(paths):
        raise ConfigError(f"{out_npy}: {len(names)} names for {len(paths)} images")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{out_npy}: duplicate image names {dup[:5]}")
    out_npy = Path(out_npy)
    out_index = index_path_for(out_npy) if out_index is None else Path(out_index)
    if patch <= 0 or step <= 0:
        raise ConfigError(f"patch size and step must be positive, got patch={patch}, step={step}")

    # pass 1: sizes from headers only
    entries, total = [], 0
    for path, name in zip(paths, names, strict=True):
        with _open_rgb(path) as img:
            w, h = img.size
        if h < patch or w < patch:
            raise BadImageError(f"{path}: {w}x{h} is smaller than the {patch}x{patch} patch")
        ys, xs = patch_positions(h, patch, step), patch_positions(w, patch, step)
        entries.append({"name": name, "file": path.name, "height": h, "width": w, "first": total,
                        "ys": ys, "xs": xs})
        total += len(ys) * len(xs)

    # pass 2: decode and copy windows into the memory map
    from numpy.lib.stride_tricks import sliding_window_view

    with atomic_path(out_npy) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total, patch, patch, 3))
        for path, e in zip(tqdm(paths, desc=f"patches {out_npy.name}", unit="img", disable=not progress,
                                leave=False), entries, strict=True):
            with _open_rgb(path) as img:
                try:
                    arr = np.asarray(img, dtype=np.uint8)
                except OSError as err:
                    raise BadImageError(f"{path}: cannot decode image: {err}") from err
            if arr.shape != (e["height"], e["width"], 3):
                raise BadImageError(f"{path}: decoded shape {arr.shape} differs from its header")
            win = sliding_window_view(arr, (patch, patch), axis=(0, 1))  # (H-P+1, W-P+1, 3, P, P)
            block = win[np.ix_(e["ys"], e["xs"])]                        # (ny, nx, 3, P, P), copies only these
            n = len(e["ys"]) * len(e["xs"])
            mm[e["first"]:e["first"] + n] = block.reshape(n, 3, patch, patch).transpose(0, 2, 3, 1)
        mm.flush()
        del mm
    index = {"format": INDEX_FORMAT, "npy": out_npy.name, "patch": patch, "step": step, "count": total,
             "images": entries, "provenance": base_record()}
    write_text(out_index, json.dumps(index) + "\n")
    log.info("%s: %d patches of %d px (step %d) from %d images", out_npy, total, patch, step, len(paths))
    return total


def read_index(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise PatchAlignmentError(f"{path}: patch index missing (needed to check alignment)") from None
    except (OSError, ValueError) as e:
        raise PatchAlignmentError(f"{path}: unreadable patch index: {e}") from e
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise PatchAlignmentError(f"{path}: not a {INDEX_FORMAT} index")
    return index


def locate(index: dict, i: int) -> tuple[str, int, int]:
    """Patch number ``i`` -> (image name, y, x)."""
    if not 0 <= i < index["count"]:
        raise IndexError(f"patch {i} out of range 0..{index['count'] - 1}")
    lo, hi, imgs = 0, len(index["images"]) - 1, index["images"]
    while lo < hi:  # last image with first <= i
        mid = (lo + hi + 1) // 2
        if imgs[mid]["first"] <= i:
            lo = mid
        else:
            hi = mid - 1
    e = imgs[lo]
    r, c = divmod(i - e["first"], len(e["xs"]))
    return e["name"], e["ys"][r], e["xs"][c]


def _layout(index: dict) -> tuple:
    return (index["patch"], index["step"], index["count"],
            tuple((e["name"], e["height"], e["width"], e["first"], tuple(e["ys"]), tuple(e["xs"]))
                  for e in index["images"]))


def check_aligned(raw_index_path: Path, other_index_path: Path) -> None:
    """Raise PatchAlignmentError unless both indexes list the same images and positions."""
    a, b = read_index(raw_index_path), read_index(other_index_path)
    if _layout(a) == _layout(b):
        return
    for key in ("patch", "step"):
        if a[key] != b[key]:
            raise PatchAlignmentError(f"{other_index_path}: {key} {b[key]} but {raw_index_path} has {a[key]}")
    for ea, eb in zip(a["images"], b["images"], strict=False):
        fa = (ea["name"], ea["height"], ea["width"], ea["first"], ea["ys"], ea["xs"])
        fb = (eb["name"], eb["height"], eb["width"], eb["first"], eb["ys"], eb["xs"])
        if fa != fb:
            raise PatchAlignmentError(
                f"{other_index_path}: image {eb['name']} ({eb['width']}x{eb['height']}) does not align with "
                f"{ea['name']} ({ea['width']}x{ea['height']}) of {raw_index_path}")
    raise PatchAlignmentError(f"{other_index_path}: {len(b['images'])} images / {b['count']} patches but "
                              f"{raw_index_path} has {len(a['images'])} / {a['count']}")


def _check_array(npy: Path, index: dict) -> None:
    try:
        arr = np.load(npy, mmap_mode="r")
    except FileNotFoundError:
        raise PatchAlignmentError(f"{npy}: patch array missing") from None
    except (OSError, ValueError) as e:
        raise PatchAlignmentError(f"{npy}: unreadable patch array: {e}") from e
    want = (index["count"], index["patch"], index["patch"], 3)
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


try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover - torch is a dependency; keep numpy helpers importable
    torch = None
    _TorchDataset = object


class PairedPatchDataset(_TorchDataset):
    """``(raw, compressed)`` patch pairs as float CHW tensors in [0, 1].

    ``comp_npy`` is one array or a list (e.g. all levels of a codec); item
    ``i`` is level ``i // N``, patch ``i % N``. Indexes default to
    :func:`index_path_for` of each array. With ``augment`` each item gets
    hflip / vflip / 90° rotation with probability 1/2 each, identical for
    both tensors, drawn from ``numpy.random.default_rng((seed, epoch, i))``;
    call :meth:`set_epoch` each epoch for fresh draws.
    """

    def __init__(self, raw_npy: str | os.PathLike, comp_npy: str | os.PathLike | Sequence[str | os.PathLike],
                 augment: bool = True, *, raw_index: str | os.PathLike | None = None,
                 comp_index: Sequence[str | os.PathLike] | str | os.PathLike | None = None,
                 seed: int = 0, use_hflip: bool = True, use_rot: bool = True):
        self.raw_npy = Path(raw_npy)
        comps = [comp_npy] if isinstance(comp_npy, (str, os.PathLike)) else list(comp_npy)
        if not comps:
            raise ConfigError(f"{raw_npy}: no compressed patch arrays given")
        self.comp_npy = [Path(c) for c in comps]
        if comp_index is None:
            comp_idx = [index_path_for(c) for c in self.comp_npy]
        else:
            comp_idx = [comp_index] if isinstance(comp_index, (str, os.PathLike)) else list(comp_index)
            comp_idx = [Path(c) for c in comp_idx]
        if len(comp_idx) != len(self.comp_npy):
            raise ConfigError(f"{len(comp_idx)} compressed indexes for {len(self.comp_npy)} arrays")
        raw_idx = index_path_for(self.raw_npy) if raw_index is None else Path(raw_index)
        index = read_index(raw_idx)
        _check_array(self.raw_npy, index)
        for npy, idx in zip(self.comp_npy, comp_idx, strict=True):
            check_aligned(raw_idx, idx)
            _check_array(npy, index)
        self.index = index
        self.patches = index["count"]
        self.patch = index["patch"]
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.use_hflip, self.use_rot = use_hflip, use_rot
        self._arrays: tuple[np.ndarray, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.patches * len(self.comp_npy)

    def level_of(self, i: int) -> int:
        return i // self.patches

    def locate(self, i: int) -> tuple[int, str, int, int]:
        """Item ``i`` -> (level number, image name, y, x)."""
        level, p = divmod(i, self.patches)
        return (level, *locate(self.index, p))

    def __getstate__(self):  # memory maps are reopened in each worker process
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def _open(self):
        if self._arrays is None:
            self._arrays = (np.load(self.raw_npy, mmap_mode="r"),
                            [np.load(c, mmap_mode="r") for c in self.comp_npy])
        return self._arrays

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range 0..{len(self) - 1}")
        raw_arr, comps = self._open()
        level, p = divmod(int(i), self.patches)
        raw, comp = raw_arr[p], comps[level][p]
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, int(i)))
            h, v, r = rng.random(3) < 0.5
            raw, comp = augment_pair((raw, comp), self.use_hflip and h, self.use_rot and v, self.use_rot and r)
        return _to_tensor(raw), _to_tensor(comp)


def _to_tensor(a: np.ndarray):
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    return t.float().div_(255.0)
