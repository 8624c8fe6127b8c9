"""Which torch device a job runs on."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' takes CUDA when available; asking for CUDA without it is a config error."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: {name!r} is not a torch device; allowed: auto, cpu, cuda, cuda:N") from None
