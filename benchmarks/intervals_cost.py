"""What the intervals add to evaluation time, at the demo's and the CI preset's scale, side by side.

    python benchmarks/intervals_cost.py [--scales demo ci] [--replicates 1000]

For each scale it reads the config (``config.yaml``, or it with
``presets/ci.yaml`` over it: test images, their size, codec levels, metrics,
evaluation batch and FID patch), builds that many test images from the demo
photographs (centre crops), a compressed set per level (JPEG at a quality
per level: evaluation time does not depend on the codec) and an "enhanced"
set (the compressed image lightly smoothed), and runs one real evaluation job
(:func:`debiasqe.evaluate.stage.evaluate_levels`, every level in one pass,
offline: random-init networks as the demo runs them without weights). The
interval code the job calls is timed inside the same run:

* per-image metrics' intervals (``image_interval_columns``) and the LPIPS
  triangle's (``triangle_interval``): this issue's part 1;
* FID's cluster bootstrap (``domain_interval``; ``evaluation.fid_interval_replicates``).

It prints the job's wall time, each interval part's time and its share of the
job, and the report's paired comparisons of that scale for reference (they
run in the report, not in evaluation); last, the per-image intervals of a
paper-scale job alone (100 images, 11 metrics, 10 levels). Timing inside one run, not two runs
with and without intervals, because two runs of a ~1-minute job on a shared
machine differ by more than the few milliseconds measured.

Measured figures: benchmarks/README.md ("Interval cost").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image, ImageFilter  # noqa: E402

from debiasqe.config import load_config  # noqa: E402
from debiasqe.data.datasets import dataset_source  # noqa: E402
from debiasqe.evaluate import fid as fid_mod  # noqa: E402
from debiasqe.evaluate import stage  # noqa: E402
from debiasqe.evaluate.stage import LevelPaths, evaluate_levels  # noqa: E402

SCALES = {"demo": ["config.yaml"], "ci": ["config.yaml", "presets/ci.yaml"]}


class Timed:
    """Wraps a function and adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *a, **k):
        t = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def _test_images(config: dict) -> list[np.ndarray]:
    """The scale's test images: its test dataset's demo photographs, centre-cropped to max_size."""
    from debiasqe.data import demo

    spec = config["datasets"][config["test_datasets"][0]]
    dataset_source(config["test_datasets"][0], spec)  # validates the names
    side = spec.get("max_size") or 192
    out = []
    for name in spec["images"]:
        a = np.asarray(demo.DEMO_IMAGES[name]())[..., :3]
        h, w = a.shape[:2]
        s = min(side, h, w)
        out.append(a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].astype(np.uint8))
    return out


def _build(tmp: Path, config: dict) -> tuple[Path, dict]:
    raw = tmp / "raw"
    raw.mkdir()
    images = _test_images(config)
    for i, a in enumerate(images):
        Image.fromarray(a).save(raw / f"{i}.png")
    levels = {}
    for codec, spec in config["codecs"].items():
        levels[codec] = []
        for k, lv in enumerate(spec["levels"]):
            comp, enh = tmp / f"comp-{codec}-{lv}", tmp / f"enh-{codec}-{lv}"
            comp.mkdir()
            enh.mkdir()
            for i, a in enumerate(images):
                q = 10 + 10 * k  # a quality per level
                Image.fromarray(a).save(comp / f"{i}.jpg", quality=q)
                c = Image.open(comp / f"{i}.jpg").convert("RGB")
                c.save(comp / f"{i}.png")
                c.filter(ImageFilter.GaussianBlur(0.6)).save(enh / f"{i}.png")
                (comp / f"{i}.jpg").unlink()
            levels[codec].append(LevelPaths(lv, comp, enh, tmp / "m" / codec / f"{lv}.csv",
                                            tmp / "d" / codec / f"{lv}.json", None))
    return raw, levels


