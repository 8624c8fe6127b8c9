"""debiasqe.gpu_slots: distinct devices for concurrent jobs, released on any exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from debiasqe import gpu_slots
from debiasqe.errors import ConfigError


def test_parse_devices():
    assert gpu_slots.parse_devices(None) == [] and gpu_slots.parse_devices(" ") == []
    assert gpu_slots.parse_devices("0, 1,3") == ["0", "1", "3"]
    assert gpu_slots.parse_devices("GPU-1a2b,MIG-3c") == ["GPU-1a2b", "MIG-3c"]
    with pytest.raises(ConfigError, match=r"DEBIASQE_GPUS='0,0': expected a comma-separated list of distinct"):
        gpu_slots.parse_devices("0,0")
    with pytest.raises(ConfigError, match=r"'cuda:1' is not a device index"):
        gpu_slots.parse_devices("cuda:1")


def test_unset_changes_nothing():
    env = {"CUDA_VISIBLE_DEVICES": "5"}
    assert gpu_slots.claim_gpu(env) is None and env == {"CUDA_VISIBLE_DEVICES": "5"}


def test_claims_are_distinct_and_freed(tmp_path):
    a = gpu_slots.acquire(["0", "1"], tmp_path)
    b = gpu_slots.acquire(["0", "1"], tmp_path)
    assert {a.device, b.device} == {"0", "1"}
    with pytest.raises(ConfigError, match=r"no free GPU among DEBIASQE_GPUS=0,1 after 0 s"):
        gpu_slots.acquire(["0", "1"], tmp_path, timeout=0)
    a.release()
    c = gpu_slots.acquire(["0", "1"], tmp_path)
    assert c.device == a.device
    b.release(), c.release()


def test_claim_sets_cuda_visible_devices(tmp_path):
    env = {"DEBIASQE_GPUS": "2,3", "DEBIASQE_GPU_LOCK_DIR": str(tmp_path)}
    assert gpu_slots.claim_gpu(env) == "2" and env["CUDA_VISIBLE_DEVICES"] == "2"
    env2 = dict(env)
    assert gpu_slots.claim_gpu(env2) == "3" and env2["CUDA_VISIBLE_DEVICES"] == "3"
    while gpu_slots._held:
        gpu_slots._held.pop().release()


def _wrapped(tmp_path, *cmd):
    env = {**os.environ, "DEBIASQE_GPUS": "0,1", "DEBIASQE_GPU_LOCK_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "debiasqe.gpu_slots", "--", *cmd],
                            env=env, stdout=subprocess.PIPE, text=True)


def test_wrapper_execs_with_the_lock_held_and_kill9_frees_it(tmp_path):
    hold = [sys.executable, "-c",
            "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); time.sleep(60)"]
    p1, p2 = _wrapped(tmp_path, *hold), _wrapped(tmp_path, *hold)
    try:
        devices = {p1.stdout.readline().strip(), p2.stdout.readline().strip()}
        assert devices == {"0", "1"}  # two concurrent jobs, two devices
        p1.send_signal(signal.SIGKILL)
        p1.wait()
        time.sleep(0.1)
        freed = gpu_slots.acquire(["0", "1"], tmp_path, timeout=5)  # the killed job's slot is free
        freed.release()
    finally:
        for p in (p1, p2):
            p.kill()
            p.wait()
