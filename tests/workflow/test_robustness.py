"""Bad input, in one place: every case of docs/robustness.md, checked against its message.

The table in docs/robustness.md is the single source of the messages: this
suite parses it and runs each case through the real code (the CLI where a
user would meet it), then compares the text exactly.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import re
import tarfile
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from debiasqe import cli
from debiasqe.core.errors import DebiasqeError

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "robustness.md"
sys.path.insert(0, str(REPO / "tests" / "data"))  # archive and image builders of the data tests
sys.path.insert(0, str(REPO / "tests"))
from full_disk import FillsUp  # noqa: E402
ROW = re.compile(r"^\|\s*`(?P<id>[a-z0-9-]+)`\s*\|.*\|\s*`(?P<msg>[^`]+)`[^|]*\|\s*$")


def documented() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            assert m["id"] not in rows, f"case {m['id']} documented twice"
            rows[m["id"]] = m["msg"]
    return rows


CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


# ------------------------------------------------------------------ helpers


def prepare(folder: Path, out: Path, capsys) -> tuple[int, str]:
    """`python -m debiasqe prepare` on a custom dataset folder, in-process."""
    code = cli.main(["prepare", "--dataset", "mine", "--spec", json.dumps({"root": str(folder)}),
                     "--output", str(out)])
    return code, capsys.readouterr().err.strip()


def prepare_fails(folder: Path, capsys) -> str:
    out = folder.parent / "prepared"
    code, err = prepare(folder, out, capsys)
    assert code == 1, err
    assert not out.exists() and not list(folder.parent.glob(".prepared*")), "half-written dataset left"
    assert "Traceback" not in err
    return err.splitlines()[-1]


def prepare_converts(folder: Path, capsys, caplog) -> str:
    out = folder.parent / "prepared"
    with caplog.at_level(logging.WARNING):
        code, err = prepare(folder, out, capsys)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    notes = [r["conversion"] for r in manifest["images"] if r["conversion"]]
    assert len(notes) == 1  # recorded in the manifest, not only logged
    for rec in manifest["images"]:
        with Image.open(out / f"{rec['image']}.png") as im:
            assert im.mode == "RGB"
    return next(r.getMessage() for r in caplog.records if "converted" in r.getMessage())


def folder_with(tmp_path: Path, name: str, writer) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (24, 24), (50, 100, 150)).save(d / "good.png")
    writer(d / name)
    return d


def real_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def raised(fn, *args, **kwargs) -> str:
    with pytest.raises(DebiasqeError) as exc:
        fn(*args, **kwargs)
    return str(exc.value)


# ------------------------------------------------------------------ images


@case("corrupt-image")
def _(tmp_path, capsys, caplog):
    d = folder_with(tmp_path, "broken.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40))
    return prepare_fails(d, capsys), d


@case("truncated-image")
def _(tmp_path, capsys, caplog):
    data = real_png()
    d = folder_with(tmp_path, "half.png", lambda p: p.write_bytes(data[: len(data) // 2]))
    return prepare_fails(d, capsys), d


@case("zero-byte-image")
def _(tmp_path, capsys, caplog):
    d = folder_with(tmp_path, "empty.png", lambda p: p.write_bytes(b""))
    return prepare_fails(d, capsys), d


@case("float-image")
def _(tmp_path, capsys, caplog):
    d = folder_with(tmp_path, "float.tiff", lambda p: Image.fromarray(np.zeros((8, 8), np.float32), "F").save(p))
    return prepare_fails(d, capsys), d


def _converted(tmp_path, capsys, caplog, name, make):
    d = tmp_path / "imgs"
    d.mkdir()
    make().save(d / name)
    return prepare_converts(d, capsys, caplog), d


@case("palette-image")
def _(tmp_path, capsys, caplog):
    return _converted(tmp_path, capsys, caplog, "pal.png", lambda: Image.new("P", (24, 24), 3))


@case("alpha-image")
def _(tmp_path, capsys, caplog):
    return _converted(tmp_path, capsys, caplog, "la.png", lambda: Image.new("LA", (24, 24), (80, 128)))


@case("gray16-image")
def _(tmp_path, capsys, caplog):
    return _converted(tmp_path, capsys, caplog, "g16.png",
                      lambda: Image.fromarray(np.full((24, 24), 40000, np.uint16)))


@case("cmyk-image")
def _(tmp_path, capsys, caplog):
    return _converted(tmp_path, capsys, caplog, "cmyk.jpg", lambda: Image.new("CMYK", (24, 24), (0, 50, 100, 0)))


@case("empty-folder")
def _(tmp_path, capsys, caplog):
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "notes.txt").write_text("no images here")
    return prepare_fails(d, capsys), d


@case("smaller-than-patch")
def _(tmp_path, capsys, caplog):
    from debiasqe.data.patches import extract_patches

    Image.new("RGB", (32, 40)).save(tmp_path / "tiny.png")
    msg = raised(extract_patches, [tmp_path / "tiny.png"], 64, 32, tmp_path / "p.npy", progress=False)
    assert not (tmp_path / "p.npy").exists()
    return msg, tmp_path


# ------------------------------------------------------------------ archives


def _extract_refused(tmp_path, archive: Path, **kwargs) -> str:
    from debiasqe.data.extract import extract_archive

    target = tmp_path / "out" / "target"
    msg = raised(extract_archive, archive, target, progress=False, **kwargs)
    assert not target.exists()
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()] if (tmp_path / "out").exists() else []
    assert written == [], written
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    return msg


@case("archive-dotdot")
def _(tmp_path, capsys, caplog):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../evil.txt", "x")
    return _extract_refused(tmp_path, tmp_path / "evil.zip"), tmp_path


@case("archive-absolute")
def _(tmp_path, capsys, caplog):
    with zipfile.ZipFile(tmp_path / "abs.zip", "w") as zf:
        zf.writestr("/etc/evil.txt", "x")
    return _extract_refused(tmp_path, tmp_path / "abs.zip"), tmp_path


@case("archive-symlink")
def _(tmp_path, capsys, caplog):
    with tarfile.open(tmp_path / "link.tar", "w") as tf:
        ti = tarfile.TarInfo("data/link")
        ti.type, ti.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tf.addfile(ti)
    return _extract_refused(tmp_path, tmp_path / "link.tar"), tmp_path


@case("archive-bomb")
def _(tmp_path, capsys, caplog):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (10 << 20))
    return _extract_refused(tmp_path, tmp_path / "bomb.zip", max_bytes=1 << 20), tmp_path


@case("archive-not-archive")
def _(tmp_path, capsys, caplog):
    (tmp_path / "notzip.zip").write_bytes(b"hello")
    return _extract_refused(tmp_path, tmp_path / "notzip.zip"), tmp_path


# ------------------------------------------------------------------ checksums


@case("checksum-sha256")
def _(tmp_path, capsys, caplog):
    from debiasqe.data.download import check_file

    (tmp_path / "file.bin").write_bytes(b"abc")
    msg = raised(check_file, tmp_path / "file.bin", sha256="0" * 64)
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    return msg.replace(sha, "<sha256>"), tmp_path


@case("checksum-size")
def _(tmp_path, capsys, caplog):
    from debiasqe.data.download import check_file

    (tmp_path / "file.bin").write_bytes(b"abc")
    return raised(check_file, tmp_path / "file.bin", size=10), tmp_path


# ------------------------------------------------------------------ config


def _config_error(config: dict) -> str:
    from debiasqe.config import validate_config

    return raised(validate_config, config)


@case("config-out-of-range")
def _(tmp_path, capsys, caplog):
    return _config_error({"codecs": {"bpg": {"levels": [37, 60]}}}), tmp_path


@case("config-unknown-codec")
def _(tmp_path, capsys, caplog):
    return _config_error({"codecs": {"h266": {"levels": [1]}}}), tmp_path


@case("config-wrong-type")
def _(tmp_path, capsys, caplog):
    return _config_error({"codecs": {"jpeg": {"levels": "10"}}}), tmp_path


@case("config-undefined-dataset")
def _(tmp_path, capsys, caplog):
    return _config_error({"test_datasets": ["nope"]}), tmp_path


@case("config-bad-threads")
def _(tmp_path, capsys, caplog):
    return _config_error({"threads": {"compress": 0}}), tmp_path


# ------------------------------------------------------------------ tools


@case("missing-bpgenc")
def _(tmp_path, capsys, caplog, monkeypatch=None):
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    import shutil as _shutil

    real_which = _shutil.which
    try:
        _shutil.which = lambda cmd, *a, **k: None if Path(cmd).name in ("bpgenc", "bpgdec") else real_which(cmd, *a, **k)
        code = cli.main(["compress", "--codec", "bpg", "--level", "37", "--input", str(tmp_path),
                         "--output", str(tmp_path / "out"), "--codec-options", '{"backend": "bpgenc"}',
                         "--quiet"])
    finally:
        _shutil.which = real_which
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "rate.csv").exists()
    return err.splitlines()[-1], tmp_path


# ------------------------------------------------------------------ full disk


@case("disk-full-text")
def _(tmp_path, capsys, caplog):
    from debiasqe.core import atomic

    dest = tmp_path / "table.csv"
    dest.write_text("old complete content\n")
    real_open = open
    atomic.open = lambda path, mode="r", **kw: FillsUp(real_open(path, mode, **kw), 10)
    try:
        with pytest.raises(OSError) as exc:
            atomic.write_text(dest, "a,b,c\n" * 1000)
    finally:
        del atomic.open
    assert exc.value.errno == errno.ENOSPC
    assert dest.read_text() == "old complete content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"], "a temporary was left behind"
    return str(exc.value), tmp_path


@case("disk-full-compress")
def _(tmp_path, capsys, caplog):
    from debiasqe.core import imageio as images

    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (32, 32), (9, 99, 199)).save(src / "a.png")
    real_save = Image.Image.save

    def save_until_full(self, fp, *args, **kwargs):
        if not isinstance(fp, (str, Path)):
            return real_save(self, fp, *args, **kwargs)  # in-memory encodes are not disk writes
        buf = io.BytesIO()
        real_save(self, buf, *args, **kwargs)
        Path(fp).write_bytes(buf.getvalue()[:100])  # half a PNG reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    images.Image.Image.save = save_until_full
    try:
        code = cli.main(["compress", "--codec", "jpeg", "--level", "10", "--input", str(src),
                         "--output", str(tmp_path / "out"), "--quiet"])
    finally:
        images.Image.Image.save = real_save
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    out = tmp_path / "out"
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    # The bitstream was complete (written before the PNG); nothing partial or final-looking else.
    assert all(not n.startswith("png/") for n in left) and "rate.csv" not in left, left
    assert not [n for n in left if ".tmp" in n], left
    return err, tmp_path


# ------------------------------------------------------------------ training


@case("nan-loss")
def _(tmp_path, capsys, caplog):
    from debiasqe.core.errors import TrainingDivergedError

    assert issubclass(TrainingDivergedError, DebiasqeError)
    sys.path.insert(0, str(REPO / "tests" / "train"))  # the trainer's test doubles
    from test_train import NaNAfter, PairSet, cfg, nets

    from debiasqe.train.trainer import Trainer

    run = Trainer(cfg("fidelity", iters=10, checkpoint_every=2), PairSet(), tmp_path,
                  generator=NaNAfter(nets("fidelity")["generator"], after=4))
    with pytest.raises(TrainingDivergedError) as exc:
        run.run()
    assert (tmp_path / "checkpoint.pt").is_file() and not (tmp_path / "model.pt").exists()
    return f"TrainingDivergedError: {exc.value}", tmp_path


# ------------------------------------------------------------------ a user's own folder


@case("hidden-files")
def _(tmp_path, capsys, caplog):
    d = folder_with(tmp_path, "._photo.jpg", lambda p: p.write_bytes(b"\x00\x05\x16\x07" + b"\0" * 80))
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 60)
    out = tmp_path / "prepared"
    with caplog.at_level(logging.INFO):
        code, err = prepare(d, out, capsys)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["image"] for r in manifest["images"]] == ["good"]
    assert manifest["skipped_hidden"] == [".DS_Store", "._photo.jpg"]
    return next(m for m in caplog.messages if "hidden" in m), d


def _own_image_note(tmp_path, capsys, caplog, name, save):
    d = tmp_path / "imgs"
    d.mkdir()
    save(d / name)
    out = tmp_path / "prepared"
    with caplog.at_level(logging.WARNING):
        code, err = prepare(d, out, capsys)
    assert code == 0, err
    rec = json.loads((out / "manifest.json").read_text())["images"][0]
    assert rec["conversion"]  # recorded in the manifest, not only logged
    return next(m for m in caplog.messages if "converted" in m), d


@case("exif-orientation")
def _(tmp_path, capsys, caplog):
    ex = Image.Exif()
    ex[0x0112] = 6
    msg, d = _own_image_note(tmp_path, capsys, caplog, "phone.png",
                             lambda p: Image.new("RGB", (451, 300), (1, 2, 3)).save(p, exif=ex))
    with Image.open(tmp_path / "prepared" / "phone.png") as im:
        assert im.size == (300, 451)
    return msg, d


@case("icc-profile")
def _(tmp_path, capsys, caplog):
    from icc_profiles import rgb_profile

    msg, d = _own_image_note(tmp_path, capsys, caplog, "wide.png",
                             lambda p: Image.new("RGB", (8, 8), (128, 64, 255)).save(p, icc_profile=rgb_profile()))
    with Image.open(tmp_path / "prepared" / "wide.png") as im:
        assert im.getpixel((0, 0)) == (188, 137, 255)  # sRGB-encoded linear light, by hand in test_user_folder
    return msg, d


@case("image-too-large")
def _(tmp_path, capsys, caplog):
    from test_user_folder import png_header_only

    d = folder_with(tmp_path, "huge.png", lambda p: p.write_bytes(png_header_only(20000, 20000)))
    return prepare_fails(d, capsys), d


# ------------------------------------------------------------------ archives that cannot be read whole


@case("archive-corrupt-tar-header")
def _(tmp_path, capsys, caplog):
    from test_extract import _flip, _tar_gz_stored, _three

    files = _three()
    _, gz = _tar_gz_stored(files)
    (tmp_path / "broken.tar.gz").write_bytes(_flip(_flip(gz, files["b.bin"][100:132]), b"c.bin"))
    return _extract_refused(tmp_path, tmp_path / "broken.tar.gz"), tmp_path


@case("archive-bad-crc")
def _(tmp_path, capsys, caplog):
    from test_extract import _flip, _tar_gz_stored, _three

    files = _three()
    _, gz = _tar_gz_stored(files)
    (tmp_path / "crc.tar.gz").write_bytes(_flip(gz, files["b.bin"][100:132]))
    return _extract_refused(tmp_path, tmp_path / "crc.tar.gz"), tmp_path


@case("archive-truncated")
def _(tmp_path, capsys, caplog):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        ti = tarfile.TarInfo("a.bin")
        ti.size = 4096
        tf.addfile(ti, io.BytesIO(bytes(range(256)) * 16))
    (tmp_path / "cut.tar.bz2").write_bytes(buf.getvalue()[:-30])
    return _extract_refused(tmp_path, tmp_path / "cut.tar.bz2"), tmp_path


def _patched_zip(tmp_path, name, **patch):
    from test_extract import _one_member_zip, patch_zip_member

    (tmp_path / name).write_bytes(patch_zip_member(_one_member_zip(), **patch))
    return _extract_refused(tmp_path, tmp_path / name), tmp_path


@case("archive-encrypted-member")
def _(tmp_path, capsys, caplog):
    return _patched_zip(tmp_path, "enc.zip", flags=0x1)


@case("archive-deflate64-member")
def _(tmp_path, capsys, caplog):
    return _patched_zip(tmp_path, "d64.zip", method=9)


@case("archive-zstd-member")
def _(tmp_path, capsys, caplog):
    if hasattr(zipfile, "ZIP_ZSTANDARD"):
        pytest.skip("this Python reads Zstandard zip members")
    return _patched_zip(tmp_path, "zstd.zip", method=93)


# ------------------------------------------------------------------ downloads


@case("download-html-page")
def _(tmp_path, capsys, caplog):
    from httpserver import FileServer

    from debiasqe.data.download import download_first, Mirror

    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "Flickr2K.tar").write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>\n")
    with FileServer(srv) as server:
        with pytest.raises(DebiasqeError) as exc:
            download_first([Mirror(server.url("Flickr2K.tar"))], tmp_path / "Flickr2K.tar", progress=False,
                           backoff=0, expect="archive")
        base = server.url("")
    assert not (tmp_path / "Flickr2K.tar").exists() and (tmp_path / "Flickr2K.tar.bad-1").is_file()
    return str(exc.value).replace(base, "<server>/"), tmp_path


@case("download-deadline")
def _(tmp_path, capsys, caplog):
    from httpserver import FileServer

    from debiasqe.data.download import DownloadError, download

    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    with FileServer(srv) as server:
        server.fail_status, server.fail_times, server.retry_after = 503, 5, "120"
        with pytest.raises(DownloadError) as exc:
            download(server.url("f.zip"), tmp_path / "f.zip", progress=False, backoff=0, deadline=60)
        base = server.url("")
        assert len(server.requests) == 1  # no retry is made that would end after the deadline
    return str(exc.value).replace(base, "<server>/"), tmp_path


# ------------------------------------------------------------------ full disk: checkpoints and image stores


class _NthOpenFillsUp:
    """An ENOSPC injector for ``open`` in one module: the first ``ok`` opens for
    writing work, later ones accept ``room`` bytes and then raise ENOSPC."""

    def __init__(self, module, ok: int, room: int = 100):
        self.module, self.ok, self.room = module, ok, room

    def __enter__(self):
        real_open = open

        def fake(path, mode="r", *args, **kwargs):
            fh = real_open(path, mode, *args, **kwargs)
            if "w" not in mode and "a" not in mode:
                return fh
            self.ok -= 1
            return fh if self.ok >= 0 else FillsUp(fh, self.room)

        self.module.open = fake
        return self

    def __exit__(self, *exc):
        del self.module.open


def _stores(tmp_path) -> tuple[Path, Path]:
    from debiasqe.data.patches import write_image_store

    paths = []
    for k in range(2):
        p = tmp_path / "png" / f"im{k}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.random.RandomState(k).randint(0, 255, (32, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    write_image_store(paths, tmp_path / "s" / "raw.npy", progress=False)
    write_image_store(paths, tmp_path / "s" / "10.npy", progress=False)
    return tmp_path / "s" / "raw.npy", tmp_path / "s" / "10.npy"


TRAIN_SPEC = {"generator": "dncnn", "recipe": "fidelity", "size": "tiny", "iters": 4, "batch": 2, "patch": 16,
              "checkpoint_every": 2, "log_every": 1, "device": "cpu", "pretrained": "random"}


def _the_error_line(err: str) -> str:
    """The one `error:` line, last on stderr; progress and log lines (every long stage writes them) come before."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.endswith(errors[0]), err
    return errors[0]