def run_scale(name: str, replicates: int) -> dict:
    config = load_config(*(ROOT / f for f in SCALES[name]))
    per_image, triangle = Timed(stage.image_interval_columns), Timed(stage.triangle_interval)
    fid_iv = Timed(fid_mod.domain_interval)
    stage.image_interval_columns, stage.triangle_interval, fid_mod.domain_interval = per_image, triangle, fid_iv
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            raw, levels = _build(tmp, config)
            ev = config["evaluation"]
            stats = {**config["statistics"], "bootstrap_replicates": replicates}
            t = time.perf_counter()
            evaluate_levels("enh", "bench", levels, raw, metrics=config["metrics"], features_dir=tmp / "f",
                            weights_dir=tmp / "w", policy="auto", device="cpu", batch=ev["batch"],
                            fid_patch=ev["fid_patch"], progress=False, statistics=stats,
                            fid_options={"min_samples": ev["fid_min_samples"],
                                         "interval_max_patches": ev["fid_interval_max_patches"],
                                         "interval_replicates": ev["fid_interval_replicates"],
                                         "store_features": ev["fid_store_features"]})
            job = time.perf_counter() - t
            paired = _paired_seconds(tmp, levels, stats)
    finally:
        stage.image_interval_columns, stage.triangle_interval = per_image.fn, triangle.fn
        fid_mod.domain_interval = fid_iv.fn
    n_images = len(config["datasets"][config["test_datasets"][0]]["images"])
    return {"scale": name, "images": n_images, "levels": sum(len(v) for v in levels.values()), "metrics": len(config["metrics"]), "job": job,
            "per_image": per_image.seconds + triangle.seconds, "fid": fid_iv.seconds, "paired": paired}


def _paired_seconds(tmp: Path, levels: dict, stats: dict) -> float:
    """The report's paired comparison of this job's metrics CSVs with themselves (one pair per level)."""
    from debiasqe.core import bootstrap as bs
    import pandas as pd

    t = time.perf_counter()
    for lps in levels.values():
        for lp in lps:
            df = pd.read_csv(lp.metrics_csv)
            df = df[df["image"].astype(str) != "mean"]
            for c in (c for c in df.columns if "." not in c and c not in ("image", "marks", "fid")):
                v = pd.to_numeric(df[c], errors="coerce").to_numpy(float)
                bs.paired_difference(v, v[::-1], stats["bootstrap_replicates"], stats["confidence"], stats["seed"])
    return time.perf_counter() - t


def paper_scale_seconds(replicates: int, images: int = 100, metrics: int = 11, levels: int = 10) -> float:
    """The per-image intervals of a paper-scale job alone (its evaluation takes hours, not timed
    here): ``levels`` calls over ``images`` images and a metric and ``_ref`` column per metric."""
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(images, 2 * metrics)), columns=[f"m{k}" for k in range(2 * metrics)])
    df.insert(0, "image", [str(i) for i in range(images)])
    t = time.perf_counter()
    for _ in range(levels):
        stage.image_interval_columns(df, {"bootstrap_replicates": replicates})
        stage.triangle_interval(*rng.random((3, images)), {"bootstrap_replicates": replicates})
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    ap.add_argument("--replicates", type=int, default=1000, help="statistics.bootstrap_replicates")
    args = ap.parse_args()
    rows = [run_scale(s, args.replicates) for s in args.scales]
    print(f"{'scale':6} {'images':>6} {'levels':>6} {'metrics':>7} {'job s':>8} {'per-image+LPIPS iv s':>21} "
          f"{'share':>7} {'FID iv s':>9} {'share':>7} {'all iv':>7} {'paired (report) s':>18}")
    for r in rows:
        share = r["per_image"] / r["job"]
        fshare = r["fid"] / r["job"]
        print(f"{r['scale']:6} {r['images']:>6} {r['levels']:>6} {r['metrics']:>7} {r['job']:>8.2f} "
              f"{r['per_image']:>21.4f} {share:>7.2%} {r['fid']:>9.4f} {fshare:>7.2%} {share + fshare:>7.2%} "
              f"{r['paired']:>18.4f}")
    worst = max((r["per_image"] + r["fid"]) / r["job"] for r in rows)
    print(f"intervals add at most {worst:.2%} to an evaluation job (bound: 10 %)")
    print(f"paper scale (100 images, 11 metrics + _ref columns, 10 levels), per-image and LPIPS intervals alone: "
          f"{paper_scale_seconds(args.replicates):.3f} s per job")


if __name__ == "__main__":
    main()
