"""The training loop's GPU-minded parts, checked on CPU: deferred non-finite
checks, checkpoints by wall time, preemption by a real signal, and
torch.compile without recompiles after warm-up."""

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from debiasqe.core.errors import TrainingDivergedError, TrainingPreempted
from debiasqe.train import checkpoint as ckpt
from debiasqe.train.trainer import Trainer

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parents[1] / "src"
sys.path.insert(0, str(TESTS))
from test_train import NaNAfter, PairSet, cfg, nets  # noqa: E402


def test_nan_found_at_the_next_read_names_the_first_bad_step(tmp_path):
    """Losses are read only at log/checkpoint steps: a NaN at step 5 is found at
    the step-8 checkpoint, the error names step 5, and the step-4 checkpoint stays."""
    n = nets("fidelity")
    g = NaNAfter(n["generator"], after=4)
    tr = Trainer(cfg("fidelity", iters=12, checkpoint_every=4, log_every=100), PairSet(), tmp_path, generator=g)
    with pytest.raises(TrainingDivergedError, match=r"l_pix became nan at step 5;.*\(step 4\) kept"):
        tr.run()
    assert g.calls == 8  # it ran on to the step-8 checkpoint, which it refused to write
    assert ckpt.load(tmp_path / "checkpoint.pt")["step"] == 4
    assert not (tmp_path / "model.pt").exists()


def test_checkpoint_by_wall_time(tmp_path):
    seen = []
    c = cfg("fidelity", iters=5, checkpoint_every=1000, checkpoint_minutes=1e-9)  # every step is "too long"
    tr = Trainer(c, PairSet(), tmp_path, **nets("fidelity"))
    tr.run(on_step=lambda s, r: seen.append(ckpt.load(tmp_path / "checkpoint.pt")["step"]
                                            if (tmp_path / "checkpoint.pt").is_file() else 0))
    # the on_step hook runs before that step's checkpoint: it sees the previous step's
    assert seen == [0, 1, 2, 3, 4]
    seen.clear()
    c = cfg("fidelity", iters=5, checkpoint_every=1000, checkpoint_minutes=0)  # by step only
    Trainer(c, PairSet(), tmp_path / "b", **nets("fidelity")).run(
        on_step=lambda s, r: seen.append((tmp_path / "b" / "checkpoint.pt").is_file()))
    assert seen == [False] * 5


SCRIPT = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(1)
    sys.path[:0] = [{tests!r}, {src!r}]
    from test_train import PairSet, nets, cfg
    from debiasqe.train.trainer import Trainer
    slow = float(sys.argv[2])
    c = cfg("realesrgan", iters=30, checkpoint_every=1000, log_every=1, conditional_d=True, ddr={{"weight": 0.1}})
    Trainer(c, PairSet(), sys.argv[1], **nets("realesrgan", True)).run(on_step=lambda s, r: time.sleep(slow))
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_checkpoints_exits_nonzero_and_resumes_bit_exact(tmp_path, sig):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), src=str(SRC)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref, hit = tmp_path / "ref", tmp_path / "hit"
    subprocess.run([sys.executable, str(script), str(ref), "0"], check=True, env=env, timeout=120)

    proc = subprocess.Popen([sys.executable, str(script), str(hit), "0.1"], env=env,
                            stderr=subprocess.PIPE, text=True)
    log = hit / "train_log.csv"
    deadline = time.time() + 90
    while time.time() < deadline:
        if log.is_file() and len(log.read_text().splitlines()) > 4:  # a few steps done, no checkpoint yet
            break
        assert proc.poll() is None, "training ended before the signal"
        time.sleep(0.05)
    assert not (hit / "checkpoint.pt").exists()  # checkpoint_every=1000: only the signal can write one
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err  # non-zero: Snakemake retries the job
    at = ckpt.load(hit / "checkpoint.pt")["step"]
    assert 4 <= at < 30
    assert f"TrainingPreempted: {hit}: {sig.name} received; checkpoint {hit / 'checkpoint.pt'} saved at step {at} of 30" in err
    assert not (hit / "model.pt").exists()
    lines = log.read_text().splitlines()
    assert int(lines[-1].split(",")[0]) == at  # it stopped right after the step it saved

    subprocess.run([sys.executable, str(script), str(hit), "0"], check=True, env=env, timeout=120)
    a, b = ckpt.load(ref / "model.pt")["state_dict"], ckpt.load(hit / "model.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    da, db = ckpt.load(ref / "checkpoint.pt")["discriminator"], ckpt.load(hit / "checkpoint.pt")["discriminator"]
    assert all(torch.equal(da[k], db[k]) for k in da)


def test_preempt_error_is_a_debiasqe_error():
    from debiasqe.core.errors import DebiasqeError

    assert issubclass(TrainingPreempted, DebiasqeError)


@pytest.mark.parametrize("recipe", ["esrgan", "realesrgan"])
def test_compile_has_no_recompiles_after_warmup(tmp_path, monkeypatch, recipe):
    """G, D and VGG compiled (dynamo with the eager backend: the graph breaks and
    recompiles are dynamo's, the backend only lowers). Step 1 compiles VGG at
    batch B (with grad) and 2B (no grad) and D in both grad modes; steps 2.. must
    not compile anything (D's requires_grad is never toggled)."""
    import torch._dynamo

    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    counters = torch._dynamo.utils.counters
    counters.clear()
    frames = []

    def count(step, _row):
        frames.append((counters["stats"]["unique_graphs"], sum(counters["recompiles"].values())))

    c = cfg(recipe, iters=5, compile=True, conditional_d=True, ddr={"weight": 0.1}, checkpoint_every=1000)
    Trainer(c, PairSet(), tmp_path, **nets(recipe, True)).run(on_step=count)
    torch._dynamo.reset()
    assert frames[0][0] >= 3  # G, D and VGG compiled in the first step
    assert frames[1:] == [frames[1]] * 4, frames  # nothing new from step 2 on
    assert frames[1] == frames[0], frames  # nor in step 2 (the warm-up is one step)
