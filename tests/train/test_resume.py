"""Resume only from the same past: a checkpoint records a fingerprint of what
determines the training and a resume compares it, ingredient by ingredient."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from debiasqe.train import checkpoint as ckpt
from debiasqe.data.patches import read_index, store_digest, write_image_store
from debiasqe.train.patch_dataset import PairedPatchDataset
from debiasqe.core.errors import ConfigError
from debiasqe.train.trainer import Trainer
from test_train import cfg, nets


class Stop(Exception):
    pass


def _images(folder: Path, seed: int, poke: bool = False) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    paths = []
    for k in range(2):
        a = rng.randint(0, 256, (40, 48, 3), dtype=np.uint8)
        if poke and k == 1:
            a[5, 7, 1] ^= 1  # one value of one pixel
        p = folder / f"im{k}.png"
        Image.fromarray(a).save(p)
        paths.append(p)
    return paths


def _stores(tmp: Path, poke: str | None = None) -> tuple[Path, Path]:
    raw = tmp / "stores" / "raw.npy"
    comp = tmp / "stores" / "jpeg" / "10.npy"
    write_image_store(_images(tmp / "png_raw", 1, poke == "raw"), raw, progress=False)
    write_image_store(_images(tmp / "png_comp", 2, poke == "comp"), comp, progress=False)
    return raw, comp


def _stage1(path: Path, seed: int) -> Path:
    state = {k: v + 0.01 * seed for k, v in nets("fidelity")["generator"].state_dict().items()}
    ckpt.save(path, {"state_dict": state, "meta": {}})
    return path


class WiderG(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(12, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def _run(tmp, out, *, step=8, stop_at=None, generator=None, **kw):
    raw, comp = tmp / "stores" / "raw.npy", tmp / "stores" / "jpeg" / "10.npy"
    ds = PairedPatchDataset(raw, comp, augment=False, patch=16, step=step)
    n = nets("fidelity")
    if generator is not None:
        n["generator"] = generator
    c = cfg("fidelity", iters=4, checkpoint_every=2, patch=16, init_from=str(tmp / "s1a.pt"))
    c.update(kw)
    steps = []

    def on_step(s, row):
        steps.append(s)
        if s == stop_at:
            raise Stop

    tr = Trainer(c, ds, out, generator=n["generator"])
    try:
        tr.run(on_step=on_step)
    except Stop:
        pass
    return steps


@pytest.fixture
def killed(tmp_path):
    """A training killed at step 3 with its checkpoint at step 2."""
    _stores(tmp_path)
    _stage1(tmp_path / "s1a.pt", 0)
    _stage1(tmp_path / "s1b.pt", 1)
    out = tmp_path / "run"
    assert _run(tmp_path, out, stop_at=3) == [1, 2, 3]
    assert ckpt.load(out / "checkpoint.pt")["step"] == 2
    return tmp_path, out


def test_same_past_resumes(killed, caplog):
    tmp, out = killed
    # a rebuilt store with the same pixels and a runtime-only key changed: still the same past
    _stores(tmp)
    with caplog.at_level(logging.WARNING):
        assert _run(tmp, out, log_every=2) == [3, 4]
    assert not caplog.records
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "model.pt", "provenance.json", "train_log.csv"]


CHANGES = {
    # ingredient: (how to change it, the words the warning line names it with, the aside file's label)
    "recipe": (lambda tmp: dict(lr=1e-3), "recipe (keys lr, lr_d)", "recipe"),
    "network": (lambda tmp: dict(size="paper"), "network", "network"),
    "network architecture": (lambda tmp: dict(generator=WiderG(), init_from=None), "network; stage-1 model",
                             "network+stage-1-model"),
    "seed": (lambda tmp: dict(seed=7), "seed (0 -> 7)", "seed"),
    "stage-1 model": (lambda tmp: dict(init_from=str(tmp / "s1b.pt")), "stage-1 model", "stage-1-model"),
    "raw store": (lambda tmp: _stores(tmp, poke="raw") and {}, "raw store", "raw-store"),
    "compressed stores": (lambda tmp: _stores(tmp, poke="comp") and {}, "compressed stores", "compressed-stores"),
    "patch grid": (lambda tmp: dict(step=16), "patch grid (16/8 -> 16/16)", "patch-grid"),
}


@pytest.mark.parametrize("ingredient", list(CHANGES))
def test_changed_ingredient_restarts_and_keeps_the_old_checkpoint(killed, caplog, ingredient):
    tmp, out = killed
    change, words, label = CHANGES[ingredient]
    old = (out / "checkpoint.pt").read_bytes()
    with caplog.at_level(logging.WARNING):
        assert _run(tmp, out, **change(tmp)) == [1, 2, 3, 4]  # from step 0
    aside = out / f"checkpoint-step2-before-{label}-change.pt"
    assert aside.read_bytes() == old, "the old checkpoint must be kept, unchanged"
    # checkpoint.prev.pt (the step-... before) does not exist: only one checkpoint was written
    [rec] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert rec.getMessage() == (f"{out}/checkpoint.pt: written for another training (changed: {words}); "
                                f"restarting from step 0, old checkpoint kept as {aside.name}")
    assert (out / "model.pt").is_file() and ckpt.load(out / "checkpoint.pt")["step"] == 4


@pytest.mark.parametrize("ingredient", ["seed", "patch grid"])
def test_on_mismatch_refuse_stops_and_touches_nothing(killed, ingredient):
    tmp, out = killed
    change, words, _ = CHANGES[ingredient]
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ConfigError) as exc:
        _run(tmp, out, on_mismatch="refuse", **change(tmp))
    assert str(exc.value) == (f"{out}/checkpoint.pt: written for another training (changed: {words}); "
                              "training.on_mismatch is 'refuse': move it away to start over")
    assert sorted(p.name for p in out.iterdir()) == before


def test_checkpoint_without_fingerprint_counts_as_another_past(killed, caplog):
    tmp, out = killed
    s = ckpt.load(out / "checkpoint.pt")
    del s["past"]
    ckpt.save(out / "checkpoint.pt", s)
    with caplog.at_level(logging.WARNING):
        assert _run(tmp, out)[0] == 1
    assert "changed: unknown (the checkpoint records no fingerprint)" in caplog.text
    assert (out / "checkpoint-step2-before-unknown-change.pt").is_file()


def test_store_digest_covers_pixels_not_rebuilds(tmp_path):
    raw, _ = _stores(tmp_path)
    idx = raw.with_name("raw.index.json")
    d1 = store_digest(idx)
    assert d1.startswith("pixels:") and all(len(e["sha256"]) == 64 for e in read_index(idx)["images"])
    want = __import__("hashlib").sha256(np.asarray(Image.open(tmp_path / "png_raw" / "im0.png")).tobytes()).hexdigest()
    assert read_index(idx)["images"][0]["sha256"] == want
    _stores(tmp_path)
    assert store_digest(idx) == d1
    _stores(tmp_path, poke="raw")
    assert store_digest(idx) != d1


# ------------------------------------------------------------ unreadable checkpoints


def _two_checkpoints(tmp, out):
    """Run to step 4 of 6, stop: checkpoint.pt (step 4) and checkpoint.prev.pt (step 2)."""
    _run(tmp, out, iters=6, stop_at=5)
    assert ckpt.load(out / "checkpoint.pt")["step"] == 4
    assert ckpt.load(out / "checkpoint.prev.pt")["step"] == 2


def test_empty_checkpoint_falls_back_to_the_previous_one(killed, caplog):
    tmp, out = killed
    out2 = tmp / "run2"
    _two_checkpoints(tmp, out2)
    (out2 / "checkpoint.pt").write_bytes(b"")  # what a crash before the data reached the disk leaves
    with caplog.at_level(logging.WARNING):
        assert _run(tmp, out2, iters=6) == [3, 4, 5, 6]
    msgs = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert msgs == [
        f"{out2}/checkpoint.pt: not a readable debiasqe checkpoint (empty file, 0 bytes); "
        "kept as checkpoint-unreadable.pt, trying checkpoint.prev.pt",
        f"{out2}/checkpoint.pt: resuming from the previous checkpoint checkpoint.prev.pt (step 2)",
    ]
    assert (out2 / "checkpoint-unreadable.pt").stat().st_size == 0
    # finished: model.pt, the final checkpoint; the fallback is gone
    assert not (out2 / "checkpoint.prev.pt").exists() and (out2 / "model.pt").is_file()


def test_garbage_checkpoint_without_previous_restarts(killed, caplog):
    tmp, out = killed
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really")
    with caplog.at_level(logging.WARNING):
        assert _run(tmp, out)[0] == 1
    [msg] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert msg.startswith(f"{out}/checkpoint.pt: not a readable debiasqe checkpoint (")
    assert msg.endswith("; kept as checkpoint-unreadable.pt, restarting from step 0")


def test_resumed_from_previous_equals_uninterrupted(tmp_path):
    """Falling back one checkpoint loses steps, not exactness."""
    _stores(tmp_path)
    _stage1(tmp_path / "s1a.pt", 0)
    ref, fb = tmp_path / "ref", tmp_path / "fb"
    _run(tmp_path, ref, iters=6)
    _two_checkpoints(tmp_path, fb)
    (fb / "checkpoint.pt").write_bytes(b"")
    _run(tmp_path, fb, iters=6)
    a, b = ckpt.load(ref / "model.pt")["state_dict"], ckpt.load(fb / "model.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (ref / "checkpoint.pt").read_bytes() == (fb / "checkpoint.pt").read_bytes()


def test_equal_states_are_equal_bytes_however_built(tmp_path):
    """A loaded optimiser state holds its own copies of the key strings, a fresh one
    the interned literals; pickle would write the two differently."""
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    fresh = {"step": 1, "opt": opt.state_dict(), "betas": [(0.9, 0.99)] * 2}
    ckpt.save(tmp_path / "a.pt", fresh)
    loaded = ckpt.load(tmp_path / "a.pt")
    assert loaded["betas"][0] is not loaded["betas"][1]  # the sharing did not survive the file
    ckpt.save(tmp_path / "b.pt", loaded)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    sd = net.state_dict()
    assert ckpt.canonical(sd)._metadata == sd._metadata  # module versions are kept


# ------------------------------------------------------------ the config key


def test_on_mismatch_config_key_reaches_the_trainer():
    from debiasqe.config import validate_config
    from debiasqe.methods import method_spec
    from debiasqe.train.trainer import resolve_config

    default = validate_config({})
    assert default["training"]["on_mismatch"] == "restart"
    # at its default the key is not in the job's spec (existing jobs' params are unchanged)...
    assert "on_mismatch" not in method_spec(default, "dncnn")
    assert resolve_config(method_spec(default, "dncnn"))["on_mismatch"] == "restart"
    # ...set to refuse it is, and the trainer gets it
    refuse = validate_config({"training": {"on_mismatch": "refuse"}})
    assert resolve_config(method_spec(refuse, "dncnn"))["on_mismatch"] == "refuse"
    with pytest.raises(ConfigError, match=r"training.on_mismatch: 'stop' is not one of \['restart', 'refuse'\]"):
        validate_config({"training": {"on_mismatch": "stop"}})
    with pytest.raises(ConfigError, match="on_mismatch must be restart or refuse"):
        resolve_config({"recipe": "fidelity", "on_mismatch": "maybe"})
