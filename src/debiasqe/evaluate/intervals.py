"""Sample size and 95 % interval of every per-image metric of one level (the metrics CSV's mean row).

For each per-image column ``<m>`` (the metrics, and comp's ``<m>_ref`` scores
of the raw images) the mean row gets

* ``<m>.n``: the images the mean is over;
* ``<m>.lo``, ``<m>.hi``: the percentile bootstrap interval of the mean over
  images (:mod:`debiasqe.core.bootstrap`; ``statistics.confidence``,
  ``statistics.bootstrap_replicates``, ``statistics.seed``);
* ``<m>.interval``: that method, or why there is no interval (as FID's
  ``fid.interval``).

Every column of a level resamples the same draws of images, and so does the
report's paired comparison of two methods on that level (same n, same seed).
:func:`triangle_interval` gives the LPIPS triangle (domains file) its
intervals from the same draws.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from ..core import bootstrap as bs
from .triangles import eq1

#: the ``statistics:`` config section's defaults (the schema's)
DEFAULTS = {"bootstrap_replicates": bs.REPLICATES, "confidence": bs.CONFIDENCE, "seed": bs.SEED,
            "paired_min_images": 10, "show_intervals": False}


def image_interval_columns(df: pd.DataFrame, statistics: Mapping | None = None) -> dict:
    """The mean row's ``<m>.n/.lo/.hi/.interval`` cells of the per-image columns of ``df``."""
    st = {**DEFAULTS, **(statistics or {})}
    columns = [c for c in df.columns if c != "image"]
    values = df[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64).reshape(len(df), -1)
    n, reps = len(df), int(st["bootstrap_replicates"])
    bounds = np.full((len(columns), 2), math.nan)
    why = None
    if reps < 1:
        why = "no interval: statistics.bootstrap_replicates is 0"
    elif n < 2:
        why = f"no interval: {n} image (a bootstrap over images needs 2 or more)"
    else:
        bounds = bs.mean_intervals(values, reps, st["confidence"], st["seed"])
    method = bs.describe(reps, st["confidence"], st["seed"])
    out = {}
    for i, c in enumerate(columns):
        finite = bool(np.isfinite(values[:, i]).all()) if n else False
        out[f"{c}.n"] = n
        out[f"{c}.lo"], out[f"{c}.hi"] = (float(bounds[i, 0]), float(bounds[i, 1])) if finite else (math.nan,) * 2
        out[f"{c}.interval"] = why or (method if finite else "no interval: not every image has a value")
    return out


def triangle_interval(s_cr, s_ce, s_re, statistics: Mapping | None = None) -> dict:
    """Intervals of a triangle of per-image distances (LPIPS: each side the mean over the same
    images): S_CR, S_CE, S_RE and the deviation (eq. 1) from the same draws of images, as the
    domains file's ``interval`` (FID's layout: ``{"method": ..., "S_CR": [lo, hi], ...}``, or
    ``{"none": reason}``)."""
    st = {**DEFAULTS, **(statistics or {})}
    sides = np.column_stack([np.asarray(v, np.float64) for v in (s_cr, s_ce, s_re)])
    n, reps = len(sides), int(st["bootstrap_replicates"])
    if reps < 1:
        return {"none": "no interval: statistics.bootstrap_replicates is 0"}
    if n < 2:
        return {"none": f"no interval: {n} image (a bootstrap over images needs 2 or more)"}
    if not np.isfinite(sides).all():
        return {"none": "no interval: not every image has a value"}
    means = bs.replicate_means(sides, bs.image_draws(n, reps, st["seed"]))
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate with S_CR = 0 has no deviation
        dev = eq1(means[:, 0], means[:, 1], means[:, 2])
    out = {"method": bs.describe(reps, st["confidence"], st["seed"])}
    for k, v in zip(("S_CR", "S_CE", "S_RE", "deviation_pct"), (*means.T, dev)):
        out[k] = list(bs.percentile_interval(v, st["confidence"]))
    return out
