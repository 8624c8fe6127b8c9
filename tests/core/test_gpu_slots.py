"""debiasqe.core.gpu_slots: distinct devices for concurrent jobs, released on any exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from debiasqe.core import gpu_slots
from debiasqe.core.errors import ConfigError


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


def test_claim_of_several_devices_for_a_torchrun_job(tmp_path):
    """training.gpus: 2 locks two devices; the processes torchrun starts (LOCAL_RANK) claim nothing."""
    env = {"DEBIASQE_GPUS": "4,5,6", "DEBIASQE_GPU_LOCK_DIR": str(tmp_path)}
    assert gpu_slots.claim_gpu(env, count=2) == "4,5" and env["CUDA_VISIBLE_DEVICES"] == "4,5"
    child = {**env, "LOCAL_RANK": "1"}
    assert gpu_slots.claim_gpu(child) is None and child["CUDA_VISIBLE_DEVICES"] == "4,5"
    with pytest.raises(ConfigError, match=r"no free GPU among DEBIASQE_GPUS=4,5 after 0 s"):
        gpu_slots.claim_gpu(dict(env), count=2, timeout=0)  # it got 6, then none of 4, 5: 6 freed again
    assert gpu_slots.claim_gpu(dict(env), count=1) == "6"
    with pytest.raises(ConfigError, match=r"4 GPUs wanted but DEBIASQE_GPUS=4,5,6 lists 3"):
        gpu_slots.claim_gpu(dict(env), count=4)
    while gpu_slots._held:
        gpu_slots._held.pop().release()


def _wrapped(tmp_path, *cmd):
    env = {**os.environ, "DEBIASQE_GPUS": "0,1", "DEBIASQE_GPU_LOCK_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "debiasqe.core.gpu_slots", "--", *cmd],
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


SNAKEFILE = """
rule all:
    input: expand("out/{i}.txt", i=range(4))

rule gpu_job:
    output: "out/{i}.txt"
    resources: gpu=1
    shell:
        "{PY} -m debiasqe.core.gpu_slots -- {PY} -c "
        "'import os, time; t0 = time.time(); time.sleep(1.5); "
        "open(\\"{output}\\", \\"w\\").write(os.environ[\\"CUDA_VISIBLE_DEVICES\\"] + \\" %f %f\\" % (t0, time.time()))'"
"""


@pytest.mark.slow
def test_local_executor_with_gpu_cap_gives_each_running_job_its_own_device(tmp_path):
    """Snakemake's local executor (--resources gpu=2) + DEBIASQE_GPUS=0,1: no card shared."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE.replace("{PY}", sys.executable))
    env = {**os.environ, "DEBIASQE_GPUS": "0,1", "DEBIASQE_GPU_LOCK_DIR": str(tmp_path / "locks"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "4", "--resources", "gpu=2",
                           "--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = []
    for f in sorted((tmp_path / "out").glob("*.txt")):
        dev, t0, t1 = f.read_text().split()
        jobs.append((dev, float(t0), float(t1)))
    assert len(jobs) == 4 and {j[0] for j in jobs} == {"0", "1"}
    for i, a in enumerate(jobs):
        for b in jobs[i + 1:]:
            overlap = min(a[2], b[2]) > max(a[1], b[1])
            assert not (overlap and a[0] == b[0]), (a, b)
    assert any(min(a[2], b[2]) > max(a[1], b[1]) for i, a in enumerate(jobs) for b in jobs[i + 1:]), \
        "the two GPU slots were never used at the same time"