def _train_cli(tmp_path, out, spec=None) -> int:
    raw, comp = tmp_path / "s" / "raw.npy", tmp_path / "s" / "10.npy"
    return cli.main(["train", "--spec", json.dumps(spec or TRAIN_SPEC), "--raw", str(raw), "--comp", str(comp),
                     "--step", "8", "--output", str(out), "--quiet"])


@case("disk-full-checkpoint")
def _(tmp_path, capsys, caplog):
    from debiasqe.train import checkpoint as ckpt

    _stores(tmp_path)
    out = tmp_path / "run"
    with _NthOpenFillsUp(ckpt, ok=1):  # the step-2 checkpoint fits, the step-4 one does not
        code = _train_cli(tmp_path, out)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err
    # the training log lines (stderr since the observability issue) come first; the error is one line
    err = _the_error_line(err)
    assert ckpt.load(out / "checkpoint.pt")["step"] == 2  # the previous checkpoint, intact
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "train_log.csv"]  # no temp, no model.pt
    return err, tmp_path


@case("disk-full-image-store")
def _(tmp_path, capsys, caplog):
    import os as _os

    d = folder_with(tmp_path, "b.png", lambda p: Image.new("RGB", (24, 24)).save(p))
    code, err = prepare(d, tmp_path / "prepared", capsys)
    assert code == 0, err
    real = _os.posix_fallocate

    def full(fd, offset, length):  # the store's blocks cannot be reserved: the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    _os.posix_fallocate = full
    try:
        code = cli.main(["patches", "--input", str(tmp_path / "prepared"), "--output",
                         str(tmp_path / "s" / "raw.npy"), "--quiet"])
    finally:
        _os.posix_fallocate = real
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err
    assert list((tmp_path / "s").iterdir()) == []  # no store, no index, no temporary
    return err, tmp_path


