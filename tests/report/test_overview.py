"""The report's first pages: training curves from train_log.csv and the run overview."""

from __future__ import annotations

import re

from PIL import Image

from debiasqe.config import load_config
from debiasqe.report.overview import fig_training_curves, read_train_log, write_overview
from debiasqe.status.cli import default_config
from debiasqe.status.report import JobState


def test_training_curves_from_train_logs(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("step,l_pix,l_g_gan,lr\n1,0.5,0.1,1e-4\n2,0.25,0.2,1e-4\n")
    b = tmp_path / "b.csv"
    b.write_text("step,l_pix,lr\n1,0.4,1e-4\n2,0.3,1e-4\n3,0.2,1e-4\n")
    assert read_train_log(b) == {"step": [1.0, 2.0, 3.0], "l_pix": [0.4, 0.3, 0.2], "lr": [1e-4] * 3}
    out = fig_training_curves({"esrgan": a, "dncnn": b, "missing": tmp_path / "none.csv"}, tmp_path / "curves")
    assert out == [str(tmp_path / "curves.png"), str(tmp_path / "curves.pdf")]
    im = Image.open(tmp_path / "curves.png")
    assert im.size[0] > im.size[1]  # two panels (l_pix, l_g_gan) side by side


def test_overview_names_commit_weights_and_hardware(tmp_path):
    config = load_config(default_config())
    states = [JobState("evaluate", "comp/demo_test", "done", flags={"metric lpips": "random-init"}),
              JobState("evaluate", "dncnn/demo_test", "done", flags={"metric lpips": "random-init"}),
              JobState("train", "dncnn/bpg/all", "failed"),
              JobState("report", "overview", "missing")]
    rec = tmp_path / "provenance.json"
    rec.write_text('{"device": "cuda:0", "torch": "2.5.0", "amp": "bf16"}')
    write_overview(config, tmp_path / "o.html", status_states=states, curves_png=None, train_records=[str(rec)])
    html = (tmp_path / "o.html").read_text()
    assert re.search(r"<td>commit</td><td>([0-9a-f]{40}|unknown)</td>", html)
    assert "<td>jobs done</td><td>2 of 3 (this page aside)</td>" in html
    assert "<tr><td>metric lpips</td><td>random-init</td><td>2</td></tr>" in html
    assert "<td>training device</td><td>cuda:0 (1 trained models)</td>" in html
    assert "pretrained: auto" in html and "train_dataset: demo_train" in html
