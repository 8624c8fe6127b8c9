"""One Trainer for the fidelity and adversarial recipes, with the paper's
debias switches (conditional discriminator, domain-divergence regularization).

Usage (the CLI / Snakemake rule passes the validated method config)::

    from debiasqe.train.trainer import train
    train({"generator": "rrdbnet", "recipe": "esrgan", "conditional_d": True,
           "ddr": {"weight": 0.1}, "init_from": "stage1/model.pt"},
          dataset, "results/train/esrgan_debias/bpg/37")

``dataset`` is any ``torch.utils.data.Dataset`` of ``(raw, compressed)``
pairs (CHW, uint8 in 0..255 or float in [0, 1], e.g.
``debiasqe.train.patch_dataset.PairedPatchDataset(..., uint8=True)`` over one
compressed array or a list of them). Build it with ``augment=False``: the
trainer crops and augments (flips / transpose) itself as a deterministic
function of ``(seed, step, slot)``, which is what lets a killed run resume to
bit-identical weights on CPU. Patches go to the device as they come (uint8: a
quarter of float32's bytes) and are converted and flipped there; the result
equals converting and flipping on the CPU, bit for bit.

With ``training.gpus: N`` (under torchrun, ``train.distributed``) each of N
processes takes ``batch / N`` of every step's samples; process 0 writes.

Files in ``out_dir``: ``checkpoint.pt`` (every ``checkpoint_every`` steps,
every ``checkpoint_minutes`` of wall time, and on SIGTERM / SIGUSR1, atomic),
``train_log.csv`` (one row every ``log_every`` steps) and, at the end only,
``model.pt`` (EMA generator + ``meta``).

The hot loop never waits for the device between steps: the loss terms stay
on the device, a device-side flag records the first step whose terms are not
finite, and the host reads both only at ``log_every`` steps, at checkpoints
and at the end (the error still names the first bad step, and no checkpoint
is written after it). A signal (SIGTERM, or SIGUSR1 that SLURM sends ahead of
the time limit with ``--signal=B:USR1@300``) makes the loop finish its step,
save ``checkpoint.pt`` and raise :class:`TrainingPreempted` (exit status 1),
so Snakemake's retry resumes from there.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import json
import logging
import math
import random
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from torch.utils.data import DataLoader, Dataset, Sampler

from . import checkpoint as ckpt
from ..archs import build_discriminator, build_generator, identity_args, start_as_identity
from ..archs.vgg import VGGFeatures
from ..core.progress import interactive
from ..core.atomic import remove_stale_temps, write_text
from ..core.device import resolve_device
from . import distributed as dist
from .ema import EMA
from ..core.errors import ConfigError, TrainingDivergedError, TrainingPreempted
from .progress import TrainProgress
from .losses import (
    REDUCTIONS,
    domain_divergence,
    perceptual_loss,
    pixel_loss,
    ragan_d_loss,
    ragan_g_loss,
    vanilla_d_loss,
    vanilla_g_loss,
)
from ..core.provenance import base_record, sha256_file
from .recipes import RECIPES, recipe
from .usm import usm_sharp

LOG_NAME = "train_log.csv"
log = logging.getLogger(__name__)
PROVENANCE_NAME = "provenance.json"

#: Method-config keys beyond the recipe's own (which may all be overridden).
GENERAL_DEFAULTS: dict = {
    "generator": None,          # name in debiasqe.archs' registry
    "size": "tiny",             # "paper" | "tiny"
    "generator_args": {},       # extra kwargs for build_generator
    "generator_init": "paper",  # paper | identity (zero last layer of a global residual; adds one to RDN/RRDBNet)
    "generator_init_scale": 0.0,  # identity: the last layer Kaiming-normal x this (0: zero, the exact identity)
    "d_size": None,             # discriminator size; None = size
    "recipe": None,             # fidelity | esrgan | realesrgan
    "conditional_d": False,     # D sees concat(I, I_C): 6 channels
    "ddr": None,                # None/False | True | {weight, layers, reduction}
    "init_from": None,          # stage-1 model.pt / checkpoint.pt (GAN recipes)
    "lr_d": None,               # discriminator lr; None = lr
    "augment": True,            # flips + transpose (BasicSR use_hflip/use_rot)
    "usm_gt": False,            # pixel + perceptual losses against the unsharp-masked raw (Real-ESRGAN)
    "seed": 0,
    "device": "auto",           # cpu | cuda | cuda:N | auto
    "gpus": 1,                  # data-parallel processes (torchrun; the CLI launches it); batch is the global batch
    "amp": "none",              # bf16 | none
    "channels_last": False,
    "compile": False,
    "checkpoint_every": 5000,
    "checkpoint_minutes": 30,   # also checkpoint after this much wall time (0: by step only)
    "log_every": 100,
    "num_workers": 0,
    "pretrained": "required",   # VGG weights policy: required | auto | random
    "progress": True,           # a tqdm bar on an interactive stderr (log lines are written regardless)
    "tensorboard": False,       # TensorBoard events + sample crops under out_dir/tensorboard
    "on_mismatch": "restart",   # checkpoint of another past: restart (kept aside) | refuse
}
#: keys the config schema may carry that the trainer does not use (``init`` names the
#: stage-1 method; the caller turns it into ``init_from``, a path).
IGNORED_KEYS = {"name", "label", "description", "train_per", "stage", "paper_name", "init", "evaluate"}
#: keys that may change between a run and its resumption.
RUNTIME_KEYS = {"device", "gpus", "num_workers", "checkpoint_every", "checkpoint_minutes", "log_every", "progress",
                "compile", "init_from", "on_mismatch", "tensorboard"}
#: config keys that define the networks (a change is reported as "network", not "recipe").
NETWORK_KEYS = {"generator", "size", "generator_args", "generator_init", "generator_init_scale", "d_size",
                "discriminator"}
#: signals that make a training job checkpoint and exit (SLURM: --signal=USR1@300; scancel / preemption: TERM).
PREEMPT_SIGNALS = ("SIGTERM", "SIGUSR1")


# ----------------------------------------------------------------- config


def resolve_config(method: dict) -> dict:
    """Merge a method config over its recipe's defaults and check it.

    Returns a new plain dict holding every key of ``GENERAL_DEFAULTS`` and of
    the recipe, ``ddr`` normalised to ``None`` or ``{weight, layers, reduction}``.
    """
    cfg, name = _merge_over_recipe(method)

    def need(cond: bool, msg: str):
        if not cond:
            raise ConfigError(f"train config ({name}): {msg}")

    _check_run_keys(cfg, need)
    _check_model_keys(cfg, need)
    cfg["ddr"] = _resolve_ddr(cfg, need)
    if cfg["lr_d"] is None:
        cfg["lr_d"] = cfg["lr"]
    if cfg["d_size"] is None:
        cfg["d_size"] = cfg["size"]
    return cfg


def _merge_over_recipe(method: dict) -> tuple[dict, str]:
    """The general defaults, then the recipe's, then the method's own keys (unknown keys refused)."""
    if not isinstance(method, dict):
        raise ConfigError(f"train config: expected a mapping, got {type(method).__name__}")
    name = method.get("recipe")
    if name not in RECIPES:
        raise ConfigError(f"train config: recipe {name!r} unknown; expected one of {sorted(RECIPES)}")
    cfg = copy.deepcopy(GENERAL_DEFAULTS)
    cfg.update(recipe(name))
    unknown = sorted(set(method) - set(cfg) - IGNORED_KEYS)
    if unknown:
        raise ConfigError(f"train config: unknown key(s) {unknown}; allowed: {sorted(cfg)}")
    for k, v in method.items():
        if k in cfg:
            cfg[k] = copy.deepcopy(v)
    return cfg, name


def _check_run_keys(cfg: dict, need: Callable[[bool, str], None]) -> None:
    """How the job runs: step counts, processes, checkpoints, seed, precision, weights policy, device."""
    for k in ("iters", "batch", "patch", "checkpoint_every", "log_every"):
        need(isinstance(cfg[k], int) and cfg[k] > 0, f"{k} must be a positive integer, got {cfg[k]!r}")
    need(isinstance(cfg["num_workers"], int) and cfg["num_workers"] >= 0, "num_workers must be >= 0")
    need(isinstance(cfg["gpus"], int) and not isinstance(cfg["gpus"], bool) and cfg["gpus"] >= 1,
         f"gpus must be an integer >= 1, got {cfg['gpus']!r}")
    need(cfg["batch"] % cfg["gpus"] == 0, f"batch {cfg['batch']} is not divisible by gpus {cfg['gpus']}")
    need(isinstance(cfg["checkpoint_minutes"], (int, float)) and not isinstance(cfg["checkpoint_minutes"], bool)
         and cfg["checkpoint_minutes"] >= 0, "checkpoint_minutes must be a number >= 0 (0: by step only)")
    need(isinstance(cfg["seed"], int) and cfg["seed"] >= 0, "seed must be an integer >= 0")
    need(cfg["on_mismatch"] in ("restart", "refuse"),
         f"on_mismatch must be restart or refuse, got {cfg['on_mismatch']!r}")
    need(cfg["amp"] in ("bf16", "none"), f"amp must be bf16 or none, got {cfg['amp']!r}")
    need(cfg["pretrained"] in ("required", "auto", "random"), "pretrained must be required, auto or random")
    need(isinstance(cfg["device"], str) and (cfg["device"] in ("cpu", "auto") or cfg["device"].startswith("cuda")),
         f"device must be cpu, cuda[:N] or auto, got {cfg['device']!r}")


def _check_model_keys(cfg: dict, need: Callable[[bool, str], None]) -> None:
    """What is trained: initialisation, targets, schedule, EMA, the adversarial part and its losses."""
    need(cfg["generator_init"] in ("paper", "identity"),
         f"generator_init must be paper or identity, got {cfg['generator_init']!r}")
    scale = cfg["generator_init_scale"]
    need(isinstance(scale, (int, float)) and not isinstance(scale, bool) and 0.0 <= scale <= 1.0,
         f"generator_init_scale must be a number in [0, 1], got {scale!r}")
    need(not scale or cfg["generator_init"] == "identity", "generator_init_scale needs generator_init: identity")
    if cfg["generator_init"] == "identity" and cfg["generator"]:
        cfg["generator_args"] = {**identity_args(cfg["generator"]), **(cfg["generator_args"] or {})}
    need(isinstance(cfg["usm_gt"], bool), f"usm_gt must be true or false, got {cfg['usm_gt']!r}")
    need(cfg["scheduler"] in ("cosine", "multistep", "constant"), "scheduler must be cosine, multistep or constant")
    if cfg["scheduler"] == "multistep":
        need(isinstance(cfg["milestones"], (list, tuple)), "multistep scheduler needs milestones (a list)")
    need(0.0 <= float(cfg["ema"]) < 1.0, "ema (decay) must be in [0, 1)")
    need(cfg["gan"] in (None, "vanilla", "ragan"), "gan must be vanilla, ragan or null")
    if cfg["gan"] is None:
        need(not cfg["conditional_d"], "conditional_d needs an adversarial recipe (esrgan, realesrgan)")
    else:
        need(cfg["discriminator"] in ("vgg", "unet"), "discriminator must be vgg or unet")
    pl = cfg["perceptual_layers"]
    need(pl is None or (isinstance(pl, dict) and pl), "perceptual_layers must be a non-empty mapping or null")


def _resolve_ddr(cfg: dict, need: Callable[[bool, str], None]) -> dict | None:
    """``cfg["ddr"]`` as None or ``{weight, layers, reduction}`` (recipe defaults filled in)."""
    ddr = cfg["ddr"]
    if ddr in (None, False):
        return None
    if ddr is True:
        ddr = {}
    need(isinstance(ddr, dict), "ddr must be null, true or a mapping {weight, layers, reduction}")
    bad = sorted(set(ddr) - {"weight", "layers", "reduction"})
    need(not bad, f"ddr: unknown key(s) {bad}")
    weight = ddr.get("weight")
    weight = cfg["ddr_weight"] if weight is None else float(weight)
    layers = ddr.get("layers") or cfg["perceptual_layers"]
    need(isinstance(layers, dict) and layers,
         "ddr.layers must be given (a mapping layer -> weight) when the recipe has no perceptual layers")
    reduction = ddr.get("reduction") or "mean"
    need(reduction in REDUCTIONS, f"ddr.reduction must be one of {list(REDUCTIONS)}")
    need(weight > 0, "ddr.weight must be > 0")
    return {"weight": weight, "layers": dict(layers), "reduction": reduction}


def _fingerprint(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in RUNTIME_KEYS}


def _shapes_digest(*nets: nn.Module | None) -> str:
    """sha256 of the networks' parameter names, shapes and dtypes (their architecture)."""

    rows = [[i, k, list(v.shape), str(v.dtype)] for i, n in enumerate(nets) if n is not None
            for k, v in n.state_dict().items()]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _what_changed(mine: dict, theirs: dict | None) -> list[str]:
    """The ingredients of two training fingerprints that differ, for one warning line."""
    if not isinstance(theirs, dict):
        return ["unknown (the checkpoint records no fingerprint)"]
    out = []
    for key in mine:
        a, b = theirs.get(key), mine[key]
        if a == b:
            continue
        if key == "recipe" and isinstance(a, dict):
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append(f"recipe (keys {', '.join(keys)})")
        elif key in ("seed", "patch grid"):
            out.append(f"{key} ({a} -> {b})")
        else:
            out.append(key)
    return out


