"""Steady-state training throughput with the real data loader, against a
BasicSR-style loop, and the model FLOP utilisation.

For ESRGAN, ESRGAN-debias, Real-ESRGAN and Real-ESRGAN-debias with the
paper preset's networks, batches and patches (``presets/paper.yaml`` merged
over ``config.yaml``, as ``snakemake --configfile presets/paper.yaml`` does),
on an image store of synthetic photographs with their JPEG versions (real
codec; the patch store, ``PairedPatchDataset`` with uint8 patches, is the
one training jobs read):

* **debiasqe**: ``Trainer.run`` as a training job runs it (the preset's amp,
  channels_last, compile, workers; uint8 patches augmented on the device;
  losses read at log steps only). Timed from the end of warm-up step W to the
  end of step W + N, both points after a device sync, so compile warm-up and
  loader start-up are left out and every step's device work is in.
* **BasicSR-style**: the loop of BasicSR's ``ESRGANModel`` / Real-ESRGAN's
  ``RealESRGANModel``, written here: fp32, no compile, float patches
  augmented on the CPU in the loader, ``.item()`` of every loss every step,
  D's ``requires_grad`` toggled, separate D forwards (RaGAN: three in the D
  step), separate VGG forwards for I_E, I_R (and I_C for L_R), Adam
  unfused, EMA parameter by parameter. Same networks, losses and data.

Prints it/s of both, their ratio, FLOPs per step (``torch.utils.flop_counter``:
forward + backward of G, D and VGG in one debiasqe step) and MFU = FLOPs per
step x it/s / the device's dense bf16 peak (``--peak-tflops``; H200/H100
989, A100 312; unknown devices and CPUs: not printed).

    python benchmarks/gpu_train_step.py                 # GPU, paper preset sizes
    python benchmarks/gpu_train_step.py --small --device cpu   # tiny nets, batch 2, fp32
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

# dense bf16 peak FLOP/s by device-name fragment (no sparsity)
BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12}
METHODS = ("esrgan", "esrgan_debias", "realesrgan", "realesrgan_debias")


def synthetic_stores(folder: Path, n: int, size: int) -> tuple[Path, Path]:
    """Raw and JPEG (quality 30, Pillow) image stores of ``n`` smooth random photographs."""
    from PIL import Image

    from debiasqe.data.patches import write_image_store

    rng = np.random.default_rng(0)
    raw_dir, comp_dir = folder / "raw", folder / "comp"
    raw_dir.mkdir(parents=True)
    comp_dir.mkdir()
    for i in range(n):
        low = rng.random((size // 16, size // 16, 3)) * 255
        img = Image.fromarray(low.astype(np.uint8)).resize((size, size), Image.BICUBIC)
        arr = np.clip(np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (size, size, 3)), 0, 255)
        img = Image.fromarray(arr.astype(np.uint8))
        img.save(raw_dir / f"{i:03d}.png")
        img.save(comp_dir / f"{i:03d}.jpg", quality=30)
    raw, comp = folder / "raw.npy", folder / "comp.npy"
    write_image_store(sorted(raw_dir.glob("*.png")), raw, progress=False)
    write_image_store(sorted(comp_dir.glob("*.jpg")), comp, progress=False)
    return raw, comp


def preset_specs(small: bool, device: str) -> dict[str, dict]:
    from debiasqe.config import load_config
    from debiasqe.methods import method_spec
    from debiasqe.train.trainer import resolve_config

    config = load_config(REPO / "config.yaml", REPO / "presets/paper.yaml")
    out = {}
    for m in METHODS:
        spec = method_spec(config, m)
        spec.update(device=device, pretrained="random", progress=False, init_from=None, checkpoint_minutes=0)
        if small:
            spec.update(size="tiny", batch=2, num_workers=1, compile=False, amp="none",
                        channels_last=False)
        out[m] = resolve_config({k: v for k, v in spec.items() if k not in ("init", "evaluate")})
    return out


def run_debiasqe(cfg: dict, dataset, out: Path, warm: int, steps: int, sync) -> tuple[float, float]:
    """(it/s over steps W+1..W+N of Trainer.run, FLOPs of one train_step)."""
    from torch.utils.flop_counter import FlopCounterMode

    from debiasqe.train import trainer as T

    cfg = dict(cfg, iters=warm + steps, log_every=warm, checkpoint_every=10 ** 9)
    tr = T.Trainer(cfg, dataset, out)
    stamps: dict[int, float] = {}
    original = T._Loop.row

    def row(loop, *a, **k):
        r = original(loop, *a, **k)
        sync()
        stamps[loop.step] = time.perf_counter()
        return r

    T._Loop.row = row
    try:
        tr.run()
    finally:
        T._Loop.row = original
    rate = steps / (stamps[warm + steps] - stamps[warm])
    # FLOPs of one step on a fixed batch (a fresh trainer: the counted step changes no result above)
    tr2 = T.Trainer(dict(cfg, compile=False), dataset, out / "flops")
    g = torch.Generator().manual_seed(0)
    raw = torch.rand(cfg["batch"], 3, cfg["patch"], cfg["patch"], generator=g).to(tr2.device)
    comp = raw.clone()
    with FlopCounterMode(display=False) as fc:
        tr2.train_step(raw, comp)
    return rate, float(fc.get_total_flops())


class FloatPatches(torch.utils.data.Dataset):
    """BasicSR's PairedImageDataset role: float patches, random crop + flips on the CPU."""

    def __init__(self, base, patch: int, augment: bool):
        self.base, self.patch, self.augment = base, patch, augment

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        from debiasqe.train.trainer import _augment

        raw, comp = self.base[i]
        raw, comp = raw.float() / 255.0, comp.float() / 255.0
        h, w = raw.shape[-2:]
        p = self.patch
        top, left = np.random.randint(0, h - p + 1), np.random.randint(0, w - p + 1)
        raw, comp = raw[:, top:top + p, left:left + p], comp[:, top:top + p, left:left + p]
        if self.augment:
            code = np.random.randint(0, 8)
            raw, comp = _augment(raw, code), _augment(comp, code)
        return raw.contiguous(), comp.contiguous()


