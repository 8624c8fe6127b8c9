"""The training job's log lines (train/progress.py) and TensorBoard events."""

from __future__ import annotations

import re

import pytest
import torch

from debiasqe.train.progress import TrainProgress, format_bytes, format_line
from debiasqe.train.trainer import Trainer

from test_train import PairSet, cfg, nets

LINE = re.compile(
    r"^train (?P<name>\S+) step (?P<step>\d+)/(?P<total>\d+) \((?P<pct>[\d.]+)%\) \| (?P<losses>[^|]+) \| "
    r"lr=(?P<lr>\S+) \| (?P<rate>\S+) it/s \| ETA (?P<eta>\S+) \| peak mem (?P<mem>[\d.]+ \w+) \((?P<kind>cuda|rss)\)$")


def test_format_line_exact():
    line = format_line("esrgan_debias/bpg/37", 200, 2000, {"l_pix": 0.012345, "l_g_gan": 1.5}, 1e-4,
                       3.2149, 561.0, (1.5 * 2**30, "cuda"))
    assert line == ("train esrgan_debias/bpg/37 step 200/2000 (10.0%) | l_pix=0.01235 l_g_gan=1.5 | lr=0.0001 | "
                    "3.21 it/s | ETA 0:09:21 | peak mem 1.50 GiB (cuda)")
    # unknown rate and ETA (first line of a run) read as '?', not as zero
    assert "| ? it/s | ETA ? |" in format_line("m/c/1", 1, 10, {"l_pix": 1.0}, None, None, None, (2048.0, "rss"))
    assert format_bytes(2048.0) == "2.00 KiB" and format_bytes(3 * 2**20) == "3.00 MiB" and format_bytes(None) == "?"


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_rates_and_eta_by_hand(capsys):
    clock = Clock()
    # resumed at step 100 of 1000: the ETA counts only this process's steps
    p = TrainProgress("m/jpeg/10", 1000, 100, ["l_pix"], torch.device("cpu"), clock=clock)
    clock.t = 50.0  # 100 steps in 50 s: 2 it/s, 800 left -> 400 s
    line = p.log(200, {"l_pix": 0.5, "lr": 2e-4})
    m = LINE.match(line)
    assert m, line
    assert (m["step"], m["total"], m["pct"], m["rate"], m["eta"]) == ("200", "1000", "20.0", "2", "0:06:40")
    assert m["losses"] == "l_pix=0.5" and m["lr"] == "0.0002" and m["kind"] == "rss"
    clock.t = 60.0  # next 100 steps in 10 s: 10 it/s now; mean 200 steps / 60 s -> 700 left in 210 s
    m = LINE.match(p.log(300, {"l_pix": 0.25, "lr": 2e-4}))
    assert (m["rate"], m["eta"]) == ("10", "0:03:30")
    assert capsys.readouterr().err.count("\n") == 2


def test_trainer_writes_one_line_every_log_every_steps(tmp_path, capsys):
    out = tmp_path / "esrgan_debias" / "jpeg" / "10"
    Trainer(cfg("esrgan", iters=6, log_every=2, checkpoint_every=100, conditional_d=True, ddr={"weight": 0.1}),
            PairSet(), out, **nets("esrgan", True)).run()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "train esrgan_debias/jpeg/10: starting of 6 on cpu"
    lines = [LINE.match(x) for x in err[1:] if x.startswith("train esrgan_debias/jpeg/10 step")]
    assert all(lines) and [m["step"] for m in lines] == ["2", "4", "6"]
    names = [kv.split("=")[0] for kv in lines[0]["losses"].split()]
    assert names == ["l_pix", "l_percep", "l_g_gan", "l_ddr", "l_g_total", "l_d_real", "l_d_fake"]
    # the log lines show the values train_log.csv holds
    csv = (out / "train_log.csv").read_text().splitlines()
    row = dict(zip(csv[0].split(","), csv[2].split(",")))
    shown = dict(kv.split("=") for kv in lines[1]["losses"].split())
    assert float(shown["l_pix"]) == pytest.approx(float(row["l_pix"]), rel=1e-3)


def test_tensorboard_events_and_sample_crops(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "m" / "jpeg" / "10"
    Trainer(cfg("fidelity", iters=4, log_every=1, checkpoint_every=2, tensorboard=True), PairSet(), out,
            **nets("fidelity")).run()
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [e.step for e in acc.Scalars("loss/l_pix")] == [1, 2, 3, 4]
    csv = (out / "train_log.csv").read_text().splitlines()
    assert acc.Scalars("loss/l_pix")[-1].value == pytest.approx(float(csv[-1].split(",")[1]), rel=1e-4)
    tags = acc.Tags()["images"]
    assert {"samples/I_C", "samples/I_E", "samples/I_R"} <= {t.split("/image/")[0] for t in tags}
    steps = sorted({e.step for t in tags if t.startswith("samples/I_E") for e in acc.Images(t)})
    assert steps == [2, 4]  # the checkpoint at step 2 and the end


def test_tensorboard_crops_do_not_change_training(tmp_path):
    """The sample crops' forward pass must not change the trained weights (eval mode, no grad)."""
    a = Trainer(cfg("fidelity", iters=4, checkpoint_every=2), PairSet(), tmp_path / "a", **nets("fidelity"))
    a.run()
    b = Trainer(cfg("fidelity", iters=4, checkpoint_every=2, tensorboard=True), PairSet(), tmp_path / "b",
                **nets("fidelity"))
    b.run()
    for k, v in a.ema.state_dict().items():
        assert torch.equal(v, b.ema.state_dict()[k]), k
