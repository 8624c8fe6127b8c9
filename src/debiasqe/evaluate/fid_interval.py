"""A 95 % interval for FID from the cached per-patch features: a cluster bootstrap over images.

The sampling unit of an evaluation is the test image, not the patch: the
patches of one image are correlated, so resampling patches would understate
the spread. Each replicate draws the images with replacement and takes every
patch of a drawn image as often as the image was drawn (a cluster bootstrap;
Davison & Hinkley 1997, §3.8).

Paired: the raw, compressed and enhanced sets of one level are the same
images, so one replicate draws ONE multiset of images and applies it to every
set. Every FID the pipeline reports compares such sets (S_RE is the table's
FID; S_CR, S_CE the triangle's other sides), and the test set is drawn once
for all three domains; drawing each set independently would treat raw and
enhanced as independent samples and count the image-content variance twice
(identical sets would then get an interval far from 0). The same replicates
give the deviation of eq. 1 its interval.

Features are never recomputed: the cache keeps each set's centred features F
(``SetStats.factor`` · √(n−1), n × 2048). A replicate is a vector of patch
weights w (the draw count of the patch's image), and its Fréchet distance is
exact, in the space of patches rather than features:

* means and traces from Gram matrices G = F₁F₂ᵀ computed once per pair;
* Tr (S₁S₂)^½ = Σ singular values of K = A Bᵀ, where A = diag(√w₁)(F₁ − 1aᵀ)/√(N₁−1)
  is the replicate's covariance factor (S₁ = AᵀA); K is the doubly centred,
  weighted G restricted to the drawn patches (about 63 % of them), and its
  singular values are the square roots of the eigenvalues of K Kᵀ.

So a replicate costs one symmetric eigenvalue problem of the size of the
drawn patch set instead of a 2048 × 2048 sqrtm, and replicates go through
numpy's batched ``eigvalsh`` in chunks. With all weights 1 this is
:func:`~debiasqe.evaluate.fid.frechet_distance_low_rank` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..core.bootstrap import image_draws
from ..core.errors import ConfigError

#: elements of one chunk's (replicates × drawn × drawn) matrix: ~128 MB of float64
_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class PatchSet:
    """One set's centred features F (n × d), its mean and how many patches each image gave."""

    centred: np.ndarray
    mean: np.ndarray
    patches_per_image: np.ndarray

    def __post_init__(self):
        counts = np.asarray(self.patches_per_image, dtype=np.int64)
        if counts.sum() != len(self.centred):
            raise ConfigError(f"fid interval: {counts.sum()} patches per image in all, but "
                              f"{len(self.centred)} feature rows")
        object.__setattr__(self, "patches_per_image", counts)


def describe(replicates: int, seed: int, confidence: float = 0.95) -> str:
    """The method, as the metrics CSV's ``fid.interval`` and the domains file state it."""
    return (f"cluster percentile bootstrap over images (patches with their image, the same images "
            f"for every set), {confidence:.0%}, {replicates} replicates, seed {seed}")


