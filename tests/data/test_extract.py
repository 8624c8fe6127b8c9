"""Safe extraction: hostile archives refused, bombs stopped, good archives land atomically."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import numpy as np

import pytest

from debiasqe.data import extract as ex
from debiasqe.data.extract import MARKER, ArchiveError, extract_archive
from debiasqe.core.errors import UnsafeArchiveError


def _tar(path, entries, mode="w"):
    """entries: (name, kind, payload_or_link)."""
    with tarfile.open(path, mode) as tf:
        for name, kind, arg in entries:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(arg)
                tf.addfile(ti, io.BytesIO(arg))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                       "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "hard"):
                ti.linkname = arg
            tf.addfile(ti)
    return path


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, kind, arg in entries:
            zi = zipfile.ZipInfo(name)
            if kind == "sym":
                zi.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(zi, arg)
            else:
                zi.external_attr = (stat.S_IFREG | 0o644) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, arg)
    return path


def _assert_nothing_left(tmp_path, target, allowed):
    assert not target.exists()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(allowed), names  # no partial folder, nothing escaped beside it
    assert not list(tmp_path.parent.glob("evil*"))


GOOD = [("top/a.txt", "file", b"alpha"), ("top/sub/b.bin", "file", bytes(1000))]


@pytest.mark.parametrize("kind", ["tar", "tgz", "zip"])
def test_good_archive_extracts_atomically(tmp_path, kind):
    arc = tmp_path / f"good.{kind}"
    if kind == "zip":
        _zip(arc, GOOD)
    else:
        _tar(arc, [("top", "dir", None)] + GOOD, "w:gz" if kind == "tgz" else "w")
    target = tmp_path / "out" / "good"
    assert extract_archive(arc, target, max_bytes=10_000, progress=False) == target
    assert (target / "top/a.txt").read_bytes() == b"alpha"
    assert (target / "top/sub/b.bin").read_bytes() == bytes(1000)
    assert (target / MARKER).is_file()
    assert [p.name for p in target.parent.iterdir()] == ["good"]  # no partial left
    # reused without re-extracting
    (target / "top/a.txt").write_bytes(b"kept")
    extract_archive(arc, target, max_bytes=10_000, progress=False)
    assert (target / "top/a.txt").read_bytes() == b"kept"


def test_format_sniffed_not_from_name(tmp_path):
    arc = _zip(tmp_path / "misnamed.tar", GOOD)
    extract_archive(arc, tmp_path / "t", progress=False)
    assert (tmp_path / "t/top/a.txt").exists()
    (tmp_path / "junk.zip").write_bytes(b"not an archive at all" * 30)
    with pytest.raises(ArchiveError, match="not a zip or tar"):
        extract_archive(tmp_path / "junk.zip", tmp_path / "u", progress=False)


HOSTILE_TAR = {
    "dotdot": ([("ok.txt", "file", b"x"), ("../evil", "file", b"pwned")], r"'\.\./evil'.*outside"),
    "absolute": ([("/tmp/evil_abs", "file", b"pwned")], "absolute path"),
    "symlink_out": ([("link", "sym", "../../evil_target"), ("ok.txt", "file", b"x")], "'link' links outside"),
    "symlink_abs": ([("link", "sym", "/etc/passwd")], "links to absolute path"),
    "hardlink_out": ([("hl", "hard", "../evil_target")], "'hl' links outside"),
    "device": ([("dev", "chr", None)], "device file"),
    "fifo": ([("pipe", "fifo", None)], "device file or FIFO"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TAR))
def test_hostile_tar_refused(tmp_path, case):
    entries, pattern = HOSTILE_TAR[case]
    arc = _tar(tmp_path / "bad.tar", entries)
    target = tmp_path / "target"
    with pytest.raises(UnsafeArchiveError, match=pattern) as ei:
        extract_archive(arc, target, progress=False)
    assert "bad.tar" in str(ei.value) and "\n" not in str(ei.value)
    _assert_nothing_left(tmp_path, target, ["bad.tar"])


HOSTILE_ZIP = {
    "dotdot": ([("a/../../evil", "file", b"pwned")], "outside"),
    "absolute": ([("/evil_abs", "file", b"pwned")], "absolute path"),
    "backslash": ([("..\\evil", "file", b"pwned")], "outside"),
    "symlink_out": ([("d/link", "sym", "../../evil")], "'d/link' links outside"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIP))
def test_hostile_zip_refused(tmp_path, case):
    entries, pattern = HOSTILE_ZIP[case]
    arc = _zip(tmp_path / "bad.zip", entries)
    target = tmp_path / "target"
    with pytest.raises(UnsafeArchiveError, match=pattern):
        extract_archive(arc, target, progress=False)
    _assert_nothing_left(tmp_path, target, ["bad.zip"])


def test_links_inside_are_not_created_as_links(tmp_path, caplog):
    arc = _tar(tmp_path / "l.tar", [("d/f", "file", b"data"), ("d/sym", "sym", "f"), ("d/hard", "hard", "d/f")])
    target = extract_archive(arc, tmp_path / "t", progress=False)
    assert not (target / "d/sym").exists() and "symlink; not extracted" in caplog.text
    assert (target / "d/hard").read_bytes() == b"data" and not (target / "d/hard").is_symlink()


def test_bomb_over_ceiling_refused_up_front(tmp_path):
    arc = _zip(tmp_path / "bomb.zip", [("zeros", "file", bytes(2_000_000))])
    assert arc.stat().st_size < 20_000  # small archive, big payload
    with pytest.raises(ArchiveError, match=r"unpacks to 2000000 bytes, over the ceiling of 1000000"):
        extract_archive(arc, tmp_path / "t", max_bytes=1_000_000, progress=False)
    _assert_nothing_left(tmp_path, tmp_path / "t", ["bomb.zip"])


def test_lying_sizes_stopped_while_writing(tmp_path, monkeypatch):
    arc = _zip(tmp_path / "liar.zip", [("a", "file", bytes(3_000_000)), ("b", "file", b"x")])
    real = ex._zip_members

    def lying(archive, zf):
        for m in real(archive, zf):
            m.size = 1
            yield m

    monkeypatch.setattr(ex, "_zip_members", lying)
    with pytest.raises(ArchiveError, match=r"member 'a' pushes the unpacked size over the ceiling"):
        extract_archive(arc, tmp_path / "t", max_bytes=2_000_000, progress=False)
    _assert_nothing_left(tmp_path, tmp_path / "t", ["liar.zip"])


def test_include_filter_limits_writes_and_ceiling(tmp_path):
    arc = _tar(tmp_path / "f.tar", [("HR/1.png", "file", b"a" * 10), ("LR/1x2.png", "file", b"b" * 10_000)])
    target = extract_archive(arc, tmp_path / "t", max_bytes=100, include=lambda n: n.startswith("HR/"),
                             progress=False)
    assert (target / "HR/1.png").exists() and not (target / "LR").exists()


def test_interrupted_extraction_leaves_nothing_complete(tmp_path, monkeypatch):
    arc = _zip(tmp_path / "g.zip", GOOD)

    real_read = ex._read
    state = {"n": 0}

    def read(archive, m, fh):
        state["n"] += 1
        if state["n"] == 2:
            raise KeyboardInterrupt
        return real_read(archive, m, fh)

    monkeypatch.setattr(ex, "_read", read)
    with pytest.raises(KeyboardInterrupt):
        extract_archive(arc, tmp_path / "t", progress=False)
    _assert_nothing_left(tmp_path, tmp_path / "t", ["g.zip"])


def test_stale_partial_removed_and_foreign_target_refused(tmp_path):
    arc = _zip(tmp_path / "g.zip", GOOD)
    stale = tmp_path / ".t.partial-abc"
    stale.mkdir()
    (stale / "junk").write_text("x")
    extract_archive(arc, tmp_path / "t", progress=False)
    assert not stale.exists()
    (tmp_path / "u").mkdir()
    with pytest.raises(ArchiveError, match="not a completed extraction"):
        extract_archive(arc, tmp_path / "u", progress=False)


def test_truncated_archive_clear_error(tmp_path):
    arc = _tar(tmp_path / "g.tar.gz", GOOD, "w:gz")
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="g.tar.gz"):
        extract_archive(arc, tmp_path / "t", progress=False)
    assert not (tmp_path / "t").exists()


# ------------------------------------------------ archives that cannot be read whole


def _tar_gz_stored(members: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(tar bytes, the same gzip-compressed at level 0): a stored deflate stream, so a
    byte flipped in it flips the same byte of the tar (and only the CRC can tell)."""
    import gzip

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 0
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=0, mtime=0)


