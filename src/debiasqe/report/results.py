"""Read the evaluation stage's result files into tidy DataFrames.

Keys come from the paths (the Snakemake layout), so a rule can pass its
input lists unchanged:

- ``results/metrics/{method}/{dataset}/{codec}/{level}.csv``
- ``results/compressed/{dataset}/{codec}/{level}/rate.csv``
- ``results/domains/{method}/{dataset}/{codec}/{level}.json``
- ``results/realism/{method}/{dataset}/{codec}/{level}.json``
- ``results/disparity/{method}/{dataset}/{codec}/{level}.csv``

Every reader also accepts an already-loaded tidy DataFrame and returns it
unchanged, so tables and figures can be fed either.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Union

import pandas as pd

from ..core.errors import ConfigError, DebiasqeError
from ..paths import fields_of
from . import marks

PathLike = Union[str, os.PathLike]
Source = Union[PathLike, Iterable[PathLike], pd.DataFrame]

KEYS = ["method", "dataset", "codec", "level"]
#: metrics CSV columns that are no metric: the image name, the marks, the interval method
NON_METRIC = ("image", "marks", "interval")
#: the statistics read_metrics returns beside each value
STATS = ("n", "lo", "hi")


class ResultFileError(DebiasqeError):
    """A result file is missing, unreadable or lacks what the report needs."""


def _paths(src) -> list[Path]:
    if isinstance(src, (str, os.PathLike)):
        return [Path(src)]
    return [Path(p) for p in src]


def keys_from_path(path: PathLike, kind: str) -> dict:
    """The fields of a result file of ``kind`` (metrics, domains, realism, disparity: {method,
    dataset, codec, level}; rate: {dataset, codec, level}), read from its path."""
    try:
        return fields_of(kind, path)
    except ValueError as exc:
        raise ResultFileError(str(exc)) from None


def _read_csv(p: Path, required: Iterable[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(p)
    except FileNotFoundError:
        raise ResultFileError(f"{p}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{p}: not a readable CSV ({exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ResultFileError(f"{p}: missing column(s) {', '.join(missing)}")
    return df


def _read_json(p: Path):
    try:
        return json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{p}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{p}: not valid JSON ({exc})") from None


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The metric columns of a metrics CSV: no '.' (``<metric>.n``/``.lo``/``.hi`` are statistics of
    their metric) and not image, marks or interval."""
    return [c for c in df.columns if "." not in str(c) and c not in NON_METRIC]


def _stat(row, column: str) -> float:
    """A statistics cell of the mean row (``<metric>.n`` / ``.lo`` / ``.hi``); NaN when absent or empty."""
    if row is None or column not in row.index:
        return math.nan
    v = pd.to_numeric(row[column], errors="coerce")
    return float(v) if pd.notna(v) else math.nan


def read_metrics(src: Source) -> pd.DataFrame:
    """Set-level metric values: columns method, dataset, codec, level, metric, value, marks
    (a tuple of :mod:`debiasqe.report.marks` keys: random-init, unavailable, few-samples, ...), n, lo, hi
    (sample size and interval bounds from the mean row's ``<metric>.n/.lo/.hi``; NaN when absent).

    Uses each file's ``image == "mean"`` row (where set-level FID lives);
    without one, the per-image mean. All-NaN metrics stay as NaN rows
    ("unavailable").
    """
    if isinstance(src, pd.DataFrame):
        return src
    rows = []
    for p in _paths(src):
        df = _read_csv(p, ["image"])
        keys = keys_from_path(p, "metrics")
        marked = marks.decode(df["marks"].iloc[-1]) if "marks" in df.columns and len(df) else {}
        is_mean = df["image"].astype(str) == "mean"
        per_image = df[~is_mean]
        mean_row = df[is_mean].iloc[-1] if is_mean.any() else None
        for m in metric_columns(df):
            v = pd.to_numeric(mean_row[m], errors="coerce") if mean_row is not None else float("nan")
            if (mean_row is None or pd.isna(v)) and m != "fid":
                v = pd.to_numeric(per_image[m], errors="coerce").mean()
            rows.append({**keys, "metric": m, "value": float(v) if pd.notna(v) else math.nan,
                         "marks": marked.get(m, ()), **{s: _stat(mean_row, f"{m}.{s}") for s in STATS}})
    return pd.DataFrame(rows, columns=[*KEYS, "metric", "value", "marks", *STATS])


