"""The FID interval: a paired cluster bootstrap over images from the cached per-patch features."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from debiasqe.core import bootstrap as bs
from debiasqe.core.errors import ConfigError
from debiasqe.evaluate import fid
from debiasqe.evaluate import fid_interval as fi
from debiasqe.evaluate.fid import frechet_distance, frechet_distance_low_rank

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fid_sets import MeanNet, level_job, write_set  # noqa: E402


def _patch_set(x: np.ndarray, per_image: int) -> fi.PatchSet:
    mu = x.mean(0)
    return fi.PatchSet(x - mu, mu, np.full(len(x) // per_image, per_image))


def test_a_replicate_is_the_fid_of_the_drawn_patches_and_all_ones_is_the_point_estimate():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 16)), rng.normal(size=(12, 16)) + 0.5
    a, b = _patch_set(x, 2), _patch_set(y, 2)
    everything = fi._pair_replicates(a, b, np.ones((1, 6)))[0]
    assert everything == pytest.approx(frechet_distance_low_rank(a.mean, a.centred / math.sqrt(11),
                                                                 b.mean, b.centred / math.sqrt(11)), rel=1e-9)
    draws = bs.image_draws(6, 4, seed=1)
    for value, counts in zip(fi._pair_replicates(a, b, draws), draws):
        rows = np.repeat(np.arange(12), np.repeat(counts.astype(int), 2))  # each patch as often as its image
        xs, ys = x[rows], y[rows]
        assert value == pytest.approx(frechet_distance(xs.mean(0), np.cov(xs.T), ys.mean(0), np.cov(ys.T)),
                                      rel=1e-7)


def test_draws_resample_whole_images_and_are_seeded():
    d = bs.image_draws(5, 3, seed=7)
    assert d.shape == (3, 5) and (d.sum(1) == 5).all()
    np.testing.assert_array_equal(d, bs.image_draws(5, 3, seed=7))
    assert not np.array_equal(d, bs.image_draws(5, 3, seed=8))


def test_identical_sets_give_zero_width_at_zero_because_the_draws_are_paired():
    x = np.random.default_rng(1).normal(size=(20, 8))
    s = _patch_set(x, 2)
    reps = fi.bootstrap_fids({"raw": s, "enh": s}, [("raw", "enh")], 50, seed=0)[("raw", "enh")]
    assert np.abs(reps).max() < 1e-9
    assert bs.percentile_interval(reps) == pytest.approx((0.0, 0.0), abs=1e-9)


def test_interval_covers_the_true_fid_of_known_gaussians_in_most_draws():
    """N(0, I) vs N(m, diag(s²)) in 4-d: the true FID is |m|² + Σ (1 + s² − 2 s)."""
    m, s2 = np.array([1.0, 0.5, 0.0, 0.0]), np.array([2.0, 1.0, 0.5, 1.0])
    true = m @ m + np.sum(1 + s2 - 2 * np.sqrt(s2))
    hits, widths = 0, []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        x = rng.normal(size=(120, 4))  # 60 images of 2 patches
        y = rng.normal(size=(120, 4)) * np.sqrt(s2) + m
        reps = fi.bootstrap_fids({"a": _patch_set(x, 2), "b": _patch_set(y, 2)}, [("a", "b")], 100, seed)
        lo, hi = bs.percentile_interval(reps[("a", "b")])
        hits += lo <= true <= hi
        widths.append(hi - lo)
    assert hits >= 16, f"{hits}/20 intervals contain the true FID {true:.3f}"
    assert 0.1 < np.median(widths) < 2.0


def test_sets_of_other_images_cannot_be_paired():
    x = np.zeros((4, 3))
    with pytest.raises(ConfigError, match="different numbers of images"):
        fi.bootstrap_fids({"a": _patch_set(x, 2), "b": _patch_set(x, 1)}, [("a", "b")], 5, 0)
    with pytest.raises(ConfigError, match="patches per image in all"):
        fi.PatchSet(x, x[0], np.array([3]))


# ------------------------------------------------------------ from the cache


@pytest.fixture
def three_sets(tmp_path):
    return (write_set(tmp_path / "raw", 6, 64, 0), write_set(tmp_path / "comp", 6, 64, 1, shift=30),
            write_set(tmp_path / "enh", 6, 64, 2, shift=10))


def test_interval_reads_the_cached_features_only(tmp_path, three_sets, monkeypatch):
    first = fid.domain_fids(*three_sets, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                            interval_replicates=50, seed=3)
    iv = first["interval"]
    assert iv["method"].startswith("cluster percentile bootstrap over images") and "50 replicates, seed 3" in iv["method"]
    for side in ("S_CR", "S_CE", "S_RE"):
        assert iv[side][0] <= first[side] <= iv[side][1] and iv[side][0] < iv[side][1]
    assert first["images"] == 6 and first["n_patches"]["raw"] == 30

    def no_features(*a, **k):
        raise AssertionError("features recomputed")

    fid._LOADED.clear()  # a fresh process: only the .npz files
    monkeypatch.setattr(fid, "compute_set_stats", no_features)
    monkeypatch.setattr(fid, "inception_features", no_features)
    again = fid.domain_fids(*three_sets, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                            interval_replicates=50, seed=3)
    assert again["interval"] == iv  # deterministic, and from the cache
    other = fid.domain_fids(*three_sets, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                            interval_replicates=50, seed=4)
    assert other["interval"]["S_RE"] != iv["S_RE"]


def test_larger_sets_say_why_they_have_no_interval_unless_features_are_stored(tmp_path, three_sets):
    out = fid.domain_fids(*three_sets, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                          interval_max_patches=20)
    assert out["interval"] == {"none": "no interval: 30 patches > evaluation.fid_interval_max_patches=20 "
                                       "(evaluation.fid_store_features: true keeps the features)"}
    # 30 patches of 3-d features: more than the dimension, so only the covariance was cached...
    with np.load(tmp_path / "c" / "raw.npz") as z:
        assert "factor" not in z.files and list(z["patches_per_image"]) == [5] * 6
    fid._LOADED.clear()
    stored = fid.domain_fids(*three_sets, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                             interval_max_patches=math.inf, interval_replicates=20)
    # ...and the stored-features option recomputes it once with the features beside the covariance
    with np.load(tmp_path / "c" / "raw.npz") as z:
        assert {"factor", "sigma"} <= set(z.files) and z["factor"].shape == (30, 3)
    assert stored["S_RE"] == pytest.approx(out["S_RE"], rel=1e-12)  # the FID itself is unchanged
    assert stored["interval"]["S_RE"][0] <= stored["S_RE"] <= stored["interval"]["S_RE"][1]
    none = fid.domain_fids(*three_sets, tmp_path / "c", MeanNet(), "fake", patch=32, progress=False,
                           interval_replicates=0)
    assert none["interval"] == {"none": "no interval: evaluation.fid_interval_replicates is 0"}


def test_a_cache_without_patch_counts_reads_them_from_the_image_headers(tmp_path, three_sets):
    st = fid.set_stats_cached(three_sets[0], tmp_path / "raw.npz", MeanNet(), "fake", patch=48,
                              keep_features=math.inf, progress=False)
    st.patches_per_image = None
    st.save(tmp_path / "raw.npz")
    fid._LOADED.clear()
    again = fid.set_stats_cached(three_sets[0], tmp_path / "raw.npz", MeanNet(), "fake", patch=48,
                                 keep_features=math.inf, progress=False)
    assert list(again.patches_per_image) == [1] * 6  # 64 px < 1.5 × 48: one patch each


def test_evaluation_writes_n_images_interval_and_few_samples_mark(tmp_path):
    """The metrics CSV's mean row and the domains file of a tiny set (random-init Inception)."""
    import pandas as pd

    from debiasqe.evaluate.stage import evaluate_levels

    raw, lp = level_job(tmp_path, 3)
    evaluate_levels("m", "ds", {"bpg": [lp]}, raw, metrics=["psnr", "fid"], features_dir=tmp_path / "f",
                    weights_dir=tmp_path / "w", policy="random", fid_patch=32, progress=False,
                    fid_options={"min_samples": 100, "interval_replicates": 30})
    csv = pd.read_csv(lp.metrics_csv)
    mean = csv[csv["image"] == "mean"].iloc[0]
    assert mean["fid.n"] == 15 and mean["fid.images"] == 3  # 5 patches (4 + 1 offset) per 64-px image
    assert mean["fid.lo"] <= mean["fid"] <= mean["fid.hi"]
    assert mean["fid.interval"].endswith("95%, 30 replicates, seed 0")
    assert mean["marks"] == "fid:random-init|few-samples"
    assert csv.loc[csv["image"] != "mean", "fid.n"].isna().all()  # statistics in the mean row only
    tri = [d for d in json.loads(lp.domains_json.read_text()) if d["metric"] == "fid"][0]
    assert tri["n"] == 15 and tri["marks"] == ["few-samples"] and tri["min_samples"] == 100
    assert set(tri["interval"]) == {"method", "S_CR", "S_CE", "S_RE", "deviation_pct"}
    prov = json.loads((tmp_path / "m" / "37.csv.provenance.json").read_text())["evaluation"]["fid"]
    assert (prov["n"], prov["images"], prov["min_samples"]) == (15, 3, 100)