# ------------------------------------------------------------------ resuming training


def _rerun_warning(tmp_path, capsys, caplog, spec=None, before_rerun=lambda out: None) -> tuple[Path, str]:
    """Train, remove model.pt (as Snakemake does before a rerun), let ``before_rerun`` damage the
    run folder, train again with ``spec``: the folder and the one warning the rerun logged."""
    _stores(tmp_path)
    out = tmp_path / "run"
    assert _train_cli(tmp_path, out) == 0
    (out / "model.pt").unlink()
    before_rerun(out)
    with caplog.at_level(logging.WARNING):
        assert _train_cli(tmp_path, out, spec) == 0, capsys.readouterr().err
    [msg] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return out, msg


@case("checkpoint-empty")
def _(tmp_path, capsys, caplog):
    # a crash before the checkpoint's bytes reached the disk
    out, msg = _rerun_warning(tmp_path, capsys, caplog, before_rerun=lambda o: (o / "checkpoint.pt").write_bytes(b""))
    assert (out / "checkpoint-unreadable.pt").stat().st_size == 0 and (out / "model.pt").is_file()
    return msg, tmp_path


@case("resume-other-past")
def _(tmp_path, capsys, caplog):
    from debiasqe.train import checkpoint as ckpt

    out, msg = _rerun_warning(tmp_path, capsys, caplog, spec={**TRAIN_SPEC, "seed": 3})
    assert ckpt.load(out / "checkpoint-step4-before-seed-change.pt")["past"]["seed"] == 0
    return msg, tmp_path


