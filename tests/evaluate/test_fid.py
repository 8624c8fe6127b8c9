import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from debiasqe.evaluate import fid
from debiasqe.core.errors import BadImageError, ConfigError, WeightsUnavailableError
from debiasqe.evaluate.fid import frechet_distance, patch_boxes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # offline_weights, fid_sets
from fid_sets import MeanNet, level_job, write_set  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# ------------------------------------------------------------ Frechet distance
@pytest.mark.parametrize("method", ["sqrtm", "eigen"])
def test_frechet_diagonal_closed_form(method):
    rng = np.random.default_rng(1)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    got = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2), method=method)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("method", ["sqrtm", "eigen"])
def test_frechet_commuting_non_diagonal(method):
    # S1 = Q D1 Q', S2 = Q D2 Q' commute: Tr sqrt(S1 S2) = sum sqrt(d1 d2)
    rng = np.random.default_rng(2)
    d = 12
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    d1, d2 = rng.uniform(0.2, 2, d), rng.uniform(0.2, 2, d)
    s1, s2 = q @ np.diag(d1) @ q.T, q @ np.diag(d2) @ q.T
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(d1 + d2 - 2 * np.sqrt(d1 * d2))
    assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(expected, rel=1e-8)


def test_frechet_methods_agree_and_identity_is_zero():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(200, 10)), rng.normal(size=(200, 10)) * 1.5 + 0.3
    m1, s1, m2, s2 = a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T)
    x = frechet_distance(m1, s1, m2, s2, method="sqrtm")
    y = frechet_distance(m1, s1, m2, s2, method="eigen")
    assert x == pytest.approx(y, rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0, abs=1e-8)


def test_frechet_singular_covariances_fall_back():
    d = 6
    s = np.zeros((d, d)); s[0, 0] = 1.0  # rank 1: product singular
    v = frechet_distance(np.zeros(d), s, np.ones(d), s)
    assert np.isfinite(v) and v == pytest.approx(d, abs=1e-3)


