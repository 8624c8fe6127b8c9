import math

import bjontegaard
import numpy as np
import pytest

from debiasqe.report.bdrate import BDResult, bd_rate

RATES = np.array([0.12, 0.25, 0.48, 0.90, 1.70])
PSNR = np.array([28.1, 30.6, 33.0, 35.7, 38.2])


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_rate_scaled_by_0p8_is_minus_20_percent_exactly(method):
    r = bd_rate(RATES, PSNR, 0.8 * RATES, PSNR, lower_better=False, method=method)
    assert r.ok and r.reason is None
    assert r.value == pytest.approx(-20.0, abs=1e-9)
    assert r.overlap == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_linear_log_rate_with_quality_shift(method):
    # q = a + b*log10(R); test gains d in quality at every rate -> test needs
    # log10 rate lower by d/b everywhere: BD-BR = 10**(-d/b) - 1 exactly
    # (both interpolants reproduce straight lines).
    a, b, d = 35.0, 12.0, 1.5
    q = a + b * np.log10(RATES)
    r = bd_rate(RATES, q, RATES, q + d, lower_better=False, method=method)
    assert r.value == pytest.approx((10 ** (-d / b) - 1) * 100, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_matches_bjontegaard_package_on_curved_data(method):
    rng = np.random.default_rng(0)
    rt = RATES * 1.07
    qt = PSNR + np.sort(rng.uniform(0.1, 0.6, size=5))
    ours = bd_rate(RATES, PSNR, rt, qt, lower_better=False, method=method)
    ref = bjontegaard.bd_rate(RATES, PSNR, rt, qt, method=method, min_overlap=0)
    assert ours.value == pytest.approx(ref, rel=1e-12)


def test_lower_better_is_negated():
    lpips = np.array([0.40, 0.31, 0.22, 0.15, 0.10])
    better = lpips - 0.02  # lower LPIPS at the same rate: fewer bits needed
    r = bd_rate(RATES, lpips, RATES, better, lower_better=True)
    assert r.ok and r.value < 0
    ref = bjontegaard.bd_rate(RATES, -lpips, RATES, -better, method="pchip", min_overlap=0)
    assert r.value == pytest.approx(ref, rel=1e-12)
    # the same numbers read as higher-better are "quality falls with rate"
    bad = bd_rate(RATES, lpips, RATES, better, lower_better=False)
    assert math.isnan(bad.value) and "increasing" in bad.reason
    # unsorted input points are fine
    perm = [3, 0, 4, 1, 2]
    r2 = bd_rate(RATES[perm], lpips[perm], RATES, better, lower_better=True)
    assert r2.value == pytest.approx(r.value, rel=1e-12)


def test_no_overlap_gives_nan_with_reason():
    r = bd_rate(RATES, PSNR, RATES, PSNR + 20, lower_better=False)
    assert isinstance(r, BDResult) and math.isnan(r.value) and not r.ok
    assert "overlap" in r.reason


def test_partial_overlap_notes_it():
    r = bd_rate(RATES, PSNR, RATES, PSNR + 6, lower_better=False)
    assert r.ok and r.note and "overlap" in r.note


@pytest.mark.parametrize(
    "rt, qt, words",
    [
        (RATES[:3], PSNR[:3], "at least 4"),
        (RATES, [28.1, 31.0, 30.0, 35.7, 38.2], "strictly"),
        (RATES, [np.nan] * 5, "unavailable"),
        (RATES, [28.1, np.nan, 33.0, 35.7, 38.2], "missing"),
        ([0.0, 0.25, 0.48, 0.9, 1.7], PSNR, "non-positive"),
        (RATES[:4], PSNR, "rates but"),
    ],
)
def test_bad_curves_never_raise(rt, qt, words):
    r = bd_rate(RATES, PSNR, rt, qt, lower_better=False)
    assert math.isnan(r.value) and words in r.reason
    assert math.isnan(float(r))


def test_unknown_interpolation_is_a_programming_error():
    with pytest.raises(ValueError):
        bd_rate(RATES, PSNR, RATES, PSNR, lower_better=False, method="linear")


# Cubic (Bjontegaard VCEG-M33): log10 rate is a least-squares cubic in quality.
# Anchor log10 R = p(q) = 0.002 (q-31)^3 - 0.05 (q-31), which falls between
# q ~ 28.1 and 33.9: at q = 25, 29, 31, 33, 37 the rates are 10**p =
# 0.738, 1.213, 1.000, 0.824, 1.355, so sorted by rate the quality goes
# 25, 33, 31, 29, 37 (not monotonic). A cubic reproduces p exactly.
Q_NM = np.array([25.0, 29.0, 31.0, 33.0, 37.0])
LOGR_NM = 0.002 * (Q_NM - 31) ** 3 - 0.05 * (Q_NM - 31)


def test_cubic_needs_no_monotonicity_pchip_does():
    rates = 10 ** LOGR_NM
    assert list(np.round(rates, 3)) == [0.738, 1.213, 1.0, 0.824, 1.355]
    # test needs 0.8x the bits at every quality: exactly -20 % with the cubic fit
    r = bd_rate(rates, Q_NM, 0.8 * rates, Q_NM, lower_better=False, method="cubic")
    assert r.ok and r.value == pytest.approx(-20.0, abs=1e-9)
    for interp in ("pchip", "akima"):
        bad = bd_rate(rates, Q_NM, 0.8 * rates, Q_NM, lower_better=False, method=interp)
        assert math.isnan(bad.value) and "strictly increasing" in bad.reason


def test_cubic_hand_worked_quality_dependent_saving():
    # test log10 R = p(q) + 0.01 (q - 25): over the shared range [25, 37] the mean
    # log-rate difference is 0.01 * (31 - 25) = 0.06 -> BD-BR = 10**0.06 - 1 = +14.815 %.
    rates = 10 ** LOGR_NM
    rt = 10 ** (LOGR_NM + 0.01 * (Q_NM - 25))
    r = bd_rate(rates, Q_NM, rt, Q_NM, lower_better=False, method="cubic")
    assert r.value == pytest.approx((10 ** 0.06 - 1) * 100, abs=1e-9)
    assert r.value == pytest.approx(14.815, abs=1e-3)
    # lower-is-better metrics are negated, as for the interpolants
    r2 = bd_rate(rates, -Q_NM, rt, -Q_NM, lower_better=True, method="cubic")
    assert r2.value == pytest.approx(r.value, rel=1e-12)


def test_cubic_nan_only_with_reason():
    # a cubic through fewer than four distinct quality values is not determined
    r = bd_rate(RATES, PSNR, RATES, [30.0, 30.0, 33.0, 33.0, 35.0], lower_better=False, method="cubic")
    assert math.isnan(r.value) and r.reason == "test: 3 distinct quality values, a cubic fit needs 4"
    r = bd_rate(RATES, PSNR, RATES, PSNR + 20, lower_better=False, method="cubic")
    assert math.isnan(r.value) and "overlap" in r.reason
