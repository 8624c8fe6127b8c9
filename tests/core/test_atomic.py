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
