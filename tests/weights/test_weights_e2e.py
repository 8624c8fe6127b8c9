"""presets/ci.yaml end to end through a loopback weights mirror under ``pretrained: required``:
fetch_weights -> train ESRGAN with debiasing -> evaluate -> tables, offline.

The mirror (a loopback HTTP server) holds the store's layout with stand-ins: files saved from
random-init networks in the real files' layouts (tests/offline_weights.py; VGG-19's
``features.*`` tensors in float16). They cannot match the real files' sha256, and Snakemake's
jobs are separate processes, so the run gets tests/standin_hashes/ on its PYTHONPATH: a
test-only ``sitecustomize`` that makes every process expect the stand-ins' hashes (read from
a JSON file this test writes). Everything else is the real code path.

The CI preset is cut to what the tables need from one GAN method with debiasing (esrgan_debias
and its stage-1 model, one codec), so that the run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import torchvision
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from httpserver import FileServer  # noqa: E402
from offline_weights import place_random_weights  # noqa: E402
from pipeline_runs import CI_PRESET, REPO, job_env, run_snakemake  # noqa: E402

from debiasqe import paths, targets  # noqa: E402
from debiasqe.report import marks  # noqa: E402

pytestmark = pytest.mark.slow

VGG_REL = "torch/hub/checkpoints/vgg19-dcbb9e9d.pth"
STANDIN_HOOK = Path(__file__).resolve().parents[1] / "standin_hashes"
CODEC, DATASET = "bpg", "demo_test"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _ci_debias_config(path: Path) -> Path:
    """config.yaml < presets/ci.yaml, cut to esrgan_debias (and its init) on BPG, pretrained: required
    (a whole config: the run passes --replace-workflow-config, so nothing else merges in)."""
    cfg = _merge(yaml.safe_load((REPO / "config.yaml").read_text()), yaml.safe_load(CI_PRESET.read_text()))
    cfg["methods"] = {m: cfg["methods"][m] for m in ("rrdbnet_psnr", "esrgan_debias")}
    cfg["codecs"] = {CODEC: cfg["codecs"][CODEC]}
    cfg["pretrained"] = "required"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _mirror(root: Path, metrics) -> dict[str, str]:
    """Stand-ins of every file the run needs, in the store's layout; {store path: sha256}."""
    place_random_weights(root, metrics)
    (root / "offline_weights.json").unlink()
    torch.manual_seed(0)
    sd = torchvision.models.vgg19(weights=None).state_dict()
    (root / VGG_REL).parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in sd.items() if k.startswith("features.")}, root / VGG_REL)
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "main"}  # not timm's refs/main


