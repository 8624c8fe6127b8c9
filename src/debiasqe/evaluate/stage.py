"""One evaluation job: a method's enhanced images, every codec and level.

For each level it writes
- ``metrics/{method}/{dataset}/{codec}/{level}.csv``: per-image scores of the
  configured image-level metrics plus a mean row, where each per-image metric has its
  n, bootstrap interval and method (``<m>.n/.lo/.hi/.interval``,
  :mod:`~debiasqe.evaluate.intervals`); set-level FID (S_RE, on
  patches) in the mean row with ``fid.n`` (patches per set), ``fid.images``,
  its 95 % interval ``fid.lo``/``fid.hi`` and ``fid.interval`` (the method, or
  why there is none); FID from fewer than ``fid_min_samples`` patches is marked
  ``few-samples``;
- ``domains/.../{level}.json``: FID and LPIPS triangles (S_CR, S_CE, S_RE,
  deviation_pct; paper eq. 1), the FID sides with n, intervals and marks;
- ``disparity/.../{level}.csv`` at the headline setting only: pixel and
  VGG-feature MAE of raw vs compressed and enhanced vs compressed on seeded
  random patches (Fig. 6), with a ``marks`` column (``feat_ec:random-init;feat_rc:random-init``
  when VGG-19 ran random-init; its provenance is in the level's metrics provenance).

Metric networks are built once per job, and every level's images are scored
in one :func:`~debiasqe.evaluate.metrics.evaluate_sets` call: each image is
decoded once for all metrics, and a raw image's full-reference features are
computed once for every level (the LPIPS triangle sides in a second call). Inception statistics are cached per image set under
``features/{dataset}/``: the raw and compressed sets are computed by the
``comp`` job, which every other method's job waits for, so each set costs one
Inception pass. The ``comp`` job also scores the raw images with the
no-reference metrics (``<metric>_ref`` columns), once for all methods.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..archs.vgg import VGGFeatures
from ..core.atomic import atomic_open, write_text
from ..core.device import resolve_device
from ..core.errors import BadImageError, ConfigError
from ..core.provenance import base_record
from ..methods import IDENTITY
from ..paths import result_path
from ..report.marks import FEW_SAMPLES, RANDOM_INIT, encode, few_samples
from ..weights import metric_weights as mw
from . import metrics as mt
from .disparity import disparity
from .fid import FEATURE_DIM, INTERVAL_MAX_PATCHES, INTERVAL_REPLICATES, domain_fids, inception_for_policy
from .intervals import DEFAULTS as STATISTICS_DEFAULTS, image_interval_columns, triangle_interval
from .triangles import deviation


@dataclass
class LevelPaths:
    level: int
    comp_dir: Path
    enh_dir: Path
    metrics_csv: Path
    domains_json: Path
    disparity_csv: Path | None  # only at the headline setting (Fig. 6)


def _pngs(folder: Path) -> list[str]:
    names = sorted(p.name for p in Path(folder).glob("*.png"))
    if not names:
        raise BadImageError(f"{folder}: no PNG images to evaluate")
    return names


def evaluate_method(method: str, dataset: str, codecs: dict, results: str | Path, raw_dir: str | Path,
                    disparity_at: tuple[str, int] | None = None, **options) -> None:
    """Every codec and level of one method: the results/ layout of the pipeline.

    Disparity (Fig. 6) is measured at ``disparity_at`` = (codec, level) only.
    """
    def level_paths(codec, lv):
        at = dict(method=method, dataset=dataset, codec=codec, level=lv)
        headline = disparity_at is not None and (codec, int(lv)) == (disparity_at[0], int(disparity_at[1]))
        return LevelPaths(lv, result_path("compressed_png", results, dataset=dataset, codec=codec, level=lv),
                          result_path("enhanced", results, **at), result_path("metrics", results, **at),
                          result_path("domains", results, **at),
                          result_path("disparity", results, **at) if headline else None)

    levels = {codec: [level_paths(codec, lv) for lv in lvs] for codec, lvs in codecs.items()}
    evaluate_levels(method, dataset, levels, raw_dir, features_dir=result_path("features", results, dataset=dataset),
                    **options)


def evaluate_levels(method: str, dataset: str, levels: dict[str, Sequence[LevelPaths]], raw_dir: str | Path,
                    *, metrics: Sequence[str], features_dir: str | Path, weights_dir: str | Path,
                    policy: str = "auto", device: str = "cpu", batch: int = 4, fid_patch: int = 256,
                    disparity_patch: int = 128, disparity_patches: int = 64, seed: int = 0,
                    progress: bool = True, fid_protocol: str = "patches", fid_options: dict | None = None,
                    statistics: dict | None = None) -> None:
    """``fid_options``: min_samples, interval_max_patches, interval_replicates, store_features
    (``evaluation.fid_*``; defaults as the schema's). ``statistics``: bootstrap_replicates,
    confidence, seed of every interval (the ``statistics:`` section; FID takes its confidence and
    seed, its replicates stay ``fid_options['interval_replicates']``)."""
    device = str(resolve_device(device))
    fid_options = {**FID_DEFAULTS, **(fid_options or {})}
    statistics = {**STATISTICS_DEFAULTS, **(statistics or {})}
    with mw.weights_env(weights_dir, offline=True):
        _evaluate(method, dataset, levels, Path(raw_dir), metrics, Path(features_dir), Path(weights_dir),
                  policy, device, batch, fid_patch, disparity_patch, disparity_patches, seed, progress,
                  fid_protocol, fid_options, statistics)


#: evaluation.fid_min_samples: the feature dimension (see the schema for the literature)
FID_DEFAULTS = {"min_samples": FEATURE_DIM, "interval_max_patches": INTERVAL_MAX_PATCHES,
                "interval_replicates": INTERVAL_REPLICATES, "store_features": False}


def _evaluate(method, dataset, levels, raw_dir, metrics, features_dir, weights_dir, policy, device,
              batch, fid_patch, disparity_patch, disparity_patches, seed, progress, fid_protocol,
              fid_options, statistics) -> None:

    image_metrics = [m for m in metrics if m not in mt.SET_LEVEL]
    built = {m: mt.build_metric(m, policy, weights_dir, device, None, seed) for m in image_metrics}
    fid = None
    if "fid" in metrics:

        fid = inception_for_policy(policy, weights_dir, device)
    wants_disparity = any(lp.disparity_csv is not None for lps in levels.values() for lp in lps)
    vgg = _vgg_features(policy, device) if wants_disparity else None
    todo = [(codec, lp, _level_names(lp, raw_dir)) for codec, lps in levels.items() for lp in lps]
    opts = dict(device=device, batch_size=batch, built=built, seed=seed)
    # Every level's images in one call: the raw references are shared by all of them.
    dfs, prov = mt.evaluate_sets(image_metrics, {(c, lp.level): _pairs(names, lp.enh_dir, raw_dir)
                                                 for c, lp, names in todo},
                                 pretrained_policy=policy, weights_dir=weights_dir,
                                 reference_nr=method == IDENTITY, progress=progress, **opts)
    lpips = _lpips_sides(built.get("lpips"), todo, raw_dir, opts)
    for codec, lp, names in todo:
        df = dfs[(codec, lp.level)]
        level_prov = {**prov, "n_images": len(names), "evaluated_together": len(todo)}
        domains = []
        if fid is not None:
            domains.append(_fid_domain(method, codec, lp, names, raw_dir, features_dir, fid, fid_patch,
                                       device, fid_protocol, fid_options, statistics))
            df["fid"] = float("nan")  # set-level: only in the mean row (write_metrics_csv)
            level_prov["fid"] = {k: domains[-1][k] for k in ("weights", "protocol", "patch", "n", "images",
                                                             "min_samples")}
            level_prov["fid"]["n_patches"] = domains[-1]["patches"]
        if lpips is not None:
            domains.append(_lpips_domain(built["lpips"], lpips, codec, lp, df, statistics))
        if lp.disparity_csv is not None:
            level_prov["disparity"] = {"vgg19": vgg.provenance}  # which VGG-19 the feature-wise MAE used
        per_image = df.drop(columns=[c for c in mt.SET_LEVEL if c in df.columns])
        set_level = {**image_interval_columns(per_image, statistics),
                     **(_fid_columns(domains[0]) if fid is not None else {})}
        mt.write_metrics_csv(df, lp.metrics_csv, base_record(method=method, dataset=dataset, codec=codec,
                                                             level=lp.level, seed=seed, evaluation=level_prov),
                             set_level=set_level)
        write_text(lp.domains_json, json.dumps(domains, indent=2, default=str) + "\n")
        if lp.disparity_csv is not None:
            _write_disparity(lp, names, raw_dir, vgg, disparity_patch, disparity_patches, seed, device, batch)


def _level_names(lp: LevelPaths, raw_dir: Path) -> list[str]:
    """The level's enhanced PNGs, each with its raw and compressed counterpart."""
    names = _pngs(lp.enh_dir)
    for n in names:
        for folder in (raw_dir, lp.comp_dir):
            if not (folder / n).is_file():
                raise BadImageError(f"{folder / n}: missing (needed to evaluate {lp.enh_dir / n})")
    return names


def _pairs(names: list[str], target_dir: Path, ref_dir: Path) -> list[tuple[str, str, str]]:
    return [(Path(n).stem, str(target_dir / n), str(ref_dir / n)) for n in names]


def _fid_domain(method, codec, lp, names, raw_dir, features_dir, fid, patch, device, protocol, options,
                statistics) -> dict:
    """The FID triangle of one level; raw and compressed set statistics are shared (cached).

    ``n``: patches per set (the smallest of the three), ``marks``: few-samples below
    ``options['min_samples']``; ``interval``: see :func:`~debiasqe.evaluate.fid.domain_interval`."""
    net, record = fid
    tag = f"{codec}-{lp.level}"
    fd = domain_fids([raw_dir / n for n in names], [lp.comp_dir / n for n in names],
                     [lp.enh_dir / n for n in names], features_dir, net, record,
                     patch=patch, set_names=("raw", f"comp-{tag}", f"enh-{method}-{tag}"),
                     device=device, protocol=protocol,
                     interval_max_patches=math.inf if options["store_features"] else options["interval_max_patches"],
                     interval_replicates=options["interval_replicates"], seed=statistics["seed"],
                     confidence=statistics["confidence"])
    n = min(fd["n_patches"].values())
    return {"metric": "fid", "S_CR": fd["S_CR"], "S_CE": fd["S_CE"], "S_RE": fd["S_RE"],
            "deviation_pct": _deviation_or_nan(fd["S_CR"], fd["S_CE"], fd["S_RE"]), "patches": fd["n_patches"],
            "n": n, "images": fd["images"], "min_samples": options["min_samples"],
            "marks": [FEW_SAMPLES.key] if few_samples(n, options["min_samples"]) else [],
            "interval": fd["interval"], "protocol": fd["protocol"], "patch": fd["patch"], "weights": record}


def _fid_columns(domain: dict) -> dict:
    """The metrics CSV's FID cells (mean row): S_RE with its n, images and interval."""
    iv = domain["interval"]
    lo, hi = iv.get("S_RE", (math.nan, math.nan))
    return {"fid": domain["S_RE"], "fid.n": domain["n"], "fid.images": domain["images"], "fid.lo": lo,
            "fid.hi": hi, "fid.interval": iv.get("method", iv.get("none"))}


def _lpips_sides(lpips, todo, raw_dir: Path, opts: dict):
    """LPIPS of enhanced vs compressed (S_CE) and compressed vs raw (S_CR) for
    every level, in one call; None without a usable LPIPS."""
    if lpips is None or lpips.model is None:
        return None
    sets = {}
    for c, lp, names in todo:
        sets[(c, lp.level, "CE")] = _pairs(names, lp.enh_dir, lp.comp_dir)
        sets[(c, lp.level, "CR")] = _pairs(names, lp.comp_dir, raw_dir)
    dfs, _ = mt.evaluate_sets(["lpips"], sets, **{**opts, "built": {"lpips": lpips}}, progress=False)
    return dfs


def _lpips_domain(lpips, sides: dict, codec: str, lp: LevelPaths, df, statistics: dict) -> dict:
    """The LPIPS triangle: S_RE is the method's LPIPS (``df``), the other sides from ``sides``;
    ``n`` images and the sides' and deviation's intervals (:func:`~.intervals.triangle_interval`)."""
    cr, ce = sides[(codec, lp.level, "CR")]["lpips"], sides[(codec, lp.level, "CE")]["lpips"]
    s_cr, s_ce, s_re = float(cr.mean()), float(ce.mean()), float(df["lpips"].mean())
    return {"metric": "lpips", "S_CR": s_cr, "S_CE": s_ce, "S_RE": s_re,
            "deviation_pct": _deviation_or_nan(s_cr, s_ce, s_re), "weights": lpips.weights, "n": len(df),
            "interval": triangle_interval(cr, ce, df["lpips"], statistics)}


def _write_disparity(lp, names, raw_dir, vgg, patch, patches, seed, device, batch) -> None:
    """Fig. 6's pixel and VGG-feature MAE at the headline level."""
    triples = [(Path(n).stem, raw_dir / n, lp.comp_dir / n, lp.enh_dir / n) for n in names]
    dis = disparity(triples, patch=min(patch, *_min_side(raw_dir, names)),
                    patches_per_image=max(1, patches // len(names)), seed=seed,
                    feature_fn=vgg, device=device, batch_size=batch)
    dis["marks"] = disparity_marks(vgg.provenance)
    with atomic_open(lp.disparity_csv, "w", newline="") as fh:
        dis.to_csv(fh, index=False, float_format="%.6g")


def disparity_marks(vgg_provenance: dict | None) -> str:
    """The disparity CSV's ``marks`` column: the feature-wise MAE is a VGG-19 number, so it is
    marked random-init when that network had no pretrained file (pixel MAE never is)."""
    feat = (RANDOM_INIT.key,) if (vgg_provenance or {}).get("sha256") == RANDOM_INIT.key else ()
    return encode({"feat_rc": feat, "feat_ec": feat})


def _deviation_or_nan(s_cr: float, s_ce: float, s_re: float) -> float:
    """Eq. 1, or NaN where the sides are no distances (random-init LPIPS can go negative)."""
    try:
        return deviation(s_cr, s_ce, s_re)
    except (ConfigError, ValueError, ZeroDivisionError):
        return float("nan")


def _min_side(raw_dir: Path, names: list[str]) -> list[int]:
    sides = []
    for n in names:
        with Image.open(raw_dir / n) as im:
            sides.append(min(im.size))
    return sides


def _vgg_features(policy: str, device: str):
    """conv5_4 features (the paper's feature-wise MAE) under the weights policy."""

    net = VGGFeatures(["conv5_4"], before_relu=True, input_norm=True, policy=policy).to(device).eval()

    @torch.no_grad()
    def features(x):
        return net(x)["conv5_4"]

    features.provenance = getattr(net, "provenance", None)
    return features
