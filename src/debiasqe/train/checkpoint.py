"""Checkpoint and final-weights files of a training run.

* ``{out_dir}/checkpoint.pt``: everything needed to resume bit-for-bit
  (networks, EMA, optimisers, schedulers, RNG states, step); written
  atomically every ``checkpoint_every`` steps.
* ``{out_dir}/model.pt``: ``{"state_dict": EMA generator weights, "meta": {...}}``
  written once at the end; ``meta`` holds the resolved method config and the
  provenance record.
* ``{out_dir}/discriminator.pt`` (GAN recipes): ``{"state_dict": final
  discriminator weights, "meta": {...}}``, read by the realism scores.

Everything is loaded with ``torch.load(..., weights_only=True)``: RNG states
are stored as tensors and plain Python containers only.
"""

from __future__ import annotations

import io
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

from ..core.atomic import atomic_path, fsync_dir
from ..core.errors import ConfigError

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
DISCRIMINATOR_NAME = "discriminator.pt"  # GAN recipes: the final discriminator (realism scores)


class _Writer(io.RawIOBase):
    """A file object for torch.save that remembers the OSError of a failed
    write: torch turns it into a RuntimeError that names neither the file nor
    the cause (a full disk)."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def writable(self):
        return True

    def write(self, b):
        try:
            return self.fh.write(b)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self):
        self.fh.flush()


def save(path: str | Path, obj: dict, *, keep_previous: bool = False) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename.

    A failed write (full disk) raises ``OSError`` naming ``path``; ``path``
    keeps its previous content and no temporary is left. With
    ``keep_previous`` the file being replaced becomes :func:`previous_path`
    (the fallback when a crash leaves ``path`` unreadable).
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer = _Writer(fh)
        try:
            # Through a file object the archive's inner folder is always "archive",
            # not the (random) temporary name: equal checkpoints are equal bytes.
            torch.save(canonical(obj), writer)
            fh.flush()
        except RuntimeError as exc:
            if writer.error is None:
                raise
            err = writer.error
            raise OSError(err.errno, err.strerror or str(err), str(path)) from exc
        if keep_previous and path.is_file():
            os.replace(path, previous_path(path))


def canonical(obj):
    """A copy of a state's containers with every string interned and no container shared.

    Pickle writes an object seen before as a back-reference, so the bytes depend on
    which equal objects are the same object: a fresh optimiser's ``"step"`` keys are
    the interned literal, a resumed one's are strings read from the checkpoint. After
    this copy, equal states are equal bytes however they were built.
    """
    if isinstance(obj, str):
        return sys.intern(str(obj))
    if isinstance(obj, dict):
        out = type(obj)()
        for k, v in obj.items():
            out[canonical(k)] = canonical(v)
        for k, v in getattr(obj, "__dict__", {}).items():  # a state_dict's _metadata
            setattr(out, k, canonical(v))
        return out
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(canonical(v) for v in obj)
    return obj


def previous_path(path: str | Path) -> Path:
    """``checkpoint.pt`` -> ``checkpoint.prev.pt``: the checkpoint before the last one."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def set_aside(path: str | Path, label: str) -> Path:
    """Rename ``path`` to ``{stem}-{label}{suffix}`` beside it (``-2``, ``-3``... if
    taken) and return the new path: nothing a user trained is deleted."""
    path = Path(path)
    n, new = 1, path.with_name(f"{path.stem}-{label}{path.suffix}")
    while new.exists():
        n += 1
        new = path.with_name(f"{path.stem}-{label}-{n}{path.suffix}")
    os.replace(path, new)
    fsync_dir(path.parent)
    return new


def load(path: str | Path, map_location="cpu") -> dict:
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise ConfigError(f"{path}: not a readable debiasqe checkpoint (empty file, 0 bytes)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # corrupt or foreign file
        raise ConfigError(f"{path}: not a readable debiasqe checkpoint ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------------ RNG


def rng_state() -> dict:
    """RNG states of torch (CPU and CUDA), numpy and python, weights_only-safe."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------- model files


def generator_weights(path: str | Path) -> dict:
    """Generator weights from a ``model.pt`` (EMA) or a ``checkpoint.pt``
    (its EMA if present, else the generator): the stage-1 ``init_from``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"init_from: {path} does not exist (expected a stage-1 model.pt or checkpoint.pt)")
    obj = load(path)
    if not isinstance(obj, dict):
        raise ConfigError(f"init_from: {path} holds no weights dict")
    for key in ("state_dict", "ema", "params_ema", "generator", "params"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj  # a bare state_dict
    raise ConfigError(
        f"init_from: {path} has none of the keys state_dict/ema/params_ema/generator/params"
    )


def model_meta(path: str | Path) -> dict:
    """The ``meta`` dict of a ``model.pt``."""
    obj = load(path)
    if not isinstance(obj, dict) or "meta" not in obj:
        raise ConfigError(f"{path}: not a debiasqe model.pt (no 'meta')")
    return obj["meta"]
