"""`debiasqe status`: expected outputs from the config, failures from logs,
durations from benchmarks, random-init / unavailable networks from provenance."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from debiasqe import paths
from debiasqe.cli import main
from debiasqe.config import load_config
from debiasqe.status.cli import default_config
from debiasqe.status.provenance import flags_of
from debiasqe.status.report import benchmark_seconds, log_error, run_status
from debiasqe.targets import jobs

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "presets" / "paper.yaml"
CI = REPO / "presets" / "ci.yaml"


def status(capsys, *args) -> tuple[int, str]:
    try:
        code = main(["status", *map(str, args)])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def test_paper_preset_with_no_results_reports_everything_missing(tmp_path, capsys):
    code, out = status(capsys, "--configfile", PAPER, "--directory", tmp_path, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["complete"] is False and {j["state"] for j in report["jobs"]} == {"missing"}
    # by hand: 3 archives (DIV2K train/valid, Flickr2K) downloaded and extracted; 3 datasets x 10 levels
    # compressed; raw + 10 patch stores; 16 methods x 10 levels trained; 2 test sets x (comp + 15)
    # enhancement jobs (one per method and test set over the 10 levels); 2 x 16 evaluation jobs; 2 x 8 GAN
    # realism jobs; tables, figures and compare page per test set; rate summary and the overview; the two
    # weight fetches: 3 + 3 + 3 + 30 + 11 + 2 + 160 + 32 + 32 + 16 + 8 = 300 jobs (snakemake -n lists them
    # plus `all`)
    counts = {st: s["jobs"] for st, s in report["stages"].items()}
    assert counts == {"download": 3, "extract": 3, "prepare": 3, "compress": 30, "patches": 11, "weights": 2,
                      "train": 160, "enhance": 32, "evaluate": 32, "realism": 16, "report": 8}
    assert sum(counts.values()) == 300
    train = {j["job"]: j for j in report["jobs"] if j["stage"] == "train"}
    assert train["esrgan_debias/bpg/37"]["missing"] == [
        paths.results("model", tmp_path / "results", method="esrgan_debias", codec="bpg", setting=37),
        paths.results("discriminator", tmp_path / "results", method="esrgan_debias", codec="bpg", setting=37)]
    code, text = status(capsys, "--configfile", PAPER, "--directory", tmp_path)
    assert code == 1 and "0 of 300 jobs done" in text
    assert re.search(r"^train\s+160\s+0\s+0\s+0\s+160\s+-\s+-$", text, re.M), text


@pytest.mark.parametrize("seeds", [None, [0, 1]], ids=["one seed", "two seeds"])
def test_jobs_are_the_dry_run_of_snakemake(tmp_path, seeds):
    """Every job of `snakemake -n` on the CI preset (by its log file) is one status job, and no more;
    with two training seeds too (every run's jobs)."""
    configs = [CI]
    if seeds:
        configs.append(_write(tmp_path / "seeds.yaml", f"training: {{seeds: {seeds}}}\n"))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", *map(str, configs)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dag_logs = set(re.findall(r"^\s+log: (\S+)$", proc.stdout + proc.stderr, re.M))
    config = load_config(default_config(), *configs)
    ours = {j.log() for j in jobs(config)}
    assert dag_logs == ours
    assert len(ours) == (72 if seeds is None else 108)  # snakemake's count less `all`; by hand below
    # two seeds: 4 fidelity + 12 GAN training jobs, 7 enhancement, 7 evaluation and 6 realism jobs
    # twice over (comp's enhancement and evaluation once): 72 + 16 + 7 + 7 + 6 = 108


def test_three_seeds_on_the_paper_preset_count_every_run(tmp_path, capsys):
    seeds = _write(tmp_path / "seeds.yaml", "training: {seeds: [0, 1, 2]}\n")
    code, out = status(capsys, "--configfile", PAPER, seeds, "--directory", tmp_path, "--json")
    counts = {st: s["jobs"] for st, s in json.loads(out)["stages"].items()}
    # by hand: 16 methods x 10 levels x 3 seeds trained; per test set comp + 15 methods x 3 seeds
    # enhanced and evaluated (2 x 46); 8 GAN methods x 3 seeds x 2 test sets of realism; the rest
    # as with one seed: 300 + 320 + 60 + 60 + 32 = 772
    assert counts == {"download": 3, "extract": 3, "prepare": 3, "compress": 30, "patches": 11, "weights": 2,
                      "train": 480, "enhance": 92, "evaluate": 92, "realism": 48, "report": 8}
    assert sum(counts.values()) == 772
    train = {j["job"]: j for j in json.loads(out)["jobs"] if j["stage"] == "train"}
    assert train["esrgan_debias@seed2/bpg/37"]["missing"] == [
        paths.results("model", tmp_path / "results", method="esrgan_debias@seed2", codec="bpg", setting=37),
        paths.results("discriminator", tmp_path / "results", method="esrgan_debias@seed2", codec="bpg", setting=37)]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_done_failed_incomplete_timed_and_flagged(tmp_path, capsys):
    config = load_config(default_config(), CI)
    R = tmp_path / "results"
    # a finished compress job with its benchmark
    at = dict(dataset="demo_test", codec="jpeg", level=10)
    _write(Path(paths.results("rate", R, **at)), "image\n")
    _write(Path(paths.results("compress_provenance", R, **at)), "{}")
    _write(Path(paths.results("benchmark", R, stage="compress", job="demo_test/jpeg/10")),
           "s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    # a training job that failed: the log ends with debiasqe's one-line error after a warning
    _write(Path(paths.results("log", R, stage="train", job="esrgan_debias/bpg/all")),
           "train esrgan_debias/bpg/all step 1/3 (33.3%) | l_pix=0.1\nRuntimeWarning: something\n"
           "error: results/train/esrgan_debias/bpg/all: loss term l_g_gan became nan at step 2\n")
    # a training job killed by a traceback
    _write(Path(paths.results("log", R, stage="train", job="dncnn/bpg/all")),
           "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: CUDA error: device-side assert\n")
    # a training job that started (log, no error) and has not finished
    _write(Path(paths.results("log", R, stage="train", job="dncnn/jpeg/all")), "train dncnn/jpeg/all: starting\n")
    # an evaluation with random-init LPIPS and unavailable NIQE (the evaluation's own record layout)
    ev = dict(method="comp", dataset="demo_test")
    record = {"evaluation": {"metrics": {"psnr": {"status": "no-weights", "weights": {}},
                                         "lpips": {"status": "random-init", "weights": {"a.pth": "random-init"}},
                                         "niqe": {"status": "unavailable", "weights": {"n.mat": "unavailable"}}}}}
    for c, lv in [(c, lv) for c, s in config["codecs"].items() for lv in s["levels"]]:
        csv = _write(Path(paths.results("metrics", R, codec=c, level=lv, **ev)), "image\n")
        _write(Path(str(csv) + ".provenance.json"), json.dumps(record))
        _write(Path(paths.results("domains", R, codec=c, level=lv, **ev)),
               json.dumps([{"metric": "fid", "weights": "random-init"}]))
    states = {(s.stage, s.job): s for s in run_status(config, tmp_path)}
    done = states["compress", "demo_test/jpeg/10"]
    assert done.state == "done" and done.seconds == 12.5
    failed = states["train", "esrgan_debias/bpg/all"]
    assert failed.state == "failed"
    assert failed.error == "error: results/train/esrgan_debias/bpg/all: loss term l_g_gan became nan at step 2"
    assert states["train", "dncnn/bpg/all"].error == "RuntimeError: CUDA error: device-side assert"
    assert states["train", "dncnn/jpeg/all"].state == "incomplete"
    assert states["train", "esrgan/bpg/all"].state == "missing"
    evaluation = states["evaluate", "comp/demo_test"]
    # the disparity CSV and FID sets are missing, so not done, but the files present already say what they used
    assert evaluation.state == "incomplete"
    assert evaluation.flags == {"metric lpips": "random-init", "metric niqe": "unavailable", "metric fid": "random-init"}
    code, text = status(capsys, "--configfile", CI, "--directory", tmp_path)
    assert code == 1
    assert "failed (2):" in text
    assert "  train esrgan_debias/bpg/all: error: results/train/esrgan_debias/bpg/all: loss term l_g_gan became nan" in text
    assert re.search(r"^compress\s+16\s+1\s+0\s+0\s+15\s+0:00:12\s+-$", text, re.M), text


def test_outputs_snakemake_marks_incomplete_are_not_done(tmp_path):
    """A job killed (or running) after writing its files: Snakemake's incomplete marker decides."""
    import base64

    config = load_config(default_config(), CI)
    R = tmp_path / "results"
    at = dict(dataset="demo_test", codec="jpeg", level=10)
    rate = _write(Path(paths.results("rate", R, **at)), "image\n")
    _write(Path(paths.results("compress_provenance", R, **at)), "{}")
    states = {(s.stage, s.job): s for s in run_status(config, tmp_path)}
    assert states["compress", "demo_test/jpeg/10"].state == "done"
    name = base64.urlsafe_b64encode(str(rate.relative_to(tmp_path)).encode()).decode()
    _write(tmp_path / ".snakemake" / "incomplete" / name, "")
    states = {(s.stage, s.job): s for s in run_status(config, tmp_path)}
    assert states["compress", "demo_test/jpeg/10"].state == "incomplete"
    assert states["compress", "demo_test/jpeg/10"].missing == [str(rate)]


def test_log_and_benchmark_readers(tmp_path):
    assert log_error(_write(tmp_path / "a.log", "INFO fine\nWARNING x\n")) is None
    assert log_error(_write(tmp_path / "b.log", "Killed\n")) == "Killed"
    assert log_error(tmp_path / "none.log") is None
    assert benchmark_seconds(_write(tmp_path / "b.tsv", "s\th:m:s\n3.0\t0\n5.0\t0\n")) == 4.0  # repeats: mean
    assert benchmark_seconds(_write(tmp_path / "c.tsv", "garbage")) is None
    assert flags_of({"training": {"vgg_weights": "random-init"}}) == {"VGG-19 (training losses)": "random-init"}
    assert flags_of({"training": {"vgg_weights": {"sha256": "ab12"}}}) == {}


# ------------------------------------------------------------- on real runs


def _run_json(capsys, workdir) -> tuple[int, dict]:
    code, out = status(capsys, "--configfile", CI, "--directory", workdir, "--json")
    return code, json.loads(out)


@pytest.mark.slow
def test_status_of_a_finished_ci_run(ci_reference, capsys):
    code, report = _run_json(capsys, ci_reference)
    assert code == 0 and report["complete"]
    assert all(s["done"] == s["jobs"] for s in report["stages"].values())
    assert report["stages"]["train"]["seconds"] > 0 and report["stages"]["compress"]["timed_jobs"] == 16
    by = {(j["stage"], j["job"]): j for j in report["jobs"]}
    # offline: LPIPS and FID ran random-init, NIQE had no file; the GAN methods trained on a random-init VGG
    # ...and the Fig. 6 disparity (at the headline level) used a random-init VGG-19
    assert by["evaluate", "esrgan_debias/demo_test"]["flags"] == {
        "metric lpips": "random-init", "metric fid": "random-init", "metric niqe": "unavailable",
        "VGG-19 (Fig. 6 disparity)": "random-init"}
    assert by["train", "esrgan_debias/bpg/all"]["flags"] == {"VGG-19 (training losses)": "random-init"}
    assert by["train", "dncnn/bpg/all"]["flags"] == {}  # fidelity: no VGG
    assert by["enhance", "esrgan/demo_test"]["flags"] == {"VGG-19 (training losses)": "random-init"}
    code, text = status(capsys, "--configfile", CI, "--directory", ci_reference)
    # ci.yaml: 128 jobs with one enhancement job per level (8 methods x 8 levels) and the two weight
    # fetches; one enhancement job per method over the 8 levels: 8 instead of 64, so 128 - 56 = 72 jobs
    assert "72 of 72 jobs done; complete" in text
    assert "evaluate (8 jobs, e.g. comp/demo_test): VGG-19 (Fig. 6 disparity) random-init, metric fid random-init, " \
           "metric lpips random-init, metric niqe unavailable" in text


@pytest.mark.slow
def test_status_of_a_run_with_a_failed_job(ci_reference, tmp_path, capsys):
    run = tmp_path / "run"
    for part in ("results", "resources"):
        shutil.copytree(ci_reference / part, run / part, symlinks=True)
    model = Path(paths.results("model", run / "results", method="esrgan_debias", codec="jpeg", setting="all"))
    model.unlink()
    log = Path(paths.results("log", run / "results", stage="train", job="esrgan_debias/jpeg/all"))
    log.write_text(log.read_text() + "Traceback (most recent call last):\n  ...\n"
                   "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    shutil.rmtree(paths.results("enhanced", run / "results", method="dncnn", dataset="demo_test", codec="bpg",
                                level=27))
    code, report = _run_json(capsys, run)
    assert code == 1 and not report["complete"]
    bad = [j for j in report["jobs"] if j["state"] != "done"]
    assert [(j["stage"], j["job"], j["state"]) for j in bad] == [
        ("train", "esrgan_debias/jpeg/all", "failed"), ("enhance", "dncnn/demo_test", "incomplete")]
    assert bad[0]["error"] == "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert bad[0]["missing"] == [str(model)]
