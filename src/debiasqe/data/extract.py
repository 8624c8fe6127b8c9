"""Safe extraction of zip and tar(.gz/.bz2/.xz) archives.

- Every member name is checked before anything is written: absolute paths,
  drive letters, ``..`` components, NUL bytes, symlinks or hardlinks whose
  target leaves the extraction folder, device files and FIFOs make the whole
  archive refused with :class:`UnsafeArchiveError` naming archive and member.
- Links that stay inside are not created as links: a hardlink becomes a
  copy of its (already extracted) target, a symlink is skipped with a warning.
  Files are written by us (never ``extractall``) with mode 0644/0755 dirs.
- ``max_bytes`` caps the unpacked size: the declared sizes are summed up
  front, and the bytes actually written are counted while writing.
- Extraction goes into a hidden temporary sibling
  ``.{target}.partial-XXXX`` that is renamed onto ``target`` only when
  complete, with a marker ``.debiasqe-extracted.json`` inside; a killed
  extraction leaves nothing that looks complete (stale partial folders of the
  same target are removed by the next run).
- The format is sniffed from the content, not the file name.
- An archive that cannot be read whole is refused with nothing extracted:
  zip members that are encrypted or use a method Python cannot decode
  (Deflate64, Zstandard, PPMd...) are refused before anything is written;
  a compressed tar is read to its very end, so a corrupt header (which
  ``tarfile`` takes for the end of the archive) or a wrong gzip/bzip2/xz
  checksum is caught before the extraction is renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import logging
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from ..core.errors import DebiasqeError, UnsafeArchiveError

log = logging.getLogger(__name__)

MARKER = ".debiasqe-extracted.json"
CHUNK = 1 << 20
GiB = 1 << 30


class ArchiveError(DebiasqeError):
    """An archive cannot be read, is too large, or its target is in the way."""


@dataclass
class _Member:
    name: str              # normalised relative posix path
    kind: str              # "file" | "dir" | "symlink" | "hardlink"
    size: int
    link: str | None       # link target as stored
    ref: object            # ZipInfo or TarInfo


def archive_format(path: str | os.PathLike) -> str:
    """'zip' or 'tar' from the file's content; ArchiveError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path}: archive not found")
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise ArchiveError(f"{path}: truncated or corrupt archive: {type(e).__name__}: {e}") from e
    with open(path, "rb") as fh:
        head = fh.read(6)
    for magic, kind in ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ", "xz")):
        if head.startswith(magic):
            raise ArchiveError(f"{path}: corrupt or truncated {kind} file (no readable tar archive in it)")
    raise ArchiveError(f"{path}: not a zip or tar archive")


def _normalise(archive: Path, raw: str) -> str:
    """Relative posix path of a member, or UnsafeArchiveError."""
    name = raw.replace("\\", "/")
    if "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: member {raw!r} has a NUL byte in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {raw!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {raw!r} would land outside the target ('..')")
    return "/".join(parts)


def _link_inside(archive: Path, member: str, link: str, *, relative_to_member: bool) -> str:
    """The normalised in-archive path a link points at, or UnsafeArchiveError."""
    target = link.replace("\\", "/")
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {member!r} links to absolute path {link!r}")
    base = posixpath.dirname(member) if relative_to_member else ""
    # walk the components: normpath on an anchored path would clamp '..' at '/'
    depth = len([p for p in base.split("/") if p])
    for part in target.split("/"):
        if part in ("", "."):
            continue
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            raise UnsafeArchiveError(f"{archive}: member {member!r} links outside the target ({link!r})")
    return posixpath.normpath(posixpath.join("/", base, target)).lstrip("/")


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        name = _normalise(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            link = zf.read(info).decode("utf-8", "replace")
            yield _Member(name, "symlink", 0, link, info)
        elif info.is_dir():
            yield _Member(name, "dir", 0, None, info)
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no unix type recorded
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a special file (mode {oct(mode)})")
        else:
            yield _Member(name, "file", info.file_size, None, info)


def _tar_members(archive: Path, tf: tarfile.TarFile) -> Iterator[_Member]:
    for ti in tf.getmembers():
        name = _normalise(archive, ti.name)
        if ti.isreg():
            yield _Member(name, "file", ti.size, None, ti)
        elif ti.isdir():
            yield _Member(name, "dir", 0, None, ti)
        elif ti.issym():
            yield _Member(name, "symlink", 0, ti.linkname, ti)
        elif ti.islnk():
            yield _Member(name, "hardlink", 0, ti.linkname, ti)
        else:
            raise UnsafeArchiveError(f"{archive}: member {ti.name!r} is a device file or FIFO; refused")


def _check(archive: Path, members: list[_Member]) -> None:
    for m in members:
        if not m.name and m.kind != "dir":
            raise UnsafeArchiveError(f"{archive}: a {m.kind} member has an empty name")
        if m.kind == "symlink":
            _link_inside(archive, m.name, m.link or "", relative_to_member=True)
        elif m.kind == "hardlink":
            # tar hardlink targets are relative to the archive root
            _link_inside(archive, m.name, m.link or "", relative_to_member=False)


#: zip compression methods by number (APPNOTE 4.4.5) for messages
ZIP_METHODS = {0: "Stored", 1: "Shrink", 6: "Implode", 8: "Deflate", 9: "Deflate64", 12: "BZIP2", 14: "LZMA",
               93: "Zstandard", 95: "xz", 97: "WavPack", 98: "PPMd", 99: "AES encryption"}
_ZIP_READABLE = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA} | (
    {zipfile.ZIP_ZSTANDARD} if hasattr(zipfile, "ZIP_ZSTANDARD") else set())
