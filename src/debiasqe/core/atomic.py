"""Atomic file writes: a file either appears complete or not at all.

Writers put their bytes into a temporary file in the destination folder and
``os.replace`` it into place, so a job killed halfway never leaves a file that
looks finished (Snakemake would otherwise take it as an output).

Writes are also durable: the temporary is fsynced before the rename and the
folder after it, so after a power cut a file is either the old one or the
complete new one, never an empty "finished" file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_file(path: str | os.PathLike) -> None:
    """Flush ``path``'s data to the disk (works on a file opened read-only on POSIX)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename or a new name in ``folder`` durable; a no-op where the
    file system cannot fsync a folder (EINVAL, e.g. some network mounts)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


#: temp names are ".<dest name>.p<pid>-<random><TEMP_MARK><suffix>" (see remove_stale_temps)
TEMP_MARK = ".tmp"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (ours counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def _remove_dead_temps(dest: Path) -> None:
    """Temps of ``dest`` left by a killed writer (its pid is gone): a rerun
    cleans up after it, even when the stage has no folder of its own."""
    pat = re.compile(re.escape(f".{dest.name}.p") + r"(\d+)-[^/]*" + re.escape(TEMP_MARK))
    for p in dest.parent.glob(f".{glob.escape(dest.name)}.p*{TEMP_MARK}*"):
        m = pat.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    The temporary name keeps ``dest``'s suffix (or ``suffix``) so libraries
    that pick a format from the extension (Pillow, matplotlib, torch) work.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sfx = dest.suffix if suffix is None else suffix
    _remove_dead_temps(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.p{os.getpid()}-", suffix=f"{TEMP_MARK}{sfx}",
                               dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files; give the result the mode a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        fsync_file(tmp_path)  # the bytes reach the disk before the name does
        os.replace(tmp_path, dest)
        fsync_dir(dest.parent)
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
