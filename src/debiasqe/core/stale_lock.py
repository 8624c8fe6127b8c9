"""Recover from Snakemake's stale lock after a killed run (``make run`` calls this first).

When Snakemake itself is killed (``kill -9``, a crash of the machine) its
lock files stay in ``.snakemake/locks/`` and every later run stops with
"Directory cannot be locked". The lock is stale when no Snakemake process
works in that folder any more: then it is removed (what ``snakemake
--unlock`` does) with one line saying so. When a Snakemake process may still
be running there, nothing is touched and the line names it.

Usage: ``python -m debiasqe.core.stale_lock [FOLDER]`` (default: the current
folder); exit status 0 when the folder is free to run in, 1 otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _is_snakemake(args: list[str]) -> bool:
    return any(Path(a).name == "snakemake" for a in args)


def snakemake_processes(folder: str | os.PathLike) -> list[int] | None:
    """PIDs of Snakemake processes working in ``folder``; None when this system
    cannot tell which folder a process works in (then any Snakemake counts)."""
    folder = Path(folder).resolve()
    me = os.getpid()
    proc = Path("/proc")
    if proc.is_dir() and (proc / "self" / "cmdline").exists():
        found = []
        for d in proc.iterdir():
            if not d.name.isdigit() or int(d.name) == me:
                continue
            try:
                args = (d / "cmdline").read_bytes().decode(errors="replace").split("\0")
                if _is_snakemake(args) and Path(os.readlink(d / "cwd")).resolve() == folder:
                    found.append(int(d.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return found
    return None


def _any_snakemake() -> list[int]:
    out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "args="], capture_output=True, text=True).stdout
    pids = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit() and int(pid) != os.getpid() and _is_snakemake(args.split()):
            pids.append(int(pid))
    return pids


def unlock_if_stale(folder: str | os.PathLike = ".") -> tuple[bool, str | None]:
    """(free to run, the one line to print or None)."""
    folder = Path(folder)
    locks = sorted((folder / ".snakemake" / "locks").glob("*.lock"))
    if not locks:
        return True, None
    running = snakemake_processes(folder)
    if running is None:
        others = _any_snakemake()
        if others:
            return False, (f"{folder.resolve()}: Snakemake is locked and a Snakemake process runs on this machine "
                           f"(pid {', '.join(map(str, others))}); if it is not working here, run "
                           "'snakemake --unlock' and try again")
    elif running:
        return False, (f"{folder.resolve()}: a Snakemake run is still working here (pid "
                       f"{', '.join(map(str, running))}); wait for it or stop it first")
    for lock in locks:
        lock.unlink(missing_ok=True)
    return True, (f"{folder.resolve()}: removed a stale Snakemake lock ({len(locks)} file"
                  f"{'s' * (len(locks) != 1)}; no Snakemake process works here, the last run was killed)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ok, line = unlock_if_stale(argv[0] if argv else ".")
    if line:
        print(line, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
