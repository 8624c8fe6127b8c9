"""GPU training throughput at paper sizes: fp32 vs bf16 + channels_last (+ compile),
model FLOP utilisation, and the debias/vanilla step-time ratio.

For the esrgan (patch 128) and realesrgan (patch 256) recipes with the
paper's networks (RRDBNet 64/23/32, VGG-style or UNet-SN discriminator,
VGG-19 random-init, same cost as pretrained), times ``Trainer.train_step``
on fixed batches and prints iterations/s per mode, speed-up ratios against
fp32, and MFU = FLOPs per step (``torch.utils.flop_counter``, forward +
backward of G, D and VGG) x it/s / peak FLOP/s. Stays within ``--budget``
seconds (default 420) and exits cleanly when there is no CUDA device.

    python benchmarks/gpu_train_step.py [--batch-esrgan 16] [--batch-realesrgan 12] [--no-compile]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# dense peak FLOP/s (fp32 non-tensor-core, tf32, bf16) by device-name fragment
PEAKS = {"H200": (67e12, 494e12, 989e12), "H100": (67e12, 494e12, 989e12), "A100": (19.5e12, 156e12, 312e12)}


class _Never(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise IndexError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-esrgan", type=int, default=16)
    ap.add_argument("--batch-realesrgan", type=int, default=12, help="paper: 48 over 4 GPUs (12 each)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak, if the device is not known")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_train_step: no CUDA device available; nothing measured.")
        return 0
    from torch.utils.flop_counter import FlopCounterMode

    from debiasqe.train.trainer import Trainer

    t_start = time.perf_counter()
    dev_name = torch.cuda.get_device_name(0)
    peaks = next((v for k, v in PEAKS.items() if k in dev_name), None)
    if args.peak_tflops:
        peaks = (None, None, args.peak_tflops * 1e12)
    print(f"{dev_name}; torch {torch.__version__}; peaks (fp32, tf32, bf16) = {peaks}")
    tmp = tempfile.TemporaryDirectory()

    modes = [("fp32", dict(amp="none", channels_last=False, compile=False)),
             ("bf16+cl", dict(amp="bf16", channels_last=True, compile=False))]
    if not args.no_compile:
        modes.append(("bf16+cl+compile", dict(amp="bf16", channels_last=True, compile=True)))

    def make(recipe, patch, batch, debias, mode):
        cfg = dict(recipe=recipe, generator="rrdbnet", size="paper", iters=1000, batch=batch, patch=patch,
                   device="cuda", pretrained="random", progress=False, conditional_d=debias,
                   ddr={"weight": 0.1} if debias else None, **mode)
        return Trainer(cfg, _Never(), Path(tmp.name) / f"{recipe}{debias}{id(mode)}")

    def timed(tr, raw, comp, steps):
        for _ in range(2):
            tr.train_step(raw, comp)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            tr.train_step(raw, comp)
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / steps

    for recipe, patch, batch in (("esrgan", 128, args.batch_esrgan), ("realesrgan", 256, args.batch_realesrgan)):
        g = torch.Generator(device="cuda").manual_seed(0)
        raw = torch.rand(batch, 3, patch, patch, device="cuda", generator=g)
        comp = (raw + 0.05 * torch.randn(raw.shape, device="cuda", generator=g)).clamp(0, 1)
        print(f"\n== {recipe}: patch {patch}, batch {batch}")
        flops = None
        base = None
        for debias in (True,):
            for name, mode in modes:
                if time.perf_counter() - t_start > args.budget:
                    print(f"  {name}: skipped (budget {args.budget:.0f} s spent)")
                    continue
                tr = make(recipe, patch, batch, debias, mode)
                if flops is None:
                    with FlopCounterMode(display=False) as fc:
                        tr.train_step(raw, comp)
                    flops = fc.get_total_flops()
                    print(f"  FLOPs per step (G+D+VGG, fwd+bwd): {flops / 1e12:.2f} TFLOP")
                dt = timed(tr, raw, comp, args.steps)
                base = base or dt
                peak = None if peaks is None else (peaks[1] if mode["amp"] == "none" and torch.backends.cudnn.allow_tf32 else
                                                   peaks[0] if mode["amp"] == "none" else peaks[2])
                mfu = f"{flops / dt / peak * 100:5.1f} % of {peak / 1e12:.0f} TFLOP/s" if peak else "n/a"
                print(f"  {name:<18} {1 / dt:7.2f} it/s  {batch / dt:8.1f} img/s  x{base / dt:4.2f} vs fp32  MFU {mfu}")
                del tr
                torch.cuda.empty_cache()
        # debias vs vanilla, fastest non-compiled mode, interleaved
        if time.perf_counter() - t_start < args.budget:
            mode = dict(amp="bf16", channels_last=True, compile=False)
            trs = {d: make(recipe, patch, batch, d, mode) for d in (False, True)}
            ts = {False: [], True: []}
            for _ in range(3):
                for d, tr in trs.items():
                    ts[d].append(timed(tr, raw, comp, max(2, args.steps // 2)))
            r = min(ts[True]) / min(ts[False])
            print(f"  debias / vanilla step time (bf16+cl): {r:.3f}  (target <= 1.15)")
            del trs
            torch.cuda.empty_cache()
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
