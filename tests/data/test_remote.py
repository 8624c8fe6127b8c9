"""Real-dataset registry: acquire -> extract -> split_images, offline with tiny fakes."""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile

import pytest
from PIL import Image

from debiasqe.data import remote
from debiasqe.data.remote import (ARCHIVES, SPLITS, Archive, DatasetLayoutError, Split, acquire_archive,
                                  extract_split_root, mirrors_from_config, split_images)
from debiasqe.data.download import Mirror
from debiasqe.core.errors import ConfigError, IntegrityError

try:
    from httpserver import FileServer
except ImportError:  # tests/ is a package
    from tests.httpserver import FileServer

FAST = dict(progress=False, backoff=0.0, timeout=5, retries=1)


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (seed * 40 % 256, 7, 9)).save(buf, "PNG")
    return buf.getvalue()


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


TINY_SPLITS = {
    "tiny_valid": Split("tiny_valid", "TINY", "DIV2K_valid_HR", 801, 803, 4),
    "flk_train": Split("flk_train", "FLK", "Flickr2K/Flickr2K_HR", 1, 2, 6),
    "flk_test": Split("flk_test", "FLK", "Flickr2K/Flickr2K_HR", 3, 3, 6),
}
DIV2K_LIKE = {f"DIV2K_valid_HR/{i:04d}.png": _png(i) for i in (801, 802, 803)}
DIV2K_LIKE["DIV2K_valid_LR_bicubic/X2/0801x2.png"] = _png(0)  # not an expected name: skipped


