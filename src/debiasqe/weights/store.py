"""VGG-19's pretrained file and the lookup of a named file under the ``pretrained`` policy.

:data:`WEIGHTS` maps a name to its :class:`~debiasqe.weights.record.WeightFile`
(the record the fetch and the metric files use too). A file is looked for in
the store only (``$DEBIASQE_WEIGHTS`` or ``resources/weights/``, e.g.
``torch/hub/checkpoints/vgg19-dcbb9e9d.pth``): :mod:`debiasqe.weights.fetch`
puts it there, from the user's own caches or a download. A found file must
pass :func:`debiasqe.weights.record.verify`.

The ``pretrained`` policy decides what happens when the file is absent:

* ``required`` -- raise :class:`~debiasqe.core.errors.WeightsUnavailableError`
  (one line: file, expected path, how to fetch it);
* ``auto``     -- random init with a loud warning;
* ``random``   -- random init, file not even looked for.

Every consumer records the returned provenance
``{"name", "file", "sha256"}`` (``sha256`` = ``"random-init"`` when no file
was used).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from pathlib import Path

from ..core.errors import ConfigError, IntegrityError, WeightsUnavailableError
from ..paths import resources
from .record import FETCH_COMMAND, WeightFile, file_sha256, verify

log = logging.getLogger(__name__)

POLICIES = ("required", "auto", "random")
RANDOM_INIT = "random-init"

_VGG19_NAME = "vgg19-dcbb9e9d.pth"

#: named files a job loads itself (the metric networks' files: debiasqe.weights.metric_weights)
WEIGHTS: dict[str, WeightFile] = {
    # torchvision VGG-19 (ImageNet): perceptual loss, domain-divergence regularization, disparity.
    # Full hash as published by several independent manifests; its first 8 hex digits are the
    # "dcbb9e9d" torchvision puts in the file name.
    "vgg19": WeightFile("vgg19", "torchvision", _VGG19_NAME, f"https://download.pytorch.org/models/{_VGG19_NAME}",
                        f"torch/hub/checkpoints/{_VGG19_NAME}",
                        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
                        sha256_prefix="dcbb9e9d"),
}


def get_spec(name: str) -> WeightFile:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ConfigError(f"unknown weight file {name!r}; registered: {', '.join(sorted(WEIGHTS))}") from None


def weights_dir() -> Path:
    """The weight store every job reads: ``$DEBIASQE_WEIGHTS`` or ``resources/weights``
    (the pipeline exports DEBIASQE_WEIGHTS from ``weights.dir`` into every job)."""
    env = os.environ.get("DEBIASQE_WEIGHTS")
    return Path(env).expanduser().absolute() if env else Path(resources("weights")).absolute()


# --- resolution ------------------------------------------------------------

def random_provenance(name: str) -> dict:
    return {"name": name, "file": None, "sha256": RANDOM_INIT}


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise ConfigError(f"pretrained policy must be one of {', '.join(POLICIES)}, got {policy!r}")


def resolve(name: str, policy: str = "required", path: str | Path | None = None) -> tuple[Path | None, dict]:
    """Locate and verify the file for ``name`` under ``policy``.

    ``path`` overrides the lookup with an explicit file (still verified
    against the spec). Returns ``(path or None, provenance)``.
    """
    _check_policy(policy)
    spec = get_spec(name)
    if policy == "random":
        return None, random_provenance(name)
    expected = spec.path(weights_dir())
    found = Path(path) if path is not None else expected
    if not found.is_file():
        if policy == "required":
            raise WeightsUnavailableError(
                f"pretrained weights {name!r} ({spec.name}) not found at {found}; "
                f"run `{FETCH_COMMAND}` or download {spec.url} to {expected}"
            )
        msg = (
            f"pretrained weights {name!r} ({spec.name}) not found at {found}: using RANDOM "
            f"initialisation (pretrained: auto); results will not match the paper. "
            f"Run `{FETCH_COMMAND}` or download {spec.url}"
        )
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return None, random_provenance(name)
    if path is not None and found.name != spec.name:
        # a user-supplied file under another name (e.g. a converted model):
        # not the registry's file, so it is recorded by its own hash
        digest = file_sha256(found)
    else:
        digest = verify(spec, found)
    return found, {"name": name, "file": str(found), "sha256": digest}


def load_state_dict(name: str, policy: str = "required", path: str | Path | None = None) -> tuple[dict | None, dict]:
    """Resolve, verify and load ``name`` (``weights_only=True``, on CPU)."""
    import torch

    found, provenance = resolve(name, policy, path)
    if found is None:
        return None, provenance
    try:
        state = torch.load(found, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt pickle, not a tensor file, ...
        raise IntegrityError(f"{found}: cannot load weights {name!r}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state, provenance


def with_sha256(name: str, sha256: str | None) -> WeightFile:
    """Return a copy of file ``name`` with another hash (tests: stand-in files)."""
    return dataclasses.replace(get_spec(name), sha256=sha256, sha256_prefix=None)
