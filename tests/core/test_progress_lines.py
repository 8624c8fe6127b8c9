"""core.progress: periodic plain lines when stderr is not a terminal."""

from __future__ import annotations

import io

from debiasqe.core.progress import PlainProgress, format_duration, track


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_plain_lines_every_interval_and_at_the_end():
    out, clock = io.StringIO(), Clock()
    p = PlainProgress(total=10, desc="compress jpeg QF 10", unit="img", file=out, interval=30, clock=clock)
    for i in range(10):
        clock.t += 10.0  # one image every 10 s: a line every third image, then one at the end
        p.update()
    p.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "compress jpeg QF 10: 3/10 img (30.0%), 0.1 img/s, elapsed 0:00:30, ETA 0:01:10",
        "compress jpeg QF 10: 6/10 img (60.0%), 0.1 img/s, elapsed 0:01:00, ETA 0:00:40",
        "compress jpeg QF 10: 9/10 img (90.0%), 0.1 img/s, elapsed 0:01:30, ETA 0:00:10",
        "compress jpeg QF 10: 10/10 img (100.0%), 0.1 img/s, elapsed 0:01:40, ETA 0:00:00",
    ]
    assert "\r" not in out.getvalue()


def test_track_is_plain_off_a_terminal_and_wraps_iterables():
    out = io.StringIO()  # not a TTY
    bar = track(range(4), desc="enhance x", unit="img", file=out)
    assert isinstance(bar, PlainProgress)
    assert list(bar) == [0, 1, 2, 3]
    assert out.getvalue().splitlines()[-1].startswith("enhance x: 4/4 img (100.0%)")


def test_format_duration():
    assert format_duration(0) == "0:00:00" and format_duration(3725) == "1:02:05"
    assert format_duration(2 * 86400 + 61) == "2d 0:01:01" and format_duration(None) == "?"