_UNPACK_HINT = "unpack it with 7-Zip or unzip and give the folder as the dataset's root:"


def _check_zip_readable(archive: Path, chosen: list[_Member]) -> None:
    """Refuse members Python's zipfile cannot read, before anything is written."""
    for m in chosen:
        info = m.ref
        if m.kind != "file" or not isinstance(info, zipfile.ZipInfo):
            continue
        if info.flag_bits & 0x1 or info.compress_type == 99:
            raise ArchiveError(f"{archive}: member {m.name!r} is encrypted (password-protected); {_UNPACK_HINT}")
        if info.compress_type not in _ZIP_READABLE:
            method = ZIP_METHODS.get(info.compress_type, "unknown")
            raise ArchiveError(f"{archive}: member {m.name!r} is compressed with {method} (method "
                               f"{info.compress_type}), which Python's zipfile cannot read; {_UNPACK_HINT}")


def _check_tar_end(archive: Path, tf: tarfile.TarFile) -> None:
    """Read a tar archive past the point where ``tarfile`` stopped listing it, to its end.

    ``tarfile`` ends the listing at the first header it cannot parse (a
    corrupt one included) and never reaches the end of a compressed stream,
    where gzip/bzip2/xz check their CRC. After the end-of-archive blocks only
    zeros may follow.
    """
    fobj = tf.fileobj
    try:
        fobj.seek(tf.offset)
        pos = tf.offset
        while block := fobj.read(512):  # tar blocks: a bad header shows before the stream's CRC
            if block.strip(b"\0"):
                at = pos + len(block) - len(block.lstrip(b"\0"))
                raise ArchiveError(f"{archive}: corrupt tar header at byte {at} (tar would silently stop "
                                   "there, dropping the rest); nothing extracted")
            pos += len(block)
    except _READ_ERRORS as e:
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({e}); nothing extracted") from e


def _clean_stale(target: Path) -> None:
    for p in target.parent.glob(f".{target.name}.partial-*"):
        log.info("removing stale partial extraction %s", p)
        shutil.rmtree(p, ignore_errors=True)


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike, *, max_bytes: int = 64 * GiB,
                    include: Callable[[str], bool] | None = None, progress: bool = True) -> Path:
    """Extract ``archive`` safely into the folder ``target``; return ``target``.

    ``include(name)`` selects members to write (all are still safety-checked);
    ``max_bytes`` is the ceiling on the unpacked bytes of selected members.
    A ``target`` holding the completion marker is reused as it is; a
    ``target`` without it is refused (remove it, it is not ours).
    """
    archive, target = Path(archive), Path(target)
    if (target / MARKER).is_file():
        log.info("%s: already extracted", target)
        return target
    if target.exists():
        raise ArchiveError(f"{target}: exists but is not a completed extraction of {archive.name}; remove it")
    fmt = archive_format(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target)

    with contextlib.ExitStack() as stack:
        handle, members = _open_archive(archive, fmt, stack)
        _check(archive, members)
        chosen = [m for m in members if include is None or include(m.name)]
        if fmt == "zip":
            _check_zip_readable(archive, chosen)
        declared = sum(m.size for m in chosen if m.kind == "file")
        if declared > max_bytes:
            raise ArchiveError(f"{archive}: unpacks to {declared} bytes, over the ceiling of {max_bytes} "
                               f"bytes (raise max_unpacked_gb if this is expected)")

        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            with tqdm(total=declared, desc=f"extract {archive.name}", unit="B", unit_scale=True,
                      unit_divisor=1024, disable=not progress, leave=False) as bar:
                written = _write_members(archive, target, tmp, handle, fmt, chosen, max_bytes, bar)
            if fmt == "tar":
                _check_tar_end(archive, handle)
            record = {"archive": str(archive), "archive_bytes": archive.stat().st_size, "format": fmt,
                      "members": len(chosen), "unpacked_bytes": written}
            (tmp / MARKER).write_text(json.dumps(record, indent=1) + "\n")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log.info("%s: extracted %d members (%d bytes) to %s", archive, len(chosen), written, target)
    return target


