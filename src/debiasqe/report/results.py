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

With several training seeds the method field of a path holds a run,
``{method}@seed{S}`` (:mod:`debiasqe.methods`). The readers give one row per
method: the mean over its runs, ``seeds`` (how many runs gave a value) and
``seed_spread`` (their sample standard deviation, n - 1; NaN below two), see
:func:`over_seeds`; disparity pools the runs' patches.

Statistics: a value's sample size ``n`` and interval bounds ``lo``/``hi``
(metrics: the mean row's ``<metric>.n/.lo/.hi``; domains: the FID triangle's
patches and its sides' intervals). Over several seeds, ``n`` is the smallest
of the runs' and ``lo``/``hi`` the mean of the runs' bounds: the image-level
interval of one typical run, shown beside ``seed_spread``, the spread from
training; the two are not combined into one interval (README, "Statistics").
:func:`read_per_image` gives the per-image rows that the paired comparisons
(:mod:`debiasqe.report.paired`) resample.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Union

import pandas as pd

from ..core.errors import ConfigError, DebiasqeError
from ..methods import split_run
from ..paths import fields_of
from . import marks

PathLike = Union[str, os.PathLike]
Source = Union[PathLike, Iterable[PathLike], pd.DataFrame]

KEYS = ["method", "dataset", "codec", "level"]
#: what :func:`over_seeds` adds: runs averaged, and the sample SD of their values across seeds
SEED_COLUMNS = ["seeds", "seed_spread"]
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
    return over_seeds(pd.DataFrame(rows, columns=[*KEYS, "metric", "value", "marks", *STATS]), [*KEYS, "metric"])


def read_per_image(src: Source) -> pd.DataFrame:
    """Per-image values of the per-image metrics: columns method (the run: ``method@seedS`` with
    several seeds), dataset, codec, level, image, metric, value; no mean row, no set-level FID."""
    if isinstance(src, pd.DataFrame):
        return src
    frames = []
    for p in _paths(src):
        df = _read_csv(p, ["image"])
        df = df[df["image"].astype(str) != "mean"]
        cols = [m for m in metric_columns(df) if pd.to_numeric(df[m], errors="coerce").notna().any()]
        long = df[["image", *cols]].melt(id_vars="image", var_name="metric", value_name="value")
        long["value"] = pd.to_numeric(long["value"], errors="coerce")
        long["image"] = long["image"].astype(str)
        for k, v in reversed(keys_from_path(p, "metrics").items()):
            long.insert(0, k, v)
        frames.append(long)
    columns = [*KEYS, "image", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


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
    """Columns method, dataset, codec, level, raw, enhanced, compressed, conditional, discriminator, score, n.

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
                     "discriminator": d.get("discriminator", ""), "score": d.get("score", "sigmoid"),
                     "n": float(d.get("patches", math.nan))})  # patches per image set; older files lack it
    return over_seeds(pd.DataFrame(rows, columns=[*KEYS, "raw", "enhanced", "compressed", "conditional",
                                                  "discriminator", "score", "n"]), KEYS, spread="enhanced")


def _weight_marks(weights) -> tuple[str, ...]:
    """A domains entry's ``weights`` record (a sha256 / "random-init", or file -> either) as marks."""
    values = weights.values() if isinstance(weights, dict) else [weights]
    return (marks.RANDOM_INIT.key,) if marks.RANDOM_INIT.key in values else ()


#: the domains entries' quantities that may carry an interval (``<q>.lo``, ``<q>.hi`` in read_domains)
DOMAIN_QUANTITIES = ("S_CR", "S_CE", "S_RE", "deviation_pct")


def _domain_bounds(entry: dict) -> dict:
    """``<q>.lo/.hi`` of every quantity from an entry's ``interval`` (NaN where it has none)."""
    iv = entry.get("interval") if isinstance(entry.get("interval"), dict) else {}
    out = {}
    for q in DOMAIN_QUANTITIES:
        b = iv.get(q)
        ok = isinstance(b, (list, tuple)) and len(b) == 2
        out[f"{q}.lo"], out[f"{q}.hi"] = (float(b[0]), float(b[1])) if ok else (math.nan, math.nan)
    return out


def read_domains(src: Source) -> pd.DataFrame:
    """Columns method, dataset, codec, level, metric, S_CR, S_CE, S_RE, deviation_pct, marks, n and
    ``<q>.lo``/``<q>.hi`` for the four quantities (marks: random-init from the entry's weights, plus
    the entry's own ``marks`` such as few-samples; n: the FID triangle's patches per set, the LPIPS
    triangle's images (NaN in files from before it was written); bounds: the entry's ``interval``, NaN without one)."""
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
                             "n": float(e.get("n", math.nan)), **_domain_bounds(e)})
            except (KeyError, TypeError, ValueError):
                raise ResultFileError(f"{p}: entry {e!r} lacks metric/S_CR/S_CE/S_RE") from None
    bounds = [f"{q}.{b}" for q in DOMAIN_QUANTITIES for b in ("lo", "hi")]
    return over_seeds(pd.DataFrame(rows, columns=[*KEYS, "metric", "S_CR", "S_CE", "S_RE", "deviation_pct", "marks",
                                                  "n", *bounds]),
                      [*KEYS, "metric"], spread="deviation_pct")


