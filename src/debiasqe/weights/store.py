"""Registry of pretrained weight files: where they come from, where they live.

Each :class:`WeightSpec` names one file (url, sha256, file name, cache
kind). Later stages add pyiqa / timm / CLIP files with :func:`register`.

A file is looked for in the store only (``$DEBIASQE_WEIGHTS`` or
``resources/weights/``, e.g. ``torch/hub/checkpoints/vgg19-dcbb9e9d.pth``):
:mod:`debiasqe.weights.fetch` puts it there, from the user's own caches or a
download. A found file is hashed (sha256, cached per
path + mtime + size for the life of the process) and must match the spec;
a spec without a full sha256 but with a ``hash_prefix`` (torchvision's
convention: the first 8 hex digits of the sha256 are in the file name) is
checked against the prefix.

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
import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigError, IntegrityError, WeightsUnavailableError
from ..paths import resources

log = logging.getLogger(__name__)

POLICIES = ("required", "auto", "random")
CACHES = ("debiasqe", "torch_hub_checkpoints", "torch_hub_pyiqa", "huggingface", "clip")
RANDOM_INIT = "random-init"


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained file.

    ``cache`` says where the file is stored once fetched: ``debiasqe`` (our
    weights folder) or the folder the third-party loader reads from
    (``torch_hub_checkpoints``, ``torch_hub_pyiqa``, ...), so that library
    finds it offline.
    """

    name: str
    url: str
    sha256: str | None
    filename: str
    cache: str = "debiasqe"
    size: int | None = None
    hash_prefix: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.cache not in CACHES:
            raise ValueError(f"weight {self.name!r}: unknown cache {self.cache!r} (allowed: {CACHES})")
        if self.sha256 is not None and self.hash_prefix is not None and not self.sha256.startswith(self.hash_prefix):
            raise ValueError(f"weight {self.name!r}: sha256 does not start with hash_prefix {self.hash_prefix}")


WEIGHTS: dict[str, WeightSpec] = {}


def register(spec: WeightSpec, *, replace: bool = False) -> WeightSpec:
    if spec.name in WEIGHTS and not replace:
        raise ValueError(f"weight {spec.name!r} already registered")
    WEIGHTS[spec.name] = spec
    return spec


register(
    WeightSpec(
        name="vgg19",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        # full hash as published by several independent manifests; its first
        # 8 hex digits are the "dcbb9e9d" torchvision puts in the file name
        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
        filename="vgg19-dcbb9e9d.pth",
        cache="torch_hub_checkpoints",
        size=574673361,
        hash_prefix="dcbb9e9d",
        description="torchvision VGG-19 (ImageNet), perceptual loss and domain-divergence features",
    )
)


def get_spec(name: str) -> WeightSpec:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ConfigError(f"unknown weight file {name!r}; registered: {', '.join(sorted(WEIGHTS))}") from None


# --- locations -------------------------------------------------------------

def weights_dir() -> Path:
    """The weight store every job reads: ``$DEBIASQE_WEIGHTS`` or ``resources/weights``
    (the pipeline exports DEBIASQE_WEIGHTS from ``weights.dir`` into every job)."""
    env = os.environ.get("DEBIASQE_WEIGHTS")
    return Path(env).expanduser().absolute() if env else Path(resources("weights")).absolute()


_SUBDIR = {"torch_hub_checkpoints": "torch/hub/checkpoints", "torch_hub_pyiqa": "torch/hub/pyiqa",
           "huggingface": "hf/hub", "clip": "torch/hub/clip", "debiasqe": ""}


def expected_path(spec: WeightSpec) -> Path:
    """The file's place in the store (the layout of the cache its library reads)."""
    sub = _SUBDIR[spec.cache]
    return weights_dir() / sub / spec.filename if sub else weights_dir() / spec.filename


def candidate_paths(spec: WeightSpec) -> list[Path]:
    """Where jobs look: the store only (``fetch_weights`` links files from other caches into it)."""
    return [expected_path(spec)]


def find(spec: WeightSpec) -> Path | None:
    for p in candidate_paths(spec):
        if p.is_file():
            return p
    return None


# --- hashing ---------------------------------------------------------------

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of ``path``, cached per (resolved path, mtime_ns, size)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def verify(spec: WeightSpec, path: Path) -> str:
    """Check ``path`` against ``spec``; return its sha256 or raise IntegrityError."""
    actual = file_sha256(path)
    if spec.sha256 is not None:
        if actual != spec.sha256.lower():
            raise IntegrityError(
                f"{path}: sha256 mismatch for weights {spec.name!r}: expected {spec.sha256}, got {actual} "
                f"(delete the file and fetch it again)"
            )
    elif spec.hash_prefix is not None and not actual.startswith(spec.hash_prefix.lower()):
        raise IntegrityError(
            f"{path}: sha256 mismatch for weights {spec.name!r}: expected prefix {spec.hash_prefix}, got {actual}"
        )
    return actual


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
    found = Path(path) if path is not None else find(spec)
    if found is None or not found.is_file():
        where = found if found is not None else expected_path(spec)
        if policy == "required":
            raise WeightsUnavailableError(
                f"pretrained weights {spec.name!r} ({spec.filename}) not found at {where}; "
                f"run `snakemake -f fetch_weights` or download {spec.url} to {expected_path(spec)}"
            )
        msg = (
            f"pretrained weights {spec.name!r} ({spec.filename}) not found at {where}: using RANDOM "
            f"initialisation (pretrained: auto); results will not match the paper. "
            f"Run `snakemake -f fetch_weights` or download {spec.url}"
        )
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return None, random_provenance(name)
    if path is not None and found.name != spec.filename:
        # a user-supplied file under another name (e.g. a converted model):
        # not the registry's file, so it is recorded by its own hash
        digest = file_sha256(found)
    else:
        digest = verify(spec, found)
    return found, {"name": spec.name, "file": str(found), "sha256": digest}


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


def with_sha256(name: str, sha256: str | None) -> WeightSpec:
    """Return a copy of spec ``name`` with another hash (tests, local mirrors)."""
    return dataclasses.replace(get_spec(name), sha256=sha256, hash_prefix=None)