# ------------------------------------------------------------------- data


def _seed(*words: int) -> int:
    """A 63-bit seed that is a pure function of ``words``."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(2, dtype=np.uint64)[0] >> 1)


class StepBatchSampler(Sampler):
    """Batches as a pure function of (seed, step): a per-epoch permutation of
    the dataset (epoch = position // len), and per slot a sample seed that
    drives the crop and augmentation. Starting at ``start_step`` gives the
    same batches the uninterrupted run would have drawn from there on.

    ``shard = (first, count)`` keeps slots ``first .. first + count - 1`` of
    every step's ``batch`` (data-parallel training: process r of N takes
    ``(r * batch / N, batch / N)``), so N processes together draw exactly the
    samples, crops and flips of one process with the whole batch."""

    def __init__(self, n: int, batch: int, seed: int, start_step: int, end_step: int,
                 shard: tuple[int, int] | None = None):
        if n <= 0:
            raise ConfigError("training dataset is empty")
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.end = start_step, end_step
        self.first, self.count = shard if shard is not None else (0, batch)
        self._perm_epoch, self._perm = None, None

    def _perm_for(self, epoch: int) -> list[int]:
        if self._perm_epoch != epoch:
            g = torch.Generator().manual_seed(_seed(self.seed, epoch, 0xDA7A))
            self._perm = torch.randperm(self.n, generator=g).tolist()
            self._perm_epoch = epoch
        return self._perm

    def keys(self, step: int) -> list[tuple[int, int]]:
        """(dataset index, sample seed) for each slot of this shard of step ``step`` (0-based)."""
        out = []
        for j in range(self.first, self.first + self.count):
            k = step * self.batch + j
            idx = self._perm_for(k // self.n)[k % self.n]
            out.append((idx, _seed(self.seed, step, j, 0xA116)))
        return out

    def __iter__(self):
        for s in range(self.start, self.end):
            yield self.keys(s)

    def __len__(self):
        return self.end - self.start


def _to_chw(x) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return x


class CropAugment(Dataset):
    """Wraps a dataset of (raw, comp) pairs; ``ds[(idx, seed)]`` returns the pair
    cropped to ``patch`` (in its own dtype: uint8 stays uint8) and the
    flip/transpose code (0-7) to apply on the device, both decided by ``seed``."""

    def __init__(self, base: Dataset, patch: int, augment: bool):
        self.base, self.patch, self.augment = base, patch, augment

    def __len__(self):
        return len(self.base)

    def __getitem__(self, key):
        idx, seed = key
        raw, comp = self.base[idx]
        raw, comp = _to_chw(raw), _to_chw(comp)
        if raw.shape != comp.shape:
            raise ConfigError(f"training pair {idx}: raw {tuple(raw.shape)} vs compressed {tuple(comp.shape)}")
        g = torch.Generator().manual_seed(seed)
        h, w = raw.shape[-2:]
        p = self.patch
        if h < p or w < p:
            raise ConfigError(f"training pair {idx}: {h}x{w} smaller than patch {p}")
        top = int(torch.randint(0, h - p + 1, (1,), generator=g))
        left = int(torch.randint(0, w - p + 1, (1,), generator=g))
        raw = raw[..., top:top + p, left:left + p]
        comp = comp[..., top:top + p, left:left + p]
        code = int(torch.randint(0, 8, (1,), generator=g)) if self.augment else 0
        return raw.contiguous(), comp.contiguous(), code


def _augment(x: torch.Tensor, code: int) -> torch.Tensor:
    """BasicSR ``augment(hflip, rotation)``: hflip, vflip, transpose (bits of code)."""
    if code & 1:
        x = x.flip(-1)
    if code & 2:
        x = x.flip(-2)
    if code & 4:
        x = x.transpose(-1, -2)
    return x


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 in 0..255 -> float32 in [0, 1]; a float batch -> float32."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def augment_batch(x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """:func:`_augment` of each sample of ``x`` (B x C x P x P) by its code, on
    ``x``'s device with whole-batch ops (no per-sample kernels, no host sync)."""
    def pick(bit: int, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.where((codes & bit).bool().view(-1, 1, 1, 1), y, z)

    x = pick(1, x.flip(-1), x)
    x = pick(2, x.flip(-2), x)
    return pick(4, x.transpose(-1, -2), x)


# -------------------------------------------------------------------- log


class CsvLog:
    """Per-step CSV log. Rows are appended as whole lines and flushed; a resumed
    run first rewrites the file (atomically) without the rows past its
    checkpoint, so a killed run leaves no duplicate or partial rows behind."""

    def __init__(self, path: Path, columns: list[str], resume_step: int):
        self.path, self.columns = path, columns
        header = ",".join(columns) + "\n"
        kept = [header]
        if resume_step > 0 and path.is_file():
            lines = path.read_text().splitlines(keepends=True)
            if lines and lines[0] == header:
                for line in lines[1:]:
                    if not line.endswith("\n"):
                        break
                    try:
                        if int(line.split(",", 1)[0]) <= resume_step:
                            kept.append(line)
                    except ValueError:
                        break
        write_text(path, "".join(kept))
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_fmt(row.get(c, "")) for c in self.columns])
        self.fh.write(buf.getvalue())
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


