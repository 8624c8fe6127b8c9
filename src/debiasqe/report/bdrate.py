"""Bjontegaard delta bit rate (BD-BR) through the PyPI ``bjontegaard`` package.

BD-BR is the average bit-rate difference (in percent) of a test RD curve
against an anchor curve at equal quality, averaged over the quality range
both curves cover: log-rate is interpolated as a function of quality
(pchip by default, akima on request), or fitted by a cubic polynomial
(``cubic``: Bjontegaard's VCEG-M33 fit, the BD-BR the paper cites),
integrated over the overlap, and the mean log10-rate difference ``d`` is
reported as ``(10**d - 1) * 100``. Negative means the test needs fewer bits
for the same quality.

The package wants quality to grow with rate, so lower-is-better metrics
(FID, LPIPS, DISTS, NIQE, PI) are negated before the call. Curves that
cannot give a meaningful number (too few points, quality not strictly
monotonic in rate, no overlap, missing values) give ``NaN`` with a reason
instead of an exception, so one bad curve never breaks a whole table.
The monotonicity requirement belongs to the interpolants (pchip/akima
through non-monotonic points are not a function of quality); the cubic
least-squares fit needs none, so ``cubic`` only asks for four distinct
quality values per curve.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

METHODS = ("pchip", "akima", "cubic")
MIN_POINTS = 4


@dataclass(frozen=True)
class BDResult:
    """A BD-BR value in percent, or NaN with the reason it could not be computed.

    ``overlap`` is the shared quality range as a fraction of the union of
    both ranges (``nan`` when not computed); below ~0.75 the number rests on
    extrapolated-looking short stretches and ``note`` says so.
    """

    value: float
    reason: str | None = None
    overlap: float = float("nan")
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None and math.isfinite(self.value)

    def __float__(self) -> float:
        return float(self.value)


def _nan(reason: str, overlap: float = float("nan")) -> BDResult:
    return BDResult(float("nan"), reason, overlap)


def _prepare(rate: Sequence[float], quality: Sequence[float], lower_better: bool, which: str,
             monotonic: bool = True):
    """Return (rate, quality) sorted by rate, or a reason string.

    ``monotonic=False`` (the cubic fit) skips the strictly-monotonic check and
    asks instead for MIN_POINTS distinct quality values; the points are then
    sorted by quality (the fit's abscissa)."""
    r = np.asarray(rate, dtype=float).ravel()
    q = np.asarray(quality, dtype=float).ravel()
    if r.shape != q.shape:
        return f"{which}: {r.size} rates but {q.size} quality values"
    if q.size and np.all(np.isnan(q)):
        return f"{which}: metric unavailable (all values NaN)"
    if np.any(~np.isfinite(r)) or np.any(~np.isfinite(q)):
        return f"{which}: missing (NaN/inf) rate or quality values"
    if r.size < MIN_POINTS:
        return f"{which}: {r.size} RD points, need at least {MIN_POINTS}"
    if np.any(r <= 0):
        return f"{which}: non-positive rate"
    if lower_better:
        q = -q
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    if np.any(np.diff(r) <= 0):
        return f"{which}: repeated rate values"
    if not monotonic:
        if np.unique(q).size < MIN_POINTS:
            return f"{which}: {np.unique(q).size} distinct quality values, a cubic fit needs {MIN_POINTS}"
        order = np.argsort(q, kind="stable")
        return r[order], q[order]
    dq = np.diff(q)
    if not (np.all(dq > 0)):
        return f"{which}: quality not strictly {'decreasing' if lower_better else 'increasing'} with rate"
    return r, q


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    lower_better: bool,
    method: str = "pchip",
) -> BDResult:
    """BD-BR (%) of the test curve against the anchor curve; never raises on data.

    ``lower_better`` says whether smaller quality values are better (the
    metric is then negated). ``method`` is ``"pchip"``, ``"akima"`` (both need
    quality strictly monotonic in rate) or ``"cubic"`` (VCEG-M33 polynomial fit,
    no monotonicity needed).
    Returns :class:`BDResult` (``float(result)`` gives the value).
    """
    if method not in METHODS:
        raise ValueError(f"bd_rate: method must be one of {METHODS}, got {method!r}")
    monotonic = method != "cubic"
    a = _prepare(rate_anchor, quality_anchor, lower_better, "anchor", monotonic)
    if isinstance(a, str):
        return _nan(a)
    t = _prepare(rate_test, quality_test, lower_better, "test", monotonic)
    if isinstance(t, str):
        return _nan(t)
    (ra, qa), (rt, qt) = a, t
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    span = max(qa.max(), qt.max()) - min(qa.min(), qt.min())
    overlap = max(hi - lo, 0.0) / span if span > 0 else 0.0
    if hi <= lo:
        return _nan("quality ranges of anchor and test do not overlap", overlap)

    import bjontegaard  # local: keep import cost off modules that only read results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = bjontegaard.bd_rate(
                ra, qa, rt, qt, method=method,
                require_matching_points=False, min_overlap=0.0,
            )
        except (ValueError, AssertionError, ZeroDivisionError) as exc:  # pragma: no cover - guarded above
            return _nan(f"bjontegaard failed: {exc}", overlap)
    value = float(value)
    if not math.isfinite(value):
        return _nan("BD-BR is not finite", overlap)
    note = None
    if overlap < 0.75:
        note = f"quality ranges overlap only {overlap:.0%}"
    return BDResult(value, None, overlap, note)
