"""download(): resume, Range fallback, retries, verification, mirrors (offline)."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from debiasqe.data.download import DownloadError, Mirror, download, download_first, read_source_record
from debiasqe.core.errors import IntegrityError

try:
    from httpserver import FileServer
except ImportError:  # tests/ is a package
    from tests.httpserver import FileServer

DATA = bytes(range(256)) * 1200  # 300 KiB
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()
FAST = dict(progress=False, backoff=0.0, timeout=5)


@pytest.fixture
def server(tmp_path):
    srv_dir = tmp_path / "srv"
    srv_dir.mkdir()
    (srv_dir / "f.bin").write_bytes(DATA)
    (srv_dir / "other.bin").write_bytes(b"something else entirely")
    with FileServer(srv_dir) as srv:
        yield srv


def test_full_download_verifies(server, tmp_path):
    dest = tmp_path / "out" / "f.bin"
    got = download(server.url("f.bin"), dest, sha256=SHA, md5=MD5, size=len(DATA), **FAST)
    assert got == dest and dest.read_bytes() == DATA
    assert not dest.with_name("f.bin.part").exists()
    assert not dest.with_name("f.bin.part.json").exists()
    # a second call finds the verified file and makes no request
    n = len(server.requests)
    download(server.url("f.bin"), dest, sha256=SHA, **FAST)
    assert len(server.requests) == n


def test_cut_connection_resumes_with_range(server, tmp_path):
    server.cut_after, server.cut_times = 100_000, 2
    dest = tmp_path / "f.bin"
    download(server.url("f.bin"), dest, sha256=SHA, size=len(DATA), **FAST)
    assert dest.read_bytes() == DATA
    assert server.range_requests[:2] == ["bytes=100000-", "bytes=200000-"]
    assert [s for _, _, s in server.requests] == [200, 206, 206]


def test_resume_existing_part_file(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(DATA[:5000])
    dest.with_name("f.bin.part.json").write_text(json.dumps({"url": server.url("f.bin")}))
    download(server.url("f.bin"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert server.requests == [("/f.bin", "bytes=5000-", 206)]


def test_part_from_other_url_is_not_resumed(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"x" * 5000)
    dest.with_name("f.bin.part.json").write_text(json.dumps({"url": "http://elsewhere/f.bin"}))
    download(server.url("f.bin"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA and server.range_requests == []


def test_server_ignoring_range_restarts(server, tmp_path, caplog):
    server.support_range = False
    server.cut_after, server.cut_times = 50_000, 1
    dest = tmp_path / "f.bin"
    with caplog.at_level(logging.INFO, logger="debiasqe.data.download"):
        download(server.url("f.bin"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA
    assert server.range_requests == ["bytes=50000-"]  # asked to resume ...
    assert [s for _, _, s in server.requests] == [200, 200]  # ... got the whole file
    assert "ignored Range" in caplog.text


def test_checksum_mismatch_moves_file_aside(server, tmp_path):
    dest = tmp_path / "f.bin"
    wrong = "0" * 64
    with pytest.raises(IntegrityError) as ei:
        download(server.url("f.bin"), dest, sha256=wrong, **FAST)
    msg = str(ei.value)
    assert server.url("f.bin") in msg and wrong in msg and SHA in msg and "\n" not in msg
    assert not dest.exists()
    assert dest.with_name("f.bin.bad-1").read_bytes() == DATA
    assert not dest.with_name("f.bin.part").exists()


def test_size_mismatch_and_md5_mismatch(server, tmp_path):
    with pytest.raises(IntegrityError, match=r"size 307200 bytes, expected 7"):
        download(server.url("f.bin"), tmp_path / "a.bin", size=7, **FAST)
    with pytest.raises(IntegrityError, match=f"md5 {MD5}, expected {'f' * 32}"):
        download(server.url("f.bin"), tmp_path / "b.bin", md5="F" * 32, **FAST)
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "b.bin").exists()


def test_corrupt_existing_dest_is_replaced(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"corrupt")
    download(server.url("f.bin"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == DATA and dest.with_name("f.bin.bad-1").read_bytes() == b"corrupt"


def test_transient_errors_retried_then_give_up(server, tmp_path):
    server.fail_status, server.fail_times = 503, 2
    download(server.url("f.bin"), tmp_path / "a.bin", sha256=SHA, retries=2, **FAST)
    server.fail_status, server.fail_times = 503, 10
    with pytest.raises(DownloadError, match="giving up after 1 retries"):
        download(server.url("f.bin"), tmp_path / "b.bin", sha256=SHA, retries=1, **FAST)
    assert not (tmp_path / "b.bin").exists()


def test_http_404_fails_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("missing.bin"), tmp_path / "m.bin", retries=5, **FAST)
    assert len(server.requests) == 1
    assert list(tmp_path.glob("m.bin*")) == []  # no stray .part/.part.json


def test_unverified_download_warns(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="debiasqe.data.download"):
        download(server.url("f.bin"), tmp_path / "u.bin", **FAST)
    assert "UNVERIFIED" in caplog.text and SHA in caplog.text


def test_connection_refused_is_retried(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(DownloadError, match="giving up after 1 retries"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=1, **FAST)


def test_mirror_fallback_lists_failures(server, tmp_path):
    dest = tmp_path / "f.bin"
    mirrors = [
        Mirror(server.url("missing.bin"), sha256=SHA),
        Mirror(server.url("other.bin"), sha256=SHA),  # wrong file: checksum fails
        Mirror(server.url("f.bin"), sha256=SHA, size=len(DATA)),
    ]
    assert download_first(mirrors, dest, **FAST) == dest
    assert dest.read_bytes() == DATA
    rec = read_source_record(dest)
    assert rec["url"] == server.url("f.bin") and rec["verified"] is True

    with pytest.raises(DownloadError) as ei:
        download_first(mirrors[:2], tmp_path / "g.bin", **FAST)
    msg = str(ei.value)
    assert "all 2 mirrors failed" in msg and "missing.bin" in msg and "HTTP 404" in msg
    assert "other.bin" in msg and "sha256" in msg
    assert not (tmp_path / "g.bin").exists()


def test_mirror_existing_dest_reused_and_unverified_mirror(server, tmp_path, caplog):
    dest = tmp_path / "f.bin"
    mirrors = [Mirror(server.url("missing.bin"), md5=MD5), Mirror(server.url("f.bin"))]
    with caplog.at_level(logging.WARNING, logger="debiasqe.data.download"):
        download_first(mirrors, dest, **FAST)
    assert "UNVERIFIED" in caplog.text
    assert read_source_record(dest)["verified"] is False
    n = len(server.requests)
    download_first(mirrors, dest, **FAST)  # recorded mirror first: no request at all
    assert len(server.requests) == n


def test_complete_part_answered_416_is_accepted(server, tmp_path):
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(DATA)
    dest.with_name("f.bin.part.json").write_text(json.dumps({"url": server.url("f.bin")}))
    download(server.url("f.bin"), dest, sha256=SHA, **FAST)  # size unknown: must ask the server
    assert dest.read_bytes() == DATA
    assert server.requests == [("/f.bin", f"bytes={len(DATA)}-", 416)]


def test_read_timeout_is_retried_and_resumed(server, tmp_path):
    server.stall, server.stall_times = 1.0, 1
    dest = tmp_path / "f.bin"
    download(server.url("f.bin"), dest, sha256=SHA, progress=False, backoff=0.0, timeout=0.3)
    assert dest.read_bytes() == DATA
    assert server.range_requests == [f"bytes={len(DATA) // 2}-"]


# ------------------------------------------------- backoff cap, Retry-After, deadline, HTML


def _waits(monkeypatch):
    import debiasqe.data.download as dl

    waits = []
    monkeypatch.setattr(dl.time, "sleep", waits.append)
    return waits


def test_backoff_is_capped(server, tmp_path, monkeypatch):
    waits = _waits(monkeypatch)
    server.fail_status, server.fail_times = 503, 6
    download(server.url("f.bin"), tmp_path / "a.bin", sha256=SHA, retries=6, progress=False, timeout=5,
             backoff=1.0, max_backoff=5.0)
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_retry_after_is_honoured(server, tmp_path, monkeypatch):
    waits = _waits(monkeypatch)
    server.fail_status, server.fail_times, server.retry_after = 429, 2, "7"
    download(server.url("f.bin"), tmp_path / "a.bin", sha256=SHA, **FAST)
    assert waits == [7.0, 7.0]  # backoff 0 here: the server's wish wins


def test_retry_after_as_http_date(server, tmp_path, monkeypatch):
    import email.utils
    import time as _time

    waits = _waits(monkeypatch)
    server.fail_status, server.fail_times = 503, 1
    server.retry_after = email.utils.formatdate(_time.time() + 30, usegmt=True)
    download(server.url("f.bin"), tmp_path / "a.bin", sha256=SHA, **FAST)
    assert len(waits) == 1 and 27 <= waits[0] <= 31


def test_deadline_ends_retries_even_with_progress(server, tmp_path, monkeypatch):
    """Every attempt brings new bytes (the retry count resets) but the deadline still ends it."""
    clock = [0.0]
    import debiasqe.data.download as dl

    monkeypatch.setattr(dl.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(dl.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    server.cut_after, server.cut_times = 1000, 1000  # each reply is cut after 1000 new bytes
    with pytest.raises(DownloadError) as ei:
        download(server.url("f.bin"), tmp_path / "a.bin", sha256=SHA, retries=2, progress=False, timeout=5,
                 backoff=10.0, max_backoff=10.0, deadline=95.0)
    assert "would start after the deadline of 95 s" in str(ei.value) and "partial data kept" in str(ei.value)
    assert clock[0] == 90.0  # 9 retries of 10 s; the 10th would end at 100 s
    assert (tmp_path / "a.bin.part").stat().st_size == 10 * 1000


def test_unverified_html_reply_is_not_taken_for_an_archive(server, tmp_path):
    (server.root / "page.zip").write_text("<!DOCTYPE html><html><body>Mirror quota exceeded</body></html>")
    with pytest.raises(IntegrityError) as ei:
        download(server.url("page.zip"), tmp_path / "p.zip", expect="archive", **FAST)
    assert "the reply is not an archive but an HTML page" in str(ei.value)
    assert not (tmp_path / "p.zip").exists() and (tmp_path / "p.zip.bad-1").is_file()
    # a real archive without a checksum still passes (with its UNVERIFIED warning)
    import zipfile

    with zipfile.ZipFile(server.root / "ok.zip", "w") as zf:
        zf.writestr("a.txt", "x")
    download(server.url("ok.zip"), tmp_path / "ok.zip", expect="archive", **FAST)
    assert (tmp_path / "ok.zip").is_file()


def test_bad_files_are_numbered_not_overwritten(server, tmp_path):
    dest = tmp_path / "f.bin"
    for k in (1, 2):
        dest.write_bytes(b"corrupt %d" % k)
        download(server.url("f.bin"), dest, sha256=SHA, **FAST)
        dest.unlink()
    assert (tmp_path / "f.bin.bad-1").read_bytes() == b"corrupt 1"
    assert (tmp_path / "f.bin.bad-2").read_bytes() == b"corrupt 2"
