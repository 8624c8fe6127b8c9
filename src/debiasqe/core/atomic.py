"""Atomic file writes: a file either appears complete or not at all.

Writers put their bytes into a temporary file in the destination folder and
``os.replace`` it into place, so a job killed halfway never leaves a file that
looks finished (Snakemake would otherwise take it as an output).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: temp names are ".<dest name>.<random><TEMP_MARK><suffix>" (see remove_stale_temps)
TEMP_MARK = ".tmp"


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    The temporary name keeps ``dest``'s suffix (or ``suffix``) so libraries
    that pick a format from the extension (Pillow, matplotlib, torch) work.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sfx = dest.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f"{TEMP_MARK}{sfx}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files; give the result the mode a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            # e.g. a full disk: name the file the user will look for
            raise OSError(exc.errno, exc.strerror or str(exc), str(dest)) from exc
        raise


@contextlib.contextmanager
def atomic_open(dest: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``dest`` when closed cleanly."""
    if not any(m in mode for m in "wx"):
        raise ValueError("atomic_open is for writing")
    with atomic_path(dest) as tmp:
        with open(tmp, mode.replace("x", "w"), **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_open(dest, "wb") as fh:
        fh.write(data)


def write_text(dest: str | os.PathLike, text: str) -> None:
    with atomic_open(dest, "w", encoding="utf-8") as fh:
        fh.write(text)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete temp files that :func:`atomic_path` left in ``folder`` when a
    process was SIGKILLed mid-write; call it only on a folder the caller owns."""
    gone = []
    for p in Path(folder).glob(f".*{TEMP_MARK}*"):
        if p.is_file():
            p.unlink()
            gone.append(p)
    return gone
