"""Intervals over images: the bootstrap itself (coverage, paired differences, determinism) and the
metrics CSV's ``<metric>.n/.lo/.hi/.interval`` columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from debiasqe.core import bootstrap as bs
from debiasqe.core.errors import ConfigError
from debiasqe.evaluate.intervals import image_interval_columns, triangle_interval
from debiasqe.evaluate.metrics import write_metrics_csv
from debiasqe.evaluate.triangles import eq1


def test_the_95_interval_covers_the_known_mean_in_90_to_99_percent_of_200_draws():
    """200 seeded samples of 60 images from N(5, 2²): the percentile interval of the mean holds 5
    in about 95 % of them (the percentile bootstrap undercovers a little at small n)."""
    hits = 0
    for draw in range(200):
        sample = np.random.default_rng(1000 + draw).normal(5.0, 2.0, size=60)
        lo, hi = bs.mean_intervals(sample[:, None], replicates=1000, seed=draw)[0]
        hits += lo <= 5.0 <= hi
    assert 0.90 <= hits / 200 <= 0.99


def test_a_skewed_metric_is_covered_too():
    """Exponential per-image values (mean 1): skewed, as LPIPS-like distances are."""
    hits = sum(lo <= 1.0 <= hi for lo, hi in (
        bs.mean_intervals(np.random.default_rng(d).exponential(1.0, size=(80, 1)), 1000, seed=d)[0]
        for d in range(200)))
    assert 0.90 <= hits / 200 <= 0.99


def test_constant_paired_differences_give_a_degenerate_interval_at_the_constant():
    rng = np.random.default_rng(3)
    vanilla = rng.normal(28, 3, size=40)  # large image-to-image spread ...
    diff, lo, hi = bs.paired_difference(vanilla + 0.25, vanilla, replicates=500, seed=1)
    assert (diff, lo, hi) == pytest.approx((0.25, 0.25, 0.25), abs=1e-12)  # ... cancels in the pairs
    # the unpaired intervals of the two means overlap almost entirely
    (a_lo, a_hi), (b_lo, b_hi) = bs.mean_intervals(np.column_stack([vanilla + 0.25, vanilla]), 500, seed=1)
    assert a_lo < b_hi and b_lo < a_hi


def test_a_hand_worked_paired_case():
    """Differences (0, 1) over two images: each replicate draws 2 of them, so its mean is 0 with
    probability 1/4, 0.5 with 1/2 and 1 with 1/4; the 2.5 % and 97.5 % quantiles are 0 and 1."""
    a, b = np.array([3.0, 5.0]), np.array([3.0, 4.0])
    diff, lo, hi = bs.paired_difference(a, b, replicates=4000, seed=0)
    assert (diff, lo, hi) == (0.5, 0.0, 1.0)
    draws = bs.image_draws(2, 4000, seed=0)
    means = bs.replicate_means(a - b, draws)
    assert set(np.unique(means)) == {0.0, 0.5, 1.0}
    assert np.mean(means == 0.5) == pytest.approx(0.5, abs=0.03)


def test_draws_are_seeded_vectorised_and_shared_by_every_column():
    d = bs.image_draws(7, 50, seed=4)
    assert d.shape == (50, 7) and (d.sum(1) == 7).all()
    np.testing.assert_array_equal(d, bs.image_draws(7, 50, seed=4))
    assert not np.array_equal(d, bs.image_draws(7, 50, seed=5))
    # the same as one bincount per replicate (the draws FID's interval had before they moved here)
    picks = np.random.default_rng(4).integers(0, 7, size=(50, 7))
    np.testing.assert_array_equal(d, np.stack([np.bincount(p, minlength=7) for p in picks]))
    v = np.random.default_rng(0).normal(size=(7, 3))
    np.testing.assert_allclose(bs.replicate_means(v, d), np.stack([bs.replicate_means(v[:, j], d) for j in range(3)], 1))


def test_paired_needs_equal_vectors():
    with pytest.raises(ConfigError, match="paired bootstrap"):
        bs.paired_difference(np.ones(3), np.ones(4))


def _frame(n=6, nan_at=None):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"image": [f"i{k}" for k in range(n)], "psnr": rng.normal(30, 1, n),
                       "lpips": rng.random(n), "musiq_ref": rng.normal(50, 5, n)})
    if nan_at is not None:
        df.loc[nan_at, "lpips"] = math.nan
    return df


def test_the_metrics_csv_mean_row_holds_n_bounds_and_method_of_every_per_image_metric(tmp_path):
    df = _frame(nan_at=2)
    cols = image_interval_columns(df, {"bootstrap_replicates": 1000, "confidence": 0.9, "seed": 3})
    path = tmp_path / "m.csv"
    write_metrics_csv(df, path, set_level=cols)
    out = pd.read_csv(path)
    mean = out.iloc[-1]
    assert list(out["image"]) == [*df["image"], "mean"]
    for m in ("psnr", "musiq_ref"):
        assert mean[f"{m}.n"] == 6
        assert mean[f"{m}.lo"] < mean[m] < mean[f"{m}.hi"]
        assert mean[f"{m}.interval"] == "percentile bootstrap over images, 90%, 1000 replicates, seed 3"
        lo, hi = bs.mean_intervals(df[[m]].to_numpy(), 1000, 0.9, 3)[0]
        assert (mean[f"{m}.lo"], mean[f"{m}.hi"]) == pytest.approx((lo, hi), rel=1e-7)
        assert out[f"{m}.lo"].iloc[:-1].isna().all()  # per-image rows: no statistics
    assert math.isnan(mean["lpips.lo"]) and mean["lpips.interval"] == "no interval: not every image has a value"


def test_no_interval_from_one_image_or_zero_replicates_but_n_is_written():
    one = image_interval_columns(_frame(n=1))
    assert one["psnr.n"] == 1 and math.isnan(one["psnr.lo"])
    assert one["psnr.interval"] == "no interval: 1 image (a bootstrap over images needs 2 or more)"
    off = image_interval_columns(_frame(), {"bootstrap_replicates": 0})
    assert off["psnr.n"] == 6 and off["psnr.interval"] == "no interval: statistics.bootstrap_replicates is 0"


def test_the_intervals_are_deterministic():
    df = _frame()
    assert image_interval_columns(df) == image_interval_columns(df)
    assert image_interval_columns(df)["psnr.lo"] != image_interval_columns(df, {"seed": 1})["psnr.lo"]


def test_the_lpips_triangle_resamples_its_three_sides_together():
    rng = np.random.default_rng(5)
    cr, ce = rng.random(30) + 0.5, rng.random(30) * 0.3
    iv = triangle_interval(cr, ce, ce, {"bootstrap_replicates": 500})
    assert iv["deviation_pct"] == [0.0, 0.0]  # S_CE = S_RE in every replicate: paired draws
    for side, v in (("S_CR", cr), ("S_CE", ce)):
        assert iv[side] == pytest.approx(list(bs.mean_intervals(v[:, None], 500)[0]))
    iv = triangle_interval(cr, ce, ce + 0.1, {"bootstrap_replicates": 500})
    assert iv["deviation_pct"][1] < 0 and eq1(cr.mean(), ce.mean(), ce.mean() + 0.1) > iv["deviation_pct"][0]
    assert triangle_interval(cr[:1], ce[:1], ce[:1])["none"].startswith("no interval: 1 image")
