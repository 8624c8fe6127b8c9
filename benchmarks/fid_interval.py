"""FID interval: cost of one bootstrap replicate, patch space (ours) vs the textbook 2048-d sqrtm.

    python benchmarks/fid_interval.py [--patches 4 128 512 2048] [--replicates 20] [--naive-replicates 1]

For sets of n patches (2 per image, 2048-d Gaussian features standing in for
Inception's), times one replicate FID of ``debiasqe.evaluate.fid_interval``
(Gram matrices once per pair, then one symmetric eigenvalue problem of the
~0.63 n drawn patches per replicate, batched) against the same replicate the
textbook way: rebuild the drawn multiset's 2048 × 2048 covariances and take
``frechet_distance`` (eigen method: two 2048² eigendecompositions). Checks
that both give the same value, prints seconds per replicate, the ratio and the
cost of the default 200 replicates for a level's three FIDs (S_CR, S_CE,
S_RE). Also writes a set's cache file with and without its features
(``evaluation.fid_store_features``) and prints the disk cost per 1000 patches.

Measured on the development machine (2 CPU cores shared, load ~10), defaults:
seconds per replicate 0.010 vs 36.1 at 128 patches (3574×), 0.184 vs 29.9 at
512 (162×), 4.03 vs 24.2 at 2048 (6×); the values agree to 4e-6 relative;
+16.4 MB per 1000 patches on disk (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.evaluate import fid_interval as fi  # noqa: E402
from debiasqe.evaluate.fid import FEATURE_DIM, SetStats, frechet_distance  # noqa: E402


def _sets(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, FEATURE_DIM))
    return x, x * 0.8 + rng.normal(size=(n, FEATURE_DIM)) * 0.6 + 0.1  # correlated, as raw vs enhanced


def _patch_set(x: np.ndarray) -> fi.PatchSet:
    return fi.PatchSet(x - x.mean(0), x.mean(0), np.full(len(x) // 2, 2))


def _naive(x, y, draws) -> list[float]:
    out = []
    for counts in draws:
        rows = np.repeat(np.arange(len(x)), np.repeat(counts.astype(int), 2))
        xs, ys = x[rows], y[rows]
        out.append(frechet_distance(xs.mean(0), np.cov(xs.T), ys.mean(0), np.cov(ys.T)))
    return out


def disk_cost(n: int, folder: Path) -> tuple[float, float]:
    """MB of a set's cache file of n patches: covariance only, and covariance + features."""
    rng = np.random.default_rng(0)
    f = rng.normal(size=(n, FEATURE_DIM)) / np.sqrt(n - 1)
    sizes = []
    for factor in (None, f):
        p = folder / f"set{0 if factor is None else 1}.npz"
        SetStats(np.zeros(FEATURE_DIM), f.T @ f, n, {}, factor, np.full(n // 2, 2)).save(p)
        sizes.append(p.stat().st_size / 1e6)
    return sizes[0], sizes[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patches", type=int, nargs="+", default=[4, 128, 512, 2048])
    ap.add_argument("--replicates", type=int, default=20, help="replicates timed the patch-space way")
    ap.add_argument("--naive-replicates", type=int, default=1, help="replicates timed the textbook way")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'patches':>8} {'ours s/rep':>11} {'sqrtm s/rep':>12} {'ratio':>8} {'|diff|':>9} {'200 reps x 3 FIDs':>18}")
    for n in args.patches:
        x, y = _sets(n, rng)
        a, b = _patch_set(x), _patch_set(y)
        draws = fi.image_draws(n // 2, args.replicates, seed=0)
        fi._pair_replicates(a, b, draws[:1])  # warm-up
        t = time.perf_counter()
        ours = fi._pair_replicates(a, b, draws)
        t_ours = (time.perf_counter() - t) / args.replicates
        k = min(args.naive_replicates, args.replicates)
        t = time.perf_counter()
        ref = _naive(x, y, draws[:k])
        t_naive = (time.perf_counter() - t) / k
        diff = float(np.max(np.abs(ours[:k] - np.asarray(ref)) / np.maximum(1.0, np.abs(ref))))
        print(f"{n:>8} {t_ours:>11.4f} {t_naive:>12.2f} {t_naive / t_ours:>7.0f}x {diff:>9.1e} "
              f"{t_ours * 600:>17.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1000, 3000):
            cov, both = disk_cost(n, Path(tmp))
            print(f"cache file of {n} patches: covariance {cov:.1f} MB, with features {both:.1f} MB "
                  f"(+{(both - cov) / n * 1000:.1f} MB per 1000 patches)")


if __name__ == "__main__":
    main()
