"""The weights in the DAG (presets/ci.yaml, offline): required stops before any job with one
line; under auto, files arriving remake exactly the outputs that used them.

The second test stands the CI DAG's outputs up as empty files (from ``--summary``) and marks
them done with ``--touch`` instead of computing them (minutes on this machine); what it checks
is which jobs Snakemake plans (``-n``) once weight files appear in the store.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline_runs import CI_PRESET, job_env, run_snakemake  # noqa: E402

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path, **extra):
    env = job_env(TORCH_HOME=str(tmp_path / "torch"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
                  HF_HOME=str(tmp_path / "hf"), **extra)
    for var in ("DEBIASQE_WEIGHTS", "HF_HUB_CACHE", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(var, None)
    return env


def _planned(out: str) -> dict[str, int]:
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", out, re.S)
    if not m:
        return {}
    return {name: int(n) for name, n in (line.split() for line in m.group(1).splitlines())}


def test_required_with_a_missing_file_stops_before_any_job(tmp_path):
    env = _env(tmp_path, DEBIASQE_WEIGHTS_MIRROR=f"http://127.0.0.1:{_closed_port()}")
    r = run_snakemake(tmp_path / "run", "--configfile", str(CI_PRESET), "--config", "pretrained=required",
                      "--cores", "1", "-n", env=env, timeout=300)
    assert r.returncode != 0
    lines = [ln for ln in r.stdout.splitlines() if "pretrained weights missing" in ln]
    assert len(lines) == 1, r.stdout[-3000:]
    line = lines[0]
    for rel in ("torch/hub/checkpoints/vgg19-dcbb9e9d.pth", "torch/hub/pyiqa/niqe_modelparameters.mat"):
        assert rel in line
    assert "`snakemake -f fetch_weights`" in line
    assert "Job stats" not in r.stdout and not (tmp_path / "run" / "results").exists()


def test_auto_offline_then_files_arrive_remakes_exactly_the_affected_outputs(tmp_path):
    work = tmp_path / "run"
    env = _env(tmp_path, DEBIASQE_WEIGHTS_MIRROR=f"http://127.0.0.1:{_closed_port()}")
    args = ("--configfile", str(CI_PRESET), "--cores", "1")
    r = run_snakemake(work, *args, "fetch_weights", env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "pretrained weights missing" in r.stdout and "snakemake -f fetch_weights" in r.stdout

    summary = run_snakemake(work, *args, "--summary", env=env, timeout=600).stdout
    for line in summary.splitlines()[1:]:
        path = line.split("\t")[0]
        if not path.startswith(("results/", "resources/")):
            continue
        p = work / path
        if "." in p.name:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
        else:
            p.mkdir(parents=True, exist_ok=True)
    assert run_snakemake(work, *args, "--touch", env=env, timeout=600).returncode == 0
    assert _planned(run_snakemake(work, *args, "-n", env=env, timeout=600).stdout) == {}

    store = work / "resources" / "weights"
    niqe = store / "torch/hub/pyiqa/niqe_modelparameters.mat"
    niqe.parent.mkdir(parents=True, exist_ok=True)
    niqe.write_bytes(b"stand-in")  # dry runs only look at presence
    planned = _planned(run_snakemake(work, *args, "-n", env=env, timeout=600).stdout)
    # an evaluation-only file: every evaluation and what reads it, no training, no enhancement
    assert planned == {"fetch_weights": 1, "evaluate_comp": 1, "evaluate": 7, "compare": 1, "figures": 1,
                       "tables": 1, "overview": 1, "all": 1}

    vgg = store / "torch/hub/checkpoints/vgg19-dcbb9e9d.pth"
    vgg.parent.mkdir(parents=True, exist_ok=True)
    vgg.write_bytes(b"stand-in")
    planned = _planned(run_snakemake(work, *args, "-n", env=env, timeout=600).stdout)
    # VGG-19: also the GAN trainings (perceptual loss, L_R) and what follows them, but not the
    # fidelity trainings (dncnn, rrdbnet_psnr: no VGG), nor compression, patches or comp's images
    # (6 GAN methods x 2 codecs trained; one enhancement job per method over the 8 levels)
    assert planned["train_gan"] == 12 and planned["realism"] == 6 and planned["enhance"] == 6
    assert "train" not in planned and "compress" not in planned and "patches" not in planned
    assert "enhance_identity" not in planned and planned["fetch_weights_train"] == 1