@case("resume-refused")
def _(tmp_path, capsys, caplog):
    _stores(tmp_path)
    out = tmp_path / "run"
    assert _train_cli(tmp_path, out) == 0
    (out / "model.pt").unlink()
    before = sorted(p.name for p in out.iterdir())
    code = _train_cli(tmp_path, out, {**TRAIN_SPEC, "lr": 1e-3, "on_mismatch": "refuse"})
    err = _the_error_line(capsys.readouterr().err.strip())
    assert code == 1 and sorted(p.name for p in out.iterdir()) == before
    return err, tmp_path


# ------------------------------------------------------------------ leftovers of killed runs


@case("stale-prepare-temp")
def _(tmp_path, capsys, caplog):
    d = folder_with(tmp_path, "b.png", lambda p: Image.new("RGB", (24, 24)).save(p))
    dead = tmp_path / ".prepared.tmp-99999999"  # a pid above any pid_max: its process is gone
    dead.mkdir()
    (dead / "half.png").write_bytes(b"x" * 100)
    with caplog.at_level(logging.INFO):
        code, err = prepare(d, tmp_path / "prepared", capsys)
    assert code == 0, err
    assert not dead.exists()
    return next(m for m in caplog.messages if "killed prepare" in m), tmp_path


@case("stale-snakemake-lock")
def _(tmp_path, capsys, caplog):
    from debiasqe.core.stale_lock import main as stale_lock_main

    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x")
    (locks / "0.output.lock").write_text("y")
    assert stale_lock_main([str(tmp_path)]) == 0
    assert list(locks.iterdir()) == []
    return capsys.readouterr().err.strip(), tmp_path.resolve()


