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
    why = no_interval_reason(n, reps)
    if why is None:
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
    why = no_interval_reason(n, reps) or (None if np.isfinite(sides).all()
                                          else "no interval: not every image has a value")
    if why is not None:
        return {"none": why}
    means = bs.replicate_means(sides, bs.image_draws(n, reps, st["seed"]))
    return {"method": bs.describe(reps, st["confidence"], st["seed"]),
            **triangle_bounds(*means.T, st["confidence"])}


def no_interval_reason(n_images: int, replicates: int, replicates_key: str = "statistics.bootstrap_replicates"):
    """Why a bootstrap over ``n_images`` images with ``replicates`` replicates gives no interval, or None."""
    if replicates < 1:
        return f"no interval: {replicates_key} is 0"
    if n_images < 2:
        return f"no interval: {n_images} image (a bootstrap over images needs 2 or more)"
    return None


def triangle_bounds(s_cr: np.ndarray, s_ce: np.ndarray, s_re: np.ndarray, confidence: float) -> dict:
    """Percentile intervals of a triangle's replicate sides and of their deviation (eq. 1), as the
    domains file's ``interval`` holds them: {"S_CR": [lo, hi], ..., "deviation_pct": [lo, hi]}."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate with S_CR = 0 has no deviation
        dev = eq1(s_cr, s_ce, s_re)
    return {k: list(bs.percentile_interval(v, confidence))
            for k, v in zip(("S_CR", "S_CE", "S_RE", "deviation_pct"), (s_cr, s_ce, s_re, dev))}