def _three(seed=0):
    rng = np.random.RandomState(seed)
    return {n: rng.randint(0, 256, 4096, dtype=np.uint8).tobytes() for n in ("a.bin", "b.bin", "c.bin")}


def _flip(data: bytes, needle: bytes) -> bytes:
    i = data.index(needle)
    assert data.count(needle) == 1
    return data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]


def _nothing_extracted(tmp_path):
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((".t", "t"))] == []


def test_targz_with_corrupt_header_mid_stream_is_refused(tmp_path):
    files = _three()
    _, gz = _tar_gz_stored(files)
    # b's data gets one wrong byte, c's header a wrong name byte (its checksum fails):
    # tarfile alone lists a and b and stops, with b corrupt and c missing
    gz = _flip(_flip(gz, files["b.bin"][100:132]), b"c.bin")
    arc = tmp_path / "broken.tar.gz"
    arc.write_bytes(gz)
    with tarfile.open(arc) as tf:
        assert tf.getnames() == ["a.bin", "b.bin"]  # the silent failure this guards against
    with pytest.raises(ArchiveError) as ei:
        extract_archive(arc, tmp_path / "t", progress=False)
    assert str(ei.value) == (f"{arc}: corrupt tar header at byte 9216 (tar would silently stop there, "
                             "dropping the rest); nothing extracted")
    _nothing_extracted(tmp_path)