# ---------------------------------------------------------------- builders


def _build_generator(cfg: dict) -> nn.Module:
    if not cfg["generator"]:
        raise ConfigError("train config: generator is required")
    return build_generator(cfg["generator"], size=cfg["size"], **(cfg["generator_args"] or {}))


def discriminator_for(cfg: dict) -> nn.Module:
    """The discriminator a resolved training config trains (also rebuilt for realism scores)."""
    return build_discriminator(
        kind=cfg["discriminator"],
        in_channels=6 if cfg["conditional_d"] else 3,
        size=cfg["d_size"],
        input_size=cfg["patch"],
    )


def _build_features(cfg: dict, layers: list[str]) -> nn.Module:
    return VGGFeatures(layers, before_relu=True, input_norm=True, policy=cfg["pretrained"])


def _features_provenance(net: nn.Module | None):
    if net is None:
        return None
    prov = getattr(net, "provenance", None)
    if callable(prov):
        prov = prov()
    return _plain(prov) if prov is not None else "unknown (injected feature extractor)"


def _plain(obj):
    """``obj`` as plain containers / scalars / str (weights_only-loadable)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


# ------------------------------------------------------------------ trainer


def _seed_everything(seed: int) -> None:
    """Every global RNG from the seed (torch for the init; Python's and numpy's
    only so that checkpoints, which store all three, are equal bytes across runs)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


