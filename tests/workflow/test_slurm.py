"""profiles/slurm on a real SLURM: a one-node cluster on this machine.

scripts/slurm_localhost.sh installs (apt) and starts munged, slurmctld and
slurmd; without root or apt the tests skip with the exact reason. The CI
preset runs through snakemake-executor-plugin-slurm (one sbatch per job) and
must give the same outputs as the local reference run; a job that fails
(a custom dataset with a corrupt image) must fail the run with the job's
error visible.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from pipeline_runs import (
    REPO,
    SLURM_PROFILE,
    compare_outputs,
    incomplete_rate_csvs,
    run_via_slurm,
    slurm_test_profile,
    tables,
    temp_leftovers,
)

pytestmark = pytest.mark.slow


def test_profile_is_valid_for_the_installed_plugin(tmp_path):
    """The profile parses, names the slurm executor, and its resource expressions evaluate."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    for rule in ("train", "enhance", "evaluate"):
        # train asks for training.gpus itself (workflow/rules/train.smk); a profile value would override it
        assert profile["set-resources"][rule].get("gpu") == (None if rule == "train" else 1), rule
        extra = profile["set-resources"][rule].get("slurm_extra", "")
        assert "--gres" not in extra and "--gpus" not in extra, rule  # the plugin refuses GPU flags there
    # training checkpoints and exits on SIGUSR1, sent ahead of the time limit
    assert profile["set-resources"]["train"]["slurm_extra"] == "'--signal=USR1@300'"
    assert profile["set-resources"]["train_gan"] == profile["set-resources"]["train"]
    from pipeline_runs import CI_PRESET, snakemake_cmd

    proc = subprocess.run(snakemake_cmd(tmp_path, "--profile", str(SLURM_PROFILE.parent), "-n",
                                        "--configfile", str(CI_PRESET)),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "runtime=30" in out and "runtime=60" in out  # compress (set-resources) and default


def test_ci_preset_through_slurm_matches_local_run(slurm_ci_run, ci_reference):
    workdir, proc = slurm_ci_run
    print(f"SLURM run of presets/ci.yaml: {proc.elapsed:.0f} s")
    assert proc.returncode == 0, proc.stdout[-6000:]
    log = "".join(p.read_text() for p in (workdir / ".snakemake/log").glob("*.log"))
    assert "SLURM run ID" in log, log[-3000:]  # really went through sbatch, one job per rule
    # every job went through sbatch except the local rules (all, rate_summary, tables, figures, compare)
    local = len(re.findall(r"^localrule \w+:", log, re.MULTILINE))
    assert local >= 1 and log.count("has been submitted with SLURM jobid") == log.count("Finished jobid") - local
    assert tables(workdir), "the run produced no tables"
    assert compare_outputs(ci_reference, workdir) == []
    assert incomplete_rate_csvs(workdir) == [] and temp_leftovers(workdir) == []


def test_failing_job_is_reported_as_failed(slurm_cluster, tmp_path):
    bad = tmp_path / "bad_images"
    bad.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64), (10, 20, 30)).save(bad / "good.png")
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG header, then garbage
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {"mine": {"root": str(bad)}},
        "test_datasets": ["mine"],
        "codecs": {"jpeg": {"levels": [10]}},
    }))
    profile = slurm_test_profile(tmp_path / "profile")
    workdir = tmp_path / "run"
    proc = run_via_slurm(workdir, profile, "--configfile", str(config), "--retries", "0",
                         "--show-failed-logs", "resources/datasets/mine", timeout=300)
    assert proc.returncode not in (0, 124, 137), proc.stdout[-4000:]
    out = proc.stdout
    assert "Error in rule prepare_dataset" in out, out[-4000:]
    # The job's own one-line error (from its log) is in Snakemake's output.
    assert f"error: {bad / 'broken.png'}: not an image file Pillow can read" in out, out[-4000:]
    assert not (workdir / "resources/datasets/mine").exists()
