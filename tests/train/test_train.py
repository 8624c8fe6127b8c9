"""Trainer: debias switches, recipes on tiny nets, SIGKILL resume, divergence."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from debiasqe.train import checkpoint as ckpt
from debiasqe.core.errors import ConfigError, TrainingDivergedError
from debiasqe.train.recipes import RECIPES
from debiasqe.train.trainer import StepBatchSampler, Trainer, resolve_config

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parents[1] / "src"
LAYERS = ["conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"]


# ------------------------------------------------------------- tiny networks


class TinyG(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class TinyVggD(nn.Module):
    """VGG-style: strided convs, BN, linear head -> (B, 1)."""

    def __init__(self, in_channels=3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
            nn.Conv2d(8, 8, 3, 2, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.body(x))


class TinyUnetD(nn.Module):
    """Per-pixel logits (B, 1, H, W) with spectral norm, like the UNet-SN."""

    def __init__(self, in_channels=3):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.body = nn.Sequential(sn(nn.Conv2d(in_channels, 8, 3, padding=1)), nn.LeakyReLU(0.2),
                                  nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x):
        return self.body(x)


class TinyVGG(nn.Module):
    """Random-init stand-in for VGGFeatures: a dict of the five named layers."""

    provenance = "random-init"

    def __init__(self):
        super().__init__()
        chans = [3, 4, 6, 8, 8, 8]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(5))

    def forward(self, x):
        out = {}
        for i, (name, conv) in enumerate(zip(LAYERS, self.convs)):
            if i:
                x = nn.functional.max_pool2d(torch.relu(x), 2) if x.shape[-1] >= 2 else torch.relu(x)
            x = conv(x)
            out[name] = x
        return out


class PairSet(Dataset):
    def __init__(self, n=6, size=40, seed=0):
        g = torch.Generator().manual_seed(seed)
        low = torch.rand(n, 3, size // 4, size // 4, generator=g)
        self.raw = nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
        # a learnable degradation: contrast loss plus a little noise
        self.comp = (0.6 * self.raw + 0.2 + 0.01 * torch.randn(self.raw.shape, generator=g)).clamp(0, 1)

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, i):
        return self.raw[i], self.comp[i]


def nets(recipe, conditional=False, seed=0):
    torch.manual_seed(seed)
    cin = 6 if conditional else 3
    d = {"esrgan": TinyVggD(cin), "realesrgan": TinyUnetD(cin)}.get(recipe)
    return dict(generator=TinyG(), discriminator=d, features=TinyVGG())


def cfg(recipe, **kw):
    base = dict(recipe=recipe, generator="tiny", iters=4, batch=2, patch=32, device="cpu",
                checkpoint_every=2, log_every=1, progress=False, seed=0)
    base.update(kw)
    return base


# ------------------------------------------------------------------- config


def test_resolve_config_defaults_and_errors():
    c = resolve_config({"recipe": "realesrgan", "ddr": {"weight": None}})
    assert c["ddr"] == {"weight": 0.1, "layers": RECIPES["realesrgan"]["perceptual_layers"], "reduction": "mean"}
    assert c["batch"] == 48 and c["patch"] == 256 and c["gan_weight"] == 0.1
    e = resolve_config({"recipe": "esrgan", "ddr": True})
    assert e["ddr"]["layers"] == {"conv5_4": 1.0} and e["pixel_weight"] == 1e-2 and e["gan_weight"] == 5e-3
    assert resolve_config({"recipe": "fidelity"})["ddr"] is None
    # schema keys the caller resolves itself are accepted
    assert resolve_config({"recipe": "esrgan", "init": "rrdbnet_psnr", "evaluate": False})["init_from"] is None
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_config({"recipe": "esrgan", "conditonal_d": True})
    with pytest.raises(ConfigError, match="conditional_d"):
        resolve_config({"recipe": "fidelity", "conditional_d": True})
    with pytest.raises(ConfigError, match="recipe"):
        resolve_config({"recipe": "srgan"})
    with pytest.raises(ConfigError, match="reduction"):
        resolve_config({"recipe": "esrgan", "ddr": {"reduction": "max"}})


def test_sampler_is_a_function_of_seed_and_step():
    a = StepBatchSampler(5, 3, seed=7, start_step=0, end_step=10)
    b = StepBatchSampler(5, 3, seed=7, start_step=6, end_step=10)
    assert list(a)[6:] == list(b)
    # every epoch is a permutation of the dataset
    flat = [i for batch in a for i, _ in batch]
    assert sorted(flat[:5]) == list(range(5)) and sorted(flat[5:10]) == list(range(5))
    assert list(StepBatchSampler(5, 3, seed=8, start_step=0, end_step=10)) != list(a)


# ------------------------------------------------------ conditional discriminator


class Recording(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.parametrize("conditional", [True, False])
def test_conditional_discriminator_sees_comp_in_channels_3_to_6(tmp_path, conditional):
    n = nets("esrgan", conditional)
    g, d = Recording(n["generator"]), Recording(n["discriminator"])
    tr = Trainer(cfg("esrgan", iters=2, conditional_d=conditional), PairSet(), tmp_path,
                 generator=g, discriminator=d, features=n["features"])
    tr.run()
    assert len(g.inputs) == 2 and len(d.inputs) == 2 * 4  # RaGAN: 2 D calls in the G step, 2 in the D step
    for step, comp in enumerate(g.inputs):
        for x in d.inputs[4 * step: 4 * step + 4]:
            if conditional:
                assert x.shape[1] == 6
                assert torch.equal(x[:, 3:6], comp)
            else:
                assert x.shape[1] == 3
    if conditional:
        # raw and enhanced alike carry I_C: the D-step real input's first half is not comp
        assert not torch.equal(d.inputs[2][:, :3], g.inputs[0])


# --------------------------------------------------------------- recipes


@pytest.mark.parametrize("recipe,debias", [("fidelity", False), ("esrgan", False), ("esrgan", True),
                                           ("realesrgan", False), ("realesrgan", True)])
def test_recipes_run_and_write_outputs(tmp_path, recipe, debias):
    extra = {"conditional_d": True, "ddr": {"weight": 0.1}} if debias else {}
    rows = []
    tr = Trainer(cfg(recipe, iters=4, **extra), PairSet(), tmp_path, **nets(recipe, debias))
    model = tr.run(on_step=lambda s, r: rows.append(r))
    assert len(rows) == 4
    for r in rows:
        for k in tr.terms:
            assert torch.isfinite(torch.tensor(r[k])), (k, r)
    if debias:
        assert "l_ddr" in tr.terms
    obj = ckpt.load(model)
    meta = obj["meta"]
    assert meta["config"]["recipe"] == recipe and meta["provenance"]["vgg_weights"] == ("random-init" if recipe != "fidelity" else None)
    assert meta["provenance"]["seed"] == 0 and "git_commit" in meta["provenance"]
    assert set(obj["state_dict"]) == set(tr.G.state_dict())
    log = (tmp_path / "train_log.csv").read_text().splitlines()
    assert log[0].split(",")[:2] == ["step", "l_pix"] and len(log) == 5
    assert (tmp_path / "checkpoint.pt").is_file()


def test_fidelity_loss_decreases(tmp_path):
    rows = []
    Trainer(cfg("fidelity", iters=30, lr=2e-3, checkpoint_every=100), PairSet(n=2), tmp_path,
            **nets("fidelity")).run(on_step=lambda s, r: rows.append(r["l_pix"]))
    assert sum(rows[-5:]) / 5 < 0.7 * sum(rows[:5]) / 5


def test_init_from_loads_stage1_weights_into_g_and_ema(tmp_path):
    stage1 = Trainer(cfg("fidelity", iters=2), PairSet(), tmp_path / "s1", **nets("fidelity")).run()
    w = ckpt.generator_weights(stage1)
    tr = Trainer(cfg("esrgan", iters=1, init_from=str(stage1)), PairSet(), tmp_path / "s2", **nets("esrgan", seed=3))
    for k, v in w.items():
        assert torch.equal(tr.G.state_dict()[k], v) and torch.equal(tr.ema.state_dict()[k], v)
    assert tr.meta(0)["provenance"]["init_from"]["path"] == str(stage1)


def test_identity_start_recorded_and_ddr_active_from_the_first_step(tmp_path):
    """generator_init: identity builds RRDBNet with its input skip and the last conv zeroed: at step 0
    I_E = I_C, so D_CE = 0 < D_CR and L_R is positive; model.pt and provenance.json record it."""
    d = nets("realesrgan")
    tr = Trainer(cfg("realesrgan", generator="rrdbnet", size="tiny", generator_init="identity", iters=2,
                     ddr={"weight": 0.1}), PairSet(), tmp_path, discriminator=d["discriminator"],
                 features=d["features"])
    x = PairSet()[0][1][None]
    assert torch.equal(tr.G(x), x)
    rows = []
    model = tr.run(on_step=lambda s, r: rows.append(r))
    assert rows[0]["l_ddr"] > 0
    meta = ckpt.load(model)["meta"]
    assert meta["config"]["generator_init"] == "identity" and meta["config"]["generator_args"] == {"global_skip": True}
    assert json.loads((tmp_path / "provenance.json").read_text())["generator_init"] == "identity"
    # the paper's initialisation stays the default
    assert resolve_config({"recipe": "fidelity", "generator": "rrdbnet"})["generator_init"] == "paper"
    with pytest.raises(ConfigError, match="generator_init must be paper or identity"):
        resolve_config({"recipe": "fidelity", "generator": "rrdbnet", "generator_init": "zero"})


def test_near_identity_start_recorded_and_checked(tmp_path):
    """generator_init_scale: the last layer starts small, not zero; model.pt and provenance.json record it."""
    tr = Trainer(cfg("fidelity", generator="dncnn", size="tiny", generator_init="identity",
                     generator_init_scale=0.1, iters=1), PairSet(), tmp_path)
    x = PairSet()[0][1][None]
    assert not torch.equal(tr.G(x), x)
    model = tr.run()
    assert ckpt.load(model)["meta"]["config"]["generator_init_scale"] == 0.1
    assert json.loads((tmp_path / "provenance.json").read_text())["generator_init_scale"] == 0.1
    assert resolve_config({"recipe": "fidelity", "generator": "dncnn"})["generator_init_scale"] == 0.0
    with pytest.raises(ConfigError, match="generator_init_scale needs generator_init: identity"):
        resolve_config({"recipe": "fidelity", "generator": "dncnn", "generator_init_scale": 0.1})
    with pytest.raises(ConfigError, match=r"generator_init_scale must be a number in \[0, 1\]"):
        resolve_config({"recipe": "fidelity", "generator": "dncnn", "generator_init": "identity",
                        "generator_init_scale": 2})


def test_resume_with_other_config_is_refused_when_asked(tmp_path):
    # the default (restart, old checkpoint kept aside) is tested in test_resume.py
    Trainer(cfg("fidelity", iters=2), PairSet(), tmp_path, **nets("fidelity")).run()
    with pytest.raises(ConfigError, match=r"written for another training \(changed: recipe \(keys lr, lr_d\)\)"):
        Trainer(cfg("fidelity", iters=2, lr=1e-3, on_mismatch="refuse"), PairSet(), tmp_path,
                **nets("fidelity")).run()


# -------------------------------------------------------------- divergence


class NaNAfter(nn.Module):
    def __init__(self, inner, after):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, x):
        self.calls += 1
        y = self.inner(x)
        return y * float("nan") if self.calls > self.after else y


def test_nan_loss_stops_with_step_and_term_and_keeps_last_checkpoint(tmp_path):
    n = nets("fidelity")
    g = NaNAfter(n["generator"], after=4)
    tr = Trainer(cfg("fidelity", iters=10, checkpoint_every=2), PairSet(), tmp_path, generator=g)
    with pytest.raises(TrainingDivergedError, match=r"l_pix became nan at step 5.*step 4\) kept"):
        tr.run()
    assert ckpt.load(tmp_path / "checkpoint.pt")["step"] == 4
    assert not (tmp_path / "model.pt").exists()


# ----------------------------------------------------------- SIGKILL resume

SCRIPT = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(1)
    sys.path[:0] = [{tests!r}, {src!r}]
    from test_train import PairSet, nets, cfg
    from debiasqe.train.trainer import Trainer
    slow = float(sys.argv[2])
    c = cfg("esrgan", iters=24, checkpoint_every=6, conditional_d=True, ddr={{"weight": 0.1}})
    Trainer(c, PairSet(), sys.argv[1], **nets("esrgan", True)).run(on_step=lambda s, r: time.sleep(slow))
""")


