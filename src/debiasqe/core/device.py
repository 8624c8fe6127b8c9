"""Which torch device a job runs on."""

from __future__ import annotations

import re

import torch

from .errors import ConfigError

#: the device names the code accepts (the config schema's ``device`` pattern is the same)
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' takes CUDA when available; asking for CUDA without it is a config error."""
    name = str(name)
    if not re.match(DEVICE_PATTERN, name):
        raise ConfigError(f"device: {name!r} is not a device; allowed: auto, cpu, cuda, cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    return torch.device(name)