def read_disparity(src: Source) -> pd.DataFrame:
    """Columns method, dataset, codec, level, patch, image, pix_rc, pix_ec, feat_rc, feat_ec, marks
    (per row, ``{column: mark keys}``: the feature-wise MAE of a random-init VGG-19 is marked;
    ``{}`` for files written before the column existed)."""
    if isinstance(src, pd.DataFrame):
        return src
    frames = []
    for p in _paths(src):
        df = _read_csv(p, ["pix_rc", "pix_ec", "feat_rc", "feat_ec"])
        df["marks"] = [marks.decode(t) for t in df["marks"]] if "marks" in df.columns else [{}] * len(df)
        keys = keys_from_path(p, "disparity")
        keys["method"] = split_run(keys["method"])[0]  # a method's runs: their patches pooled
        for k, v in keys.items():
            df.insert(0, k, v)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "pix_rc", "pix_ec", "feat_rc", "feat_ec", "marks"])
    return pd.concat(frames, ignore_index=True)


def over_seeds(df: pd.DataFrame, keys: list[str], spread: str = "value") -> pd.DataFrame:
    """Rows of runs (method@seedS) to rows of methods, adding :data:`SEED_COLUMNS`.

    Per ``keys`` with the run's method in place of the run: numeric columns are the mean over
    the runs with a value (so interval bounds are the mean of the runs' bounds), except ``n``,
    the smallest of the runs' sample sizes; ``marks`` the union, text the one value (or the distinct values
    joined by "; "); ``seeds`` counts the runs with a finite ``spread`` column and
    ``seed_spread`` is that column's sample standard deviation across them (n - 1 in the
    denominator; NaN below two runs). Rows of methods (one training seed) stay as they are,
    with ``seeds`` 1 (0 where ``spread`` is NaN) and ``seed_spread`` NaN.
    """
    method_seed = [split_run(str(m)) for m in df["method"]]
    finite = pd.to_numeric(df[spread], errors="coerce").notna()
    if all(seed is None for _, seed in method_seed):
        return df.assign(seeds=finite.astype(int), seed_spread=math.nan)
    df = df.assign(method=[m for m, _ in method_seed])
    rows = []
    for _, g in df.groupby(keys, sort=False, dropna=False):
        row = {}
        for c in df.columns:
            col = g[c]
            if c in keys:
                row[c] = col.iloc[0]
            elif c == "marks":
                row[c] = marks.order(k for ks in col for k in (ks or ()))
            elif c == "n":
                row[c] = float(pd.to_numeric(col, errors="coerce").min())  # the value rests on no more
            elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                row[c] = float(col.mean())  # NaN-skipping: the runs with a value
            else:
                distinct = list(dict.fromkeys(col.tolist()))
                row[c] = distinct[0] if len(distinct) == 1 else "; ".join(map(str, distinct))
        values = pd.to_numeric(g[spread], errors="coerce").dropna()
        row["seeds"] = len(values)
        row["seed_spread"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=[*df.columns, *SEED_COLUMNS])


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