def _open_archive(archive: Path, fmt: str, stack: contextlib.ExitStack) -> tuple[object, list[_Member]]:
    """The open zip or tar handle (closed with ``stack``) and its members, listed."""
    try:
        if fmt == "zip":
            handle = stack.enter_context(zipfile.ZipFile(archive))
            return handle, list(_zip_members(archive, handle))
        handle = stack.enter_context(tarfile.open(archive, "r:*"))
        return handle, list(_tar_members(archive, handle))
    except _READ_ERRORS as e:
        raise ArchiveError(f"{archive}: cannot read archive: {e}") from e


def _write_members(archive: Path, target: Path, tmp: Path, handle, fmt: str, chosen: list[_Member],
                   max_bytes: int, bar) -> int:
    """Write the ``chosen`` members into the partial folder ``tmp``; return the bytes written."""
    root = tmp.resolve()
    written = 0
    for m in chosen:
        dest = tmp / m.name if m.name else tmp
        # defence in depth: nothing we create is a link, so this only trips on surprises
        if root != dest.parent.resolve() and root not in dest.parent.resolve().parents:
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} resolves outside the target")
        if m.kind == "dir":
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if m.kind == "symlink":
            log.warning("%s: member %r is a symlink; not extracted", archive, m.name)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if m.kind == "hardlink":
            src = tmp / _link_inside(archive, m.name, m.link or "", relative_to_member=False)
            if not src.is_file():
                log.warning("%s: hardlink %r to %r not extracted (target not selected)", archive, m.name, m.link)
                continue
            shutil.copyfile(src, dest)
            written += src.stat().st_size
        else:
            written = _copy_member(archive, target, handle, fmt, m, dest, written, max_bytes, bar)
        if written > max_bytes:
            raise ArchiveError(f"{archive}: member {m.name!r} pushes the unpacked size over "
                               f"the ceiling of {max_bytes} bytes")
        os.chmod(dest, 0o644)
    return written


def _copy_member(archive: Path, target: Path, handle, fmt: str, m: _Member, dest: Path, written: int,
                 max_bytes: int, bar) -> int:
    """Copy the file member ``m`` to ``dest``; return the running total of bytes written, ``written`` included."""
    with _open_member(archive, handle, fmt, m) as src, open(dest, "wb") as out:
        while block := _read(archive, m, src):
            written += len(block)
            if written > max_bytes:
                raise ArchiveError(f"{archive}: member {m.name!r} pushes the unpacked size over the "
                                   f"ceiling of {max_bytes} bytes (sizes in the archive lie)")
            try:
                out.write(block)
            except OSError as e:  # a full disk: name where, keep nothing
                raise ArchiveError(f"{archive}: cannot write {target}/{m.name}: "
                                   f"{e.strerror or e}; nothing extracted") from e
            bar.update(len(block))
    return written


_READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, lzma.LZMAError)


def _open_member(archive: Path, handle, fmt: str, m: _Member):
    try:
        fh = handle.open(m.ref) if fmt == "zip" else handle.extractfile(m.ref)
    except _READ_ERRORS as e:
        raise ArchiveError(f"{archive}: member {m.name!r}: cannot read: {e}") from e
    if fh is None:  # pragma: no cover - regular tar members always have data
        raise ArchiveError(f"{archive}: member {m.name!r} has no data")
    return fh


def _read(archive: Path, m: _Member, fh) -> bytes:
    try:
        return fh.read(CHUNK)
    except _READ_ERRORS as e:
        raise ArchiveError(f"{archive}: member {m.name!r}: corrupt or truncated: {e}") from e