@case("bpgenc-timeout")
def _(tmp_path, capsys, caplog):
    import os as _os
    import stat
    import sys

    from debiasqe.compress.codecs import bpg

    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("bpgenc", "bpgdec"):
        (tools / name).write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
        (tools / name).chmod(0o755 | stat.S_IEXEC)
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (16, 16)).save(src / "a.png")
    saved_path, saved_timeout = _os.environ["PATH"], bpg.TOOL_TIMEOUT_S
    _os.environ["PATH"] = f"{tools}{_os.pathsep}{saved_path}"
    bpg.TOOL_TIMEOUT_S = 1
    try:
        code = cli.main(["compress", "--codec", "bpg", "--level", "37", "--input", str(src),
                         "--output", str(tmp_path / "out"), "--codec-options", '{"backend": "bpgenc"}',
                         "--threads", "1", "--quiet"])
    finally:
        _os.environ["PATH"], bpg.TOOL_TIMEOUT_S = saved_path, saved_timeout
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err and not (tmp_path / "out" / "rate.csv").exists()
    return err, tmp_path


# ------------------------------------------------------------------ the table


def test_every_case_is_documented_and_every_documented_case_is_run():
    assert set(documented()) == set(CASES)
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_matches_docs(name, tmp_path, capsys, caplog):
    expected = documented()[name]
    got, folder = CASES[name](tmp_path, capsys, caplog)
    got = got.replace(str(folder), "<dir>")
    assert got == expected
