"""The codec interface every compression backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ...core.errors import ConfigError


@dataclass(frozen=True)
class Encoded:
    """One compressed image.

    ``data`` is the file written under ``bitstream/``; ``rate_bytes`` is what
    the rate is computed from. They differ only where a container carries
    boxes the paper's format would not (HEIF vs BPG, see ``bpg.py``).
    """

    data: bytes
    rate_bytes: int


class Codec(ABC):
    """encode(rgb uint8 H×W×3, level) -> Encoded; decode(bytes) -> rgb uint8."""

    #: registry name, e.g. "jpeg"
    name: str = ""
    #: what a level means, e.g. "QF" or "QP"
    level_name: str = "level"
    #: inclusive range of valid levels
    level_range: tuple[int, int] = (0, 100)
    #: file extension of the bitstream files, without the dot
    extension: str = "bin"
    #: short backend name for rate.csv (describe() has the versions)
    backend: str = ""

    def check_level(self, level: int) -> int:
        lo, hi = self.level_range
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not lo <= level <= hi:
            raise ConfigError(
                f"{self.name}: {self.level_name} {level!r} is out of range; allowed integers {lo}-{hi}"
            )
        return int(level)

    def encode(self, rgb: np.ndarray, level: int) -> Encoded:
        level = self.check_level(level)
        check_rgb(rgb)
        return self._encode(rgb, level)

    @abstractmethod
    def _encode(self, rgb: np.ndarray, level: int) -> Encoded: ...

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray: ...

    @abstractmethod
    def describe(self) -> str:
        """Backend and version, for provenance (e.g. 'libjpeg-turbo 3.0 via Pillow 11')."""


def check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = getattr(rgb, "dtype", type(rgb).__name__), getattr(rgb, "shape", None)
        raise ValueError(f"codecs take uint8 H×W×3 RGB arrays, got {got}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"empty image of shape {rgb.shape}")


#: every codec by name, filled by :func:`register_codec` as the codec modules are imported
CODECS: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Class decorator: the codec is available under its ``name`` (config ``codecs:`` keys)."""
    if not cls.name or cls.name in CODECS:
        raise ValueError(f"codec class {cls.__name__}: name {cls.name!r} is empty or registered twice")
    CODECS[cls.name] = cls
    return cls


def get_codec(name: str, **options) -> Codec:
    """Build the codec ``name``; ``options`` are its config keys (e.g. bpg's backend)."""
    try:
        cls = CODECS[name]
    except KeyError:
        raise ConfigError(f"codec {name!r} is unknown; allowed: {', '.join(sorted(CODECS))}") from None
    return cls(**options)
