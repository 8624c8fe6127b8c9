"""Shared fixtures. Tests run offline: no weights or datasets are downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Two real photographs (cropped) from scikit-image's embedded data."""
    from skimage import data

    return {"astronaut": data.astronaut()[100:228, 150:310], "coffee": data.coffee()[50:170, 100:260]}


# ---- End-to-end runs of presets/ci.yaml shared by the whole session (tests/pipeline_runs.py).


@pytest.fixture(scope="session")
def ci_reference(tmp_path_factory):
    """One clean local run of presets/ci.yaml (CPU, fixed seed): the reference outputs."""
    from pipeline_runs import run_ci_locally

    return run_ci_locally(tmp_path_factory.mktemp("ci_reference"))


@pytest.fixture(scope="session")
def slurm_cluster():
    """A one-node SLURM on localhost (scripts/slurm_localhost.sh), or skip with the reason."""
    from pipeline_runs import start_localhost_slurm

    ok, info = start_localhost_slurm()
    if not ok:
        pytest.skip(f"no SLURM: {info}")
    return info


@pytest.fixture(scope="session")
def slurm_ci_run(slurm_cluster, tmp_path_factory):
    """presets/ci.yaml through `snakemake --profile profiles/slurm` (test-rig settings) from scratch."""
    import time

    from pipeline_runs import CI_PRESET, run_via_slurm, slurm_test_profile

    root = tmp_path_factory.mktemp("slurm")
    profile = slurm_test_profile(root / "profile")
    start = time.monotonic()
    proc = run_via_slurm(root / "run", profile, "--configfile", str(CI_PRESET), timeout=2700)
    proc.elapsed = time.monotonic() - start
    return root / "run", proc


@pytest.fixture(scope="session")
def second_clean_run(request, tmp_path_factory):
    """A second clean run of presets/ci.yaml: the SLURM run when SLURM is here, else a local one."""
    from pipeline_runs import run_ci_locally

    try:
        workdir, proc = request.getfixturevalue("slurm_ci_run")
    except pytest.skip.Exception:
        return "local", run_ci_locally(tmp_path_factory.mktemp("ci_second"))
    assert proc.returncode == 0, proc.stdout[-6000:]
    return "slurm", workdir