class Trainer:
    """Trains one method. Networks may be injected (tests, benchmarks);
    otherwise they are built from ``debiasqe.archs`` by name."""

    def __init__(
        self,
        config: dict,
        dataset: Dataset,
        out_dir: str | Path,
        *,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        features: nn.Module | None = None,
    ):
        cfg = self.cfg = resolve_config(config)
        self.out_dir = Path(out_dir)
        self.dataset = dataset
        if cfg["augment"] and getattr(dataset, "augment", False):
            warnings.warn(
                f"{type(dataset).__name__} augments by itself and the trainer augments too; build it with "
                "augment=False (the trainer's crops/flips are a function of (seed, step), needed for exact resume)",
                RuntimeWarning, stacklevel=2,
            )
        self.world = dist.world_from_env()
        self.device = dist.init(self.world, resolve_device(cfg["device"]))
        self.amp = cfg["amp"] == "bf16"
        self.mem_format = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        _seed_everything(cfg["seed"])
        self._build_networks(generator, discriminator, features)
        self.init_from = self._load_init(cfg["init_from"])
        self.past = self._past()
        self._place_networks()
        self.ema = EMA(self.G, cfg["ema"])
        self._build_optimizers()
        self._compile()
        self._g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.pix = pixel_loss(cfg["pixel_loss"])
        self.terms = self._term_names()

    def _build_networks(self, generator, discriminator, features) -> None:
        """G, D (adversarial recipes) and the frozen VGG features F (perceptual loss / L_R), built or injected."""
        cfg = self.cfg
        self.G = generator if generator is not None else _build_generator(cfg)
        if cfg["generator_init"] == "identity":
            start_as_identity(self.G, float(cfg["generator_init_scale"]))
        self.adversarial = cfg["gan"] is not None
        self.D = None
        if self.adversarial:
            self.D = discriminator if discriminator is not None else discriminator_for(cfg)
        self.percep_layers = cfg["perceptual_layers"] if cfg["perceptual_weight"] > 0 else None
        self.ddr = cfg["ddr"]
        layers = sorted(set(self.percep_layers or {}) | set((self.ddr or {}).get("layers") or {}))
        self.F = None
        if layers:
            self.F = features if features is not None else _build_features(cfg, layers)
            self.F.eval()
            for p in self.F.parameters():
                p.requires_grad_(False)

    def _load_init(self, path) -> dict | None:
        """Load the stage-1 generator ``init_from``; returns its {path, sha256} (None without one)."""
        if not path:
            return None
        state = ckpt.generator_weights(path)
        try:
            self.G.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"init_from: {path} does not fit generator "
                              f"{self.cfg['generator']!r} ({str(exc).splitlines()[0]})") from None
        return {"path": str(path), "sha256": sha256_file(path)}

    def _place_networks(self) -> None:
        """Networks on the device in training mode; with several processes, batch norm
        over the whole batch (SyncBatchNorm) and process 0's weights everywhere."""
        if self.world.active:
            if dist.has_batch_norm(self.G):
                self.G = dist.sync_batch_norm(self.G, self.device)
            if dist.has_batch_norm(self.D):
                self.D = dist.sync_batch_norm(self.D, self.device)
        for net in (self.G, self.D, self.F):
            if net is not None:
                net.to(self.device, memory_format=self.mem_format)
        for net in (self.G, self.D):
            if net is not None:
                dist.broadcast_state(net, self.world)
        self.G.train()
        if self.D is not None:
            self.D.train()

    def _build_optimizers(self) -> None:
        cfg = self.cfg
        betas = tuple(cfg["betas"])
        # one fused kernel per step on CUDA; the default (foreach) on CPU, whose bytes the tests pin
        fused = {"fused": True} if self.device.type == "cuda" else {}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg["lr"], betas=betas,
                                      weight_decay=cfg["weight_decay"], **fused)
        self.sched_g = self._scheduler(self.opt_g)
        self.opt_d = self.sched_d = None
        if self.D is not None:
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg["lr_d"], betas=betas,
                                          weight_decay=cfg["weight_decay"], **fused)
            self.sched_d = self._scheduler(self.opt_d)

    def _compile(self) -> None:
        self.G_run, self.D_run, self.F_run = self.G, self.D, self.F
        if self.cfg["compile"]:
            # static shapes: VGG's batch-B (I_E, with grad) and batch-2B (I_R + I_C, no grad)
            # calls each get their own graph in the first step, and nothing recompiles after
            self.G_run = torch.compile(self.G, dynamic=False)
            if self.D is not None:
                self.D_run = torch.compile(self.D, dynamic=False)
            if self.F is not None:
                self.F_run = torch.compile(self.F, dynamic=False)

    def _term_names(self) -> list[str]:
        terms = ["l_pix"]
        if self.percep_layers:
            terms.append("l_percep")
        if self.adversarial:
            terms.append("l_g_gan")
        if self.ddr:
            terms.append("l_ddr")
        if self.adversarial:
            terms += ["l_g_total", "l_d_real", "l_d_fake"]
        return terms

    # -- pieces ---------------------------------------------------------------

    def _scheduler(self, opt):
        c = self.cfg
        if c["scheduler"] == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c["iters"], eta_min=c["eta_min"])
        if c["scheduler"] == "multistep":
            return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(c["milestones"]), gamma=c["gamma"])
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _cond(self, x: torch.Tensor, comp: torch.Tensor) -> torch.Tensor:
        """The discriminator's input: concat(I, I_C) when conditional."""
        if not self.cfg["conditional_d"]:
            return x
        return torch.cat([x, comp.to(x.dtype)], dim=1)

    def _features(self, enhanced, raw, comp, need_comp: bool, raw_usm=None):
        """VGG features of I_E (with grad) and of I_R, I_C (no grad, one
        batched forward), each computed once per step and shared between the
        perceptual loss and L_R. With ``raw_usm`` (usm_gt) the perceptual
        target's features come from it (4th value), L_R's from the plain I_R. Returned in
        float32 (the losses and L_R are computed in float32 under bf16 autocast)."""
        with self._autocast():
            fe = self.F_run(enhanced)
            with torch.no_grad():
                parts = ([raw_usm] if raw_usm is not None else []) + ([raw, comp] if need_comp else [])
                if not parts:
                    parts = [raw]
                feats = self.F_run(torch.cat(parts, dim=0)) if len(parts) > 1 else self.F_run(parts[0])
                b = raw.shape[0]
                chunks = [{k: v[i * b:(i + 1) * b] for k, v in feats.items()} for i in range(len(parts))]
                fu = chunks.pop(0) if raw_usm is not None else None
                fr, fc = (chunks[0], chunks[1]) if need_comp else (chunks[0] if chunks else None, None)
        if fu is None:
            fu = fr
        f32 = lambda d: None if d is None else {k: v.float() for k, v in d.items()}  # noqa: E731
        return f32(fe), f32(fr), f32(fc), f32(fu)

    def _batch_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over the step's whole batch (all processes' in data-parallel training)."""
        return dist.global_mean(x) if self.world.active else x.mean()

    def _g_losses(self, raw, comp) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """G's forward and loss terms: (I_E, total loss, {term: value})."""
        c = self.cfg
        terms: dict[str, torch.Tensor] = {}
        with self._autocast():
            enhanced = self.G_run(comp)
        # Real-ESRGAN: pixel and perceptual losses against the sharpened raw; the GAN
        # loss, the (conditional) discriminator and L_R see the plain raw.
        target = usm_sharp(raw) if c["usm_gt"] else raw
        total = terms["l_pix"] = self.pix(enhanced.float(), target) * c["pixel_weight"]
        if self.F is not None:
            fe, fr, fc, fu = self._features(enhanced, raw, comp, need_comp=self.ddr is not None,
                                            raw_usm=target if c["usm_gt"] and self.percep_layers else None)
            if self.percep_layers:
                terms["l_percep"] = perceptual_loss(fe, fu, self.percep_layers) * c["perceptual_weight"]
                total = total + terms["l_percep"]
        if self.adversarial:
            terms["l_g_gan"] = self._g_gan_loss(enhanced, raw, comp) * c["gan_weight"]
            total = total + terms["l_g_gan"]
        if self.ddr is not None:
            l_ddr = domain_divergence(fr, fc, fe, self.ddr["layers"], self.ddr["reduction"]) * self.ddr["weight"]
            terms["l_ddr"] = l_ddr
            total = total + l_ddr
        return enhanced, total, terms

    def _g_gan_loss(self, enhanced, raw, comp) -> torch.Tensor:
        """G's adversarial term (unweighted): D sees I_E (and, RaGAN, I_R without grad)."""
        with self._autocast():
            fake_g = self.D_run(self._cond(enhanced, comp))
            if self.cfg["gan"] == "ragan":
                with torch.no_grad():
                    real_g = self.D_run(self._cond(raw, comp))
        if self.cfg["gan"] == "ragan":
            return ragan_g_loss(real_g.float(), fake_g.float(), mean=self._batch_mean)
        return vanilla_g_loss(fake_g.float())

    def _d_step(self, raw, comp, fake) -> tuple[torch.Tensor, torch.Tensor]:
        """One discriminator step on I_R and the detached I_E; returns (l_d_real, l_d_fake)."""
        with self._autocast():
            real_d = self.D_run(self._cond(raw, comp))
            fake_d = self.D_run(self._cond(fake, comp))
        if self.cfg["gan"] == "ragan":
            l_d_real, l_d_fake = ragan_d_loss(real_d.float(), fake_d.float(), mean=self._batch_mean)
        else:
            l_d_real, l_d_fake = vanilla_d_loss(real_d.float(), fake_d.float())
        self.opt_d.zero_grad(set_to_none=True)
        (l_d_real + l_d_fake).backward()
        dist.average_gradients(list(self.D.parameters()), self.world)
        self.opt_d.step()
        self.sched_d.step()
        return l_d_real, l_d_fake

    def train_step(self, raw: torch.Tensor, comp: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step (G, then D); returns the detached loss terms."""
        enhanced, total, out_terms = self._g_losses(raw, comp)
        self.opt_g.zero_grad(set_to_none=True)
        # gradients of G's parameters only: D's requires_grad is never toggled (toggling
        # it would recompile a compiled D every step) and D's weight gradients are not computed
        total.backward(inputs=self._g_params)
        dist.average_gradients(self._g_params, self.world)
        self.opt_g.step()
        if self.adversarial:
            out_terms["l_g_total"] = total
            out_terms["l_d_real"], out_terms["l_d_fake"] = self._d_step(raw, comp, enhanced.detach())
        self.sched_g.step()
        self.ema.update(self.G)
        return {k: v.detach() for k, v in out_terms.items()}

    # -- state ----------------------------------------------------------------

    def _past(self) -> dict:
        """Everything that determines the training, as a resume checks it: the
        resolved recipe, the networks, the seed, the stage-1 model's sha256 and
        the data (image stores' pixel digests and patch grid, when the dataset
        can tell: ``dataset.fingerprint()``)."""
        conf = _plain(_fingerprint(self.cfg))
        fp = getattr(self.dataset, "fingerprint", None)
        data = fp() if callable(fp) else {}
        return {
            "recipe": {k: v for k, v in conf.items() if k not in NETWORK_KEYS and k != "seed"},
            "network": {"config": {k: conf.get(k) for k in sorted(NETWORK_KEYS)},
                        "parameters": _shapes_digest(self.G, self.D)},
            "seed": conf["seed"],
            "stage-1 model": self.init_from["sha256"] if self.init_from else None,
            "raw store": data.get("raw store"),
            "compressed stores": data.get("compressed stores"),
            "patch grid": data.get("patch grid"),
        }

    def _resume_from(self, ckpt_path: Path) -> dict | None:
        """The checkpoint state to resume from, or None to start at step 0.

        An unreadable ``checkpoint.pt`` (empty after a crash, corrupt) is set
        aside and the previous one (``checkpoint.prev.pt``) is tried; one of
        another past (:meth:`_past` differs) is set aside under a name saying
        so and training restarts, or, with ``on_mismatch: refuse``, stops.
        Each case logs one warning line; nothing is deleted.
        """
        prev = ckpt.previous_path(ckpt_path)
        candidates = [p for p in (ckpt_path, prev) if p.is_file()]
        for i, path in enumerate(candidates):
            try:
                s = ckpt.load(path)
                if not isinstance(s, dict) or "step" not in s:
                    raise ConfigError(f"{path}: not a readable debiasqe checkpoint (no step)")
            except ConfigError as exc:
                kept = ckpt.set_aside(path, "unreadable")
                rest = candidates[i + 1:]
                nxt = f"trying {rest[0].name}" if rest else "restarting from step 0"
                log.warning("%s; kept as %s, %s", str(exc).rstrip("."), kept.name, nxt)
                continue
            changed = _what_changed(self.past, s.get("past"))
            if not changed:
                if path != ckpt_path:
                    log.warning("%s: resuming from the previous checkpoint %s (step %d)",
                                ckpt_path, path.name, int(s["step"]))
                return s
            what = "; ".join(changed)
            if self.cfg["on_mismatch"] == "refuse":
                raise ConfigError(f"{path}: written for another training (changed: {what}); "
                                  "training.on_mismatch is 'refuse': move it away to start over")
            label = "before-" + "+".join(c.split(" (")[0].replace(" ", "-") for c in changed) + "-change"
            kept = [ckpt.set_aside(p, f"step{int(s['step']) if p == path else self._step_of(p)}-{label}")
                    for p in candidates[i:]]
            log.warning("%s: written for another training (changed: %s); restarting from step 0, "
                        "old checkpoint kept as %s", path, what, ", ".join(k.name for k in kept))
            return None
        return None

    @staticmethod
    def _step_of(path: Path) -> str:
        try:
            return str(int(ckpt.load(path)["step"]))
        except Exception:  # noqa: BLE001 - only for a name
            return "unknown"

    def state(self, step: int) -> dict:
        s = {
            "step": step,
            "config": _plain(_fingerprint(self.cfg)),
            "past": self.past,
            "generator": self.G.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "rng": ckpt.rng_state(),
            "sampler": {"seed": self.cfg["seed"], "step": step, "n": len(self.dataset), "batch": self.cfg["batch"]},
        }
        if self.D is not None:
            s.update(discriminator=self.D.state_dict(), opt_d=self.opt_d.state_dict(), sched_d=self.sched_d.state_dict())
        return s

    def load_state(self, s: dict) -> int:
        mine = _plain(_fingerprint(self.cfg))
        if s.get("config") != mine:
            theirs = s.get("config") or {}
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ConfigError(
                f"{self.out_dir / ckpt.CHECKPOINT_NAME}: written with a different config (keys {diff}); "
                "delete the folder to start over"
            )
        self.G.load_state_dict(s["generator"])
        self.ema.load_state_dict(s["ema"])
        self.opt_g.load_state_dict(s["opt_g"])
        self.sched_g.load_state_dict(s["sched_g"])
        if self.D is not None:
            self.D.load_state_dict(s["discriminator"])
            self.opt_d.load_state_dict(s["opt_d"])
            self.sched_d.load_state_dict(s["sched_d"])
        ckpt.set_rng_state(s["rng"])
        return int(s["step"])

    def meta(self, step: int) -> dict:
        c = self.cfg
        return {
            "config": _plain(c),
            "step": step,
            "provenance": base_record(
                seed=c["seed"],
                generator=c["generator"] or type(self.G).__name__,
                vgg_weights=_features_provenance(self.F),
                init_from=self.init_from,
                generator_init=c["generator_init"],
                generator_init_scale=c["generator_init_scale"],
                torch=str(torch.__version__),
                device=str(self.device),
                processes=self.world.size,
                amp=c["amp"],
            ),
        }

    # -- loop -----------------------------------------------------------------

    def _sample_crops(self, watch: TrainProgress, step: int, raw, comp, n: int = 4) -> None:
        """I_C, I_E, I_R of the step's first ``n`` crops to TensorBoard (eval mode, no grad:
        the forward pass changes neither the weights, the BN statistics nor the RNG)."""
        if watch.writer is None:
            return
        was_training = self.G.training
        self.G.eval()
        try:
            with torch.no_grad(), self._autocast():
                enhanced = self.G(comp[:n])
        finally:
            self.G.train(was_training)
        watch.images(step, comp[:n], enhanced, raw[:n])

    def _resume(self, ckpt_path: Path) -> tuple[int, dict | None]:
        """(start step, checkpoint state or None). With several processes, process 0
        decides first (it alone sets unusable checkpoints aside), then the others read."""
        main = self.world.main
        if main:
            # a killed attempt's half-written checkpoint; the resume reads only checkpoint.pt
            remove_stale_temps(self.out_dir)
            resume = self._resume_from(ckpt_path)
        if self.world.active:
            torch.distributed.barrier()
        if not main:
            resume = self._resume_from(ckpt_path)
        return (self.load_state(resume) if resume is not None else 0), resume

    def _loader(self, start: int) -> DataLoader:
        """Step batches from ``start`` (this process's shard of each): uint8 patches stay
        uint8 until the device (:meth:`_to_device`)."""
        c = self.cfg
        shard = dist.shard_batch(c["batch"], self.world)
        sampler = StepBatchSampler(len(self.dataset), c["batch"], c["seed"], start, c["iters"], shard=shard)
        workers = c["num_workers"]
        return DataLoader(
            CropAugment(self.dataset, c["patch"], c["augment"]), batch_sampler=sampler, num_workers=workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None, persistent_workers=workers > 0,
            worker_init_fn=_ignore_preempt_signals if workers else None,
            # Its own generator: starting an iterator draws the workers' base seed, which
            # from the global RNG would leave a resumed run's RNG state (saved in every
            # checkpoint) one draw apart from an uninterrupted run's.
            generator=torch.Generator().manual_seed(_seed(c["seed"], start, 0x10AD)),
        )

    def _to_device(self, raw, comp, codes) -> tuple[torch.Tensor, torch.Tensor]:
        """A loader batch on the device: to float in [0, 1], flipped/transposed by ``codes`` there."""
        out = []
        codes = codes.to(self.device, non_blocking=True)
        for x in (raw, comp):
            x = to_float(x.to(self.device, non_blocking=True))
            if self.cfg["augment"]:
                x = augment_batch(x, codes)
            out.append(x.contiguous(memory_format=self.mem_format))
        return out[0], out[1]

    def _outputs(self, start: int):
        """(CSV log, progress lines / TensorBoard, tqdm bar or None); silent on processes other than 0."""

        c, iters = self.cfg, self.cfg["iters"]
        if not self.world.main:
            return _Silent(), _Silent(), None
        columns = ["step", *self.terms, "lr", "iter_time", "data_time"]
        log = CsvLog(self.out_dir / LOG_NAME, columns, start)
        watch = TrainProgress(_run_name(self.out_dir), iters, start, self.terms, self.device,
                              out_dir=self.out_dir, tensorboard=c["tensorboard"])
        bar = None
        if c["progress"] and interactive():
            bar = tqdm(total=iters, initial=start, desc=f"train {self.out_dir.name}", unit="it",
                       file=sys.stderr, dynamic_ncols=True, mininterval=1.0)
            watch.file = _TqdmWriter(bar)
        return log, watch, bar

    def _stop_or_save(self, step: int, received: str | None, since_save: float) -> tuple[bool, str | None]:
        """(checkpoint now?, the signal to stop for). One process: at every
        ``checkpoint_every`` step, on a signal, or after ``checkpoint_minutes``.
        Several: the clock and signals are acted on at log steps, where the
        processes agree with one collective (a signal reaches them at different steps)."""
        c = self.cfg
        if step >= c["iters"]:
            return False, None
        due = step % c["checkpoint_every"] == 0
        late = c["checkpoint_minutes"] > 0 and since_save >= float(c["checkpoint_minutes"]) * 60.0
        if self.world.active:
            if step % c["log_every"]:
                return due, None
            stop = dist.any_process(received is not None, self.world, self.device)
            late = dist.any_process(late, self.world, self.device)
            received = (received or "a signal (on another process)") if stop else None
        return due or late or received is not None, received

    def run(self, on_step: Callable[[int, dict], None] | None = None) -> Path:
        """Train to ``iters`` (resuming from ``checkpoint.pt`` if present) and
        write ``model.pt``; returns its path. ``on_step(step, values)`` is
        called after every step (tests, benchmarks)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        ckpt_path = self.out_dir / ckpt.CHECKPOINT_NAME
        start, resume = self._resume(ckpt_path)
        loader = self._loader(start)
        log, watch, bar = self._outputs(start)
        watch.begin()
        loop = _Loop(self, ckpt_path, start, last_good=start if resume is not None else None)
        with _PreemptSignals() as signals:
            try:
                loop.run(loader, signals, log, watch, bar, on_step)
            finally:
                if bar is not None:
                    bar.close()
                watch.close()
                log.close()
        return self._finish(loop.step)

    def _finish(self, step: int) -> Path:
        """The final checkpoint, ``model.pt`` (EMA), provenance and ``discriminator.pt`` (process 0)."""
        iters = self.cfg["iters"]
        if step != iters:  # pragma: no cover - the sampler yields exactly iters - start batches
            raise RuntimeError(f"training stopped at step {step} of {iters}")
        ckpt_path = self.out_dir / ckpt.CHECKPOINT_NAME
        model_path = self.out_dir / ckpt.MODEL_NAME
        if self.world.main:
            ckpt.save(ckpt_path, self.state(step), keep_previous=True)
            ckpt.save(model_path, {"state_dict": self.ema.state_dict(), "meta": self.meta(step)})
            # the same provenance as JSON, for readers without torch (debiasqe status, the report overview)
            write_text(self.out_dir / PROVENANCE_NAME,
                       json.dumps(self.meta(step)["provenance"], indent=2, default=str) + "\n")
            if self.D is not None:  # the realism scores (Tables 1-2) read the final discriminator
                ckpt.save(self.out_dir / ckpt.DISCRIMINATOR_NAME,
                          {"state_dict": self.D.state_dict(), "meta": self.meta(step)})
            # the fallback is not needed once the final checkpoint and model.pt are on disk (halves their space)
            ckpt.previous_path(ckpt_path).unlink(missing_ok=True)
        if self.world.active:
            torch.distributed.barrier()
        return model_path


class _Loop:
    """The step loop of :meth:`Trainer.run`: steps, deferred non-finite checks,
    log rows, checkpoints and preemption."""

    def __init__(self, trainer: Trainer, ckpt_path: Path, start: int, last_good: int | None):
        self.tr, self.ckpt_path = trainer, ckpt_path
        self.step, self.last_good = start, last_good
        self.health = _Health(trainer.terms, trainer.device)
        self.t_saved = time.monotonic()

    def check(self) -> None:
        """Read the device-side non-finite flag (one sync); raise naming the first bad step."""
        bad = self.health.first_bad()
        if bad is not None:
            bad_step, name, v = bad
            where = (f"last good checkpoint {self.ckpt_path} (step {self.last_good}) kept"
                     if self.last_good is not None else "no checkpoint written yet")
            raise TrainingDivergedError(f"{self.tr.out_dir}: loss term {name} became {v} at step {bad_step}; {where}")

    def save_checkpoint(self) -> None:
        self.check()
        if self.tr.world.main:
            ckpt.save(self.ckpt_path, self.tr.state(self.step), keep_previous=True)
        self.last_good, self.t_saved = self.step, time.monotonic()

    def row(self, stacked: torch.Tensor, t_iter: float, t_data: float) -> dict:
        """A log row: the loss terms (averaged over the processes: one sync), lr and times."""
        tr = self.tr
        self.check()
        values = dist.mean_over_processes(stacked, tr.world).cpu().tolist()  # the only sync of a logged step
        return dict(zip(tr.terms, values), step=self.step, lr=tr.opt_g.param_groups[0]["lr"],
                    iter_time=t_iter, data_time=t_data)

    def run(self, loader, signals, log, watch, bar, on_step) -> None:
        tr, c = self.tr, self.tr.cfg
        iters = c["iters"]
        raw = comp = None
        t0 = time.perf_counter()
        for raw, comp, codes in loader:
            t_data = time.perf_counter() - t0
            self.step += 1
            raw, comp = tr._to_device(raw, comp, codes)
            stacked = self.health.update(self.step, tr.train_step(raw, comp))  # on the device: no sync
            logging_step = self.step % c["log_every"] == 0 or self.step == iters
            if logging_step or on_step is not None:
                row = self.row(stacked, time.perf_counter() - t0, t_data)  # host time; device time shows at syncs
                if on_step is not None:
                    on_step(self.step, row)
                if logging_step:
                    log.write(row)
                    watch.log(self.step, row)
            if bar is not None:
                bar.update(1)
            save, stop = tr._stop_or_save(self.step, signals.received, time.monotonic() - self.t_saved)
            if save:
                self.save_checkpoint()
                tr._sample_crops(watch, self.step, raw, comp)
            if stop:
                raise TrainingPreempted(
                    f"{tr.out_dir}: {stop} received; checkpoint {self.ckpt_path} saved at step "
                    f"{self.step} of {iters}; rerun (Snakemake's retry) resumes from it"
                )
            t0 = time.perf_counter()
        self.check()
        if watch.writer is not None and self.step == iters and raw is not None:
            tr._sample_crops(watch, self.step, raw, comp)


class _Silent:
    """Log, progress and TensorBoard stand-in for processes other than 0."""

    writer = None

    def __getattr__(self, name):
        return lambda *a, **k: None


def _run_name(out_dir: Path) -> str:
    """``method/codec/setting`` of a results/train folder (its last three parts)."""
    return "/".join(out_dir.parts[-3:])


class _TqdmWriter:
    """A file for :class:`TrainProgress` that prints above a live tqdm bar."""

    def __init__(self, bar):
        self.bar = bar

    def write(self, text: str) -> None:
        if text.strip():
            self.bar.write(text.rstrip("\n"), file=sys.stderr)

    def flush(self) -> None:
        pass


class _Health:
    """Device-side record of the first step whose loss terms are not all
    finite, and of those terms (updated with tensor ops: no host sync)."""

    def __init__(self, terms: list[str], device: torch.device):
        self.terms = terms
        self.bad_step = torch.zeros((), dtype=torch.int64, device=device)
        self.bad_values = torch.zeros(len(terms), dtype=torch.float32, device=device)

    def update(self, step: int, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack([terms[k].float() for k in self.terms])
        first = (self.bad_step == 0) & ~torch.isfinite(stacked).all()
        self.bad_step = torch.where(first, torch.full_like(self.bad_step, step), self.bad_step)
        self.bad_values = torch.where(first, stacked, self.bad_values)
        return stacked

    def first_bad(self):
        """None, or (step, term name, value) of the first non-finite term."""
        bad = int(self.bad_step)
        if bad == 0:
            return None
        values = self.bad_values.cpu().tolist()
        for name, v in zip(self.terms, values):
            if not math.isfinite(v):
                return bad, name, v
        return bad, self.terms[0], values[0]  # pragma: no cover - some term was not finite


def _ignore_preempt_signals(_worker_id: int) -> None:
    """DataLoader workers ignore the preemption signals (SLURM signals every
    process of the step): the main process checkpoints, then stops them."""
    for name in PREEMPT_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


class _PreemptSignals:
    """While active, SIGTERM / SIGUSR1 set ``received`` (the signal's name)
    instead of killing the process; the loop then checkpoints and exits.
    Outside the main thread (where handlers cannot be installed) it does nothing."""

    def __init__(self):
        self.received: str | None = None
        self._old: dict = {}

    def _handler(self, signum, _frame):
        self.received = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for name in PREEMPT_SIGNALS:
                if hasattr(signal, name):
                    sig = getattr(signal, name)
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def train(config: dict, dataset: Dataset, out_dir: str | Path, **networks) -> Path:
    """Train ``config`` on ``dataset`` into ``out_dir``; returns ``model.pt``."""
    return Trainer(config, dataset, out_dir, **networks).run()
