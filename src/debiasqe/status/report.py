"""A run's state per stage: what exists, what is missing, what failed, how long it took.

Everything is read from files: the expected outputs from the config
(:func:`debiasqe.targets.jobs`), failures from the jobs' logs
(``results/logs/...``), durations from Snakemake's benchmark TSVs
(``results/benchmarks/...``), random-init / unavailable networks from the
outputs' provenance records. No Snakemake DAG is built.
"""

from __future__ import annotations

import base64
import binascii
import csv
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import paths
from ..core.progress import format_duration
from ..targets import Job, jobs
from .provenance import output_flags

#: stages in pipeline order, as the table lists them
STAGE_ORDER = ("download", "extract", "prepare", "compress", "patches", "weights", "train", "enhance", "evaluate", "realism", "report")
#: a log line that says the job failed (debiasqe's one-line errors, Python tracebacks, the OOM killer)
ERROR_LINE = re.compile(r"^(error:|Traceback \(most recent call last\)|\w*(Error|Exception)\b|Killed\b|"
                        r".*CUDA out of memory)")


@dataclass
class JobState:
    stage: str
    job: str
    state: str                      # done | failed | incomplete | missing
    missing: list[str] = field(default_factory=list)
    error: str | None = None        # the log line that says why it failed
    log: str | None = None
    seconds: float | None = None    # from the benchmark TSV
    flags: dict[str, str] = field(default_factory=dict)  # network -> random-init | unavailable


def log_error(log: Path) -> str | None:
    """The line of a job's log that says why it failed (the last ``error:`` line, else the
    last exception line after a traceback), or None."""
    try:
        lines = log.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    errors = [ln.strip() for ln in lines if ERROR_LINE.match(ln.strip())]
    if not errors:
        return None
    own = [e for e in errors if e.startswith("error:")]
    if own:
        return own[-1]
    named = [e for e in errors if not e.startswith("Traceback")]
    return named[-1] if named else errors[-1]