def _env(tmp_path: Path, **extra) -> dict:
    """Empty user caches, no store override, no mirror, no proxy unless given."""
    env = job_env(TORCH_HOME=str(tmp_path / "torch"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
                  HF_HOME=str(tmp_path / "hf"))
    for var in ("DEBIASQE_WEIGHTS", "DEBIASQE_WEIGHTS_MIRROR", "HF_HUB_CACHE", "http_proxy", "https_proxy",
                "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        env.pop(var, None)
    env.update(extra)
    return env


def _find(obj, key):
    """The first value of ``key`` anywhere in a JSON tree."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = _find(v, key)
            if found is not None:
                return found
    return None


def test_ci_debias_through_the_mirror_under_required(tmp_path, capsys):
    config = _ci_debias_config(tmp_path / "ci-debias.yaml")
    cfg = yaml.safe_load(config.read_text())
    args = ("--configfile", str(config), "--replace-workflow-config", "--cores", "2")

    # Without a mirror (and no way out: every host goes through a proxy that does not answer),
    # `required` stops while the workflow is read, before any job, with one line naming the files.
    closed = f"http://127.0.0.1:{_closed_port()}"
    stop = run_snakemake(tmp_path / "offline", *args, "-n",
                         env=_env(tmp_path, http_proxy=closed, https_proxy=closed), timeout=300)
    assert stop.returncode != 0
    lines = [ln for ln in stop.stdout.splitlines() if "pretrained weights missing" in ln]
    assert len(lines) == 1, stop.stdout[-3000:]
    for rel in (VGG_REL, "torch/hub/pyiqa/niqe_modelparameters.mat", "torch/hub/pyiqa/LPIPS_v0.1_alex-df73285e.pth"):
        assert rel in lines[0]
    assert "`snakemake -f fetch_weights`" in lines[0]
    assert "Job stats" not in stop.stdout and not (tmp_path / "offline" / "results").exists()

    hashes = _mirror(tmp_path / "mirror", cfg["metrics"])
    assert VGG_REL in hashes and len(hashes) == 5  # VGG-19, AlexNet + LPIPS, Inception, NIQE's statistics
    (tmp_path / "standin.json").write_text(json.dumps(hashes))
    work = tmp_path / "run"
    tables = [paths.results("table", dataset=DATASET, stem=s, ext=e)
              for s in targets.table_stems(cfg) for e in targets.TABLE_EXTS]
    with FileServer(tmp_path / "mirror") as server:
        env = _env(tmp_path, DEBIASQE_WEIGHTS_MIRROR=server.url(""),
                   DEBIASQE_TEST_STANDIN_HASHES=str(tmp_path / "standin.json"),
                   PYTHONPATH=os.pathsep.join([str(STANDIN_HOOK), str(REPO / "src")]))
        start = time.monotonic()
        run = run_snakemake(work, *args, *tables, env=env, timeout=900)
        wall = time.monotonic() - start
        served = sorted(p.lstrip("/") for p, _, status in server.requests if status == 200)
    with capsys.disabled():
        print(f"\n[e2e] CI preset (esrgan_debias, {CODEC}) through the mirror: {wall:.0f} s")
    assert run.returncode == 0, run.stdout[-6000:]

    # fetch: each file downloaded once from the mirror, by its path in the store, and verified
    assert served == sorted(hashes)
    store = work / "resources" / "weights"
    train_manifest = json.loads((store / "manifest-train.json").read_text())
    assert [(r["relpath"], r["state"], r["sha256"]) for r in train_manifest["files"]] == [
        (VGG_REL, "downloaded", hashes[VGG_REL])]
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["policy"] == "required" and manifest["mirror"] == server.url("")
    states = {r["relpath"]: (r["state"], r["sha256"]) for r in manifest["files"]}
    assert states == {rel: ("found" if rel == VGG_REL else "downloaded", digest) for rel, digest in hashes.items()}
    for r in manifest["files"]:
        if r["state"] == "downloaded":
            assert r["source"] == server.url("") + r["relpath"]

    # training ran with the VGG-19 stand-in (perceptual loss, L_R)
    results = work / "results"
    prov = json.loads((results / "train" / "esrgan_debias" / CODEC / "all" / "provenance.json").read_text())
    vgg = _find(prov, "vgg_weights")
    assert vgg["sha256"] == hashes[VGG_REL] and vgg["file"] == str(store / VGG_REL)

    # evaluation: a metrics CSV per level with its marks column: no random-init or unavailable network
    # (every one had its file); the CI preset's FID comes from few patches, and says so
    for level in cfg["codecs"][CODEC]["levels"]:
        for method in ("comp", "esrgan_debias"):
            df = pd.read_csv(results / "metrics" / method / DATASET / CODEC / f"{level}.csv", keep_default_na=False)
            assert {"image", "psnr", "lpips", "niqe", "fid", "marks"} <= set(df.columns)
            marked = {(m, k) for text in df["marks"] for m, keys in marks.decode(text).items() for k in keys}
            assert marked == {("fid", "few-samples")}, df["marks"]
            assert pd.to_numeric(df["lpips"]).notna().all()

    # the tables, with ESRGAN's debiased row, and nothing marked as not measured
    for t in tables:
        assert (work / t).is_file(), t
    table3 = next(work / t for t in tables if Path(t).name.startswith("table3") and t.endswith(".md"))
    text = table3.read_text()
    assert "LPIPS" in text and "FID" in text and "\u2020" not in text
