"""Verified, resumable HTTP downloads (urllib only).

``download(url, dest, ...)`` streams into ``dest.part`` beside the final
file, resumes a partial ``.part`` with an HTTP ``Range`` request (a server
that answers 200 instead of 206 is handled by starting over), retries
connection errors and timeouts with exponential backoff (capped at
``max_backoff``, and at least what a ``Retry-After`` header asks), gives up
when the next retry would pass an overall ``deadline``, verifies size and
checksum, and only then renames the file onto ``dest``. A file that fails
verification is moved to ``dest.bad-N`` (the first free N: earlier bad files
are kept for inspection) and :class:`IntegrityError` is raised
naming the url, the file, the expected and the actual value. There is no
silent success: with no size and no checksum given the file is accepted but
a warning says it is unverified (and logs its sha256 so it can be pinned);
with ``expect="archive"`` such a file must at least look like an archive
(zip, tar, gzip, bzip2, xz signature): an HTML error page served with
status 200 is refused.

``download_first(mirrors, dest)`` tries mirrors in order; each mirror carries
its own checksum and size because mirror files can differ (e.g. Flickr2K's
official tar vs an HR-only zip). A sidecar ``dest.source.json`` records
which mirror the file came from and whether it was verified.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tqdm import tqdm

from ..core.atomic import write_text
from ..core.errors import DebiasqeError, IntegrityError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = "debiasqe-download/1 (+urllib)"


class DownloadError(DebiasqeError):
    """A file could not be fetched (HTTP error, retries exhausted, all mirrors failed)."""


@dataclass(frozen=True)
class Mirror:
    """One place a file can be fetched from, with what that file must be.

    ``format`` ("zip", "tar", ...) is informational for callers that accept a
    local copy of the file and need to know which mirror's checksum applies.
    """

    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    format: str | None = None

    @property
    def verifiable(self) -> bool:
        return bool(self.sha256 or self.md5 or self.size is not None)


# ---------------------------------------------------------------- helpers


def _hash_file(path: Path, algos: Iterable[str], progress: bool = False) -> dict[str, str]:
    algos = list(algos)
    if not algos:
        return {}
    hs = {a: hashlib.new(a) for a in algos}
    total = path.stat().st_size
    bar = _bar(total, 0, f"verify {path.name}", progress and total > 64 * CHUNK)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            for h in hs.values():
                h.update(block)
            bar.update(len(block))
    bar.close()
    return {a: h.hexdigest() for a, h in hs.items()}


def _bar(total: int | None, initial: int, desc: str, enabled: bool):
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True,
                unit_divisor=1024, disable=not enabled, leave=False)


def check_file(path: str | os.PathLike, *, sha256: str | None = None, md5: str | None = None,
               size: int | None = None, what: str | None = None, progress: bool = False) -> dict[str, str]:
    """Verify ``path`` against the given size/checksums; raise IntegrityError on mismatch.

    Returns the computed digests (sha256 always, plus md5 when asked) so the
    caller can log or record them. ``what`` names the source (a url) in errors.
    """
    path = Path(path)
    where = f"{what} -> {path}" if what else str(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != int(size):
        raise IntegrityError(f"{where}: size {actual_size} bytes, expected {int(size)}")
    algos = ["sha256"] + (["md5"] if md5 else [])
    digests = _hash_file(path, algos, progress)
    for algo, expected in (("sha256", sha256), ("md5", md5)):
        if expected and digests[algo].lower() != expected.strip().lower():
            raise IntegrityError(f"{where}: {algo} {digests[algo]}, expected {expected.strip().lower()}")
    return digests


def bad_path(dest: str | os.PathLike) -> Path:
    """``NAME.bad-N`` for the first N not taken: a file that failed verification goes there."""
    dest = Path(dest)
    n = 1
    while (bad := dest.with_name(f"{dest.name}.bad-{n}")).exists():
        n += 1
    return bad


def _move_aside(path: Path, dest: Path) -> Path:
    bad = bad_path(dest)
    os.replace(path, bad)
    return bad


_ARCHIVE_MAGIC = ((b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"),
                  (b"\xfd7zXZ\x00", "xz"), (b"7z\xbc\xaf\x27\x1c", "7z"))


def not_an_archive(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be an archive (an HTML page, unknown bytes), or None if it may be one."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if any(head.startswith(m) for m, _ in _ARCHIVE_MAGIC) or head[257:262] == b"ustar":
        return None
    low = head.lstrip().lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low[:256]:
        return "an HTML page, e.g. the mirror's error or login page"
    if not head:
        return "an empty file"
    return f"unknown content starting with {head[:16]!r}"


def _part_paths(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying (``retry_after``: seconds the server asked)."""

    def __init__(self, msg: str, retry_after: float | None = None):
        super().__init__(msg)
        self.retry_after = retry_after


