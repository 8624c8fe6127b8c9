"""A change to a stage's code remakes what that code made, and only that.

Each rule passes its stage's code fingerprint (debiasqe.core.fingerprint) as a
params value; Snakemake's params trigger does the rest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from debiasqe.core import fingerprint as fp

TARGET = "results/tables/rate_summary.csv"  # prepare -> compress -> rate_summary


def test_a_statement_changes_the_fingerprint_a_comment_does_not(tmp_path, monkeypatch):
    src = tmp_path / "debiasqe"
    shutil.copytree(REPO / "src" / "debiasqe", src, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fp, "ROOT", src)
    fp.module_digest.cache_clear()
    before = {s: fp.stage_fingerprint(s) for s in fp.STAGE_ENTRIES}
    jpeg = src / "compress" / "codecs" / "jpeg.py"
    text = jpeg.read_text()
    assert text.startswith('"""')
    jpeg.write_text('"""An edited docstring.\n' + text[3:] + "\n# a comment\n")
    fp.module_digest.cache_clear()
    assert {s: fp.stage_fingerprint(s) for s in fp.STAGE_ENTRIES} == before
    jpeg.write_text(jpeg.read_text() + "\nSTATEMENT = 1\n")
    fp.module_digest.cache_clear()
    after = {s: fp.stage_fingerprint(s) for s in fp.STAGE_ENTRIES}
    fp.module_digest.cache_clear()
    assert [s for s in fp.STAGE_ENTRIES if after[s] != before[s]] == ["compress"]


def test_closure_follows_lazy_imports_inside_functions():
    # compress.cli imports compress.stage only inside its run function
    mods = fp.closure("debiasqe.compress.cli")
    assert "debiasqe.compress.stage" in mods and "debiasqe.compress.codecs.bpg" in mods
    assert not any(m.startswith(("debiasqe.train", "debiasqe.evaluate")) for m in mods)


def _snakemake(checkout, *args):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"), "--directory",
           str(checkout), "--configfile", str(checkout / "presets" / "ci.yaml"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _planned_rules(out: str) -> set[str]:
    return {line.split(":")[0].removeprefix("rule ").strip() for line in out.splitlines()
            if line.startswith(("rule ", "localrule "))} - {"all"}


@pytest.mark.slow
def test_changing_one_stage_reruns_its_jobs_only(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for part in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / part, checkout / part)
    for part in ("workflow", "presets", "envs", "src"):
        shutil.copytree(REPO / part, checkout / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _snakemake(checkout, "--cores", "2", TARGET)
    assert _planned_rules(_snakemake(checkout, "-n", TARGET)) == set()

    report = checkout / "src" / "debiasqe" / "report" / "tables.py"
    report.write_text(report.read_text() + "\nSTATEMENT = 1\n")  # not compress's code
    assert _planned_rules(_snakemake(checkout, "-n", TARGET)) == set()

    jpeg = checkout / "src" / "debiasqe" / "compress" / "codecs" / "jpeg.py"
    jpeg.write_text(jpeg.read_text() + "\nSTATEMENT = 1\n")
    out = _snakemake(checkout, "-n", TARGET)
    assert _planned_rules(out) == {"compress", "rate_summary"}, out[-3000:]
    assert "Params have changed" in out