def _last_logged_step(path):
    try:
        lines = path.read_text().splitlines()
        return int(lines[-1].split(",")[0]) if len(lines) > 1 else 0
    except (FileNotFoundError, ValueError):
        return 0


def test_sigkill_resume_is_bitwise_equal(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), src=str(SRC)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run([sys.executable, str(script), str(ref), "0"], check=True, env=env, timeout=120)

    proc = subprocess.Popen([sys.executable, str(script), str(killed), "0.15"], env=env)
    deadline = time.time() + 90
    ck = killed / "checkpoint.pt"
    while time.time() < deadline:
        if ck.is_file() and _last_logged_step(killed / "train_log.csv") >= ckpt.load(ck)["step"] + 3:
            break
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.pt").exists()
    killed_at = ckpt.load(ck)["step"]
    assert 0 < killed_at < 24
    subprocess.run([sys.executable, str(script), str(killed), "0"], check=True, env=env, timeout=120)

    a, b = ckpt.load(ref / "model.pt"), ckpt.load(killed / "model.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    # the whole final checkpoint (optimisers, RNG states) is the same bytes: the
    # pipeline's interrupt test compares runs file by file
    assert (ref / "checkpoint.pt").read_bytes() == (killed / "checkpoint.pt").read_bytes()
    cb = ckpt.load(killed / "checkpoint.pt")
    # the final discriminator, which the realism scores read, is the checkpoint's
    final = ckpt.load(killed / ckpt.DISCRIMINATOR_NAME)
    assert final["meta"]["config"]["conditional_d"] is True
    assert final["state_dict"].keys() == cb["discriminator"].keys()
    assert all(torch.equal(final["state_dict"][k], cb["discriminator"][k]) for k in final["state_dict"])
    # the log has each step once, in order
    steps = [int(l.split(",")[0]) for l in (killed / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 25))


# ------------------------------------------------- real networks from the registry


@pytest.mark.parametrize("recipe,patch", [("realesrgan", 32), ("esrgan", 128)])
def test_registry_networks_debias_smoke(tmp_path, recipe, patch):
    """rrdbnet (tiny) + the registry's discriminator + random-init VGG-19."""
    c = cfg(recipe, iters=1, batch=1, patch=patch, size="tiny", generator="rrdbnet",
            conditional_d=True, ddr={"weight": 0.1}, pretrained="random")
    data = PairSet(n=2, size=patch)
    tr = Trainer(c, data, tmp_path)
    assert next(tr.D.parameters()).shape[1] == 6
    model = tr.run()
    meta = ckpt.load(model)["meta"]
    assert meta["provenance"]["vgg_weights"]["sha256"] == "random-init"


@pytest.mark.parametrize("levels", [1, 2])
def test_paired_patch_dataset_per_level_and_per_codec(tmp_path, levels):
    """train_per level (one compressed array) or codec (a list of arrays)."""
    import numpy as np
    from PIL import Image

    from debiasqe.data.patches import extract_patches
    from debiasqe.train.patch_dataset import PairedPatchDataset

    rng = np.random.default_rng(0)
    raw_png = tmp_path / "raw.png"
    img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(img).save(raw_png)
    extract_patches([raw_png], 32, 16, tmp_path / "raw.npy", progress=False)
    comps = []
    for lv in range(levels):
        p = tmp_path / f"comp{lv}.png"
        Image.fromarray((img // (2 + lv)).astype(np.uint8)).save(p)
        extract_patches([p], 32, 16, tmp_path / f"comp{lv}.npy", names=["raw"], progress=False)
        comps.append(tmp_path / f"comp{lv}.npy")
    ds = PairedPatchDataset(tmp_path / "raw.npy", comps[0] if levels == 1 else comps, augment=False)
    assert len(ds) == 4 * levels
    model = Trainer(cfg("fidelity", iters=2, patch=24), ds, tmp_path / "out", **nets("fidelity")).run()
    assert model.is_file()
    from debiasqe.train.stage import run_training

    c = cfg("fidelity", iters=2, patch=24, generator="dncnn", size="tiny")
    assert run_training(c, tmp_path / "raw.npy", comps[:levels], tmp_path / "cli", step=12,
                        progress=False).is_file()


def test_bf16_autocast_and_channels_last_on_cpu(tmp_path):
    """The GPU speed switches run (on CPU here); losses stay finite and fp32."""
    rows = []
    c = cfg("realesrgan", iters=2, amp="bf16", channels_last=True, conditional_d=True, ddr={"weight": 0.1})
    tr = Trainer(c, PairSet(), tmp_path, **nets("realesrgan", True))
    tr.run(on_step=lambda s, r: rows.append(r))
    assert all(torch.isfinite(torch.tensor([r[k] for k in tr.terms])).all() for r in rows)
    assert all(p.dtype == torch.float32 for p in tr.ema.module.parameters())


def test_dataloader_workers_do_not_change_the_result(tmp_path):
    """Crops/flips are keyed by (seed, step, slot), not by worker state."""
    out = {}
    for w in (0, 2):
        model = Trainer(cfg("fidelity", iters=3, num_workers=w), PairSet(), tmp_path / str(w), **nets("fidelity")).run()
        out[w] = ckpt.load(model)["state_dict"]
    for k in out[0]:
        assert torch.equal(out[0][k], out[2][k]), k


def test_stage1_and_its_gan_methods_must_start_alike():
    from debiasqe.methods import check_methods

    methods = {"s1": {"generator": "rrdbnet", "recipe": "fidelity", "generator_init": "paper"},
               "gan": {"generator": "rrdbnet", "recipe": "esrgan", "init": "s1"}}
    check_methods({"methods": methods, "training": {"generator_init": "paper"}})
    with pytest.raises(ConfigError, match=r"methods.gan.generator_init: 'identity' differs from that of its init 's1'"):
        check_methods({"methods": methods, "training": {"generator_init": "identity"}})
