"""Progress of a long loop: a tqdm bar on a terminal, periodic plain lines in a log.

Every stage reports its loops through :func:`track`. On an interactive
stderr (and ``bar=True``) it is tqdm's bar; otherwise (a job's log file under
Snakemake, or ``--quiet``) it writes one line every ``DEBIASQE_PROGRESS_SECONDS``
seconds (default 30) and one at the end::

    compress jpeg QF 10: 120/800 img (15.0%), 4.02 img/s, elapsed 0:00:30, ETA 0:02:49

so a log read with ``tail -f`` or ``less`` shows where a job stands, with no
carriage returns. ``--quiet`` therefore means "no bar", not "no progress".
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, TextIO

from tqdm import tqdm

#: seconds between two plain lines (env DEBIASQE_PROGRESS_SECONDS overrides)
DEFAULT_INTERVAL = 30.0


def interval_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("DEBIASQE_PROGRESS_SECONDS", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def format_duration(seconds: float | None) -> str:
    """``H:MM:SS`` (days spelled out past 24 h); ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    s = int(round(seconds))
    days, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    text = f"{h}:{m:02d}:{s:02d}"
    return f"{days}d {text}" if days else text


class PlainProgress:
    """tqdm's small interface (update, set_postfix, close, iteration) writing periodic lines."""

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, file: TextIO | None = None,
                 interval: float | None = None, clock=time.monotonic):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.initial = initial
        self.file = file
        self.interval = interval_seconds() if interval is None else interval
        self.clock = clock
        self.start = self.last = clock()
        self.postfix = ""
        self.closed = False

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.start
        done = self.n - self.initial
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        if self.total:
            head = f"{self.n}/{self.total} {self.unit} ({100.0 * self.n / self.total:.1f}%)"
        else:
            head = f"{self.n} {self.unit}"
        parts = [f"{self.desc}: {head}" if self.desc else head]
        parts.append(f"{rate:.3g} {self.unit}/s" if rate else f"? {self.unit}/s")
        parts.append(f"elapsed {format_duration(elapsed)}")
        if self.total:
            eta = (self.total - self.n) / rate if rate else None
            parts.append(f"ETA {format_duration(eta)}")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def _emit(self, now: float) -> None:
        out = self.file or sys.stderr
        print(self.line(now), file=out, flush=True)
        self.last = now

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.interval:
            self._emit(now)

    def set_postfix(self, values: dict | None = None, refresh: bool = False, **kwargs) -> None:
        values = {**(values or {}), **kwargs}
        self.postfix = " ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._emit(self.clock())

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def interactive(file: TextIO | None = None) -> bool:
    f = file or sys.stderr
    try:
        return f.isatty()
    except (AttributeError, ValueError):
        return False


def track(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
          bar: bool = True, initial: int = 0, file: TextIO | None = None, **tqdm_kwargs):
    """A progress object over ``iterable`` (or updated by hand): tqdm when ``bar`` and
    stderr is a terminal, else :class:`PlainProgress` (periodic lines)."""
    if bar and interactive(file):
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file or sys.stderr,
                    dynamic_ncols=True, **tqdm_kwargs)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file)