def benchmark_seconds(tsv: Path) -> float | None:
    """Wall-clock seconds of a Snakemake benchmark TSV (column ``s``; the mean over repeats)."""
    try:
        with open(tsv, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        values = [float(r["s"]) for r in rows if r.get("s") not in (None, "", "NA")]
    except (OSError, ValueError, KeyError):
        return None
    return sum(values) / len(values) if values else None


def snakemake_incomplete(workdir: str | Path) -> set[str]:
    """Outputs Snakemake marks incomplete (``.snakemake/incomplete/``: jobs running now, or killed
    before they finished), as paths relative to ``workdir``. Each marker's name is the output
    path in URL-safe base64, split into ``@``-prefixed folders when longer than a file name."""
    root = Path(workdir) / ".snakemake" / "incomplete"
    found = set()
    if not root.is_dir():
        return found
    for dirpath, _, files in os.walk(root):
        parts = [p[1:] for p in Path(dirpath).relative_to(root).parts]
        for name in files:
            try:
                found.add(base64.urlsafe_b64decode("".join([*parts, name])).decode())
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
    return found


def _exists(path: str) -> bool:
    p = Path(path)
    return p.is_file() or (p.is_dir() and any(p.iterdir()))


def job_state(job: Job, results: str | Path, resources: str | Path, marked: set[str] = frozenset(),
              workdir: str | Path = ".") -> JobState:
    missing = [o for o in job.outputs if not _exists(o)]
    if marked:  # outputs Snakemake has not seen finish count as missing, whatever is on disk
        rel = {o: os.path.relpath(o, workdir) for o in job.outputs}
        missing += [o for o in job.outputs if o not in missing
                    and any(rel[o] == m or rel[o].startswith(m.rstrip("/") + "/") for m in marked)]
    log = Path(job.log(results))
    error = log_error(log) if missing and log.is_file() else None
    if not missing:
        state = "done"
    elif error:
        state = "failed"
    elif len(missing) < len(job.outputs) or log.is_file():
        state = "incomplete"  # started (a log, or some outputs), not finished: running or killed
    else:
        state = "missing"
    bench = job.benchmark_file(results)
    seconds = benchmark_seconds(Path(bench)) if bench and state == "done" else None
    flags: dict[str, str] = {}
    if job.stage in ("enhance", "evaluate"):
        for o in job.outputs:
            if o not in missing:
                flags.update(output_flags(o))
    elif job.stage == "train" and not missing:
        # the trainer's provenance.json beside model.pt (the VGG-19 of the perceptual loss and L_R)
        flags.update(output_flags(Path(job.outputs[0]).with_name("provenance.json")))
    return JobState(job.stage, job.job, state, missing, error, str(log) if log.is_file() else None, seconds, flags)


def run_status(config: dict, workdir: str | Path = ".") -> list[JobState]:
    """The state of every job ``config`` asks for, under ``workdir`` (results/, resources/)."""
    workdir = Path(workdir)
    results, resources = workdir / paths.RESULTS, workdir / paths.RESOURCES
    marked = snakemake_incomplete(workdir)
    return [job_state(j, results, resources, marked, workdir) for j in jobs(config, results, resources)]


def summary(states: list[JobState]) -> dict[str, dict]:
    """Per stage: job counts by state, outputs expected/missing, seconds, flagged jobs."""
    out: dict[str, dict] = {}
    for st in STAGE_ORDER:
        mine = [s for s in states if s.stage == st]
        if not mine:
            continue
        timed = [s.seconds for s in mine if s.seconds is not None]
        out[st] = {
            "jobs": len(mine),
            **{k: sum(s.state == k for s in mine) for k in ("done", "failed", "incomplete", "missing")},
            "seconds": sum(timed) if timed else None,
            "timed_jobs": len(timed),
            "flagged": sum(bool(s.flags) for s in mine),
        }
    return out


def as_json(states: list[JobState], config_files: list[str], workdir: str | Path) -> dict:
    return {
        "config": config_files,
        "workdir": str(Path(workdir).resolve()),
        "complete": all(s.state == "done" for s in states),
        "stages": summary(states),
        "jobs": [asdict(s) for s in states],
    }


def as_text(states: list[JobState], config_files: list[str], workdir: str | Path, limit: int = 10) -> str:
    """The table a user reads, then the failed jobs, what is missing and the flagged outputs."""
    lines = [f"debiasqe status: config {' + '.join(config_files) or '(defaults)'}; run in {Path(workdir).resolve()}",
             ""]
    head = ("stage", "jobs", "done", "failed", "incomplete", "missing", "time (sum)", "random-init/unavailable")
    rows = [head]
    for st, s in summary(states).items():
        t = format_duration(s["seconds"]) if s["seconds"] is not None else "-"
        if s["seconds"] is not None and s["timed_jobs"] < s["done"]:
            t += f" ({s['timed_jobs']} timed)"
        rows.append((st, s["jobs"], s["done"], s["failed"], s["incomplete"], s["missing"], t,
                     f"{s['flagged']} jobs" if s["flagged"] else "-"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  ".join(str(v).ljust(w) if i in (0, 6, 7) else str(v).rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths))).rstrip())
    failed = [s for s in states if s.state == "failed"]
    if failed:
        lines += ["", f"failed ({len(failed)}):"]
        lines += [f"  {s.stage} {s.job}: {s.error}  [{s.log}]" for s in failed]
    incomplete = [s for s in states if s.state == "incomplete"]
    if incomplete:
        lines += ["", f"incomplete: started, outputs missing, no error in the log (running or killed) "
                      f"({len(incomplete)}):"]
        lines += [f"  {s.stage} {s.job}: {len(s.missing)} of its outputs missing, e.g. {s.missing[0]}"
                  for s in incomplete[:limit]]
        if len(incomplete) > limit:
            lines.append(f"  ... {len(incomplete) - limit} more (--json lists all)")
    missing = [s for s in states if s.state == "missing"]
    if missing:
        lines += ["", f"not started ({len(missing)} jobs):"]
        for st in STAGE_ORDER:
            mine = [s for s in missing if s.stage == st]
            if mine:
                shown = ", ".join(s.job for s in mine[:limit])
                more = f", ... {len(mine) - limit} more" if len(mine) > limit else ""
                lines.append(f"  {st}: {shown}{more}")
    flagged = [s for s in states if s.flags]
    if flagged:
        lines += ["", "outputs from random-init or unavailable networks (numbers that are not the paper's protocol):"]
        groups: dict[tuple, list[JobState]] = {}
        for s in flagged:
            groups.setdefault((s.stage, tuple(sorted(s.flags.items()))), []).append(s)
        for (st, flags), mine in groups.items():
            what = ", ".join(f"{k} {v}" for k, v in flags)
            lines.append(f"  {st} ({len(mine)} jobs, e.g. {mine[0].job}): {what}")
    done = sum(s.state == "done" for s in states)
    lines += ["", f"{done} of {len(states)} jobs done" + ("; complete" if done == len(states) else "")]
    return "\n".join(lines) + "\n"