def read_rates(src: Source) -> pd.DataFrame:
    """Mean bpp per (dataset, codec, level): columns dataset, codec, level, bpp, images, backend.

    bpp is the mean of per-image bpp (each image weighs the same, as in the
    quality means).
    """
    if isinstance(src, pd.DataFrame):
        return src
    rows = []
    for p in _paths(src):
        df = _read_csv(p, ["image", "bpp"])
        df = df[df["image"].astype(str) != "mean"]
        bpp = pd.to_numeric(df["bpp"], errors="coerce")
        if df.empty or bpp.isna().any():
            raise ResultFileError(f"{p}: empty or non-numeric bpp column")
        backend = ",".join(sorted(set(df["backend"].astype(str)))) if "backend" in df else ""
        rows.append({**keys_from_path(p, "rate"), "bpp": float(bpp.mean()), "images": len(df),
                     "backend": backend})
    return pd.DataFrame(rows, columns=["dataset", "codec", "level", "bpp", "images", "backend"])


def read_realism(src: Source) -> pd.DataFrame:
    """Columns method, dataset, codec, level, raw, enhanced, compressed, conditional, discriminator, score.

    ``score`` is ``relativistic`` or ``sigmoid`` (files written before the
    relativistic form existed scored every discriminator by its sigmoid)."""
    if isinstance(src, pd.DataFrame):
        return src
    rows = []
    for p in _paths(src):
        d = _read_json(p)
        if not isinstance(d, dict) or any(k not in d for k in ("raw", "enhanced", "compressed")):
            raise ResultFileError(f"{p}: expected an object with raw, enhanced, compressed")
        rows.append({**keys_from_path(p, "realism"), "raw": float(d["raw"]), "enhanced": float(d["enhanced"]),
                     "compressed": float(d["compressed"]), "conditional": bool(d.get("conditional", False)),
                     "discriminator": d.get("discriminator", ""), "score": d.get("score", "sigmoid")})
    return pd.DataFrame(rows, columns=[*KEYS, "raw", "enhanced", "compressed", "conditional", "discriminator",
                                       "score"])


def _weight_marks(weights) -> tuple[str, ...]:
    """A domains entry's ``weights`` record (a sha256 / "random-init", or file -> either) as marks."""
    values = weights.values() if isinstance(weights, dict) else [weights]
    return (marks.RANDOM_INIT.key,) if marks.RANDOM_INIT.key in values else ()


def read_domains(src: Source) -> pd.DataFrame:
    """Columns method, dataset, codec, level, metric, S_CR, S_CE, S_RE, deviation_pct, marks, n
    (marks: random-init from the entry's weights, plus the entry's own ``marks`` such as
    few-samples; n: the FID triangle's patches per set, NaN for LPIPS)."""
    if isinstance(src, pd.DataFrame):
        return src
    rows = []
    for p in _paths(src):
        d = _read_json(p)
        if not isinstance(d, list):
            raise ResultFileError(f"{p}: expected a list of {{metric, S_CR, S_CE, S_RE, deviation_pct}}")
        for e in d:
            try:
                rows.append({**keys_from_path(p, "domains"), "metric": e["metric"],
                             **{k: float(e[k]) for k in ("S_CR", "S_CE", "S_RE")},
                             "deviation_pct": float(e.get("deviation_pct", math.nan)),
                             "marks": marks.order({*_weight_marks(e.get("weights")), *e.get("marks", ())}),
                             "n": float(e.get("n", math.nan))})
            except (KeyError, TypeError, ValueError):
                raise ResultFileError(f"{p}: entry {e!r} lacks metric/S_CR/S_CE/S_RE") from None
    return pd.DataFrame(rows, columns=[*KEYS, "metric", "S_CR", "S_CE", "S_RE", "deviation_pct", "marks", "n"])


def read_disparity(src: Source) -> pd.DataFrame:
    """Columns method, dataset, codec, level, patch, image, pix_rc, pix_ec, feat_rc, feat_ec."""
    if isinstance(src, pd.DataFrame):
        return src
    frames = []
    for p in _paths(src):
        df = _read_csv(p, ["pix_rc", "pix_ec", "feat_rc", "feat_ec"])
        for k, v in keys_from_path(p, "disparity").items():
            df.insert(0, k, v)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "pix_rc", "pix_ec", "feat_rc", "feat_ec"])
    return pd.concat(frames, ignore_index=True)


def select_setting(df: pd.DataFrame, what: str, **filters) -> tuple[pd.DataFrame, dict]:
    """Filter ``df`` by the given keys (None: any); each key must then hold one value.

    Returns the filtered frame and the chosen value of every key; raises
    :class:`ResultFileError` when nothing is left and :class:`ConfigError`
    when a key still takes several values (the caller must pick one).
    """
    for k, v in filters.items():
        if v is not None:
            df = df[df[k].astype(str) == str(v)]
    if df.empty:
        given = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None) or "any setting"
        raise ResultFileError(f"{what}: no results for {given}")
    chosen = {}
    for k in filters:
        vals = sorted(set(df[k].astype(str)))
        if len(vals) > 1:
            raise ConfigError(f"{what}: results for several {k}s ({', '.join(vals)}); pass {k}=...")
        chosen[k] = vals[0]
    return df, chosen
