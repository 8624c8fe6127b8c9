"""End to end: the real Snakefile on presets/ci.yaml in a temporary directory."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ci_run")
    proc = snakemake(workdir, "--cores", "2", "--configfile", str(REPO / "presets/ci.yaml"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_rate_summary_covers_every_dataset_codec_level(ci_run):
    ci = yaml.safe_load((REPO / "presets/ci.yaml").read_text())
    df = pd.read_csv(ci_run / "results/tables/rate_summary.csv")
    expected = {(d, c, lv) for d in ("demo_train", "demo_test")
                for c, spec in ci["codecs"].items() for lv in spec["levels"]}
    assert set(zip(df.dataset, df.codec, df.level)) == expected
    for (dataset, codec), group in df.groupby(["dataset", "codec"]):
        group = group.sort_values("level")
        # BPG: rate falls as QP rises; JPEG: rate rises with QF. PSNR follows the rate.
        bpp = group.mean_bpp.tolist() if codec == "jpeg" else group.mean_bpp.tolist()[::-1]
        psnr = group.mean_psnr.tolist() if codec == "jpeg" else group.mean_psnr.tolist()[::-1]
        assert bpp == sorted(bpp) and psnr == sorted(psnr), (dataset, codec)
    one = pd.read_csv(ci_run / "results/compressed/demo_test/jpeg/10/rate.csv")
    row = df[(df.dataset == "demo_test") & (df.codec == "jpeg") & (df.level == 10)].iloc[0]
    assert abs(row.mean_bpp - one.bpp.mean()) < 1e-6 and row.images == len(one) == 2


@pytest.mark.slow
def test_prepared_demo_images_are_cropped_rgb(ci_run):
    from PIL import Image

    for name in ("chelsea", "rocket"):
        im = Image.open(ci_run / f"resources/datasets/demo_test/{name}.png")
        assert im.mode == "RGB" and max(im.size) <= 96


@pytest.mark.slow
def test_rerun_has_nothing_to_do(ci_run):
    proc = snakemake(ci_run, "-n", "--configfile", str(REPO / "presets/ci.yaml"))
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"codecs": {"bpg": {"levels": [37, 60]}}}))
    proc = snakemake(tmp_path, "-n", "--configfile", str(bad), timeout=120)
    assert proc.returncode != 0
    assert "config key codecs.bpg.levels[1]: 60 is greater than the maximum of 51 (allowed: integers 0-51)" \
        in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_snakemake_lint_is_clean(tmp_path):
    proc = snakemake(REPO, "--lint", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr
