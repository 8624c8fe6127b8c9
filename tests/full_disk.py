"""A file object that fills the disk: the ENOSPC injector of the fault and robustness tests."""

from __future__ import annotations

import errno


class FillsUp:
    """Wraps an open file: accepts ``room`` bytes, then fails with ENOSPC (``room=0``: at once)."""

    def __init__(self, real, room: int = 0):
        self.real, self.room = real, room

    def write(self, b):
        if len(b) > self.room:
            self.real.write(b[: self.room])
            self.real.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self.real.write(b)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()
