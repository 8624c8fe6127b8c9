"""Domain disparity on random patches (paper Fig. 6).

For random patches (seeded) cropped at the same place from the raw (R),
compressed (C) and enhanced (E) image, the mean absolute error between
R and C and between E and C, pixel-wise (RGB in [0, 1]) and feature-wise
(MAE between feature tensors of any callable, e.g. the archs branch's
VGGFeatures at a named layer). A method free of enhancement bias puts its
points near the diagonal (E as far from C as R is); a biased one below it.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ..core.errors import BadImageError, ConfigError
from .metrics import read_image


def patch_positions(height: int, width: int, patch: int, n: int,
                    rng: np.random.Generator) -> list[tuple[int, int]]:
    if height < patch or width < patch:
        raise ConfigError(f"patch {patch} larger than image {width}x{height}")
    ys = rng.integers(0, height - patch + 1, size=n)
    xs = rng.integers(0, width - patch + 1, size=n)
    return list(zip(ys.tolist(), xs.tolist()))


def disparity(triples: Sequence[tuple[str, str | os.PathLike, str | os.PathLike, str | os.PathLike]],
              patch: int = 128, patches_per_image: int = 8, seed: int = 0,
              feature_fn: Callable | None = None, device="cpu", batch_size: int = 16,
              reader: Callable | None = None):
    """DataFrame (patch, image, y, x, pix_rc, pix_ec, feat_rc, feat_ec), one row per patch.

    ``triples``: (name, raw_path, compressed_path, enhanced_path).
    ``feature_fn(x) -> tensor`` gets a (B, 3, P, P) float tensor in [0, 1]
    on ``device``; feature MAE is the mean over all but the batch dimension.
    Without it the feat_* columns are NaN. Patch positions depend only on
    ``seed`` and the image's index, so reruns crop the same patches.
    """
    reader = read_image if reader is None else reader
    if patch < 1 or patches_per_image < 1:
        raise ConfigError(f"disparity: patch={patch}, patches_per_image={patches_per_image} must be >= 1")
    rows = []
    crops: dict[str, list[np.ndarray]] = {"r": [], "c": [], "e": []}
    for idx, (name, rp, cp, ep) in enumerate(triples):
        r, c, e = reader(rp), reader(cp), reader(ep)
        for other, p in ((c, cp), (e, ep)):
            if other.shape != r.shape:
                raise BadImageError(f"{p}: size {other.shape[1]}x{other.shape[0]} differs from "
                                    f"raw {rp} ({r.shape[1]}x{r.shape[0]})")
        h, w = r.shape[:2]
        if h < patch or w < patch:
            raise BadImageError(f"{rp}: {w}x{h} is smaller than the disparity patch {patch}")
        rng = np.random.default_rng([seed, idx])
        for y, x in patch_positions(h, w, patch, patches_per_image, rng):
            pr, pc, pe = (a[y:y + patch, x:x + patch] for a in (r, c, e))
            rows.append({"patch": len(rows), "image": name, "y": y, "x": x,
                         "pix_rc": float(np.abs(pr - pc).mean()),
                         "pix_ec": float(np.abs(pe - pc).mean()),
                         "feat_rc": float("nan"), "feat_ec": float("nan")})
            if feature_fn is not None:
                crops["r"].append(pr); crops["c"].append(pc); crops["e"].append(pe)
    if feature_fn is not None and rows:
        fr, fe = [], []
        with torch.no_grad():
            for i in range(0, len(rows), batch_size):
                t = {k: torch.from_numpy(np.stack(v[i:i + batch_size])).permute(0, 3, 1, 2)
                     .float().to(device) for k, v in crops.items()}
                f = {k: feature_fn(x) for k, x in t.items()}
                fr += (f["r"] - f["c"]).abs().flatten(1).mean(1).cpu().tolist()
                fe += (f["e"] - f["c"]).abs().flatten(1).mean(1).cpu().tolist()
        for row, a, b in zip(rows, fr, fe):
            row["feat_rc"], row["feat_ec"] = float(a), float(b)
    cols = ["patch", "image", "y", "x", "pix_rc", "pix_ec", "feat_rc", "feat_ec"]
    return pd.DataFrame(rows, columns=cols)


def regression_line(df, x: str = "pix_rc", y: str = "pix_ec") -> tuple[float, float]:
    """Least-squares (slope, intercept) of y on x, as drawn in Fig. 6."""
    slope, intercept = np.polyfit(df[x].to_numpy(float), df[y].to_numpy(float), 1)
    return float(slope), float(intercept)