def _retry_after(headers) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds from now, or None."""
    value = (headers.get("Retry-After") if headers is not None else None) or ""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


def _attempt(url: str, part: Path, size: int | None, timeout: float, progress: bool) -> None:
    """One HTTP request that appends to ``part`` (resuming) until the body ends.

    Raises _Retryable for transient failures, DownloadError for permanent ones.
    Returns normally when the server says the body is complete.
    """
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        log.warning("%s: partial file larger than expected size; starting over", part)
        part.unlink()
        offset = 0
    if size is not None and offset == size and offset > 0:
        return  # complete already; verification decides
    resp = _request(url, part, offset, timeout)
    if resp is None:
        return  # the part holds the whole file
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        offset, mode, total = _resume_point(resp, url, part, offset, length)
        if size is not None and total is not None and total != size:
            # The server offers a different file; still fetch it, verification will name it.
            log.warning("%s: server reports %d bytes, expected %d", url, total, size)
        expected_end = offset + length if length is not None else None
        bar = _bar(total or size, offset, Path(part.name[:-5]).name, progress)
        try:
            written = _stream(resp, part, mode, offset, bar)
        finally:
            bar.close()
        if expected_end is not None and written < expected_end:
            raise _Retryable(f"connection closed at byte {written} of {expected_end}")


def _request(url: str, part: Path, offset: int, timeout: float):
    """Open ``url`` from byte ``offset``; None when a 416 says ``part`` already holds the whole file.

    Maps failures: transient ones to _Retryable, permanent ones to DownloadError.
    """
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            m = re.search(r"/(\d+)", e.headers.get("Content-Range", "") or "")
            if m and int(m.group(1)) == offset:
                return None
            log.warning("%s: server refused resume at byte %d (416); starting over", url, offset)
            part.unlink()
            raise _Retryable(f"HTTP 416 at offset {offset}") from e
        if e.code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {e.code} {e.reason}", _retry_after(e.headers)) from e
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        if isinstance(e.reason, (FileNotFoundError, PermissionError)):  # file:// urls
            raise DownloadError(f"{url}: {e.reason}") from e
        if isinstance(e.reason, OSError):  # refused, reset, DNS, timeout
            raise _Retryable(f"{type(e.reason).__name__}: {e.reason}") from e
        raise DownloadError(f"{url}: {e.reason}") from e
    except (OSError, http.client.HTTPException) as e:  # e.g. RemoteDisconnected, timeout
        raise _Retryable(f"{type(e).__name__}: {e}") from e


def _resume_point(resp, url: str, part: Path, offset: int, length: int | None) -> tuple[int, str, int | None]:
    """(offset, file mode, total size or None) for the reply: append on a matching 206, else start over."""
    status = getattr(resp, "status", None) or 200  # file:// has no status
    if offset and status == 206:
        m = _CONTENT_RANGE.search(resp.headers.get("Content-Range", "") or "")
        if not m or int(m.group(1)) != offset:
            log.warning("%s: unexpected Content-Range %r for resume at %d; starting over",
                        url, resp.headers.get("Content-Range"), offset)
            part.unlink()
            raise _Retryable("bad Content-Range")
        return offset, "ab", int(m.group(3)) if m.group(3) != "*" else None
    if status == 206:  # asked for everything, got a range: refuse to guess
        raise _Retryable("HTTP 206 without a Range request")
    if offset:
        log.info("%s: server ignored Range (HTTP %s); restarting from byte 0", url, status)
    return 0, "wb", length


def _stream(resp, part: Path, mode: str, offset: int, bar) -> int:
    """Write the reply's body to ``part`` (opened with ``mode``), fsync it; return the bytes it now holds."""
    written = offset
    # read1: return what has arrived, so bytes received before a timeout are kept
    read = getattr(resp, "read1", None) or resp.read
    with open(part, mode) as fh:
        while True:
            try:
                block = read(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                raise _Retryable(f"connection lost at byte {written}: {type(e).__name__}: {e}") from e
            if not block:
                break
            try:
                fh.write(block)
            except OSError as e:  # a full disk: name the file (its data is kept for a resume)
                raise OSError(e.errno, e.strerror or str(e), str(part)) from e
            written += len(block)
            bar.update(len(block))
        fh.flush()
        os.fsync(fh.fileno())
    return written


# ---------------------------------------------------------------- public API


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None, md5: str | None = None,
             size: int | None = None, retries: int = 5, timeout: float = 60, progress: bool = True,
             backoff: float = 1.0, max_backoff: float = 60.0, deadline: float | None = 12 * 3600.0,
             expect: str | None = None) -> Path:
    """Fetch ``url`` to ``dest``, resuming, retrying and verifying; return ``dest``.

    - An existing ``dest`` that verifies is returned without any request; one
      that fails verification is moved to ``dest.bad-N`` and fetched again.
    - ``retries`` bounds the failed attempts that made no new progress; the
      wait before retry k is ``backoff * 2**(k-1)`` seconds, at most
      ``max_backoff``, at least the server's ``Retry-After``; ``deadline``
      (seconds since the call, None: none) ends the retries whatever the
      progress: a retry that would start after it is not made.
    - ``expect="archive"``: an unverified file must look like an archive.
    - HTTP errors other than 408/425/429/5xx fail at once (DownloadError).
    - Size/checksum mismatch: the file goes to ``dest.bad-N`` and
      IntegrityError names the url, the file, expected and actual values.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = int(size) if size is not None else None
    part, part_meta = _part_paths(dest)
    if dest.exists() and _existing_is_good(url, dest, sha256=sha256, md5=md5, size=size, progress=progress):
        return dest

    # A partial file from another url (e.g. a different mirror) must not be resumed.
    if part.exists():
        try:
            meta = json.loads(part_meta.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("url") != url:
            log.info("%s: partial file is from another source; starting over", part)
            part.unlink()
    write_text(part_meta, json.dumps({"url": url}))

    _fetch_with_retries(url, dest, size=size, timeout=timeout, progress=progress, retries=retries,
                        backoff=backoff, max_backoff=max_backoff, deadline=deadline)
    _verify_part(url, dest, sha256=sha256, md5=md5, size=size, expect=expect, progress=progress)
    os.replace(part, dest)
    _forget_part_meta(dest)
    return dest


def _forget_part_meta(dest: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        _part_paths(dest)[1].unlink()


def _existing_is_good(url: str, dest: Path, *, sha256: str | None, md5: str | None, size: int | None,
                      progress: bool) -> bool:
    """Whether an existing ``dest`` may be used; one that fails verification is moved to ``dest.bad-N``."""
    if not (sha256 or md5 or size is not None):
        log.warning("%s: exists; no size or checksum known, using it UNVERIFIED", dest)
        return True
    try:
        check_file(dest, sha256=sha256, md5=md5, size=size, what=url, progress=progress)
        log.info("%s: present and verified", dest)
        return True
    except IntegrityError as e:
        bad = _move_aside(dest, dest)
        log.warning("%s; moved to %s, downloading again", e, bad)
        return False


def _fetch_with_retries(url: str, dest: Path, *, size: int | None, timeout: float, progress: bool, retries: int,
                        backoff: float, max_backoff: float, deadline: float | None) -> None:
    """Run :func:`_attempt` until ``dest.part`` holds the whole body, backing off between failed attempts."""
    part = _part_paths(dest)[0]
    failures = 0
    best = part.stat().st_size if part.exists() else 0
    started = time.monotonic()
    while True:
        try:
            _attempt(url, part, size, timeout, progress)
            return
        except DownloadError:
            if not part.exists():
                _forget_part_meta(dest)
            raise
        except _Retryable as e:
            now = part.stat().st_size if part.exists() else 0
            if now > best:
                best, failures = now, 0  # new bytes: the connection is worth keeping up
            failures += 1
            if failures > retries:
                kept = f" (partial data kept in {part})" if part.exists() else ""
                if not kept:
                    _forget_part_meta(dest)
                raise DownloadError(f"{url}: giving up after {retries} retries: {e}{kept}") from None
            wait = min(backoff * 2 ** (failures - 1), max_backoff)
            if e.retry_after is not None:
                wait = max(wait, e.retry_after)
            if deadline is not None and time.monotonic() - started + wait > deadline:
                kept = f" (partial data kept in {part})" if part.exists() else ""
                raise DownloadError(f"{url}: giving up, the next retry (in {wait:g} s) would start after the "
                                    f"deadline of {deadline:g} s: {e}{kept}") from None
            log.warning("%s: %s; retry %d/%d in %.1fs", url, e, failures, retries, wait)
            time.sleep(wait)


def _verify_part(url: str, dest: Path, *, sha256: str | None, md5: str | None, size: int | None,
                 expect: str | None, progress: bool) -> None:
    """Check the finished ``dest.part``; one that fails goes to ``dest.bad-N`` with an IntegrityError."""
    part = _part_paths(dest)[0]
    if not part.exists():  # empty body with no error: still a file
        part.touch()
    try:
        digests = check_file(part, sha256=sha256, md5=md5, size=size, what=url, progress=progress)
    except IntegrityError as e:
        bad = _move_aside(part, dest)
        _forget_part_meta(dest)
        raise IntegrityError(f"{e}; moved to {bad}") from None
    if not (sha256 or md5 or size is not None):
        problem = not_an_archive(part) if expect == "archive" else None
        if problem:
            bad = _move_aside(part, dest)
            _forget_part_meta(dest)
            raise IntegrityError(f"{url}: the reply is not an archive but {problem}; moved to {bad}")
        log.warning("%s: no size or checksum known; accepted UNVERIFIED (sha256 %s, %d bytes)",
                    url, digests["sha256"], part.stat().st_size)
    else:
        log.info("%s: verified (sha256 %s)", dest, digests["sha256"])


def source_record_path(dest: str | os.PathLike) -> Path:
    dest = Path(dest)
    return dest.with_name(dest.name + ".source.json")


def read_source_record(dest: str | os.PathLike) -> dict | None:
    try:
        return json.loads(source_record_path(dest).read_text())
    except (OSError, ValueError):
        return None


def download_first(mirrors: Sequence[Mirror], dest: str | os.PathLike, **kwargs) -> Path:
    """Try ``mirrors`` in order until one yields a verified ``dest``; return ``dest``.

    ``kwargs`` go to :func:`download` (retries, timeout, progress, backoff).
    An existing ``dest`` written by an earlier call is re-verified against the
    mirror recorded in ``dest.source.json``. On success that sidecar records
    the url, the expected values and whether the file was verified. If every
    mirror fails, DownloadError lists each mirror's failure.
    """
    dest = Path(dest)
    mirrors = list(mirrors)
    if not mirrors:
        raise DownloadError(f"{dest.name}: no mirrors given")
    record = read_source_record(dest)
    if dest.exists() and record:
        known = [m for m in mirrors if m.url == record.get("url")]
        order = known + [m for m in mirrors if m not in known]
    else:
        order = mirrors
    if dest.exists() and not (record and any(m.url == record.get("url") for m in mirrors)):
        # Placed by hand or from a mirror no longer listed: keep it only if a mirror vouches.
        for m in mirrors:
            if m.verifiable:
                with contextlib.suppress(IntegrityError):
                    check_file(dest, sha256=m.sha256, md5=m.md5, size=m.size, progress=kwargs.get("progress", True))
                    write_source_record(dest, m, verified=True)
                    return dest
        bad = _move_aside(dest, dest)
        log.warning("%s: matches no mirror's checksum; moved to %s", dest, bad)
    failures = []
    for m in order:
        try:
            download(m.url, dest, sha256=m.sha256, md5=m.md5, size=m.size, **kwargs)
        except (DebiasqeError, OSError) as e:
            failures.append(f"[{m.url}] {e}")
            log.warning("mirror failed: %s: %s", m.url, e)
            continue  # download() discards a .part that came from another url
        write_source_record(dest, m, verified=m.verifiable)
        return dest
    raise DownloadError(f"{dest.name}: all {len(order)} mirrors failed: " + "; ".join(failures))


def write_source_record(dest: Path, m: Mirror, verified: bool) -> None:
    rec = {"file": dest.name, **asdict(m), "verified": verified}
    write_text(source_record_path(dest), json.dumps(rec, indent=1) + "\n")
