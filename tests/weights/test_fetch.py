"""fetch_weights through a loopback mirror, offline: one store, states, hashes, policies.

The mirror holds the store's layout with files saved from randomly
initialised networks in the real files' layouts: NIQE's statistics (.mat,
from tests/offline_weights.py) and VGG-19 (torchvision's key names; only the
``features.*`` tensors, in float16, which is all VGGFeatures reads, so the
test writes 40 MB instead of 550). VGG-19's registered sha256 is the real
file's; tests that must accept the stand-in register its own hash.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys
from pathlib import Path

import pytest
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from httpserver import FileServer  # noqa: E402
from offline_weights import place_random_weights  # noqa: E402

from debiasqe.archs import VGGFeatures  # noqa: E402
from debiasqe.core.errors import IntegrityError, WeightsUnavailableError  # noqa: E402
from debiasqe.weights import fetch as WF  # noqa: E402
from debiasqe.weights import store as W  # noqa: E402
from debiasqe.weights.manifest import fetch_weights  # noqa: E402

torch.set_num_threads(1)
VGG_REL = "torch/hub/checkpoints/vgg19-dcbb9e9d.pth"
NIQE_REL = "torch/hub/pyiqa/niqe_modelparameters.mat"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    place_random_weights(root, ["niqe"])
    (root / "offline_weights.json").unlink()
    torch.manual_seed(0)
    sd = torchvision.models.vgg19(weights=None).state_dict()
    dest = root / VGG_REL
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in sd.items() if k.startswith("features.")}, dest)
    return root, hashlib.sha256(dest.read_bytes()).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Empty user caches and an empty store."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("DEBIASQE_WEIGHTS_MIRROR", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    store = tmp_path / "store"
    monkeypatch.setenv("DEBIASQE_WEIGHTS", str(store))
    return store


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_required_through_http_mirror_then_jobs_load_from_the_store(mirror, env, monkeypatch, tmp_path):
    root, vgg_digest = mirror
    monkeypatch.setitem(W.WEIGHTS, "vgg19", W.with_sha256("vgg19", vgg_digest))
    manifest = tmp_path / "manifest.json"
    with FileServer(root) as server:
        base = server.url("")
        rows = fetch_weights(["niqe", "psnr"], env, manifest, vgg=True, policy="required", mirror=base,
                             progress=False)
        fetched = sorted(p for p, _, status in server.requests if status == 200)
        assert fetched == sorted(["/" + NIQE_REL, "/" + VGG_REL])  # by path relative to the store
        again = WF.fetch(["niqe", "psnr"], env, "required", mirror=base, progress=False)
        assert len(server.requests) == 2  # the second fetch finds them: no request
    assert [(r["relpath"], r["state"]) for r in rows] == [(NIQE_REL, "downloaded"), (VGG_REL, "downloaded")]
    assert [r["state"] for r in again] == ["found", "found"]
    for rel in (NIQE_REL, VGG_REL):
        assert (env / rel).read_bytes() == (root / rel).read_bytes()
    record = json.loads(manifest.read_text())
    assert record["policy"] == "required" and record["mirror"] == base
    assert {r["relpath"]: r["sha256"] for r in record["files"]}[VGG_REL] == vgg_digest
    # training / disparity read the very file the fetch wrote
    vgg = VGGFeatures(["conv1_2"], policy="required")
    assert vgg.provenance == {"name": "vgg19", "file": str(env / VGG_REL), "sha256": vgg_digest}
    # and so does the metric evaluator (pyiqa's real NIQE loader, store as its cache)
    from debiasqe.evaluate.metrics import build_metric
    assert build_metric("niqe", "required", env).status == "pretrained"


def test_local_folder_mirror_and_user_cache_are_linked(mirror, env, monkeypatch, tmp_path):
    root, vgg_digest = mirror
    monkeypatch.setitem(W.WEIGHTS, "vgg19", W.with_sha256("vgg19", vgg_digest))
    hub = tmp_path / "torch" / "hub" / "pyiqa"
    hub.mkdir(parents=True)
    shutil.copy(root / NIQE_REL, hub / "niqe_modelparameters.mat")  # the user's own pyiqa cache
    rows = WF.fetch(["niqe"], env, "auto", mirror=str(root), progress=False)
    assert [(r["state"], r["source"]) for r in rows] == [
        ("linked", str(hub / "niqe_modelparameters.mat")), ("downloaded", str(root / VGG_REL))]
    assert (env / VGG_REL).read_bytes() == (root / VGG_REL).read_bytes()


def test_corrupted_file_is_refused_with_both_hashes(mirror, env, monkeypatch):
    root, vgg_digest = mirror
    # the registry's sha256 is the real VGG-19's: the mirror's stand-in is refused
    with FileServer(root) as server:
        with pytest.raises(IntegrityError) as err:
            WF.fetch([], env, "required", mirror=server.url(""), progress=False)
    msg = str(err.value)
    assert "\n" not in msg and VGG_REL in msg
    assert W.get_spec("vgg19").sha256 in msg and vgg_digest in msg
    assert not (env / VGG_REL).exists()
    # a corrupted file already in the store: one line naming it and both hashes
    monkeypatch.setitem(W.WEIGHTS, "vgg19", W.with_sha256("vgg19", vgg_digest))
    (env / VGG_REL).parent.mkdir(parents=True, exist_ok=True)
    data = bytearray((root / VGG_REL).read_bytes())
    data[1000] ^= 0xFF
    (env / VGG_REL).write_bytes(bytes(data))
    bad = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(IntegrityError) as err:
        WF.fetch([], env, "auto", progress=False)
    assert str(err.value) == (f"{env / VGG_REL}: sha256 {bad} but vgg19-dcbb9e9d.pth must be {vgg_digest}; "
                              f"delete it and run `snakemake -f fetch_weights`")


def test_auto_offline_probes_each_host_once_and_records_missing(env):
    port = _closed_port()
    prober = WF.Prober(timeout=0.5)
    rows = WF.fetch(["niqe", "lpips"], env, "auto", mirror=f"http://127.0.0.1:{port}", prober=prober,
                    progress=False)
    assert {r["state"] for r in rows} == {"missing"} and len(rows) == 4
    assert prober.seen == {("127.0.0.1", port): False}


def test_required_missing_is_one_line_naming_files_and_command(env):
    with pytest.raises(WeightsUnavailableError) as err:
        WF.fetch(["niqe"], env, "required", mirror=f"http://127.0.0.1:{_closed_port()}",
                 prober=WF.Prober(0.5), progress=False)
    msg = str(err.value)
    assert "\n" not in msg and NIQE_REL in msg and VGG_REL in msg and "`snakemake -f fetch_weights`" in msg


def test_random_downloads_nothing(mirror, env):
    root, _ = mirror
    with FileServer(root) as server:
        rows = WF.fetch(["niqe"], env, "random", mirror=server.url(""), progress=False)
        assert server.requests == []
    assert {r["state"] for r in rows} == {"missing"}


def test_state_changes_when_a_file_arrives(mirror, env):
    root, _ = mirror
    files = WF.needed_files(["niqe"], vgg=True)
    before = WF.state_of(files, env, "auto")
    assert before.startswith("partial-")
    assert WF.state_of(files, env, "random") == "random-init"
    assert WF.state_of([], env, "auto") == "none"
    for rel in (NIQE_REL, VGG_REL):
        (env / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, env / rel)
    after = WF.state_of(files, env, "auto")
    assert after.startswith("pretrained-") and after != before
    # a state names only its own files: VGG-19 alone is unchanged by NIQE's file
    assert WF.state_of([WF.vgg19_file()], env, "auto") == WF.state_of([WF.vgg19_file()], env, "auto")


def test_unobtainable_checks_store_caches_and_mirror(mirror, env):
    root, _ = mirror
    files = WF.needed_files(["niqe"], vgg=True)
    assert WF.unobtainable(files, env, str(root)) == []
    assert WF.unobtainable(files, env, str(env / "empty")) == [NIQE_REL, VGG_REL]
    assert WF.unobtainable(files, env, f"http://127.0.0.1:{_closed_port()}", WF.Prober(0.5)) == [NIQE_REL, VGG_REL]
