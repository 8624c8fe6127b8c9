import os

import pytest

from debiasqe.core.atomic import atomic_open, atomic_path, write_text


def test_failed_write_leaves_nothing(tmp_path):
    dest = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_open(dest) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_and_keeps_suffix_and_mode(tmp_path):
    dest = tmp_path / "fig.png"
    dest.write_text("old")
    with atomic_path(dest) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_text("new")
    assert dest.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~mask
    write_text(tmp_path / "a" / "b.txt", "x")  # creates parents
    assert (tmp_path / "a/b.txt").read_text() == "x"


# ------------------------------------------------------------ durability and leftovers


def _record_fsyncs(monkeypatch):
    """Log fsync (what: file / folder, and the name it had) and rename events in order."""
    import stat

    from debiasqe.core import atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        events.append(("fsync", "folder" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", os.stat(a).st_ino))
        return real_replace(a, b)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    return events


@pytest.mark.parametrize("how", ["atomic_path", "write_text"])
def test_file_then_folder_are_fsynced_around_the_rename(tmp_path, monkeypatch, how):
    events = _record_fsyncs(monkeypatch)
    dest = tmp_path / "model.pt"
    if how == "atomic_path":  # what checkpoint and model saving use
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"weights")
    else:
        write_text(dest, "a,b\n")
    ino = dest.stat().st_ino
    i = events.index(("replace", ino))
    assert ("fsync", "file", ino) in events[:i], "data must reach the disk before the name"
    assert ("fsync", "folder", tmp_path.stat().st_ino) in events[i + 1:], "the rename itself must be durable"


def test_checkpoint_save_is_fsynced(tmp_path, monkeypatch):
    import torch

    from debiasqe.train import checkpoint as ckpt

    events = _record_fsyncs(monkeypatch)
    ckpt.save(tmp_path / "checkpoint.pt", {"w": torch.ones(3)})
    ino = (tmp_path / "checkpoint.pt").stat().st_ino
    assert ("fsync", "file", ino) in events and ("fsync", "folder", tmp_path.stat().st_ino) in events


def test_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dest = tmp_path / "raw.npy"
    dead = tmp_path / ".raw.npy.p99999999-abcd1234.tmp.npy"  # no process has this pid
    live = tmp_path / f".raw.npy.p{os.getppid()}-efgh5678.tmp.npy"  # our parent: alive
    other = tmp_path / ".10.npy.p99999999-abcd1234.tmp.npy"  # another store's: not ours to judge
    for p in (dead, live, other):
        p.write_bytes(b"x" * 1000)
    write_text(dest, "new")
    assert not dead.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["raw.npy"]


def test_temp_names_carry_the_writer_pid(tmp_path):
    with atomic_path(tmp_path / "t.csv") as tmp:
        assert tmp.name.startswith(f".t.csv.p{os.getpid()}-") and tmp.name.endswith(".tmp.csv")
