"""The data stages through Snakemake: paper preset dry run; download -> extract -> prepare ->
compress -> patch stores on tiny DIV2K/Flickr2K look-alikes, offline (loopback server)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

try:
    from httpserver import FileServer
except ImportError:  # tests/ is a package
    from tests.httpserver import FileServer

REPO = Path(__file__).resolve().parents[2]


def snakemake(workdir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def job_counts(output: str) -> dict[str, int]:
    """The 'job  count' table of a Snakemake run or dry run."""
    table = output[output.index("job "):]
    counts = {}
    for line in table.splitlines()[2:]:
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def _stand_in_mirror(tmp_path, monkeypatch) -> None:
    """pretrained: required stops before any job when a file cannot be had: a local mirror holding
    (empty stand-ins of) every file lets a dry run plan the fetch."""
    from debiasqe.weights import fetch as weights_fetch
    from debiasqe.weights.metric_weights import METRICS

    mirror = tmp_path.parent / f"{tmp_path.name}-mirror"
    for f in weights_fetch.needed_files(METRICS):  # every registered metric's files
        (mirror / f.relpath).parent.mkdir(parents=True, exist_ok=True)
        (mirror / f.relpath).touch()
    monkeypatch.setenv("DEBIASQE_WEIGHTS_MIRROR", str(mirror))


def test_gpu_small_preset_plans_one_codec_level_and_asks_for_training_gpus(tmp_path, monkeypatch):
    """presets/gpu-small.yaml: BPG QP 37 only (config.yaml's JPEG dropped), DIV2K, stage 1 + four GAN
    methods; with training.gpus: 2 the training jobs ask Snakemake for two GPUs."""
    _stand_in_mirror(tmp_path, monkeypatch)
    extra = tmp_path / "gpus2.yaml"
    extra.write_text("training:\n  gpus: 2\n")
    proc = snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets/gpu-small.yaml"), str(extra), timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert counts == {"download_archive": 2, "extract_archive": 2, "prepare_dataset": 2, "compress": 2,
                      "patches": 2, "train": 1, "train_gan": 4, "enhance": 4, "enhance_identity": 1,
                      "evaluate": 4, "evaluate_comp": 1, "realism": 4, "fetch_weights": 1,
                      "fetch_weights_train": 1, "tables": 1, "figures": 1, "compare": 1, "overview": 1,
                      "rate_summary": 1, "all": 1, "total": 37}
    train_blocks = re.findall(r"rule train(?:_gan)?:\n(?:    .*\n)+", out)
    assert len(train_blocks) == 5 and all("gpu=2," in b for b in train_blocks), train_blocks[:1]
    assert "jpeg" not in out and not (tmp_path / "resources").exists()


def test_paper_preset_dry_run_lists_the_data_jobs(tmp_path, monkeypatch):
    t0 = time.monotonic()
    _stand_in_mirror(tmp_path, monkeypatch)
    proc = snakemake(tmp_path, "-n", "--configfile", str(REPO / "presets/paper.yaml"), timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    # DIV2K train + valid, Flickr2K (its test split): one download and one extraction each;
    # 3 splits x (5 BPG + 5 JPEG levels) compressions; patch stores: raw + 10 levels of the
    # training split; 16 methods x 10 levels trained (train_per: level; the 8 GAN methods through
    # train_gan, which also declares their discriminator.pt); one enhancement job per (evaluated
    # method, test set) over the 10 levels: 15 x 2 (+ comp's 2 identity copies); one evaluation job per
    # (method, test set; comp's through evaluate_comp, which declares the shared FID sets); 8 GAN
    # methods x 2 test sets of realism scores; weights fetched once (pretrained: required),
    # training's VGG-19 first;
    # tables, figures and the compare page per test set; the overview once.
    assert counts == {"download_archive": 3, "extract_archive": 3, "prepare_dataset": 3, "compress": 30,
                      "patches": 11, "train": 80, "train_gan": 80, "enhance": 30, "enhance_identity": 2,
                      "evaluate": 30, "evaluate_comp": 2,
                      "realism": 16, "fetch_weights": 1, "fetch_weights_train": 1, "tables": 2, "figures": 2,
                      "compare": 2, "overview": 1, "rate_summary": 1, "all": 1, "total": 301}
    for f in ("DIV2K_train_HR.zip", "DIV2K_valid_HR.zip", "Flickr2K.archive"):
        assert f"resources/downloads/{f}" in out
    assert "resources/extracted/Flickr2K" in out
    assert not (tmp_path / "resources").exists() and time.monotonic() - t0 < 60


# ---------------------------------------------------------------- end to end, three source modes

# Real photographs (not noise) so a compressed patch is recognisably its raw patch.
def _photos() -> list[np.ndarray]:
    from skimage import data

    return [np.ascontiguousarray(a) for a in (data.astronaut()[80:144, 160:232], data.coffee()[100:164, 200:272],
                                              data.chelsea()[60:124, 120:192], data.rocket()[200:264, 200:272])]


def _zip(path: Path, members: dict[str, np.ndarray]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in members.items():
            tmp = path.with_name("member.png")
            Image.fromarray(arr).save(tmp)
            zf.write(tmp, name)
            tmp.unlink()
    return path


def _mirror(url: str, path: Path) -> dict:
    data = path.read_bytes()
    return {"url": url, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data_e2e")
    a, b, c, d = _photos()
    srv = tmp / "srv"
    srv.mkdir()
    # DIV2K valid, served: 0803 is in the zip but not asked for (files:), the LR folder is never extracted
    _zip(srv / "DIV2K_valid_HR.zip", {"DIV2K_valid_HR/0801.png": a, "DIV2K_valid_HR/0802.png": b,
                                      "DIV2K_valid_HR/0803.png": c, "DIV2K_valid_LR_bicubic/X2/0801x2.png": a})
    # DIV2K train, an archive on disk (archive:)
    own = tmp / "own"
    own.mkdir()
    _zip(own / "DIV2K_train_HR.zip", {"DIV2K_train_HR/0001.png": c, "DIV2K_train_HR/0002.png": d})
    # Flickr2K, already extracted (root:), with another split's file beside it
    flk = own / "Flickr2K_HR"
    flk.mkdir()
    for name, arr in (("001989", d), ("001990", a), ("000001", b)):
        Image.fromarray(arr).save(flk / f"{name}.png")
    with FileServer(srv) as server:
        config = {
            "datasets": {
                "div2k_valid": {"mirrors": [_mirror(server.url("DIV2K_valid_HR.zip"), srv / "DIV2K_valid_HR.zip")],
                                "files": ["0801", "0802"]},
                "div2k_train": {"archive": str(own / "DIV2K_train_HR.zip"),
                                "mirrors": [_mirror("http://127.0.0.1:9/never-fetched.zip",
                                                    own / "DIV2K_train_HR.zip")],
                                "files": ["0001", "0002"]},
                "flickr2k_test": {"root": str(flk), "files": ["001989", "001990"]},
            },
            "train_dataset": "div2k_train",
            "test_datasets": ["div2k_valid", "flickr2k_test"],
            "threads": {"compress": 1},
            "codecs": {"bpg": {"levels": [37]}, "jpeg": {"levels": [20]}},
            "patches": {"size": 16, "step": 8},
        }
        cfg = tmp / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        work = tmp / "work"
        work.mkdir()
        proc = snakemake(work, "rate_summary", "train_patches", "--cores", "2", "--configfile", str(cfg))
        requests = list(server.requests)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return {"work": work, "requests": requests, "out": proc.stdout + proc.stderr, "photos": (a, b, c, d),
            "own": own, "config": config}


@pytest.mark.slow
def test_download_extract_prepare_compress(e2e):
    work, (a, b, c, d) = e2e["work"], e2e["photos"]
    assert [(p, s) for p, _, s in e2e["requests"]] == [("/DIV2K_valid_HR.zip", 200)]  # one download, nothing else
    counts = job_counts(e2e["out"])
    assert counts["download_archive"] == 1 and counts["extract_archive"] == 2 and counts["prepare_dataset"] == 3
    assert counts["compress"] == 6 and counts["patches"] == 3
    assert sorted(p.name for p in (work / "resources/downloads").iterdir()) == \
        ["DIV2K_valid_HR.zip", "DIV2K_valid_HR.zip.source.json"]
    # archive: extracted from the user's file in place; root: nothing extracted
    assert sorted(p.name for p in (work / "resources/extracted").iterdir()) == ["DIV2K_train_HR", "DIV2K_valid_HR"]
    assert not (work / "resources/extracted/DIV2K_valid_HR/DIV2K_valid_LR_bicubic").exists()
    expected = {"div2k_valid": {"0801": a, "0802": b}, "div2k_train": {"0001": c, "0002": d},
                "flickr2k_test": {"001989": d, "001990": a}}
    for dataset, images in expected.items():
        folder = work / "resources/datasets" / dataset
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["source"] == "remote" and [r["image"] for r in manifest["images"]] == list(images)
        for name, arr in images.items():
            np.testing.assert_array_equal(np.asarray(Image.open(folder / f"{name}.png")), arr)
        for codec, level in (("bpg", 37), ("jpeg", 20)):
            rate = (work / f"results/compressed/{dataset}/{codec}/{level}/rate.csv").read_text().splitlines()
            assert len(rate) == 1 + len(images)
    valid = json.loads((work / "resources/datasets/div2k_valid/manifest.json").read_text())
    assert valid["archive_source"]["verified"] is True and valid["archive_source"]["url"].startswith("http://127.")
    train = json.loads((work / "resources/datasets/div2k_train/manifest.json").read_text())
    assert train["extracted_from"]["archive"] == str(e2e["own"] / "DIV2K_train_HR.zip")
    flickr = json.loads((work / "resources/datasets/flickr2k_test/manifest.json").read_text())
    assert flickr["root"] == e2e["config"]["datasets"]["flickr2k_test"]["root"] and "extracted_from" not in flickr


@pytest.mark.slow
def test_patch_stores_align_raw_and_compressed(e2e):
    import torch

    from debiasqe.train.patch_dataset import PairedPatchDataset

    work, (a, b, c, d) = e2e["work"], e2e["photos"]
    stores = work / "results/patches/div2k_train"
    ds = PairedPatchDataset(stores / "raw.npy", [stores / "bpg/37.npy", stores / "jpeg/20.npy"], augment=False,
                            patch=16, step=8)
    assert len(ds) == 2 * 2 * 7 * 8  # 2 levels x 2 images x (64-16)/8+1=7 rows x (72-16)/8+1=8 columns
    raw_imgs = {"0001": c, "0002": d}
    decoded = {(codec, name): np.asarray(Image.open(work / f"results/compressed/div2k_train/{codec}/{lv}/png/{name}.png"))
               for codec, lv in (("bpg", 37), ("jpeg", 20)) for name in raw_imgs}
    same, other = [], []
    for i in range(0, len(ds), 5):
        level, name, y, x = ds.locate(i)
        raw, comp = ((t * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for t in ds[i])
        np.testing.assert_array_equal(raw, raw_imgs[name][y:y + 16, x:x + 16])
        codec = ("bpg", "jpeg")[level]
        np.testing.assert_array_equal(comp, decoded[(codec, name)][y:y + 16, x:x + 16])
        same.append(np.abs(comp.astype(int) - raw).mean())
        yy, xx = (y + 24) % 48, (x + 24) % 56  # another region of the same image
        other.append(np.abs(comp.astype(int) - raw_imgs[name][yy:yy + 16, xx:xx + 16]).mean())
    assert np.mean(same) < 0.5 * np.mean(other)


@pytest.mark.slow
def test_rerun_has_nothing_to_do(e2e):
    proc = snakemake(e2e["work"], "rate_summary", "train_patches", "-n", "--configfile", str(e2e["work"].parent / "config.yaml"),
                     timeout=120)
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
