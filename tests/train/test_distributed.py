"""Data-parallel training (training.gpus) on CPU with gloo: two processes with
batch B/2 each take the steps of one process with batch B; the sampler's
shards are the single process's batch cut in slots."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from debiasqe.core.errors import ConfigError
from debiasqe.train import checkpoint as ckpt
from debiasqe.train import distributed as dist
from debiasqe.train.trainer import StepBatchSampler, Trainer, resolve_config

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parents[1] / "src"
sys.path.insert(0, str(TESTS))
from test_train import PairSet, TinyG, TinyVGG, cfg  # noqa: E402


class BnD(torch.nn.Module):
    """VGG-style D with batch norm, as the real one: no conv bias before BN; no head
    bias either (RaGAN's C(r) - mean C(f) cancels it, so its gradient is 0 and Adam
    would move it by +-lr on float noise alone)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
            nn.Conv2d(8, 8, 3, 2, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(8, 1, bias=False)

    def forward(self, x):
        return self.head(self.body(x))


def nets():
    torch.manual_seed(0)
    return dict(generator=TinyG(), discriminator=BnD(), features=TinyVGG())


def test_shards_of_the_step_batch_are_the_whole_batch_in_slots():
    whole = StepBatchSampler(7, 6, seed=3, start_step=0, end_step=5)
    parts = [StepBatchSampler(7, 6, seed=3, start_step=0, end_step=5,
                              shard=dist.shard_batch(6, dist.World(rank=r, size=3))) for r in range(3)]
    for step in range(5):
        assert sum((p.keys(step) for p in parts), []) == whole.keys(step)
        assert [len(p.keys(step)) for p in parts] == [2, 2, 2]
    with pytest.raises(ConfigError, match="batch 6 is not divisible by 4 processes"):
        dist.shard_batch(6, dist.World(rank=0, size=4))
    with pytest.raises(ConfigError, match="batch 6 is not divisible by gpus 4"):
        resolve_config({"recipe": "esrgan", "batch": 6, "gpus": 4})


def test_torchrun_command():
    argv = dist.torchrun_argv(4, ["train", "--spec", "{}"])
    assert argv[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                        "-m", "debiasqe", "train", "--spec", "{}"]


SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    sys.path[:0] = [{tests!r}, {src!r}]
    from test_train import cfg, PairSet
    from test_distributed import nets
    from debiasqe.train.trainer import Trainer
    c = cfg("esrgan", iters=3, batch=4, ddr=True, checkpoint_every=2, log_every=1, gpus=2)
    Trainer(c, PairSet(n=6, size=40), sys.argv[1], **nets()).run()
""")


def test_two_processes_reach_the_weights_of_one_with_the_same_global_batch(tmp_path):
    """ESRGAN-debias with a VGG-style D that has batch norm: RaGAN's batch means,
    L_R, the batch norm statistics (synchronised) and the averaged gradients
    make two processes of batch 2 equal to one process of batch 4."""
    one = tmp_path / "one"
    n = nets()
    assert dist.has_batch_norm(n["discriminator"])
    Trainer(cfg("esrgan", iters=3, batch=4, ddr=True, checkpoint_every=2, log_every=1), PairSet(n=6, size=40),
            one, **n).run()
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), src=str(SRC)))
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), str(two)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    a, b = ckpt.load(one / "checkpoint.pt"), ckpt.load(two / "checkpoint.pt")
    assert a["step"] == b["step"] == 3
    bad = []
    for part in ("generator", "discriminator", "ema"):
        assert a[part].keys() == b[part].keys()
        for k, v in a[part].items():
            w = b[part][k]
            if v.is_floating_point():
                bad.append((part, k, float((v - w).abs().max()))) if not torch.allclose(v, w, rtol=1e-4, atol=1e-6) else None
            else:
                assert torch.equal(v, w), (part, k)
    assert not bad, bad
    # the weights moved (a test of equality between two unchanged nets would prove nothing)
    init = nets()["discriminator"].state_dict()
    assert not torch.allclose(init["head.weight"], a["discriminator"]["head.weight"])
    # the log holds the losses of the whole batch: the same rows
    rows = lambda p: [line.split(",")[:8] for line in (p / "train_log.csv").read_text().splitlines()[1:]]  # noqa: E731
    for ra, rb in zip(rows(one), rows(two), strict=True):
        assert ra[0] == rb[0]
        for x, y in zip(ra[1:], rb[1:]):
            assert float(x) == pytest.approx(float(y), rel=1e-3, abs=1e-6)
    assert (two / "model.pt").is_file() and (two / "discriminator.pt").is_file()


# ------------------------------------------------------------- uint8 on the device


class Uint8Set(torch.utils.data.Dataset):
    """PairSet quantised to uint8 (what the patch stores hold)."""

    def __init__(self, as_float=False):
        base = PairSet(n=6, size=40)
        self.raw = (base.raw * 255).round().to(torch.uint8)
        self.comp = (base.comp * 255).round().to(torch.uint8)
        self.as_float = as_float

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        if self.as_float:
            return self.raw[i].float() / 255.0, self.comp[i].float() / 255.0
        return self.raw[i], self.comp[i]


def test_device_side_augmentation_is_the_per_sample_cpu_one():
    from debiasqe.train.trainer import _augment, augment_batch, to_float

    x = torch.randint(0, 256, (8, 3, 5, 5), dtype=torch.uint8)
    codes = torch.arange(8)
    want = torch.stack([_augment(x[i].float() / 255.0, i) for i in range(8)])
    got = augment_batch(to_float(x), codes)
    assert torch.equal(got, want)
    assert len({tuple(got[i].flatten().tolist()) for i in range(8)}) == 8  # eight different transforms


def test_uint8_patches_train_to_the_weights_of_float_patches(tmp_path):
    """uint8 patches (converted and flipped on the device) give bit-identical
    weights to the same patches as float (the path of earlier versions)."""
    out = {}
    for name, as_float in (("u8", False), ("f32", True)):
        n = nets()
        Trainer(cfg("esrgan", iters=3, batch=4, checkpoint_every=10, log_every=1), Uint8Set(as_float),
                tmp_path / name, **n).run()
        out[name] = ckpt.load(tmp_path / name / "checkpoint.pt")
    for part in ("generator", "discriminator", "ema"):
        for k, v in out["u8"][part].items():
            assert torch.equal(v, out["f32"][part][k]), (part, k)


def test_cli_with_gpus_2_runs_two_processes_under_torchrun(tmp_path):
    """`debiasqe train` with training.gpus: 2 re-executes itself under torchrun (2 gloo
    processes on CPU here) and ends with the model one process of the same batch trains."""
    import json

    import numpy as np
    from PIL import Image

    from debiasqe.data.patches import extract_patches
    from debiasqe.train.stage import run_training

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "raw.png")
    Image.fromarray((img // 2).astype(np.uint8)).save(tmp_path / "comp.png")
    extract_patches([tmp_path / "raw.png"], 32, 16, tmp_path / "raw.npy", progress=False)
    extract_patches([tmp_path / "comp.png"], 32, 16, tmp_path / "comp.npy", names=["raw"], progress=False)
    spec = cfg("fidelity", iters=3, batch=4, patch=24, generator="dncnn", size="tiny", checkpoint_every=10)
    run_training(spec, tmp_path / "raw.npy", [tmp_path / "comp.npy"], tmp_path / "one", step=12, progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC)}
    env.pop("DEBIASQE_GPUS", None)
    proc = subprocess.run([sys.executable, "-m", "debiasqe", "train", "--spec", json.dumps({**spec, "gpus": 2}),
                           "--raw", str(tmp_path / "raw.npy"), "--comp", str(tmp_path / "comp.npy"), "--step", "12",
                           "--output", str(tmp_path / "two"), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "torch.distributed.run" not in proc.stderr  # torchrun did not complain
    a = ckpt.load(tmp_path / "one" / "model.pt")
    b = ckpt.load(tmp_path / "two" / "model.pt")
    assert a["meta"]["config"]["gpus"] == 1 and b["meta"]["config"]["gpus"] == 2
    assert a["meta"]["provenance"]["processes"] == 1 and b["meta"]["provenance"]["processes"] == 2
    for k, v in a["state_dict"].items():
        if v.is_floating_point():
            assert torch.allclose(v, b["state_dict"][k], rtol=1e-4, atol=1e-6), (k, (v - b["state_dict"][k]).abs().max())
