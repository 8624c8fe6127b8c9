"""Place random-init weight files where pyiqa, timm, torchvision and CLIP look.

Each file is produced from the very architecture that will load it (built
with random init by :func:`debiasqe.evaluate.metrics.build_metric`), saved in the key
layout the library's loader expects (``params`` wrapper, AHIQ's two
sub-dicts, full state dicts, HF cache layout for timm, ...), in float16 to
halve the size (``load_state_dict`` copies into float32 parameters).
Tests then build the metrics with ``pretrained='required'`` and so go
through pyiqa's real loading path offline.

CLIP is the one loader that verifies a hash on every load (pyiqa's
``clip_model._download`` compares the file's sha256 with the one in its
URL); :func:`patch_clip_url` points that table at our file's digest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from debiasqe.weights import metric_weights as mw

FORMAT_VERSION = "1"


def _half(sd: dict) -> dict:
    return {k: (v.detach().half() if v.is_floating_point() else v.detach()).contiguous().clone()
            for k, v in sd.items()}


def _save(obj, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, dest)


class _Holder(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _save_torchscript(sd: dict, dest: Path) -> None:
    """OpenAI's RN50.pt is a TorchScript archive and pyiqa's loader reads it
    with torch.jit.load first (a plain state dict fails there and the
    fallback reads from an exhausted file handle): hold the tensors in a
    scripted module tree whose state_dict() has CLIP's keys."""
    root = _Holder()
    for k, v in sd.items():
        *path, leaf = k.split(".")
        m = root
        for p in path:
            if not hasattr(m, p):
                m.add_module(p, _Holder())
            m = getattr(m, p)
        m.register_buffer(leaf, v)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(root), str(dest))


def _niqe_mat(dest: Path) -> None:
    from scipy.io import savemat
    rng = np.random.default_rng(0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    savemat(dest, {"mu_prisparam": rng.random((1, 36)), "cov_prisparam": np.eye(36)})


def _nrqm_mat(dest: Path) -> None:
    """NRQM's 'model' struct: linear (4, 1) and 3 random forests whose fields
    are read by position (ldau, rdau, _, _, threshold, pred, best_attri).
    One-node trees (ldau = rdau = 0 -> leaf) predict pred[0]."""
    from scipy.io import savemat
    rf = np.empty((1, 3), dtype=object)
    for i in range(3):
        rf[0, i] = {"ldau": np.zeros((1, 2), np.int32), "rdau": np.zeros((1, 2), np.int32),
                    "a": np.zeros((1, 2)), "b": np.zeros((1, 2)),
                    "threshold": np.zeros((1, 2)), "pred": np.full((1, 2), 5.0 + i),
                    "best": np.ones((1, 2), np.int32)}
    dest.parent.mkdir(parents=True, exist_ok=True)
    savemat(dest, {"model": {"linear": np.array([[0.5], [0.2], [0.2], [0.1]]), "rf": rf}})


def place_random_weights(weights_dir: str | Path, metrics=mw.METRICS, seed: int = 0) -> list[Path]:
    """Write every file ``metrics`` need into ``weights_dir`` (skips present ones)."""
    import timm
    import torchvision.models as tvm
    from safetensors.torch import save_file
    from debiasqe.evaluate.metrics import build_metric, metric_info
    from debiasqe.evaluate.fid import build_inception

    wd = Path(weights_dir)
    written = []
    nets = {}

    def net(metric):
        if metric not in nets:
            torch.manual_seed(seed)
            nets[metric] = build_metric(metric, "random", wd / "_none_").model.net
        return nets[metric]

    for f in mw.all_files(metrics):
        dest = f.path(wd)
        if mw.find_present(f, wd):
            continue
        if f.kind == "timm":
            arch = f.hf_repo.split("/", 1)[1].split(".")[0]
            m = timm.create_model(arch, pretrained=False)
            dest.parent.mkdir(parents=True, exist_ok=True)
            save_file(_half(m.state_dict()), str(dest))
            ref = dest.parents[2] / "refs" / "main"
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(mw.OFFLINE_HF_REVISION)
        elif f.kind == "torchvision":
            ctor = {"vgg16": tvm.vgg16, "alexnet": tvm.alexnet}[f.name.split("-")[0]]
            _save(_half(ctor(weights=None).state_dict()), dest)
        elif f.kind == "clip":
            from debiasqe.evaluate.metrics import _random_clip
            _save_torchscript(_half(_random_clip("RN50").state_dict()), dest)
        elif f.name == "niqe_modelparameters.mat":
            _niqe_mat(dest)
        elif f.name == "NRQM_model.mat":
            _nrqm_mat(dest)
        elif f.metric == "fid":
            from pyiqa.archs.inception import fid_inception_v3
            from debiasqe.evaluate.fid import _pyiqa_inception_loader
            torch.manual_seed(seed)
            with _pyiqa_inception_loader(None):
                full = fid_inception_v3()
            _save(_half(full.state_dict()), dest)
        elif f.metric == "ahiq":
            n = net("ahiq")
            _save({"regressor_model_state_dict": _half(n.regressor.state_dict()),
                   "deform_net_model_state_dict": _half(n.deform_net.state_dict())}, dest)
        elif f.metric in ("hyperiqa", "topiq_fr"):
            _save({"params": _half(net(f.metric).state_dict())}, dest)
        elif f.metric in ("dists", "lpips"):
            # like the real files: only the calibration layers (lin*, alpha/beta);
            # the backbone comes from the torchvision checkpoint
            sd = {k: v for k, v in net(f.metric).state_dict().items()
                  if not k.startswith(("net.", "stage"))}
            _save(_half(sd), dest)
        elif f.metric == "musiq":
            _save(_half(net(f.metric).state_dict()), dest)
        else:
            raise AssertionError(f"no recipe for {f}")
        written.append(dest)
    (wd / "offline_weights.json").write_text(json.dumps(
        {"format": FORMAT_VERSION, "metrics": list(metrics)}))
    return written


def patch_clip_url(monkeypatch, weights_dir: str | Path) -> str:
    """Make pyiqa's CLIP loader accept our random RN50.pt (its hash is in the URL)."""
    from pyiqa.archs import clip_model
    from debiasqe.core.provenance import sha256_file
    f = mw.files_for("clipiqa")[0]
    digest = sha256_file(f.path(weights_dir))
    url = clip_model._MODELS["RN50"].replace(f.sha256, digest)
    monkeypatch.setitem(clip_model._MODELS, "RN50", url)
    return digest
