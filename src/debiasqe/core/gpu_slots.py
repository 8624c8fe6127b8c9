"""One GPU per job on a multi-GPU workstation under Snakemake's local executor.

Snakemake caps how many GPU jobs run at once (``resources: gpu=N`` in
``profiles/workstation``) but does not tell a job *which* device is its own.
This module closes that gap without a daemon:

* ``DEBIASQE_GPUS`` lists the devices this machine may use, e.g. ``0,1,2,3``.
* A GPU stage calls :func:`claim_gpu` before CUDA is initialised (before the
  first ``torch.cuda`` call). It takes the first device whose lock file
  (``$DEBIASQE_GPU_LOCK_DIR/gpu<ID>.lock``, default
  ``/tmp/debiasqe-gpu-locks-<uid>``) it can ``flock`` and sets
  ``CUDA_VISIBLE_DEVICES`` to that device, so the job sees it as ``cuda:0``.
* The lock is held by an open file descriptor: it is released when the
  process ends for any reason, ``kill -9`` included, so a crashed job never
  strands a device.

Without ``DEBIASQE_GPUS`` nothing happens (a single GPU, a CPU run, or a
scheduler such as SLURM that already set ``CUDA_VISIBLE_DEVICES``).

The same is available as a wrapper for any command::

    python -m debiasqe.core.gpu_slots -- python -m debiasqe train ...

which claims a device, then ``exec``s the command with the lock inherited.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

ENV_DEVICES = "DEBIASQE_GPUS"
ENV_LOCK_DIR = "DEBIASQE_GPU_LOCK_DIR"


@dataclass
class GpuClaim:
    """A claimed device; keep the object (its fd holds the lock) while the job runs."""

    device: str
    lock_path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_held: list[GpuClaim] = []  # keeps claims made by claim_gpu() alive for the process


def parse_devices(value: str | None) -> list[str]:
    """``"0,1, 3"`` -> ``["0", "1", "3"]``; empty or unset -> ``[]``."""
    if not value or not value.strip():
        return []
    devices = [d.strip() for d in value.split(",")]
    if any(not d for d in devices) or len(set(devices)) != len(devices):
        raise ConfigError(
            f"{ENV_DEVICES}={value!r}: expected a comma-separated list of distinct device ids, e.g. '0,1'"
        )
    for d in devices:
        if not (d.isdigit() or d.startswith(("GPU-", "MIG-"))):
            raise ConfigError(
                f"{ENV_DEVICES}={value!r}: {d!r} is not a device index or GPU-/MIG- UUID"
            )
    return devices


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"debiasqe-gpu-locks-{os.getuid()}"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def acquire(devices: list[str], lock_dir: str | os.PathLike | None = None,
            timeout: float = 600.0, poll: float = 0.5) -> GpuClaim:
    """Lock the first free device of ``devices``; wait up to ``timeout`` seconds."""
    if not devices:
        raise ValueError("no devices to choose from")
    lock_dir = Path(lock_dir) if lock_dir else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for dev in devices:
            path = lock_dir / f"gpu{dev}.lock"
            fd = _try_lock(path)
            if fd is not None:
                return GpuClaim(device=dev, lock_path=path, fd=fd)
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"no free GPU among {ENV_DEVICES}={','.join(devices)} after {timeout:.0f} s "
                f"(locks in {lock_dir}); is the profile's `resources: gpu` larger than the device list?"
            )
        time.sleep(poll)


def claim_gpu(env: dict | None = None, timeout: float = 600.0, count: int = 1) -> str | None:
    """Pick this process's GPU(s) from ``DEBIASQE_GPUS`` and export ``CUDA_VISIBLE_DEVICES``.

    Returns the device id(s) (``"1"``, or ``"1,3"`` for ``count`` 2), or
    ``None`` when ``DEBIASQE_GPUS`` is not set or the process is one that
    torchrun started (its launcher claimed the devices; ``LOCAL_RANK`` set).
    Call once, early, before CUDA is initialised. The locks last until exit.
    """
    env = os.environ if env is None else env
    devices = parse_devices(env.get(ENV_DEVICES))
    if not devices or "LOCAL_RANK" in env:
        return None
    if count > len(devices):
        raise ConfigError(f"{count} GPUs wanted but {ENV_DEVICES}={','.join(devices)} lists {len(devices)}")
    claims: list[GpuClaim] = []
    try:
        for _ in range(count):
            claims.append(acquire([d for d in devices if d not in {c.device for c in claims}],
                                  env.get(ENV_LOCK_DIR) or None, timeout=timeout))
    except ConfigError:
        for c in claims:  # none half-held
            c.release()
        raise
    _held.extend(claims)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(c.device for c in claims)
    return env["CUDA_VISIBLE_DEVICES"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m debiasqe.core.gpu_slots -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        device = claim_gpu()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if device is not None:
        os.set_inheritable(_held[-1].fd, True)  # the exec'd command keeps the lock
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
