"""Faults around the pipeline: a killed Snakemake's stale lock, paths with
spaces, stale temporaries of killed jobs, a hung external tool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from debiasqe.core.stale_lock import main as stale_lock_main
from debiasqe.core.stale_lock import unlock_if_stale

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from full_disk import FillsUp  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ stale Snakemake lock


def _snakemake(workdir: Path, *args, **kw):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=120, **kw)


def test_kill9_of_snakemake_then_make_runs_first_step_recovers(tmp_path, capsys):
    (tmp_path / "Snakefile").write_text(textwrap.dedent("""
        rule all:
            input: "b.txt"
        rule slow:
            output: "a.txt"
            shell: "sleep 60; echo a > {output}"
        rule b:
            input: "a.txt"
            output: "b.txt"
            shell: "cp {input} {output}"
    """))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    locks = tmp_path / ".snakemake" / "locks"
    deadline = time.time() + 60
    while not list(locks.glob("*.lock")) and time.time() < deadline:
        time.sleep(0.2)
    assert list(locks.glob("*.lock")), "snakemake never took its lock"
    # while it runs, the lock is not stale: nothing is touched
    ok, line = unlock_if_stale(tmp_path)
    assert not ok and f"a Snakemake run is still working here (pid {proc.pid})" in line
    assert list(locks.glob("*.lock"))
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job, as a crash would
    proc.wait()
    locked = _snakemake(tmp_path)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    assert stale_lock_main([str(tmp_path)]) == 0
    err = capsys.readouterr().err.strip()
    assert err == (f"{tmp_path.resolve()}: removed a stale Snakemake lock (2 files; no Snakemake process works "
                   "here, the last run was killed)")
    # make run's own command line then finishes the work (the killed job's output is incomplete)
    (tmp_path / "Snakefile").write_text((tmp_path / "Snakefile").read_text().replace("sleep 60; ", ""))
    done = _snakemake(tmp_path, "--rerun-incomplete")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "b.txt").read_text() == "a\n"


def test_no_lock_nothing_to_say(tmp_path):
    assert unlock_if_stale(tmp_path) == (True, None)


def test_makefile_run_unlocks_and_reruns_incomplete():
    make = (REPO / "Makefile").read_text()
    run = make[make.index("\nrun:"):].split("\n\n")[0]
    lines = [ln.strip() for ln in run.strip().splitlines()[1:]]
    assert lines[0].startswith("$(BIN)/python -m debiasqe.core.stale_lock")
    assert "--rerun-incomplete" in lines[1] and lines[1].startswith("$(BIN)/snakemake")


# ------------------------------------------------------------------ paths with spaces


def test_archive_and_workdir_with_spaces_extract_and_prepare(tmp_path):
    """The extract rule quotes its paths: an archive: path and a working folder with spaces work."""
    import hashlib
    import zipfile

    import numpy as np
    import yaml
    from PIL import Image

    own = tmp_path / "my data"
    own.mkdir()
    arc = own / "DIV2K valid HR.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for name in ("0801", "0802"):
            p = own / f"{name}.png"
            Image.fromarray(np.full((20, 24, 3), int(name[-1]) * 40, np.uint8)).save(p)
            zf.write(p, f"DIV2K_valid_HR/{name}.png")
    cfg = {"datasets": {"div2k_valid": {"archive": str(arc), "files": ["0801", "0802"],
                                        "mirrors": [{"url": "http://127.0.0.1:9/never.zip",
                                                     "sha256": hashlib.sha256(arc.read_bytes()).hexdigest()}]},
                        "demo_train": {}},
           "test_datasets": ["div2k_valid"]}
    work = tmp_path / "work dir"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "1",
                           "resources/datasets/div2k_valid"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    out = work / "resources" / "datasets" / "div2k_valid"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["0801.png", "0802.png", "manifest.json"]


# ------------------------------------------------------------------ image store on a full disk


def _pngs(tmp_path, n=2):
    import numpy as np
    from PIL import Image

    out = []
    for k in range(n):
        p = tmp_path / "png" / f"im{k}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.random.RandomState(k).randint(0, 255, (64, 80, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def test_image_store_blocks_are_reserved_before_pixels_are_written(tmp_path, monkeypatch):
    """The map is preallocated (not sparse): a full disk shows at creation, never as SIGBUS."""
    from debiasqe.data import patches

    seen = []
    real = os.posix_fallocate

    def spy(fd, offset, length):
        real(fd, offset, length)
        st = os.fstat(fd)
        seen.append((length, st.st_blocks * 512 >= st.st_size))

    monkeypatch.setattr(patches.os, "posix_fallocate", spy)
    patches.write_image_store(_pngs(tmp_path), tmp_path / "raw.npy", progress=False)
    size = (tmp_path / "raw.npy").stat().st_size
    assert seen == [(size, True)]


def test_full_disk_while_writing_the_index_leaves_no_store(tmp_path, monkeypatch):
    import errno

    from debiasqe.core import atomic
    from debiasqe.data import patches

    real_open = open

    def full_for_json(path, mode="r", *a, **k):
        if str(path).endswith(".json") and "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(atomic, "open", full_for_json, raising=False)
    with pytest.raises(OSError) as exc:
        patches.write_image_store(_pngs(tmp_path), tmp_path / "s" / "raw.npy", progress=False)
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(tmp_path / "s" / "raw.index.json")
    assert list((tmp_path / "s").iterdir()) == []  # neither the store nor its index nor a temporary


# ------------------------------------------------------------------ full disk while downloading / extracting


def _writes_fail(module, monkeypatch):
    real_open = open

    def fake(path, mode="r", *a, **k):
        fh = real_open(path, mode, *a, **k)
        return FillsUp(fh) if ("w" in mode or "a" in mode) and not str(path).endswith(".json") else fh

    monkeypatch.setattr(module, "open", fake, raising=False)


def test_full_disk_while_extracting_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import zipfile

    from debiasqe.data import extract

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("d/x.bin", b"x" * 1000)
    _writes_fail(extract, monkeypatch)
    with pytest.raises(extract.ArchiveError) as exc:
        extract.extract_archive(tmp_path / "a.zip", tmp_path / "out" / "t", progress=False)
    assert str(exc.value) == (f"{tmp_path}/a.zip: cannot write {tmp_path}/out/t/d/x.bin: No space left on device; "
                              "nothing extracted")
    assert list((tmp_path / "out").iterdir()) == []


def test_full_disk_while_downloading_names_the_file(tmp_path, monkeypatch):
    import errno

    from debiasqe.data import download as dl
    from httpserver import FileServer

    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.bin").write_bytes(b"y" * 5000)
    _writes_fail(dl, monkeypatch)
    with FileServer(srv) as server, pytest.raises(OSError) as exc:
        dl.download(server.url("f.bin"), tmp_path / "f.bin", progress=False, backoff=0)
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(tmp_path / "f.bin.part")
