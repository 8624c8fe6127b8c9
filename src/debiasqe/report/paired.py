"""Paired comparisons: each debiased method against its vanilla method, over the same images.

Where the paper draws conclusions (Table 3: debiased vs vanilla; Table 5: each
ablation vs vanilla), the question is whether the mean of a per-image metric
differs between two methods beyond the noise of the test images. Both
methods scored the same images, so the difference is taken image by image
and its mean resampled (:func:`debiasqe.core.bootstrap.paired_difference`):
the image-content variance that both methods share cancels, and the interval
is far narrower than the two methods' own intervals side by side.

With several training seeds a method's per-image value is the mean over its
runs (the tables' values are the same means), so the interval is over images
for the seed-averaged methods; the seed spread is reported beside it.

A difference whose interval excludes 0, from at least
``statistics.paired_min_images`` images (``marked``), marks the debiased
method's cell with :data:`debiasqe.report.marks.DIFFERS`; from fewer, a
bootstrap cannot tell a difference from noise (two images whose differences
share a sign give an interval that excludes 0, by chance half the time).
FID is set-level: it has no per-image values and no paired comparison here.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..core import bootstrap as bs
from ..evaluate.intervals import DEFAULTS
from ..methods import split_run
from .results import Source, read_per_image

COLUMNS = ["dataset", "codec", "level", "method", "vanilla", "metric", "n", "diff", "lo", "hi", "excludes_zero",
           "marked"]


def _per_method(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per-image values with a method's runs averaged (one row per method, setting, image, metric)."""
    df = per_image.assign(method=[split_run(str(m))[0] for m in per_image["method"]],
                          level=per_image["level"].astype(str))
    return df.groupby(["dataset", "codec", "level", "method", "metric", "image"], sort=False,
                      as_index=False)["value"].mean()


def paired_differences(metrics: Source, vanilla: Mapping[str, str], statistics: Mapping | None = None,
                       **setting) -> pd.DataFrame:
    """Mean difference (method − vanilla) of every per-image metric and its paired bootstrap
    interval, for every {method: vanilla} pair, setting (dataset, codec, level; ``setting`` filters
    them) and metric both methods have: columns :data:`COLUMNS`. ``n``: the images both scored;
    ``excludes_zero``: the interval lies wholly above or below 0; ``marked``: that, from at least
    ``statistics.paired_min_images`` images."""
    st = {**DEFAULTS, **(statistics or {})}
    df = _per_method(read_per_image(metrics))
    for k, v in setting.items():
        if v is not None:
            df = df[df[k].astype(str) == str(v)]
    rows = []
    reps = int(st["bootstrap_replicates"])
    for (dataset, codec, level, metric), g in df.groupby(["dataset", "codec", "level", "metric"], sort=False):
        by_method = {m: s.set_index("image")["value"] for m, s in g.groupby("method", sort=False)}
        for method, base in vanilla.items():
            if method not in by_method or base not in by_method:
                continue
            a, b = by_method[method].align(by_method[base], join="inner")
            n = len(a)
            if n >= 2 and reps >= 1:
                diff, lo, hi = bs.paired_difference(a.to_numpy(), b.to_numpy(), reps, st["confidence"], st["seed"])
            else:  # no bootstrap from fewer than two images or with no replicates
                diff, lo, hi = (float((a - b).mean()) if n else np.nan), np.nan, np.nan
            rows.append({"dataset": dataset, "codec": codec, "level": level, "method": method, "vanilla": base,
                         "metric": metric, "n": n, "diff": diff, "lo": lo, "hi": hi,
                         "excludes_zero": bool(lo > 0 or hi < 0),
                         "marked": bool(lo > 0 or hi < 0) and n >= st["paired_min_images"]})
    return pd.DataFrame(rows, columns=COLUMNS)
