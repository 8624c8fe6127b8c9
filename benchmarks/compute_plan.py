"""GPU-hours of a preset's training and enhancement, from FLOP counts.

For every trained method of the preset (merged over ``config.yaml`` as
Snakemake does), counts with ``torch.utils.flop_counter`` the FLOPs of one
``Trainer.train_step`` (forward + backward of G, D and VGG, batch 1 at the
recipe's patch; FLOPs are linear in the batch) and of one generator forward
per pixel, then:

* training FLOPs of a job = per-sample step FLOPs x batch x iterations, times
  the number of jobs (codec levels, or codecs with ``train_per: codec``);
* enhancement FLOPs = forward FLOPs per pixel x test pixels x codec levels;
* GPU-hours = FLOPs / (peak x utilisation), for the assumed utilisations
  (per method: all its training jobs together).

Nothing here runs on a GPU; the counts run on the CPU (a few minutes at paper
sizes). Evaluation (pyiqa metrics, FID) is not counted.

    python benchmarks/compute_plan.py [--preset presets/paper.yaml] [--peak-tflops 989] [--util 0.35 0.15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

#: mean pixels per test image, by dataset name: DIV2K and Flickr2K are "2K" images
#: (2040 px on the long side); 2040 x 1400 is assumed for both.
PIXELS_PER_IMAGE = 2040 * 1400
#: test images per dataset (DIV2K 0801-0900; Flickr2K 001989-002650)
TEST_IMAGES = {"div2k_valid": 100, "flickr2k_test": 662}


class _Empty(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):  # pragma: no cover - never read
        raise IndexError


def count(cfg: dict, tmp: Path) -> tuple[float, float]:
    """(FLOPs of one train_step per sample, generator forward FLOPs per pixel)."""
    from torch.utils.flop_counter import FlopCounterMode

    from debiasqe.train.trainer import Trainer

    cfg = dict(cfg, batch=1, device="cpu", pretrained="random", progress=False, amp="none", compile=False,
               init_from=None)
    tr = Trainer(cfg, _Empty(), tmp)
    p = cfg["patch"]
    raw = torch.rand(1, 3, p, p)
    with FlopCounterMode(display=False) as fc:
        tr.train_step(raw, raw.clone())
    step = float(fc.get_total_flops())
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        tr.G.eval()(raw)
    return step, float(fc.get_total_flops()) / (p * p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="presets/paper.yaml")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H200: 989)")
    ap.add_argument("--util", type=float, nargs="+", default=[0.35, 0.15], help="assumed model FLOP utilisations")
    args = ap.parse_args()
    torch.set_grad_enabled(True)
    from debiasqe.config import load_config
    from debiasqe.methods import method_spec
    from debiasqe.train.trainer import resolve_config

    config = load_config(REPO / "config.yaml", REPO / args.preset)
    levels = sum(len(c["levels"]) for c in config["codecs"].values())
    jobs = levels if config["training"].get("train_per", "level") == "level" else len(config["codecs"])
    test_px = sum(TEST_IMAGES.get(d, 0) for d in config["test_datasets"]) * PIXELS_PER_IMAGE
    peak = args.peak_tflops * 1e12
    utils = args.util
    print(f"{args.preset}: {jobs} training jobs per method, {levels} codec levels, "
          f"{test_px / 1e9:.2f} Gpx of test images; peak {args.peak_tflops:g} TFLOP/s; utilisation {utils}")
    head = " ".join(f"{'GPU-h @' + format(u, '.0%'):>12}" for u in utils)
    print(f"{'method':<19} {'batch':>5} {'patch':>5} {'iters':>7} {'GFLOP/sample':>12} {'PFLOP/job':>10} {head} "
          f"{'enh. GFLOP/Mpx':>14}")
    totals = {u: 0.0 for u in utils}
    enh_total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, method in config["methods"].items():
            cfg = resolve_config({k: v for k, v in method_spec(config, name).items() if k not in ("init", "evaluate")})
            step, per_px = count(cfg, Path(tmp) / name)
            job = step * cfg["batch"] * cfg["iters"]
            hours = {u: job * jobs / (peak * u) / 3600 for u in utils}
            for u in utils:
                totals[u] += hours[u]
            if method.get("evaluate", True):
                enh_total += per_px * test_px * levels
            cols = " ".join(f"{hours[u]:>12.2f}" for u in utils)
            print(f"{name:<19} {cfg['batch']:>5} {cfg['patch']:>5} {cfg['iters']:>7} {step / 1e9:>12.1f} "
                  f"{job / 1e15:>10.1f} {cols} {per_px * 1e6 / 1e9:>14.1f}", flush=True)
    print("training total GPU-hours: " + ", ".join(f"{totals[u]:.1f} at {u:.0%}" for u in utils))
    print(f"enhancement: {enh_total / 1e15:.1f} PFLOP = "
          + ", ".join(f"{enh_total / (peak * u) / 3600:.2f} GPU-hours at {u:.0%}" for u in utils))
    return 0


if __name__ == "__main__":
    sys.exit(main())