def run_basicsr(cfg: dict, dataset, warm: int, steps: int, sync) -> float:
    """it/s of a BasicSR-style loop (see the module docstring) over steps W+1..W+N."""
    from torch.utils.data import DataLoader

    from debiasqe.core.device import resolve_device
    from debiasqe.train import losses as L
    from debiasqe.train.trainer import _build_features, _build_generator, discriminator_for
    from debiasqe.train.usm import usm_sharp

    device = resolve_device(cfg["device"])
    torch.manual_seed(0)
    G, D = _build_generator(cfg).to(device), discriminator_for(cfg).to(device)
    layers = sorted(set(cfg["perceptual_layers"]) | set((cfg["ddr"] or {}).get("layers") or {}))
    F = _build_features(cfg, layers).to(device).eval()
    for p in F.parameters():
        p.requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]), foreach=False)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=tuple(cfg["betas"]), foreach=False)
    loader = DataLoader(FloatPatches(dataset, cfg["patch"], cfg["augment"]), batch_size=cfg["batch"], shuffle=True,
                        num_workers=cfg["num_workers"], drop_last=True, pin_memory=device.type == "cuda")
    cond = (lambda x, c: torch.cat([x, c], 1)) if cfg["conditional_d"] else (lambda x, c: x)
    ragan, ddr = cfg["gan"] == "ragan", cfg["ddr"]
    step, t0 = 0, None
    while step < warm + steps:
        for raw, comp in loader:
            raw, comp = raw.to(device), comp.to(device)
            gt = usm_sharp(raw) if cfg["usm_gt"] else raw
            # --- G
            for p in D.parameters():
                p.requires_grad = False
            opt_g.zero_grad()
            out = G(comp)
            l_pix = L.l1_loss(out, gt) * cfg["pixel_weight"]
            f_out, f_gt = F(out), F(gt)
            l_percep = L.perceptual_loss(f_out, f_gt, cfg["perceptual_layers"]) * cfg["perceptual_weight"]
            fake_g = D(cond(out, comp))
            if ragan:
                real_g = D(cond(raw, comp)).detach()
                l_gan = L.ragan_g_loss(real_g, fake_g)
            else:
                l_gan = L.vanilla_g_loss(fake_g)
            total = l_pix + l_percep + l_gan * cfg["gan_weight"]
            if ddr:
                f_r, f_c = F(raw), F(comp)
                total = total + L.domain_divergence(f_r, f_c, f_out, ddr["layers"], ddr["reduction"]) * ddr["weight"]
            total.backward()
            opt_g.step()
            # --- D
            for p in D.parameters():
                p.requires_grad = True
            opt_d.zero_grad()
            if ragan:  # BasicSR ESRGANModel: three D forwards
                fake_d = D(cond(out, comp)).detach()
                real_d = D(cond(raw, comp))
                l_real = L._bce(real_d - fake_d.mean(), True) * 0.5
                l_real.backward()
                fake_d = D(cond(out.detach(), comp))
                l_fake = L._bce(fake_d - real_d.detach().mean(), False) * 0.5
                l_fake.backward()
            else:
                l_real = L._bce(D(cond(raw, comp)), True)
                l_real.backward()
                l_fake = L._bce(D(cond(out.detach(), comp)), False)
                l_fake.backward()
            opt_d.step()
            # --- EMA, parameter by parameter; every loss read every step
            with torch.no_grad():
                for pe, p in zip(G_ema.parameters(), G.parameters()):
                    pe.mul_(cfg["ema"]).add_(p, alpha=1 - cfg["ema"])
            _ = {k: v.item() for k, v in (("l_pix", l_pix), ("l_percep", l_percep), ("l_gan", l_gan),
                                          ("l_real", l_real), ("l_fake", l_fake))}
            step += 1
            if step == warm:
                sync()
                t0 = time.perf_counter()
            if step == warm + steps:
                break
    sync()
    return steps / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--small", action="store_true", help="tiny networks, batch 2, fp32, no compile (CPU check)")
    ap.add_argument("--warmup", type=int, default=None, help="steps before timing (default 20 on GPU, 2 small)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on GPU, 4 small)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak of the device, TFLOP/s")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_train_step: no CUDA device; run with --device cpu --small for the CPU check.")
        return 0
    warm = args.warmup or (2 if args.small else 20)
    steps = args.steps or (4 if args.small else 50)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else next((v for k, v in BF16_PEAK.items() if k in name), None)
    print(f"{name}; torch {torch.__version__}; {torch.get_num_threads()} threads; bf16 dense peak "
          f"{peak / 1e12 if peak else 'unknown'} TFLOP/s; warm-up {warm}, timed {steps} steps")
    specs = preset_specs(args.small, args.device)
    from debiasqe.train.patch_dataset import PairedPatchDataset

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        max_patch = max(c["patch"] for c in specs.values())
        raw_npy, comp_npy = synthetic_stores(tmp / "data", n=8 if args.small else 32, size=max(256, 2 * max_patch))
        print(f"{'method':<19} {'batch':>5} {'patch':>5} {'debiasqe it/s':>13} {'BasicSR it/s':>12} "
              f"{'ratio':>6} {'TFLOP/step':>10} {'MFU':>7}")
        for m in args.methods.split(","):
            c = specs[m]
            data = PairedPatchDataset(raw_npy, comp_npy, augment=False, patch=c["patch"], step=c["patch"] // 2,
                                      uint8=True)
            ours, flops = run_debiasqe(c, data, tmp / m, warm, steps, sync)
            base = run_basicsr(c, data, warm, steps, sync)
            mfu = f"{flops * ours / peak * 100:6.1f}%" if peak else "    n/a"
            print(f"{m:<19} {c['batch']:>5} {c['patch']:>5} {ours:>13.3f} {base:>12.3f} {ours / base:>6.2f} "
                  f"{flops / 1e12:>10.3f} {mfu}", flush=True)
    print(f"total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
