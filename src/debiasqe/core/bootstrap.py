"""Percentile bootstrap over images: seeded, deterministic, vectorised.

The sampling unit of every evaluation is the test image. A replicate draws
the n images with replacement; it is stored as the (replicates, n) matrix of
how often each image was drawn, so the replicate means of any number of
per-image columns are one matrix product (1000 replicates of 100 images and
20 columns: about a millisecond).

The draws depend only on (n, replicates, seed): the FID interval
(:mod:`debiasqe.evaluate.fid_interval`), the per-image metrics' intervals
(:mod:`debiasqe.evaluate.intervals`) and the paired differences of the report
(:mod:`debiasqe.report.paired`) of one image set all resample the same
multisets of images.

The interval is the percentile interval (Efron & Tibshirani 1993, ch. 13):
the (1 − c)/2 and (1 + c)/2 quantiles of the replicate values, numpy's
linear interpolation between order statistics.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError

#: statistics.bootstrap_replicates, statistics.confidence, statistics.seed (schema defaults)
REPLICATES = 1000
CONFIDENCE = 0.95
SEED = 0


def image_draws(n_images: int, replicates: int, seed: int) -> np.ndarray:
    """(replicates, n_images) float counts: how often each image is drawn; each row sums to n_images."""
    if n_images < 1 or replicates < 1:
        raise ConfigError(f"bootstrap: {n_images} image(s), {replicates} replicate(s); need >= 1 of each")
    picks = np.random.default_rng(seed).integers(0, n_images, size=(replicates, n_images))
    # one bincount for all rows: replicate r's picks are shifted into the block [r·n, (r+1)·n)
    flat = (picks + n_images * np.arange(replicates)[:, None]).ravel()
    return np.bincount(flat, minlength=replicates * n_images).reshape(replicates, n_images).astype(np.float64)


def replicate_means(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Replicate means of per-image ``values`` (n,) or (n, k): shape (replicates,) or (replicates, k).

    A column holding a non-finite value gives NaN replicates (its mean is NaN too)."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] != draws.shape[1]:
        raise ConfigError(f"bootstrap: {v.shape[0]} values for draws over {draws.shape[1]} images")
    finite = np.isfinite(v)
    out = draws @ np.where(finite, v, 0.0) / draws.shape[1]
    bad = ~finite.all(axis=0)
    if np.any(bad):
        out[..., bad] = np.nan
    return out


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of replicate values (non-finite replicates ignored; NaN, NaN without any)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return float(lo), float(hi)


def percentile_intervals(replicates: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """Column-wise :func:`percentile_interval` of (replicates, k) values: (k, 2) bounds; a column
    with a non-finite replicate is NaN (it comes from a column with a non-finite value)."""
    r = np.asarray(replicates, dtype=np.float64)
    tail = (1 - confidence) / 2 * 100
    with np.errstate(invalid="ignore"):
        bounds = np.percentile(r, [tail, 100 - tail], axis=0).T
    bounds[~np.isfinite(r).all(axis=0)] = np.nan
    return bounds


def mean_intervals(values: np.ndarray, replicates: int = REPLICATES, confidence: float = CONFIDENCE,
                   seed: int = SEED) -> np.ndarray:
    """(k, 2) percentile bootstrap intervals of the means of the columns of ``values`` (n, k)."""
    v = np.asarray(values, dtype=np.float64)
    v = v.reshape(len(v), -1)
    return percentile_intervals(replicate_means(v, image_draws(len(v), replicates, seed)), confidence)


def paired_difference(a: np.ndarray, b: np.ndarray, replicates: int = REPLICATES,
                      confidence: float = CONFIDENCE, seed: int = SEED) -> tuple[float, float, float]:
    """Mean of a − b over the same images and its paired percentile bootstrap interval:
    (difference, lo, hi). ``a[i]`` and ``b[i]`` are the same image's values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"paired bootstrap: values of shapes {a.shape} and {b.shape}; need two equal 1-d")
    d = a - b
    if not np.isfinite(d).all():
        return math.nan, math.nan, math.nan
    lo, hi = percentile_interval(replicate_means(d, image_draws(len(d), replicates, seed)), confidence)
    return float(d.mean()), lo, hi


def describe(replicates: int, confidence: float, seed: int) -> str:
    """The method, as a metrics CSV's ``<metric>.interval`` states it."""
    return f"percentile bootstrap over images, {confidence:.0%}, {replicates} replicates, seed {seed}"