def test_targz_with_bad_crc_is_refused(tmp_path):
    files = _three()
    _, gz = _tar_gz_stored(files)
    arc = tmp_path / "crc.tar.gz"
    arc.write_bytes(_flip(gz, files["b.bin"][100:132]))
    with pytest.raises(ArchiveError, match=r"crc.tar.gz: corrupt or truncated archive \(CRC check failed "
                                           r"0x[0-9a-f]+ != 0x[0-9a-f]+\); nothing extracted"):
        extract_archive(arc, tmp_path / "t", progress=False)
    _nothing_extracted(tmp_path)


@pytest.mark.parametrize("mode", ["gz", "bz2", "xz"])
def test_truncated_compressed_tar_is_refused(tmp_path, mode):
    files = _three()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{mode}") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    arc = tmp_path / f"cut.tar.{mode}"
    arc.write_bytes(buf.getvalue()[:-30])
    with pytest.raises(ArchiveError, match="cut.tar.*(corrupt or truncated|cannot read)"):
        extract_archive(arc, tmp_path / "t", progress=False)
    _nothing_extracted(tmp_path)


def test_good_targz_still_extracts(tmp_path):
    files = _three()
    _, gz = _tar_gz_stored(files)
    (tmp_path / "ok.tar.gz").write_bytes(gz)
    t = extract_archive(tmp_path / "ok.tar.gz", tmp_path / "t", progress=False)
    assert {p.name: p.read_bytes() for p in t.iterdir() if p.name != MARKER} == files


def patch_zip_member(data: bytes, *, flags: int | None = None, method: int | None = None) -> bytes:
    """Set a one-member zip's general-purpose flags / compression method in both headers."""
    out = bytearray(data)
    for sig, off_flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.index(sig)
        if flags is not None:
            out[i + off_flags:i + off_flags + 2] = flags.to_bytes(2, "little")
        if method is not None:
            out[i + off_flags + 2:i + off_flags + 4] = method.to_bytes(2, "little")
    return bytes(out)


def _one_member_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("img/a.png", b"\x89PNG" + b"\0" * 100)
    return buf.getvalue()


@pytest.mark.parametrize("kind,patch,words", [
    ("encrypted", dict(flags=0x1), "is encrypted (password-protected)"),
    ("aes", dict(method=99), "is encrypted (password-protected)"),
    ("deflate64", dict(method=9), "is compressed with Deflate64 (method 9), which Python's zipfile cannot read"),
    ("zstd", dict(method=93), "is compressed with Zstandard (method 93), which Python's zipfile cannot read"),
    ("ppmd", dict(method=98), "is compressed with PPMd (method 98), which Python's zipfile cannot read"),
])
def test_unreadable_zip_members_refused_before_writing(tmp_path, kind, patch, words):
    if kind == "zstd" and hasattr(zipfile, "ZIP_ZSTANDARD"):
        pytest.skip("this Python reads Zstandard zip members")
    arc = tmp_path / f"{kind}.zip"
    arc.write_bytes(patch_zip_member(_one_member_zip(), **patch))
    with pytest.raises(ArchiveError) as ei:
        extract_archive(arc, tmp_path / "t", progress=False)
    assert str(ei.value) == (f"{arc}: member 'img/a.png' {words}; unpack it with 7-Zip or unzip and give the "
                             "folder as the dataset's root:")
    _nothing_extracted(tmp_path)