@pytest.fixture
def served(tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    arc = _zip(srv / "tiny.zip", DIV2K_LIKE)
    data = arc.read_bytes()
    with FileServer(srv) as server:
        archives = {}
        archives["TINY"] = Archive("TINY", "TINY.zip", (
            Mirror(server.url("tiny.zip"), sha256=hashlib.sha256(data).hexdigest(), size=len(data), format="zip"),
        ))
        yield server, archives, arc


def test_download_extract_split(served, tmp_path):
    server, archives, _ = served
    path = acquire_archive("TINY", tmp_path / "dl", archives=archives, **FAST)
    assert path == tmp_path / "dl" / "TINY.zip" and path.is_file()
    root = extract_split_root(path, tmp_path / "ex" / "TINY", 10_000_000, archive_name="TINY",
                              splits=TINY_SPLITS, progress=False)
    assert not (root / "DIV2K_valid_LR_bicubic").exists()  # only the split's images are written
    imgs = split_images("tiny_valid", root, splits=TINY_SPLITS)
    assert [p.name for p in imgs] == ["0801.png", "0802.png", "0803.png"]
    assert all(p.parent == root / "DIV2K_valid_HR" for p in imgs)
    assert Image.open(imgs[1]).size == (8, 6)
    # second acquisition: verified file on disk, no new request
    n = len(server.requests)
    acquire_archive("TINY", tmp_path / "dl", archives=archives, **FAST)
    assert len(server.requests) == n


def test_archive_mode_uses_local_file_without_network(served, tmp_path):
    server, archives, arc = served
    n = len(server.requests)
    assert acquire_archive("TINY", tmp_path / "dl", local_archive=arc, archives=archives, **FAST) == arc
    assert len(server.requests) == n and not (tmp_path / "dl").exists()
    bad = _zip(tmp_path / "other.zip", {"DIV2K_valid_HR/0801.png": b"x"})
    with pytest.raises(IntegrityError, match=r"other\.zip: matches no known zip release: \[http.*tiny\.zip\] size \d+ bytes, expected \d+$"):
        acquire_archive("TINY", tmp_path / "dl", local_archive=bad, archives=archives, **FAST)
    with pytest.raises(ConfigError, match="archive: .*nope.zip does not exist"):
        acquire_archive("TINY", tmp_path / "dl", local_archive=tmp_path / "nope.zip", archives=archives)


def test_flickr_like_dead_official_mirror_then_unverified_zip(tmp_path, caplog):
    """Official tar (md5) is dead; the HR-only zip mirror has another layout and no checksum."""
    srv = tmp_path / "srv"
    srv.mkdir()
    _zip(srv / "hf.zip", {f"Flickr2K/{i:06d}.png": _png(i) for i in (1, 2, 3)})
    with FileServer(srv) as server:
        archives = {"FLK": Archive("FLK", "FLK.archive", (
            Mirror(server.url("Flickr2K.tar"), md5="5d3f39443d5e9489bff8963f8f26cb03", format="tar"),
            Mirror(server.url("hf.zip"), format="zip"),
        ))}
        with caplog.at_level(logging.WARNING):
            path = acquire_archive("FLK", tmp_path / "dl", archives=archives, **FAST)
    assert "UNVERIFIED" in caplog.text and "HTTP 404" in caplog.text
    root = extract_split_root(path, tmp_path / "ex", 10_000_000, archive_name="FLK", splits=TINY_SPLITS,
                              progress=False)
    train = split_images("flk_train", root, splits=TINY_SPLITS)
    test = split_images("flk_test", root, splits=TINY_SPLITS)
    assert [p.name for p in train] == ["000001.png", "000002.png"] and [p.name for p in test] == ["000003.png"]
    assert train[0].parent == root / "Flickr2K"
    # the same zip given as archive: is accepted as unverified (no zip checksum known), a tar would be checked
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        acquire_archive("FLK", tmp_path / "dl2", local_archive=path, archives=archives, progress=False)
    assert "UNVERIFIED" in caplog.text


def test_root_mode_and_layout_search(tmp_path):
    flat = tmp_path / "mine"
    flat.mkdir()
    for i in (801, 802, 803, 804):
        (flat / f"{i:04d}.png").write_bytes(_png(i))
    assert [p.name for p in split_images("tiny_valid", flat, splits=TINY_SPLITS)] == \
        ["0801.png", "0802.png", "0803.png"]
    nested = tmp_path / "deep" / "a" / "b"
    nested.mkdir(parents=True)
    for i in (801, 802, 803):
        (nested / f"{i:04d}.png").write_bytes(_png(i))
    assert split_images("tiny_valid", tmp_path / "deep", splits=TINY_SPLITS)[0].parent == nested


def test_missing_files_listed(tmp_path):
    d = tmp_path / "DIV2K_valid_HR"
    d.mkdir()
    (d / "0801.png").write_bytes(_png(1))
    with pytest.raises(DatasetLayoutError) as ei:
        split_images("tiny_valid", tmp_path, splits=TINY_SPLITS)
    msg = str(ei.value)
    assert "2 of 3 expected files missing" in msg and "0802.png, 0803.png" in msg and "\n" not in msg
    (d / "0802.png").write_bytes(b"")
    (d / "0803.png").write_bytes(_png(3))
    with pytest.raises(DatasetLayoutError, match="empty files .*0802.png"):
        split_images("tiny_valid", tmp_path, splits=TINY_SPLITS)
    with pytest.raises(DatasetLayoutError, match="none of the 3 expected files"):
        split_images("tiny_valid", tmp_path / "DIV2K_valid_HR" / "..", splits={
            "tiny_valid": Split("tiny_valid", "TINY", "X", 1, 3, 6)})
    with pytest.raises(ConfigError, match="root: .* is not a folder"):
        split_images("tiny_valid", tmp_path / "absent", splits=TINY_SPLITS)
    with pytest.raises(ConfigError, match="unknown remote dataset 'nope'"):
        split_images("nope", tmp_path)


def test_real_registry_matches_design():
    assert {s: (len(SPLITS[s].files), SPLITS[s].files[0], SPLITS[s].files[-1]) for s in SPLITS} == {
        "div2k_train": (800, "0001.png", "0800.png"),
        "div2k_valid": (100, "0801.png", "0900.png"),
        "flickr2k_train": (1988, "000001.png", "001988.png"),
        "flickr2k_test": (662, "001989.png", "002650.png"),
    }
    assert not set(SPLITS["flickr2k_train"].files) & set(SPLITS["flickr2k_test"].files)
    tr = ARCHIVES["DIV2K_train_HR"].mirrors[0]
    assert (tr.size, tr.sha256[:8]) == (3530603713, "9d0b9c46")
    va = ARCHIVES["DIV2K_valid_HR"].mirrors[0]
    assert (va.size, va.sha256[:8]) == (448993893, "20dd31fd")
    fl = ARCHIVES["Flickr2K"].mirrors
    assert fl[0].md5 == "5d3f39443d5e9489bff8963f8f26cb03" and fl[0].format == "tar"
    assert fl[1].url == remote.FLICKR2K_HF_URL and not fl[1].verifiable
    assert all(s.archive in ARCHIVES for s in SPLITS.values())


def test_mirrors_from_config():
    ms = mirrors_from_config([{"url": "http://x/a.zip", "sha256": "A" * 64, "size": 5}, "http://y/b.zip"])
    assert ms[0].size == 5 and ms[1].url == "http://y/b.zip" and not ms[1].verifiable
    for bad, pat in (([], "non-empty"), ([{"url": "u", "sha256": "xyz"}], r"mirrors\[0\]\.sha256"),
                     ([{"url": "u", "size": -1}], "size"), ([{"url": "u", "crc": 1}], "unknown keys"),
                     ([{"sha256": "0" * 64}], "'url'")):
        with pytest.raises(ConfigError, match=pat):
            mirrors_from_config(bad)
    assert remote.max_bytes_from_gb(0.5) == 1 << 29
    with pytest.raises(ConfigError, match="max_unpacked_gb"):
        remote.max_bytes_from_gb(0)


def test_hand_placed_download_is_verified_not_refetched(served, tmp_path, caplog):
    server, archives, arc = served
    dl = tmp_path / "dl"
    dl.mkdir()
    (dl / "TINY.zip").write_bytes(arc.read_bytes())
    n = len(server.requests)
    assert acquire_archive("TINY", dl, archives=archives, **FAST) == dl / "TINY.zip"
    assert len(server.requests) == n
    assert remote.read_source_record(dl / "TINY.zip")["verified"] is True
    # a wrong file placed by hand is moved aside and the real one downloaded
    (dl / "TINY.zip").unlink()
    (dl / "TINY.zip.source.json").unlink()
    _zip(dl / "TINY.zip", {"x": b"y"})
    with caplog.at_level(logging.WARNING):
        acquire_archive("TINY", dl, archives=archives, **FAST)
    assert (dl / "TINY.zip").read_bytes() == arc.read_bytes() and (dl / "TINY.zip.bad-1").exists()
    assert "matches no known zip release" in caplog.text


def test_local_archive_of_unknown_format_refused(served, tmp_path):
    _, archives, _ = served
    import tarfile

    t = tmp_path / "x.tar"
    with tarfile.open(t, "w") as tf:
        tf.add(__file__, arcname="f.py")
    with pytest.raises(IntegrityError, match=r"x\.tar: is a tar, but the known releases are zip"):
        acquire_archive("TINY", tmp_path / "dl", local_archive=t, archives=archives, progress=False)
