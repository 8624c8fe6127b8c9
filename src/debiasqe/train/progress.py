"""What a training job tells its log while it runs.

Every ``log_every`` steps :class:`TrainProgress` prints one line (to stderr,
which the train rule sends to ``results/logs/train/...log``)::

    train esrgan_debias/bpg/37 step 200/2000 (10.0%) | l_pix=0.0123 l_percep=1.234 ... | lr=1e-04 | 3.21 it/s | ETA 0:09:21 | peak mem 1.23 GiB (cuda)

``it/s`` is measured over the steps since the previous line, the ETA from
the mean rate since this process started (a resumed run counts only its own
steps), peak memory is the device's allocator peak on CUDA and the process's
peak resident size on CPU. ``train_log.csv`` keeps the full numbers.

With ``tensorboard=True`` the same values go to TensorBoard event files in
``<out_dir>/tensorboard/``, and :meth:`TrainProgress.images` adds sample
crops (I_C, I_E, I_R) at checkpoints.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

import torch

from ..core.progress import format_duration

TENSORBOARD_DIR = "tensorboard"


def peak_memory(device) -> tuple[float | None, str]:
    """(peak bytes, what was measured) for ``device`` (a torch.device or str)."""
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        return float(torch.cuda.max_memory_allocated(device)), "cuda"
    try:
        import resource  # lazy: POSIX only
    except ImportError:  # pragma: no cover - not POSIX
        return None, "rss"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(rss * (1 if sys.platform == "darwin" else 1024)), "rss"


def format_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def format_line(name: str, step: int, total: int, losses: dict[str, float], lr: float | None,
                it_per_s: float | None, eta_s: float | None, peak: tuple[float | None, str]) -> str:
    """One progress line (see the module docstring)."""
    head = f"train {name} step {step}/{total} ({100.0 * step / total:.1f}%)"
    parts = [head, " ".join(f"{k}={v:.4g}" for k, v in losses.items())]
    if lr is not None:
        parts.append(f"lr={lr:.3g}")
    parts.append(f"{it_per_s:.3g} it/s" if it_per_s else "? it/s")
    parts.append(f"ETA {format_duration(eta_s)}")
    parts.append(f"peak mem {format_bytes(peak[0])} ({peak[1]})")
    return " | ".join(parts)


class TrainProgress:
    """Log lines (and optional TensorBoard events) of one training run."""

    def __init__(self, name: str, total: int, start: int, terms: list[str], device, *,
                 out_dir: str | Path | None = None, tensorboard: bool = False, file: TextIO | None = None,
                 clock=time.perf_counter):
        self.name, self.total, self.start, self.terms = name, total, start, list(terms)
        self.device, self.file, self.clock = device, file, clock
        self.t_start = self.t_last = clock()
        self.step_last = start
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # lazy: seconds to import, only when asked for

            self.writer = SummaryWriter(log_dir=str(Path(out_dir) / TENSORBOARD_DIR), purge_step=start + 1)

    def begin(self) -> None:
        out = self.file or sys.stderr
        what = f"resuming at step {self.start}" if self.start else "starting"
        print(f"train {self.name}: {what} of {self.total} on {self.device}", file=out, flush=True)

    def rates(self, step: int, now: float) -> tuple[float | None, float | None]:
        """(it/s since the previous line, ETA in seconds from the mean rate of this process)."""
        window = now - self.t_last
        recent = (step - self.step_last) / window if window > 0 and step > self.step_last else None
        spent = now - self.t_start
        mean = (step - self.start) / spent if spent > 0 and step > self.start else None
        eta = (self.total - step) / mean if mean else None
        return recent, eta

    def log(self, step: int, row: dict) -> str:
        """Print (and return) the line for ``step``; ``row`` holds the loss terms and ``lr``."""
        now = self.clock()
        recent, eta = self.rates(step, now)
        line = format_line(self.name, step, self.total, {k: row[k] for k in self.terms if k in row},
                           row.get("lr"), recent, eta, peak_memory(self.device))
        print(line, file=self.file or sys.stderr, flush=True)
        if self.writer is not None:
            for k in self.terms:
                if k in row:
                    self.writer.add_scalar(f"loss/{k}", row[k], step)
            if row.get("lr") is not None:
                self.writer.add_scalar("lr", row["lr"], step)
            if recent:
                self.writer.add_scalar("it_per_s", recent, step)
            self.writer.flush()
        self.t_last, self.step_last = now, step
        return line

    def images(self, step: int, comp, enhanced, raw) -> None:
        """Sample crops (N, 3, H, W in [0, 1]) at a checkpoint: I_C, I_E, I_R."""
        if self.writer is None:
            return
        for tag, x in (("I_C", comp), ("I_E", enhanced), ("I_R", raw)):
            self.writer.add_images(f"samples/{tag}", x.detach().float().clamp(0, 1).cpu(), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
