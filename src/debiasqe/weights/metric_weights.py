"""Weight files the pyiqa metrics need, where they live, and how to fetch them.

Nothing here is retyped from pyiqa: file names and URLs are read from pyiqa's
own ``default_model_urls`` tables, timm's pretrained configs and torchvision's
weight enums, so the list follows the installed versions.

One weights folder (default ``resources/weights``) holds every cache:

=============================  ==========================================
``torch/hub/pyiqa/<file>``     pyiqa's own files (``$TORCH_HOME/hub/pyiqa``)
``torch/hub/checkpoints/<f>``  torchvision backbones (``$TORCH_HOME/hub/checkpoints``)
``torch/hub/clip/RN50.pt``     CLIP, loaded by pyiqa's ``clip_model.load``
                               (``torch.hub.get_dir()/clip``, *not* ``~/.cache/clip``)
``hf/hub/models--timm--<id>/`` timm backbones, Hugging Face cache layout
                               (``snapshots/<rev>/model.safetensors`` + ``refs/main``)
=============================  ==========================================

Checked here: torch.hub, torchvision, timm and pyiqa verify hashes only while
downloading, so a file placed under the expected name loads as it is. The
exception is CLIP: pyiqa's ``clip_model._download`` hashes ``RN50.pt`` on
*every* load against the sha256 in its URL and tries to re-download on a
mismatch, so only the genuine file (or a test that patches the URL table)
loads offline.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterator, Sequence

from ..core.errors import ConfigError
from ..evaluate.iqa import METRIC_SPECS
from ..paths import resources
from .record import WeightFile

DEFAULT_WEIGHTS_DIR = Path(resources("weights"))
#: revision recorded in ``refs/main`` for timm files we place ourselves
OFFLINE_HF_REVISION = "0" * 40

#: every registered metric (debiasqe.evaluate.iqa: one file per metric)
METRICS = tuple(sorted(METRIC_SPECS))


def _prefix(name: str) -> str | None:
    m = re.search(r"-([0-9a-f]{8,})\.[A-Za-z]+$", name)
    return m.group(1) if m else None


def pyiqa_file(metric: str, url: str) -> WeightFile:
    name = url.rsplit("/", 1)[-1].split("?")[0]
    return WeightFile(metric, "pyiqa", name, url, f"torch/hub/pyiqa/{name}",
                      sha256_prefix=_prefix(name))


def torchvision_file(metric: str, weights_enum) -> WeightFile:
    url = weights_enum.url
    name = url.rsplit("/", 1)[-1]
    return WeightFile(metric, "torchvision", name, url, f"torch/hub/checkpoints/{name}",
                      sha256_prefix=_prefix(name))


def timm_file(metric: str, model_name: str) -> WeightFile:
    import timm
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None or not cfg.hf_hub_id:
        raise ConfigError(f"{metric}: timm has no Hugging Face weights for {model_name!r}")
    repo = cfg.hf_hub_id
    fname = cfg.hf_hub_filename or "model.safetensors"
    folder = "models--" + repo.replace("/", "--")
    return WeightFile(metric, "timm", fname,
                      f"https://huggingface.co/{repo}/resolve/main/{fname}",
                      f"hf/hub/{folder}/snapshots/{OFFLINE_HF_REVISION}/{fname}",
                      hf_repo=repo)


def clip_file(metric: str, backbone: str) -> WeightFile:
    from pyiqa.archs.clip_model import _MODELS
    url = _MODELS[backbone]
    name = url.rsplit("/", 1)[-1]
    return WeightFile(metric, "clip", name, url, f"torch/hub/clip/{name}",
                      sha256=url.split("/")[-2])


def files_for(metric: str) -> list[WeightFile]:
    """The files ``pyiqa.create_metric(metric)`` (default options) reads."""
    if metric not in METRIC_SPECS:
        raise ConfigError(f"metric {metric!r} unknown; expected one of {', '.join(METRICS)}")
    return METRIC_SPECS[metric].files()


def all_files(metric_names: Sequence[str]) -> list[WeightFile]:
    out, seen = [], set()
    for m in metric_names:
        for f in files_for(m):
            if f.relpath not in seen:
                seen.add(f.relpath)
                out.append(f)
    return out


def find_present(f: WeightFile, weights_dir: str | os.PathLike) -> Path | None:
    """Path of ``f`` in the weights folder, or None. For timm files any
    snapshot that ``refs/main`` points to counts (a real HF cache works too)."""
    p = f.path(weights_dir)
    if f.kind == "timm":
        repo_dir = p.parents[2]
        ref = repo_dir / "refs" / "main"
        if ref.is_file():
            q = repo_dir / "snapshots" / ref.read_text().strip() / f.name
            return q if q.is_file() else None
        return None
    return p if p.is_file() else None


@contextlib.contextmanager
def weights_env(weights_dir: str | os.PathLike, offline: bool = True) -> Iterator[Path]:
    """Point torch.hub, pyiqa, CLIP and the Hugging Face cache at ``weights_dir``.

    Sets TORCH_HOME, HF_HOME, HF_HUB_CACHE (and HF_HUB_OFFLINE) and patches the
    module constants that pyiqa and huggingface_hub read at import time, so it
    works even after they were imported. Restores everything on exit.
    """
    wd = Path(weights_dir).resolve()
    env = {"TORCH_HOME": str(wd / "torch"), "HF_HOME": str(wd / "hf"),
           "HF_HUB_CACHE": str(wd / "hf" / "hub")}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    patches = []

    def patch(mod, attr, value):
        patches.append((mod, attr, getattr(mod, attr)))
        setattr(mod, attr, value)

    try:
        import huggingface_hub.constants as hc
        patch(hc, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
        if offline:
            patch(hc, "HF_HUB_OFFLINE", True)
        import pyiqa.utils.download_util as du
        patch(du, "DEFAULT_CACHE_DIR", str(wd / "torch" / "hub" / "pyiqa"))
        yield wd
    finally:
        for mod, attr, value in reversed(patches):
            setattr(mod, attr, value)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
