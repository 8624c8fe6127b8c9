"""Training patches: counts by hand, exact raw/compressed alignment, shared augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from debiasqe.data.patches import (PairedPatchDataset, PatchAlignmentError, augment_pair, extract_patches,
                                   index_path_for, locate, patch_positions, read_index)
from debiasqe.errors import BadImageError

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
        n = extract_patches(paths, P, STEP, npy, index_path_for(npy), progress=False)
        out[tag] = (npy, n)
    return raws, out


def test_positions_cover_the_edge():
    assert patch_positions(10, 4, 3) == [0, 3, 6]        # 6 + 4 = 10: grid reaches the edge
    assert patch_positions(13, 4, 3) == [0, 3, 6, 9]
    assert patch_positions(11, 4, 3) == [0, 3, 6, 7]     # last start added: 11 - 4 = 7
    assert patch_positions(4, 4, 3) == [0]
    assert patch_positions(2040, 128, 64)[-2:] == [1856, 1912]  # DIV2K width, paper setting
    assert len(patch_positions(2040, 128, 64)) == 31


def test_counts_and_exact_content(sources):
    raws, out = sources
    raw_npy, n = out["raw"]
    assert n == 3 * 4 + 1  # 10x13: ys 0,3,6 x xs 0,3,6,9; 4x4: one patch
    raw = np.load(raw_npy, mmap_mode="r")
    q10 = np.load(out["q10"][0], mmap_mode="r")
    assert raw.shape == (13, P, P, 3) and raw.dtype == np.uint8
    index = read_index(index_path_for(raw_npy))
    assert [(e["name"], e["first"], e["ys"], e["xs"]) for e in index["images"]] == \
        [("a", 0, [0, 3, 6], [0, 3, 6, 9]), ("b", 12, [0], [0])]
    for i in range(n):
        name, y, x = locate(index, i)
        np.testing.assert_array_equal(raw[i], raws[name][y:y + P, x:x + P])
        np.testing.assert_array_equal(q10[i], (raw[i].astype(int) + 1) % 256)
    assert locate(index, 5) == ("a", 3, 3) and locate(index, 12) == ("b", 0, 0)


def test_dataset_levels_and_shared_augmentation(sources):
    _, out = sources
    ds = PairedPatchDataset(out["raw"][0], [out["q10"][0], out["q20"][0]], augment=True, seed=1)
    assert len(ds) == 26 and ds.level_of(13) == 1 and ds.locate(14) == (1, "a", 0, 3)
    plain = PairedPatchDataset(out["raw"][0], [out["q10"][0], out["q20"][0]], augment=False)
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
    again = PairedPatchDataset(out["raw"][0], [out["q10"][0], out["q20"][0]], augment=True, seed=1)
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
    ds = PairedPatchDataset(out["raw"][0], out["q10"][0], augment=True)
    raw, comp = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True,
                                                      generator=torch.Generator().manual_seed(0))))
    assert raw.shape == comp.shape == (4, 3, P, P)


def test_misaligned_arrays_refused(sources, tmp_path):
    raws, out = sources
    # same images but a different step
    other = tmp_path / "step2.npy"
    extract_patches(sorted((tmp_path / "q10").glob("*.png")), P, 2, other, progress=False)
    with pytest.raises(PatchAlignmentError, match=r"step2\.index\.json: step 2 but .*raw\.index\.json has 3"):
        PairedPatchDataset(out["raw"][0], other)
    # different images (names)
    renamed = tmp_path / "renamed.npy"
    extract_patches(sorted((tmp_path / "q10").glob("*.png")), P, STEP, renamed, names=["a", "c"], progress=False)
    with pytest.raises(PatchAlignmentError, match="image c .* does not align with b"):
        PairedPatchDataset(out["raw"][0], renamed)
    # an array that does not match its index
    np.save(tmp_path / "q10.npy", np.zeros((3, P, P, 3), np.uint8))
    with pytest.raises(PatchAlignmentError, match=r"q10\.npy: shape \(3, 4, 4, 3\) uint8, its index says \(13,"):
        PairedPatchDataset(out["raw"][0], out["q10"][0])
    # missing index
    index_path_for(out["q20"][0]).unlink()
    with pytest.raises(PatchAlignmentError, match="q20.index.json: patch index missing"):
        PairedPatchDataset(out["raw"][0], out["q20"][0])


def test_small_or_non_rgb_image_is_an_error(tmp_path):
    small = _write(tmp_path, "tiny", np.zeros((3, 8, 3)))
    with pytest.raises(BadImageError, match=r"tiny\.png: 8x3 is smaller than the 4x4 patch"):
        extract_patches([small], P, STEP, tmp_path / "o.npy", progress=False)
    gray = tmp_path / "g.png"
    Image.new("L", (8, 8)).save(gray)
    with pytest.raises(BadImageError, match=r"g\.png: mode L, expected 8-bit RGB"):
        extract_patches([gray], P, STEP, tmp_path / "o.npy", progress=False)
    assert not (tmp_path / "o.npy").exists() and not list(tmp_path.glob(".o.npy*"))


def test_index_is_json_with_provenance(sources):
    _, out = sources
    data = json.loads(index_path_for(out["raw"][0]).read_text())
    assert data["patch"] == P and data["step"] == STEP and data["count"] == 13 and "git_commit" in data["provenance"]
