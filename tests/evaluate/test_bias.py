"""Bias deviation (paper eq. 1) against the paper's own figures.

The paper prints the three distances rounded (FID to 0.01, LPIPS to 0.01)
but computed the deviation "with float precision on original data". So we
cannot expect equality from the rounded inputs. Instead we use interval
arithmetic: each printed input x stands for some true value in
[x - h, x + h] with h half a unit of its last digit. eq. 1 is monotone in
each argument separately (increasing in S_CE, decreasing in S_RE, and
monotone in S_CR for fixed sign of the numerator), so its extremes over that
box are attained at one of the 8 corners. The paper's printed deviation
(itself rounded to 0.01 %) must lie within [min, max] over the corners.
We also check a point estimate with a tolerance equal to that interval's
half-width, which for FID is ~0.3 % and for LPIPS is up to ~20 %.
"""

import itertools
import math

import pytest

from debiasqe.evaluate.triangles import deviation, horizontal_deviation_pct, triangle, triangle_vertex
from debiasqe.core.errors import ConfigError

# (figure, label, S_CR, S_CE, S_RE, printed deviation %, half unit of inputs)
PAPER_CASES = [
    ("fig3/8 FID DIV2K", "[43]", 9.73, 5.93, 8.84, -45.33, 0.005),
    ("fig3/8 FID DIV2K", "[44]", 9.73, 6.13, 10.58, -78.36, 0.005),
    ("fig3 FID Flickr2K", "[43]", 11.18, 6.35, 8.75, -28.99, 0.005),
    ("fig3 FID Flickr2K", "[44]", 11.18, 7.23, 13.24, -98.43, 0.005),
    ("fig8 FID", "[42]", 9.73, 1.62, 10.41, -111.66, 0.005),
    ("fig8 FID", "[54]", 9.73, 2.37, 10.69, -114.61, 0.005),
    ("fig8 FID", "[16]", 9.73, 4.42, 10.68, -99.78, 0.005),
    ("fig8 FID", "[56]", 9.73, 2.39, 10.64, -113.38, 0.005),
    ("fig8 FID", "[47]", 9.73, 4.00, 10.31, -95.21, 0.005),
    ("fig8 FID", "[52]", 9.73, 3.68, 10.30, -97.78, 0.005),
    ("fig8 FID", "ours w/ [43]", 9.73, 8.60, 7.50, 18.64, 0.005),
    ("fig8 FID", "ours w/ [44]", 9.73, 9.36, 8.77, 11.26, 0.005),
    ("fig3/9 LPIPS DIV2K", "[43]", 0.22, 0.10, 0.12, -8.04, 0.005),
    ("fig3/9 LPIPS DIV2K", "[44]", 0.22, 0.10, 0.12, -6.69, 0.005),
    ("fig3 LPIPS Flickr2K", "[43]", 0.20, 0.12, 0.14, -14.17, 0.005),
    ("fig3 LPIPS Flickr2K", "[44]", 0.20, 0.12, 0.13, -5.71, 0.005),
    ("fig9 LPIPS", "[42]", 0.22, 0.03, 0.21, -93.96, 0.005),
    ("fig9 LPIPS", "[16]", 0.22, 0.04, 0.21, -85.60, 0.005),
    ("fig9 LPIPS", "ours w/ [43]", 0.22, 0.19, 0.11, 51.02, 0.005),
    ("fig9 LPIPS", "ours w/ [44]", 0.22, 0.16, 0.11, 27.45, 0.005),
]


def _interval(s_cr, s_ce, s_re, h):
    vals = [deviation(a, b, c) for a, b, c in itertools.product(
        (s_cr - h, s_cr + h), (s_ce - h, s_ce + h), (s_re - h, s_re + h))]
    return min(vals), max(vals)


@pytest.mark.parametrize("fig,label,s_cr,s_ce,s_re,paper,h", PAPER_CASES,
                         ids=[f"{c[0]} {c[1]}" for c in PAPER_CASES])
def test_deviation_matches_paper_within_rounding(fig, label, s_cr, s_ce, s_re, paper, h):
    lo, hi = _interval(s_cr, s_ce, s_re, h)
    assert lo - 0.005 <= paper <= hi + 0.005, (lo, paper, hi)
    point = deviation(s_cr, s_ce, s_re)
    assert math.copysign(1, point) == math.copysign(1, paper)  # biased vs debiased agrees
    assert abs(point - paper) <= (hi - lo) / 2 + 0.005


def test_fig3_headline_value():
    # 9.73, 6.13, 10.58 -> -78.54 from rounded inputs; paper -78.36 (float data)
    assert deviation(9.73, 6.13, 10.58) == pytest.approx(-78.54, abs=0.01)
    assert abs(deviation(9.73, 6.13, 10.58) - -78.36) < 0.3


def test_fig3_range_quoted_in_text():
    # "The obtained results range from -5.71% to -98.43%" (Fig. 3's eight triangles)
    fig3 = [c for c in PAPER_CASES if c[0].startswith("fig3")]
    printed = [c[5] for c in fig3]
    assert min(printed) == -98.43 and max(printed) == -5.71


def test_vertex_law_of_cosines_and_horizontal_deviation():
    s_cr, s_ce, s_re = 9.73, 6.13, 10.58
    x, y = triangle_vertex(s_cr, s_ce, s_re)
    assert math.hypot(x, y) == pytest.approx(s_ce)
    assert math.hypot(x - s_cr, y) == pytest.approx(s_re)
    assert y > 0
    # eq. 1 == offset from the base midpoint relative to HALF the base
    assert horizontal_deviation_pct(s_cr, s_ce, s_re) == pytest.approx(deviation(s_cr, s_ce, s_re))
    assert horizontal_deviation_pct(s_cr, s_ce, s_re, "base") == pytest.approx(
        deviation(s_cr, s_ce, s_re) / 2)


def test_equilateral_and_extremes():
    assert deviation(1, 1, 1) == 0
    assert deviation(1, 0, 1) == -100  # E on C
    assert deviation(1, 1, 0) == 100   # E on R
    x, y = triangle_vertex(2, 2, 2)
    assert x == pytest.approx(1) and y == pytest.approx(math.sqrt(3))


def test_triangle_inequality_violation_clamps_and_flags():
    t = triangle(1.0, 0.2, 0.3)  # 0.2 + 0.3 < 1
    assert t.violates_triangle_inequality
    assert t.y == 0.0
    assert t.deviation_pct == pytest.approx(deviation(1.0, 0.2, 0.3))
    ok = triangle(1.0, 0.5, 0.5)  # flat but legal
    assert not ok.violates_triangle_inequality and ok.y == pytest.approx(0, abs=1e-6)
    assert not triangle(9.73, 6.13, 10.58).violates_triangle_inequality


@pytest.mark.parametrize("args", [(0, 1, 1), (-1, 1, 1), (1, float("nan"), 1), (1, 1, -2)])
def test_bad_distances(args):
    with pytest.raises(ConfigError):
        deviation(*args)
