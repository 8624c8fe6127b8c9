"""The trainer's torch ``Dataset`` over image stores (:mod:`debiasqe.data.patches`).

:class:`PairedPatchDataset` yields ``(raw, compressed)`` tensors, CHW, with the
same random hflip/vflip/90° rotation on both (as BasicSR's ``augment``), drawn
from a generator seeded by ``(seed, epoch, index)`` so results do not depend on
DataLoader workers. Given several compressed stores (all levels of a codec) it
indexes ``(level, patch)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.errors import ConfigError
from ..core.imageio import to_tensor
from ..data.patches import PatchGrid, check_array, augment_pair, check_aligned, index_path_for, read_index, store_digest


def _uint8_chw(a: np.ndarray):
    """uint8 HxWx3 -> uint8 3xHxW tensor (a quarter of float32's bytes to the device)."""
    return torch.from_numpy(np.asarray(a).copy()).permute(2, 0, 1).contiguous()


class PairedPatchDataset(Dataset):
    """``(raw, compressed)`` patch pairs as float CHW tensors in [0, 1].

    ``raw_npy``/``comp_npy`` are image stores (:func:`write_image_store`);
    ``comp_npy`` is one store or a list (e.g. all levels of a codec); item
    ``i`` is level ``i // N``, patch ``i % N`` of the grid at ``patch``/``step``
    (config ``patches:``; default: the raw store's recorded grid, else the
    paper's 128/64). Indexes default to
    :func:`index_path_for` of each store. With ``augment`` each item gets
    hflip / vflip / 90° rotation with probability 1/2 each, identical for
    both tensors, drawn from ``numpy.random.default_rng((seed, epoch, i))``;
    call :meth:`set_epoch` each epoch for fresh draws. With ``uint8`` the
    items are uint8 CHW tensors (the trainer converts them on the device).
    """

    def __init__(self, raw_npy: str | os.PathLike, comp_npy: str | os.PathLike | Sequence[str | os.PathLike],
                 augment: bool = True, *, patch: int | None = None, step: int | None = None,
                 raw_index: str | os.PathLike | None = None,
                 comp_index: Sequence[str | os.PathLike] | str | os.PathLike | None = None,
                 seed: int = 0, use_hflip: bool = True, use_rot: bool = True, uint8: bool = False):
        self.uint8 = uint8
        self.raw_npy = Path(raw_npy)
        self.raw_index = index_path_for(self.raw_npy) if raw_index is None else Path(raw_index)
        comps = [comp_npy] if isinstance(comp_npy, (str, os.PathLike)) else list(comp_npy)
        if not comps:
            raise ConfigError(f"{raw_npy}: no compressed image stores given")
        self.comp_npy = [Path(c) for c in comps]
        if comp_index is None:
            comp_idx = [index_path_for(c) for c in self.comp_npy]
        else:
            comp_idx = [comp_index] if isinstance(comp_index, (str, os.PathLike)) else list(comp_index)
            comp_idx = [Path(c) for c in comp_idx]
        self.comp_index = comp_idx
        if len(comp_idx) != len(self.comp_npy):
            raise ConfigError(f"{len(comp_idx)} compressed indexes for {len(self.comp_npy)} stores")
        raw_idx = index_path_for(self.raw_npy) if raw_index is None else Path(raw_index)
        index = read_index(raw_idx)
        check_array(self.raw_npy, index)
        for npy, idx in zip(self.comp_npy, comp_idx, strict=True):
            check_aligned(raw_idx, idx)
            check_array(npy, index)
        self.index = index
        default = index.get("grid") or {"patch": 128, "step": 64}
        self.grid = PatchGrid(index, default["patch"] if patch is None else patch,
                              default["step"] if step is None else step, where=self.raw_npy)
        self.patches = self.grid.count
        self.patch, self.step = self.grid.patch, self.grid.step
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.use_hflip, self.use_rot = use_hflip, use_rot
        self._arrays: tuple[list[np.ndarray], list[list[np.ndarray]]] | None = None

    def fingerprint(self) -> dict:
        """What this dataset feeds a trainer, for its resume check: the stores'
        contents (:func:`store_digest`) and the patch grid."""
        return {"raw store": store_digest(self.raw_index),
                "compressed stores": [store_digest(i) for i in self.comp_index],
                "patch grid": f"{self.patch}/{self.step}"}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.patches * len(self.comp_npy)

    def level_of(self, i: int) -> int:
        return i // self.patches

    def locate(self, i: int) -> tuple[int, str, int, int]:
        """Item ``i`` -> (level number, image name, y, x)."""
        level, p = divmod(i, self.patches)
        return (level, *self.grid.locate(p))

    def __getstate__(self):  # memory maps are reopened in each worker process
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def _open(self):
        if self._arrays is None:
            # plain ndarray views of the maps: slicing a np.memmap subclass costs more per item
            # per image (H, W, 3) views of the maps, made once: an item is then two slices
            def views(npy):
                return self.grid.images(np.load(npy, mmap_mode="r").view(np.ndarray))

            self._arrays = (views(self.raw_npy), [views(c) for c in self.comp_npy])
        return self._arrays

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range 0..{len(self) - 1}")
        raw_arr, comps = self._open()
        level, p = divmod(int(i), self.patches)
        raw, comp = self.grid.cut(raw_arr, p), self.grid.cut(comps[level], p)
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, int(i)))
            h, v, r = rng.random(3) < 0.5
            raw, comp = augment_pair((raw, comp), self.use_hflip and h, self.use_rot and v, self.use_rot and r)
        if self.uint8:
            return _uint8_chw(raw), _uint8_chw(comp)
        return to_tensor(raw), to_tensor(comp)
