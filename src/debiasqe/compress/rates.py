"""Rate summary: mean bpp and mean RGB PSNR per codec and level."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_path


def summarize_rates(rate_files: dict[tuple[str, str, int], Path]) -> pd.DataFrame:
    """rate_files maps (dataset, codec, level) -> rate.csv; one row per key."""
    rows = []
    for (dataset, codec, level), path in sorted(rate_files.items()):
        df = pd.read_csv(path)
        rows.append({
            "dataset": dataset, "codec": codec, "level": int(level), "images": len(df),
            "mean_bpp": df["bpp"].mean(), "mean_psnr": df["psnr"].mean(),
            "total_bytes": int(df["bytes"].sum()), "backend": df["backend"].iloc[0],
        })
    return pd.DataFrame(rows)


def write_rate_summary(rate_files: dict[tuple[str, str, int], Path], out: str | Path) -> pd.DataFrame:
    df = summarize_rates(rate_files)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    return df
