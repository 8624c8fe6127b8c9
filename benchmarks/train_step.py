"""Cost of debiasing per training iteration, side by side on CPU.

Times ``Trainer.train_step`` (G step + D step + EMA, no data loading) for
esrgan vs esrgan_debias and realesrgan vs realesrgan_debias (debias =
conditional discriminator + domain-divergence regularization), with
interleaved repetitions, and prints debias/vanilla ratios of the median
step time, plus the ratio of FLOPs per step (torch.utils.flop_counter),
which does not depend on machine load. Networks come from the registry; VGG-19 is random-init (same
cost as pretrained). Target: debiasing costs <= 15 % per iteration.

    python benchmarks/train_step.py                 # tiny networks
    python benchmarks/train_step.py --size paper --batch 1 --reps 3 --steps 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.train.trainer import Trainer  # noqa: E402

PAIRS = [("esrgan", 128), ("realesrgan", 64)]


class Noise(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise IndexError  # never read: the benchmark feeds fixed batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="tiny", choices=["tiny", "paper"])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per repetition")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, size {args.size}, batch {args.batch}")

    tmp = tempfile.TemporaryDirectory()
    trainers, batches, flops = {}, {}, {}
    for recipe, patch in PAIRS:
        g = torch.Generator().manual_seed(0)
        raw = torch.rand(args.batch, 3, patch, patch, generator=g)
        comp = (raw + 0.05 * torch.randn(raw.shape, generator=g)).clamp(0, 1)
        batches[recipe] = (raw, comp)
        for debias in (False, True):
            name = recipe + ("_debias" if debias else "")
            cfg = dict(recipe=recipe, generator="rrdbnet", size=args.size, iters=10, batch=args.batch, patch=patch,
                       device="cpu", pretrained="random", progress=False,
                       conditional_d=debias, ddr={"weight": 0.1} if debias else None)
            trainers[name] = Trainer(cfg, Noise(), Path(tmp.name) / name)
            with FlopCounterMode(display=False) as fc:  # also the warm-up step
                trainers[name].train_step(*batches[recipe])
            flops[name] = fc.get_total_flops()
    times = {n: [] for n in trainers}
    for _ in range(args.reps):
        for name, tr in trainers.items():  # interleaved
            raw, comp = batches[name.split("_")[0]]
            t0 = time.perf_counter()
            for _ in range(args.steps):
                tr.train_step(raw, comp)
            times[name].append((time.perf_counter() - t0) / args.steps)
    print(f"\n{'method':<20}{'median s/iter':>14}{'min':>10}{'GFLOP/iter':>12}")
    for name, ts in times.items():
        print(f"{name:<20}{statistics.median(ts):>14.4f}{min(ts):>10.4f}{flops[name] / 1e9:>12.2f}")
    print("\nratio debias / vanilla (target <= 1.15):")
    print(f"  {'recipe':<12}{'patch':>6}{'median time':>13}{'min time':>10}{'FLOPs':>8}")
    for recipe, patch in PAIRS:
        d, v = times[recipe + "_debias"], times[recipe]
        print(f"  {recipe:<12}{patch:>6}{statistics.median(d) / statistics.median(v):>13.3f}"
              f"{min(d) / min(v):>10.3f}{flops[recipe + '_debias'] / flops[recipe]:>8.3f}")


if __name__ == "__main__":
    main()