def _pair_replicates(s1: PatchSet, s2: PatchSet, draws: np.ndarray) -> np.ndarray:
    """The Fréchet distance of every replicate (rows of ``draws``) between two sets."""
    f1, f2 = np.asarray(s1.centred, np.float64), np.asarray(s2.centred, np.float64)
    delta = np.asarray(s1.mean, np.float64) - np.asarray(s2.mean, np.float64)
    g11, g22, g12 = f1 @ f1.T, f2 @ f2.T, f1 @ f2.T
    p1, p2 = f1 @ delta, f2 @ delta
    w1 = np.repeat(draws, s1.patches_per_image, axis=1)  # (R, n1): a patch weighs as its image
    w2 = np.repeat(draws, s2.patches_per_image, axis=1)
    n1, n2 = w1.sum(1), w2.sum(1)
    if (n1 < 2).any() or (n2 < 2).any():
        raise ConfigError("fid interval: a replicate has fewer than 2 patches (each image gives one); "
                          "no covariance")
    # a, b: the replicate's mean minus the set's mean (F is centred on the set's mean)
    aa = np.einsum("rn,nm,rm->r", w1, g11, w1) / n1 ** 2
    bb = np.einsum("rn,nm,rm->r", w2, g22, w2) / n2 ** 2
    w1g12 = w1 @ g12  # (R, n2): N1 · F2 a
    g12w2 = w2 @ g12.T  # (R, n1): N2 · F1 b
    ab = (w1g12 * w2).sum(1) / (n1 * n2)
    mean_term = delta @ delta + aa + bb + 2 * (w1 @ p1) / n1 - 2 * (w2 @ p2) / n2 - 2 * ab
    tr1 = (w1 @ np.diag(g11) - n1 * aa) / (n1 - 1)
    tr2 = (w2 @ np.diag(g22) - n2 * bb) / (n2 - 1)
    tr_sqrt = np.empty(len(draws))
    k1max, k2max = int((w1 > 0).sum(1).max()), int((w2 > 0).sum(1).max())
    chunk = max(1, _CHUNK_ELEMENTS // (k1max * k2max))
    for lo in range(0, len(draws), chunk):
        sl = slice(lo, lo + chunk)
        tr_sqrt[sl] = _trace_sqrt(g12, w1[sl], w2[sl], w1g12[sl] / n1[sl, None], g12w2[sl] / n2[sl, None],
                                  ab[sl], n1[sl], n2[sl], k1max, k2max)
    return np.maximum(0.0, mean_term + tr1 + tr2 - 2 * tr_sqrt)


def _drawn(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the drawn patches of each replicate, padded to ``k``, and √weight (0 on the pads)."""
    order = np.argsort(w <= 0, axis=1, kind="stable")[:, :k]  # drawn patches first
    return order, np.sqrt(np.take_along_axis(w, order, 1))


def _trace_sqrt(g12, w1, w2, f2a, f1b, ab, n1, n2, k1max, k2max) -> np.ndarray:
    """Tr (S₁S₂)^½ of a chunk of replicates: Σ singular values of the weighted, doubly centred G₁₂."""
    i1, s1 = _drawn(w1, k1max)
    i2, s2 = _drawn(w2, k2max)
    # (F1 - 1aᵀ)(F2 - 1bᵀ)ᵀ = G12 - 1 (F2 a)ᵀ - (F1 b) 1ᵀ + (a·b) 11ᵀ, on the drawn rows/columns
    kc = (g12[i1[:, :, None], i2[:, None, :]] - np.take_along_axis(f2a, i2, 1)[:, None, :]
          - np.take_along_axis(f1b, i1, 1)[:, :, None] + ab[:, None, None])
    k = kc * s1[:, :, None] * s2[:, None, :] / np.sqrt((n1 - 1) * (n2 - 1))[:, None, None]
    m = k @ k.transpose(0, 2, 1) if k1max <= k2max else k.transpose(0, 2, 1) @ k
    lam = np.linalg.eigvalsh(m)
    return np.sqrt(np.clip(lam, 0, None)).sum(-1)


def bootstrap_fids(sets: Mapping[str, PatchSet], pairs: Sequence[tuple[str, str]], replicates: int,
                   seed: int) -> dict[tuple[str, str], np.ndarray]:
    """Replicate FIDs of every pair, all from the same draws of images (the sets are paired)."""
    counts = {len(s.patches_per_image) for s in sets.values()}
    if len(counts) != 1:
        raise ConfigError(f"fid interval: the sets hold different numbers of images "
                          f"({', '.join(f'{k}: {len(s.patches_per_image)}' for k, s in sets.items())}); "
                          f"a paired bootstrap needs the same images")
    draws = image_draws(counts.pop(), replicates, seed)
    return {(a, b): _pair_replicates(sets[a], sets[b], draws) for a, b in pairs}
