"""Training patches: image stores, counts by hand, exact raw/compressed alignment, shared augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from debiasqe.data.patches import (PatchAlignmentError, PatchGrid, augment_pair, extract_patches,
                                   index_path_for, patch_positions, read_index, store_folder, write_image_store)
from debiasqe.train.patch_dataset import PairedPatchDataset
from debiasqe.core.errors import BadImageError

P, STEP = 4, 3


def _write(folder, name, arr):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    Image.fromarray(arr.astype(np.uint8), "RGB").save(path)
    return path


@pytest.fixture
def sources(tmp_path):
    """Two raw images (10x13 and 4x4) and two 'compressed' versions: raw + k mod 256."""
    rng = np.random.default_rng(0)
    raws = {"a": rng.integers(0, 256, (10, 13, 3)), "b": rng.integers(0, 256, (4, 4, 3))}
    raws["a"][0, 0] = 255  # exercise the wrap-around
    out = {}
    for k, tag in enumerate(("raw", "q10", "q20")):
        paths = [_write(tmp_path / tag, n, (a + k) % 256) for n, a in raws.items()]
        npy = tmp_path / f"{tag}.npy"
        n = write_image_store(paths, npy, index_path_for(npy), progress=False)
        out[tag] = (npy, n)
    return raws, out


def _ds(out, comps=("q10",), **kw):
    return PairedPatchDataset(out["raw"][0], [out[c][0] for c in comps], patch=P, step=STEP, **kw)


def test_positions_cover_the_edge():
    assert patch_positions(10, 4, 3) == [0, 3, 6]        # 6 + 4 = 10: grid reaches the edge
    assert patch_positions(13, 4, 3) == [0, 3, 6, 9]
    assert patch_positions(11, 4, 3) == [0, 3, 6, 7]     # last start added: 11 - 4 = 7
    assert patch_positions(4, 4, 3) == [0]
    assert patch_positions(2040, 128, 64)[-2:] == [1856, 1912]  # DIV2K width, paper setting
    assert len(patch_positions(2040, 128, 64)) == 31


def test_store_holds_whole_images_flat(sources):
    raws, out = sources
    raw_npy, n = out["raw"]
    assert n == 2
    flat = np.load(raw_npy, mmap_mode="r")
    assert flat.shape == (10 * 13 * 3 + 4 * 4 * 3,) and flat.dtype == np.uint8  # pixels only, no overlap
    index = read_index(index_path_for(raw_npy))
    assert [(e["name"], e["height"], e["width"], e["offset"]) for e in index["images"]] == \
        [("a", 10, 13, 0), ("b", 4, 4, 390)]
    np.testing.assert_array_equal(flat[:390].reshape(10, 13, 3), raws["a"])
    np.testing.assert_array_equal(flat[390:].reshape(4, 4, 3), raws["b"])


def test_counts_and_exact_content(sources):
    raws, out = sources
    raw = np.load(out["raw"][0], mmap_mode="r")
    q10 = np.load(out["q10"][0], mmap_mode="r")
    grid = PatchGrid(read_index(index_path_for(out["raw"][0])), P, STEP)
    assert grid.count == 3 * 4 + 1  # 10x13: ys 0,3,6 x xs 0,3,6,9; 4x4: one patch
    assert [(e[0], e[4], e[5]) for e in grid.entries] == [("a", [0, 3, 6], [0, 3, 6, 9]), ("b", [0], [0])]
    for i in range(grid.count):
        name, y, x = grid.locate(i)
        np.testing.assert_array_equal(grid.cut(raw, i), raws[name][y:y + P, x:x + P])
        np.testing.assert_array_equal(grid.cut(q10, i), (grid.cut(raw, i).astype(int) + 1) % 256)
    assert grid.locate(5) == ("a", 3, 3) and grid.locate(12) == ("b", 0, 0)
    # the same store at another recipe's setting: 10x13 at 8/8 -> ys 0,2 x xs 0,5; b is too small
    with pytest.raises(BadImageError, match=r"image b \(4x4\) is smaller than the 8x8 patch"):
        PatchGrid(read_index(index_path_for(out["raw"][0])), 8, 8, where="raw.npy")
    with pytest.raises(IndexError):
        grid.locate(13)


def test_dataset_levels_and_shared_augmentation(sources):
    _, out = sources
    ds = _ds(out, ("q10", "q20"), augment=True, seed=1)
    assert len(ds) == 26 and ds.level_of(13) == 1 and ds.locate(14) == (1, "a", 0, 3)
    plain = _ds(out, ("q10", "q20"), augment=False)
    changed = 0
    for i in range(len(ds)):
        raw, comp = ds[i]
        assert raw.shape == (3, P, P) and raw.dtype == torch.float32
        assert 0.0 <= raw.min() and raw.max() <= 1.0
        r8, c8 = (raw * 255).round().long(), (comp * 255).round().long()
        assert torch.equal(c8, (r8 + 1 + ds.level_of(i)) % 256)  # same transform on both
        raw0, _ = plain[i]
        assert sorted((raw0 * 255).round().flatten().tolist()) == sorted(r8.flatten().tolist())
        changed += not torch.equal((raw0 * 255).round().long(), r8)
    assert changed > 5  # augmentation happened
    # deterministic per (seed, epoch, index); a new epoch draws again
    again = _ds(out, ("q10", "q20"), augment=True, seed=1)
    assert all(torch.equal(ds[i][0], again[i][0]) for i in range(len(ds)))
    again.set_epoch(1)
    assert any(not torch.equal(ds[i][0], again[i][0]) for i in range(len(ds)))


def test_augment_pair_matches_basicsr():
    a = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    out = augment_pair([a], True, True, True)[0]
    np.testing.assert_array_equal(out, a[:, ::-1][::-1].transpose(1, 0, 2))
    assert augment_pair([a], False, False, True)[0].shape == (3, 2, 3)


def test_dataloader_batches(sources):
    _, out = sources
    ds = PairedPatchDataset(out["raw"][0], out["q10"][0], augment=True, patch=P, step=STEP)
    raw, comp = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True,
                                                      generator=torch.Generator().manual_seed(0))))
    assert raw.shape == comp.shape == (4, 3, P, P)


def test_misaligned_stores_refused(sources, tmp_path):
    raws, out = sources
    q10 = sorted((tmp_path / "q10").glob("*.png"))
    # different images (names)
    renamed = tmp_path / "renamed.npy"
    write_image_store(q10, renamed, names=["a", "c"], progress=False)
    with pytest.raises(PatchAlignmentError, match="image c .* does not align with b"):
        PairedPatchDataset(out["raw"][0], renamed, patch=P, step=STEP)
    # a different size
    _write(tmp_path / "cropped", "a", raws["a"][:9])
    _write(tmp_path / "cropped", "b", raws["b"])
    cropped = tmp_path / "cropped.npy"
    write_image_store(sorted((tmp_path / "cropped").glob("*.png")), cropped, progress=False)
    with pytest.raises(PatchAlignmentError, match=r"cropped\.index\.json: image a \(13x9\) does not align"):
        PairedPatchDataset(out["raw"][0], cropped, patch=P, step=STEP)
    # fewer images
    write_image_store(q10[:1], tmp_path / "one.npy", progress=False)
    with pytest.raises(PatchAlignmentError, match="1 images but .*raw.index.json has 2"):
        PairedPatchDataset(out["raw"][0], tmp_path / "one.npy", patch=P, step=STEP)
    # a store that does not match its index
    np.save(tmp_path / "q10.npy", np.zeros((3,), np.uint8))
    with pytest.raises(PatchAlignmentError, match=r"q10\.npy: shape \(3,\) uint8, its index says \(438,\)"):
        PairedPatchDataset(out["raw"][0], out["q10"][0], patch=P, step=STEP)
    # missing index
    index_path_for(out["q20"][0]).unlink()
    with pytest.raises(PatchAlignmentError, match="q20.index.json: image store index missing"):
        PairedPatchDataset(out["raw"][0], out["q20"][0], patch=P, step=STEP)


def test_non_rgb_image_is_an_error(tmp_path):
    gray = tmp_path / "g.png"
    Image.new("L", (8, 8)).save(gray)
    with pytest.raises(BadImageError, match=r"g\.png: mode L, expected 8-bit RGB"):
        write_image_store([gray], tmp_path / "o.npy", progress=False)
    assert not (tmp_path / "o.npy").exists() and not list(tmp_path.glob(".o.npy*"))


def test_store_folder_follows_the_dataset_manifest(tmp_path):
    from debiasqe.data.datasets import prepare_dataset

    src = tmp_path / "src"
    rng = np.random.default_rng(1)
    imgs = {n: rng.integers(0, 256, (6, 7, 3)) for n in ("zeta", "alpha")}
    for n, a in imgs.items():
        _write(src, n, a)
    prepared = prepare_dataset("mine", {"root": str(src)}, tmp_path / "datasets" / "mine")
    comp = tmp_path / "comp"
    for n, a in imgs.items():
        _write(comp, n, 255 - a)
    assert store_folder(prepared, tmp_path / "raw.npy", progress=False) == 2
    store_folder(comp, tmp_path / "c.npy", dataset=prepared, progress=False)
    ds = PairedPatchDataset(tmp_path / "raw.npy", tmp_path / "c.npy", augment=False, patch=6, step=6)
    assert [ds.locate(i)[1] for i in range(len(ds))] == ["alpha", "alpha", "zeta", "zeta"]
    for i in range(len(ds)):
        raw, c = ds[i]
        assert torch.allclose(raw + c, torch.ones_like(raw))
    (comp / "zeta.png").unlink()
    with pytest.raises(BadImageError, match=r"comp/zeta\.png: missing \(1 of the 2 images"):
        store_folder(comp, tmp_path / "c2.npy", dataset=prepared, progress=False)


def test_index_is_json_with_provenance(sources):
    _, out = sources
    data = json.loads(index_path_for(out["raw"][0]).read_text())
    assert data["count"] == 2 and data["bytes"] == 438 and "git_commit" in data["provenance"]


def test_extract_patches_keeps_the_old_call(tmp_path):
    """The previous API: a store with a default grid; the dataset uses it when given none."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (10, 13, 3))
    raw, comp = _write(tmp_path / "r", "a", a), _write(tmp_path / "c", "x", 255 - a)
    assert extract_patches([raw], P, STEP, tmp_path / "raw.npy", progress=False) == 12
    extract_patches([comp], P, STEP, tmp_path / "c.npy", names=["a"], progress=False)
    ds = PairedPatchDataset(tmp_path / "raw.npy", tmp_path / "c.npy", augment=False)
    assert (ds.patch, ds.step, len(ds)) == (P, STEP, 12)
    assert len(PairedPatchDataset(tmp_path / "raw.npy", tmp_path / "c.npy", patch=10, step=10)) == 2
    with pytest.raises(BadImageError, match=r"image a \(13x10\) is smaller than the 11x11 patch"):
        extract_patches([raw], 11, 4, tmp_path / "big.npy", progress=False)
    assert not list(tmp_path.glob("big*"))
