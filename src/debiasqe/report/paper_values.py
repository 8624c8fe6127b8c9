"""The paper's published numbers (``paper_values.yaml``) as tidy DataFrames.

Paper values exist only for the paper's setting: BPG at QP 37 (Table 4:
BPG over all QPs) on DIV2K validation and, for Tables 1-2 and Fig. 3,
Flickr2K. :func:`paper_dataset` maps our dataset names onto the paper's;
:func:`matches_setting` says whether one of our result cells has a
published counterpart at all.
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd
import yaml

from ..core.errors import ConfigError

REALISM_COLUMNS = ["raw", "enhanced", "enh_minus_raw", "compressed", "comp_minus_raw"]
DOMAIN_COLUMNS = ["S_CR", "S_CE", "S_RE", "deviation_pct"]
ABLATION_VARIANTS = ["vanilla", "cd", "ddr", "full"]


@functools.lru_cache(maxsize=1)
def load_raw() -> dict:
    """The YAML file as a dict (cached)."""
    text = resources.files("debiasqe.report").joinpath("paper_values.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def citations() -> dict[str, str]:
    """Paper citation label ("[43]", "Ours w/ [43]", ...) -> our method name."""
    return dict(load_raw()["citations"])


def paper_dataset(name: str) -> str | None:
    """Map one of our dataset names to the paper's ("DIV2K"/"Flickr2K"), else None."""
    low = str(name).lower()
    if "div2k" in low:
        return "DIV2K"
    if "flickr2k" in low:
        return "Flickr2K"
    return None


def matches_setting(codec: str, level=None) -> bool:
    """True where (codec, level) is the paper's BPG QP 37 (level None: codec only)."""
    s = load_raw()["setting"]
    if str(codec).lower() != s["codec"]:
        return False
    return level is None or str(level) == str(s["level"])


def _realism(key: str) -> pd.DataFrame:
    t = load_raw()[key]
    rows = [{"method": r["method"], "dataset": r["dataset"], **dict(zip(t["columns"], r["values"]))}
            for r in t["rows"]]
    return pd.DataFrame(rows, columns=["method", "dataset", *REALISM_COLUMNS])


def table1() -> pd.DataFrame:
    """Rows (method, dataset) with raw, enhanced, enh_minus_raw, compressed, comp_minus_raw."""
    return _realism("table1")


def table2() -> pd.DataFrame:
    """As :func:`table1`, for the conditional discriminator of our method with [44]."""
    return _realism("table2")


def _metric_grid(key: str) -> pd.DataFrame:
    t = load_raw()[key]
    df = pd.DataFrame.from_dict(t["rows"], orient="index", columns=t["columns"])
    df.index.name = "metric"
    return df.astype(float)


def table3() -> pd.DataFrame:
    """Metric x method (including ``comp``) grid of Table 3."""
    return _metric_grid("table3")


def table3_lower_better() -> dict[str, bool]:
    """The arrows printed in Table 3 (True: lower is better)."""
    return dict(load_raw()["table3"]["lower_better"])


def table4() -> pd.DataFrame:
    """Metric x method grid of BD-BR (%) against ``comp`` (BPG)."""
    return _metric_grid("table4")


def table5() -> pd.DataFrame:
    """Rows (baseline, variant, method) with fid, psnr, d_fid, d_psnr (to vanilla)."""
    t = load_raw()["table5"]
    rows = []
    for base, variants in t["rows"].items():
        names = {"vanilla": base, **t["baselines"][base]}
        for variant, (fid, psnr, dfid, dpsnr) in variants.items():
            rows.append({"baseline": base, "variant": variant, "method": names[variant],
                         "fid": fid, "psnr": psnr,
                         "d_fid": float("nan") if dfid is None else dfid,
                         "d_psnr": float("nan") if dpsnr is None else dpsnr})
    return pd.DataFrame(rows)


def domains() -> pd.DataFrame:
    """Rows (metric, dataset, method, figures) with S_CR, S_CE, S_RE, deviation_pct."""
    rows = []
    for group in load_raw()["domains"]:
        for method, vals in group["rows"].items():
            rows.append({"metric": group["metric"], "dataset": group["dataset"], "method": method,
                         "figures": tuple(group["figures"]), **dict(zip(DOMAIN_COLUMNS, vals))})
    return pd.DataFrame(rows)


def lookup(table: str, **keys) -> dict | None:
    """One row of a paper table as a dict, or None where the paper has no such row.

    ``lookup("table1", method="esrgan", dataset="DIV2K")``,
    ``lookup("domains", metric="fid", dataset="DIV2K", method="rdn")``.
    """
    getters = {"table1": table1, "table2": table2, "table5": table5, "domains": domains}
    if table not in getters:
        raise ConfigError(f"paper_values: no row table {table!r}; one of {sorted(getters)}")
    df = getters[table]()
    mask = pd.Series(True, index=df.index)
    for k, v in keys.items():
        mask &= df[k] == v
    hit = df[mask]
    return None if hit.empty else hit.iloc[0].to_dict()
