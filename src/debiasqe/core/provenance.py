"""How an output was made: versions, git commit, seed, backends, weights."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from .. import __version__


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout the package runs from, or 'unknown'."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def base_record(**extra) -> dict:
    """Fields every provenance record carries, plus ``extra``."""
    record = {
        "debiasqe": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
    }
    record.update(extra)
    return record
