"""One pretrained file, as every consumer, the fetch and the lookup see it, and its one sha256 check.

A :class:`WeightFile` names the file (as its library expects it), where it
comes from (``url``), its place in the store (``relpath``, the layout of the
cache its library reads) and what its bytes must hash to: the full sha256
where the source publishes one, else torch hub's hash prefix from the file
name. :func:`verify` is the only check: a file that differs is refused with
one line naming it, both hashes and the command that fetches it again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.errors import IntegrityError

FETCH_COMMAND = "snakemake -f fetch_weights"


@dataclass(frozen=True)
class WeightFile:
    metric: str          # who reads it: a metric id, or "vgg19" (losses, L_R, disparity)
    kind: str            # pyiqa | torchvision | timm | clip
    name: str            # file name as the library expects it
    url: str
    relpath: str         # relative to the store
    sha256: str | None = None         # full digest when the source gives one
    sha256_prefix: str | None = None  # torch-hub style "-<hex>." in the name
    hf_repo: str | None = None        # timm: the Hugging Face repo id

    def __post_init__(self) -> None:
        if self.sha256 and self.sha256_prefix and not self.sha256.lower().startswith(self.sha256_prefix.lower()):
            raise ValueError(f"{self.key}: sha256 {self.sha256} does not start with {self.sha256_prefix}")

    @property
    def key(self) -> str:
        """Unique, readable id for provenance (timm files share a name)."""
        return f"{self.hf_repo}/{self.name}" if self.kind == "timm" else self.name

    def path(self, store: str | os.PathLike) -> Path:
        return Path(store) / self.relpath

    def to_dict(self) -> dict:
        return asdict(self)


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of ``path``, cached per (resolved path, mtime_ns, size) for the life of the process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def verify(f: WeightFile, path: str | os.PathLike) -> str:
    """sha256 of ``path``; IntegrityError (one line, both hashes) when it is not ``f``'s known hash."""
    path = Path(path)
    got = file_sha256(path)
    if f.sha256 and got != f.sha256.lower():
        raise IntegrityError(f"{path}: sha256 {got} but {f.key} must be {f.sha256}; "
                             f"delete it and run `{FETCH_COMMAND}`")
    if not f.sha256 and f.sha256_prefix and not got.startswith(f.sha256_prefix.lower()):
        raise IntegrityError(f"{path}: sha256 {got} but {f.key} must start with {f.sha256_prefix} "
                             f"(from its name); delete it and run `{FETCH_COMMAND}`")
    return got
