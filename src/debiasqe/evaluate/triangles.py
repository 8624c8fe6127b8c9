"""Domain triangles and the enhancement-bias deviation (paper §3, eq. 1).

Three image domains: C (compressed), R (raw), E (enhanced), and a distance S
between each pair (FID or LPIPS). Drawing the triangle with C at (0, 0) and R
at (S_CR, 0), the enhanced vertex E sits where its distances to C and R are
S_CE and S_RE. By the law of cosines its abscissa is

    x_E = (S_CE² - S_RE² + S_CR²) / (2 S_CR),

so its offset from the base midpoint, relative to HALF the base, is

    (x_E - S_CR/2) / (S_CR/2) = (S_CE² - S_RE²) / S_CR²,

which is the paper's eq. 1 (× 100 %). Negative: E leans towards C (biased);
positive: towards R (debiased). The offset relative to the FULL base is half
of that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.errors import ConfigError


def _check(s_cr: float, s_ce: float, s_re: float) -> None:
    for name, v in (("S_CR", s_cr), ("S_CE", s_ce), ("S_RE", s_re)):
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"domain distance {name}={v!r} must be finite and >= 0")
    if s_cr <= 0:
        raise ConfigError(f"domain distance S_CR={s_cr!r} must be > 0 (it is the triangle's base)")


def deviation(s_cr: float, s_ce: float, s_re: float) -> float:
    """Paper eq. 1 in percent: (S_CE² - S_RE²) / S_CR² × 100."""
    _check(s_cr, s_ce, s_re)
    return eq1(s_cr, s_ce, s_re)


def eq1(s_cr, s_ce, s_re):
    """Eq. 1 without the checks, elementwise: also on arrays of bootstrap replicates."""
    return (s_ce ** 2 - s_re ** 2) / s_cr ** 2 * 100.0


@dataclass(frozen=True)
class Triangle:
    s_cr: float
    s_ce: float
    s_re: float
    x: float            # abscissa of E (C at 0, R at s_cr)
    y: float            # ordinate of E (>= 0); 0 when clamped
    violates_triangle_inequality: bool
    deviation_pct: float

    @property
    def biased(self) -> bool:
        return self.deviation_pct < 0


def triangle_vertex(s_cr: float, s_ce: float, s_re: float) -> tuple[float, float]:
    """Coordinates of E with C at (0, 0) and R at (s_cr, 0), E above the base.

    When the three distances violate the triangle inequality the height
    would be imaginary: y is clamped to 0 (use :func:`triangle` for the flag).
    """
    t = triangle(s_cr, s_ce, s_re)
    return t.x, t.y


def triangle(s_cr: float, s_ce: float, s_re: float) -> Triangle:
    _check(s_cr, s_ce, s_re)
    x = (s_ce ** 2 - s_re ** 2 + s_cr ** 2) / (2.0 * s_cr)
    y2 = s_ce ** 2 - x ** 2
    # Tolerate round-off on degenerate (flat) triangles.
    tol = 1e-12 * max(s_cr, s_ce, s_re) ** 2
    violates = y2 < -tol
    y = math.sqrt(y2) if y2 > 0 else 0.0
    return Triangle(s_cr, s_ce, s_re, x, y, violates, deviation(s_cr, s_ce, s_re))


def horizontal_deviation_pct(s_cr: float, s_ce: float, s_re: float,
                             relative_to: str = "half_base") -> float:
    """Offset of E's abscissa from the base midpoint, in percent.

    ``relative_to='half_base'`` (the paper's convention) equals eq. 1;
    ``'base'`` gives half of it.
    """
    x, _ = triangle_vertex(s_cr, s_ce, s_re)
    offset = x - s_cr / 2.0
    if relative_to == "half_base":
        return offset / (s_cr / 2.0) * 100.0
    if relative_to == "base":
        return offset / s_cr * 100.0
    raise ConfigError(f"relative_to={relative_to!r}: expected 'half_base' or 'base'")