def test_frechet_shape_mismatch():
    with pytest.raises(ConfigError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ------------------------------------------------------------ patches
@pytest.mark.parametrize("h,w,p,n", [
    (512, 768, 256, 6 + 2),   # 2x3 grid + offset grid 1x2 (both sides >= 384)
    (300, 300, 256, 1),        # < 1.5 P: no offset pass
    (384, 384, 256, 2),        # exactly 1.5 P: offset patch at (128, 128)
    (383, 1000, 256, 3),       # one side < 384: no offset pass
    (255, 255, 256, 0),
    (96, 128, 64, 2 + 1),      # configurable patch size
])
def test_patch_boxes(h, w, p, n):
    boxes = patch_boxes(h, w, p)
    assert len(boxes) == n
    assert all(0 <= y <= h - p and 0 <= x <= w - p for y, x in boxes)
    if h >= 1.5 * p and w >= 1.5 * p:
        assert (p // 2, p // 2) in boxes


def test_extract_patches_content():
    img = np.arange(96 * 128 * 3, dtype=np.float32).reshape(96, 128, 3)
    pt = fid.extract_patches(img, 64)
    assert pt.shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(pt[2], img[32:96, 32:96])


# ------------------------------------------------------------ features & cache


def test_set_stats_accumulate_mean_and_covariance(tmp_path):
    paths = write_set(tmp_path / "s", 3, 598, 0)  # 299-patches: no resize
    st = fid.compute_set_stats(paths, MeanNet(), "fake", patch=299, batch_size=3, progress=False)
    feats = []
    for p in paths:
        img = np.asarray(Image.open(p)).astype(np.float64) / 255
        for y, x in patch_boxes(598, 598, 299):
            feats.append(((img[y:y + 299, x:x + 299] * 255 - 128) / 128).mean((0, 1)))
    feats = np.array(feats)
    assert st.n_patches == len(feats) == 3 * (4 + 1)
    np.testing.assert_allclose(st.mu, feats.mean(0), rtol=1e-5)
    np.testing.assert_allclose(st.sigma, np.cov(feats.T), rtol=1e-4, atol=1e-9)


def test_set_stats_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    paths = write_set(tmp_path / "s", 2, 64, 0)
    calls = []
    real = fid.compute_set_stats
    monkeypatch.setattr(fid, "compute_set_stats", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache = tmp_path / "feat" / "raw.npz"
    a = fid.set_stats_cached(paths, cache, MeanNet(), "w1", patch=32, progress=False)
    b = fid.set_stats_cached(paths, cache, MeanNet(), "w1", patch=32, progress=False)
    assert len(calls) == 1 and cache.is_file()
    np.testing.assert_allclose(b.sigma, a.sigma, rtol=1e-12, atol=1e-15)
    assert b.provenance["inception_weights"] == "w1" and b.n_patches == 2 * (4 + 1)
    with np.load(cache) as z:  # 10 patches of 3-d features: n > d, so the covariance is stored
        assert "sigma" in z.files and "factor" not in z.files
    fid.set_stats_cached(paths, cache, MeanNet(), "w2", patch=32, progress=False)  # other weights
    assert len(calls) == 2
    os.utime(paths[0], ns=(1, 1))  # touched image
    fid.set_stats_cached(paths, cache, MeanNet(), "w2", patch=32, progress=False)
    assert len(calls) == 3


def test_too_small_image_names_file(tmp_path):
    paths = write_set(tmp_path / "s", 1, 20, 0)
    with pytest.raises(BadImageError, match="0.png"):
        fid.compute_set_stats(paths, MeanNet(), "fake", patch=32, progress=False)


def test_pyiqa_inception_end_to_end(tmp_path):
    """pyiqa's FID InceptionV3 with a weights file in the expected layout;
    one pass per set, three FIDs from the cached stats."""
    import torch
    from offline_weights import place_random_weights
    from debiasqe.weights import metric_weights as mw
    place_random_weights(tmp_path / "w", ["fid"])
    wfile = mw.files_for("fid")[0].path(tmp_path / "w")
    assert wfile.name == fid.FID_WEIGHTS_FILE
    net, rec = fid.build_inception(wfile)
    sd = torch.load(wfile, weights_only=True)
    k = "Mixed_7c.branch_pool.conv.weight"
    torch.testing.assert_close(net.blocks[3][2].branch_pool.conv.weight, sd[k].float())
    assert len(rec) == 64
    raw = write_set(tmp_path / "raw", 2, 64, 0)
    comp = write_set(tmp_path / "comp", 2, 64, 1, shift=40)
    stats = {n: fid.set_stats_cached(p, tmp_path / f"{n}.npz", net, rec, patch=64,
                                     batch_size=2, progress=False)
             for n, p in (("raw", raw), ("comp", comp))}
    assert stats["raw"].mu.shape == (2048,)
    # eigen method: 2048-d sqrtm takes ~10 s on a loaded 2-core box
    assert fid.fid_between(stats["raw"], stats["raw"], "eigen") == pytest.approx(0, abs=1e-3)
    assert fid.fid_between(stats["raw"], stats["comp"], "eigen") > 0


def test_missing_inception_weights(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="pt_inception"):
        fid.build_inception(tmp_path / fid.FID_WEIGHTS_FILE)


def test_domain_fids_one_pass_per_set(tmp_path, monkeypatch):
    raw = write_set(tmp_path / "raw", 2, 64, 0)
    comp = write_set(tmp_path / "comp", 2, 64, 1, shift=30)
    enh = write_set(tmp_path / "enh", 2, 64, 2, shift=10)
    calls = []
    real = fid.compute_set_stats
    monkeypatch.setattr(fid, "compute_set_stats", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = fid.domain_fids(raw, comp, enh, tmp_path / "c", MeanNet(), "fake", patch=32,
                          progress=False)
    assert len(calls) == 3
    assert out["S_CR"] > 0 and out["n_patches"] == {"raw": 10, "comp": 10, "enh": 10}
    from debiasqe.evaluate.triangles import deviation
    assert out["deviation_pct"] == pytest.approx(deviation(out["S_CR"], out["S_CE"], out["S_RE"]))
    enh2 = write_set(tmp_path / "enh2", 2, 64, 3)
    fid.domain_fids(raw, comp, enh2, tmp_path / "c", MeanNet(), "fake", patch=32,
                    set_names=("raw", "comp", "enh-m2"), progress=False)
    assert len(calls) == 4  # raw and comp came from the cache


def test_inception_policy(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="pt_inception"):
        fid.inception_for_policy("required", tmp_path)
    _, rec = fid.inception_for_policy("auto", tmp_path)
    assert rec == "random-init"


def test_low_rank_frechet_equals_the_full_formula():
    """Few patches (n < d): the n × n route gives the same distance as d × d eigendecompositions."""
    from debiasqe.evaluate.fid import frechet_distance, frechet_distance_low_rank

    rng = np.random.default_rng(3)
    for n1, n2, d in [(6, 9, 40), (12, 5, 64), (3, 3, 10)]:
        x1, x2 = rng.normal(size=(n1, d)), rng.normal(1.0, 2.0, size=(n2, d))
        mu1, mu2 = x1.mean(0), x2.mean(0)
        a, b = (x1 - mu1) / np.sqrt(n1 - 1), (x2 - mu2) / np.sqrt(n2 - 1)
        full = frechet_distance(mu1, np.cov(x1, rowvar=False), mu2, np.cov(x2, rowvar=False))
        # the full route clips rank-deficient eigenvalues: agreement to ~1e-8 relative
        assert frechet_distance_low_rank(mu1, a, mu2, b) == pytest.approx(full, rel=1e-6)


def test_small_set_is_stored_as_its_factor_not_the_covariance(tmp_path):
    """n ≤ d patches: the file holds the n × d factor (sigma = AᵀA), not the d × d
    covariance; loading rebuilds the covariance and the low-rank FID exactly."""
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(5, 12))
    mu = feats.mean(0)
    factor = (feats - mu) / np.sqrt(4)
    st = fid.SetStats(mu, np.cov(feats.T), 5, {"key": "k"}, factor)
    st.save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as z:
        assert sorted(z.files) == ["factor", "mu", "n_patches", "provenance"]
    back = fid.SetStats.load(tmp_path / "s.npz")
    np.testing.assert_allclose(back.sigma, np.cov(feats.T), rtol=1e-12, atol=1e-14)
    other = fid.SetStats(mu + 1, np.cov(feats.T), 5, {}, factor)
    assert fid.fid_between(back, other) == pytest.approx(12.0, abs=1e-6)  # |Δmu|² = 12, same cov


# ------------------------------------------------------------ protocols and pyiqa's resize
def _pyiqa_clean(path):
    """pyiqa's own 'clean' FID input for one file (0-255 scale, 3×299×299)."""
    from pyiqa.archs.fid_arch import ResizeDataset

    return ResizeDataset([str(path)], mode="clean")[0].numpy().transpose(1, 2, 0)


def test_resize_is_pyiqas_pil_bicubic(tmp_path):
    p = write_set(tmp_path / "s", 1, 97, 0)[0]
    img = np.asarray(Image.open(p)).astype(np.float32)
    ours = fid.pil_bicubic_resize(img)
    assert ours.shape == (299, 299, 3) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, _pyiqa_clean(p))
    # not torch's bicubic (no clipping, other kernel): the two differ visibly
    import torch
    t = torch.nn.functional.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=(299, 299),
                                        mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    assert np.abs(t - ours).max() > 1.0


def test_whole_protocol_one_sample_per_image_as_pyiqa(tmp_path):
    # images of different sizes: each is resized whole to 299, one feature vector each
    paths = write_set(tmp_path / "a", 2, 80, 0) + write_set(tmp_path / "b", 1, 130, 1)
    st = fid.compute_set_stats(paths, MeanNet(), "fake", batch_size=2, progress=False, protocol="whole")
    feats = np.array([((_pyiqa_clean(p) - 128) / 128).mean((0, 1)) for p in paths])
    assert st.n_patches == 3 and st.provenance["protocol"] == "whole" and st.provenance["patch"] is None
    np.testing.assert_allclose(st.mu, feats.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st.sigma, np.cov(feats.T), rtol=1e-4, atol=1e-8)


def test_patches_protocol_resizes_each_patch_with_pil(tmp_path):
    paths = write_set(tmp_path / "s", 1, 64, 0)
    st = fid.compute_set_stats(paths, MeanNet(), "fake", patch=32, progress=False)
    img = np.asarray(Image.open(paths[0])).astype(np.float32)
    feats = np.array([((fid.pil_bicubic_resize(img[y:y + 32, x:x + 32]) - 128) / 128).mean((0, 1))
                      for y, x in patch_boxes(64, 64, 32)])
    assert st.n_patches == 5 and st.provenance["protocol"] == "patches"
    np.testing.assert_allclose(st.mu, feats.mean(0), rtol=1e-4, atol=1e-5)


def test_protocol_is_part_of_the_cache_key_and_checked(tmp_path, monkeypatch):
    raw = write_set(tmp_path / "raw", 2, 64, 0)
    comp = write_set(tmp_path / "comp", 2, 64, 1, shift=30)
    enh = write_set(tmp_path / "enh", 2, 64, 2, shift=10)
    assert fid.set_key(raw, 32, "w", "patches") != fid.set_key(raw, 32, "w", "whole")
    calls = []
    real = fid.compute_set_stats
    monkeypatch.setattr(fid, "compute_set_stats", lambda *a, **k: calls.append(k["protocol"]) or real(*a, **k))
    a = fid.domain_fids(raw, comp, enh, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False)
    w = fid.domain_fids(raw, comp, enh, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                        protocol="whole")
    assert calls == ["patches"] * 3 + ["whole"] * 3  # same cache files, other key: recomputed
    assert a["protocol"] == "patches" and a["patch"] == 32 and a["n_patches"]["raw"] == 10
    assert w["protocol"] == "whole" and w["patch"] is None and w["n_patches"] == {"raw": 2, "comp": 2, "enh": 2}
    assert w["S_CR"] != a["S_CR"]
    with pytest.raises(ConfigError, match="evaluation.fid: 'images' is not one of patches, whole"):
        fid.domain_fids(raw, comp, enh, tmp_path / "c", MeanNet(), "fake", protocol="images")


def test_evaluate_job_passes_the_protocol_through(tmp_path):
    """evaluation.fid reaches the domain triangle and the metrics provenance (random-init Inception)."""
    import json

    from debiasqe.evaluate.stage import evaluate_levels

    raw, lp = level_job(tmp_path, 2)
    evaluate_levels("m", "ds", {"bpg": [lp]}, raw, metrics=["psnr", "fid"], features_dir=tmp_path / "f",
                    weights_dir=tmp_path / "w", policy="random", fid_protocol="whole", progress=False)
    fid_row = [d for d in json.loads(lp.domains_json.read_text()) if d["metric"] == "fid"][0]
    assert fid_row["patches"] == {"raw": 2, "comp-bpg-37": 2, "enh-m-bpg-37": 2}  # one sample per image
    assert fid_row["S_CR"] > 0 and fid_row["protocol"] == "whole" and fid_row["patch"] is None
