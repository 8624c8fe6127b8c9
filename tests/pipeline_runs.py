"""Shared end-to-end runs of presets/ci.yaml and a comparison of their outputs.

presets/ci.yaml is run as few times as possible per test session:

* ``reference``: one clean local run (``ci_reference`` fixture in conftest.py);
  test_workflow.py can reuse it instead of its own run.
* ``second clean run``: the SLURM run when a localhost SLURM can start (it is a
  clean run from scratch through the real profile), else one more local run;
  test_determinism.py compares it with the reference.
* the interrupted-then-resumed run of test_interrupt.py.

:func:`compare_outputs` compares everything the pipeline produced, whatever
rules exist: every file under ``results/`` and ``resources/datasets/`` except
logs, benchmarks, SLURM logs and Snakemake's own markers. CSV/TSV and all
other files are compared byte for byte; JSON files after dropping
volatile keys (timestamps, hosts, durations) and the run's own directory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CI_PRESET = REPO / "presets" / "ci.yaml"

# Trees that are outputs of the pipeline.
COMPARED_ROOTS = ("results", "resources/datasets")
# Path parts that are about how a run went, not what it produced.
# features/ caches Inception statistics as .npz, whose zip entries carry write
# times; the FIDs computed from them are compared in metrics/ and domains/.
SKIPPED_PARTS = {"logs", "benchmarks", "slurm_logs", ".snakemake", "features"}
# report.html embeds the run's timings and dates; report/overview.html the commit and the host
# that built it (its figure, training_curves.png, is compared); report/landing.rst is the report's
# first page, written only by runs that build the report (--report).
SKIPPED_NAMES = {".snakemake_timestamp", "report.html", "overview.html", "landing.rst"}
# Keys (JSON) and columns (CSV/TSV) whose values legitimately differ between runs.
# git_commit: runs of one test session use one checkout, but a developer may
# commit while the session runs; it is provenance, not a result.
VOLATILE_KEY = re.compile(
    r"(^|_)(time|timestamp|date|datetime|created|started|finished|host|hostname|node|"
    r"elapsed|duration|wall|runtime|seconds|sec|user|pid|cwd|workdir|slurm_job_id|jobid|"
    r"git_commit)($|_)"
    r"|(_s|_ms)$",
    re.IGNORECASE,
)
# Lines of text formats that carry creation dates (matplotlib PDF/SVG, HTML reports).
VOLATILE_LINE = re.compile(rb"(/CreationDate|/ModDate|<dc:date>|Created on|generated on)", re.IGNORECASE)
TEMP_NAME = re.compile(r"^\..+\.tmp|\.tmp$|\.part$|~$")


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), *args]


def job_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}
    env.update(extra)
    return env


def run_snakemake(workdir: Path, *args: str, timeout: int = 1500,
                  env: dict | None = None) -> subprocess.CompletedProcess:
    """snakemake in its own process group, killed as a group on timeout."""
    proc = subprocess.Popen(snakemake_cmd(workdir, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env or job_env(),
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, _ = proc.communicate()
        raise AssertionError(f"snakemake {' '.join(args)} ran past {timeout} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# What `make run` adds to `snakemake --cores all`: the HTML report is the run's last step.
REPORT_AFTER_RUN = ("--report", "results/report.html", "--report-after-run")


def run_ci_locally(workdir: Path, cores: int = 2, timeout: int = 1500) -> Path:
    """presets/ci.yaml as `make run` runs the default config (ending with the HTML report)."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = run_snakemake(workdir, "--cores", str(cores), "--configfile", str(CI_PRESET),
                         *REPORT_AFTER_RUN, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return workdir


# ---------------------------------------------------------------- comparison


def output_files(workdir: Path) -> dict[str, Path]:
    """Relative path -> file, for every compared output of a run."""
    files: dict[str, Path] = {}
    for root in COMPARED_ROOTS:
        base = workdir / root
        if not base.exists():
            continue
        for path in base.rglob("*"):
            rel = path.relative_to(workdir)
            if path.is_dir() or SKIPPED_PARTS & set(rel.parts) or path.name in SKIPPED_NAMES:
                continue
            files[rel.as_posix()] = path
    return files


def temp_leftovers(workdir: Path) -> list[str]:
    """Files under results/ or resources/ whose names are temporaries of atomic writes."""
    out = []
    for root in ("results", "resources"):
        base = workdir / root
        if base.exists():
            out += [p.relative_to(workdir).as_posix() for p in base.rglob("*")
                    if p.is_file() and TEMP_NAME.search(p.name)]
    return sorted(out)


def _scrub_json(obj, workdir: str):
    if isinstance(obj, dict):
        return {k: _scrub_json(v, workdir) for k, v in obj.items() if not VOLATILE_KEY.search(str(k))}
    if isinstance(obj, list):
        return [_scrub_json(v, workdir) for v in obj]
    if isinstance(obj, str):
        return obj.replace(workdir, "<workdir>")
    return obj


def _scrub_table(data: bytes, delimiter: str) -> bytes:
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return data
    keep = [i for i, name in enumerate(rows[0]) if not VOLATILE_KEY.search(name)]
    if len(keep) == len(rows[0]):
        return data  # nothing volatile: compare the exact bytes
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] for i in keep if i < len(row)])
    return buf.getvalue().encode()


def normalised(path: Path, workdir: Path) -> bytes:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            obj = json.loads(data)
        except ValueError:
            return data
        return json.dumps(_scrub_json(obj, str(workdir)), sort_keys=True, indent=1).encode()
    if suffix in (".csv", ".tsv"):
        try:
            return _scrub_table(data, "\t" if suffix == ".tsv" else ",")
        except (UnicodeDecodeError, csv.Error):
            return data
    if suffix in (".pdf", ".svg", ".html", ".tex", ".md"):
        return b"\n".join(line for line in data.replace(str(workdir).encode(), b"<workdir>").split(b"\n")
                          if not VOLATILE_LINE.search(line))
    return data


def compare_outputs(ref: Path, other: Path) -> list[str]:
    """Differences between two runs' outputs, as readable lines ([] = identical)."""
    a, b = output_files(ref), output_files(other)
    problems = [f"only in reference: {k}" for k in sorted(a.keys() - b.keys())]
    problems += [f"only in {other.name}: {k}" for k in sorted(b.keys() - a.keys())]
    for key in sorted(a.keys() & b.keys()):
        if normalised(a[key], ref) != normalised(b[key], other):
            problems.append(f"differs: {key}")
    return problems


def tables(workdir: Path) -> list[str]:
    """The CSV tables a run produced (what the byte-for-byte checks must at least cover)."""
    return sorted(k for k in output_files(workdir) if k.endswith(".csv"))


# ---------------------------------------------------------------- dataset facts


def expected_rate_rows(workdir: Path, dataset: str) -> int:
    manifest = workdir / "resources" / "datasets" / dataset / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        for key in ("images", "files", "entries"):
            if isinstance(data, dict) and isinstance(data.get(key), (list, dict)):
                return len(data[key])
    return len(list((workdir / "resources" / "datasets" / dataset).glob("*.png")))


def incomplete_rate_csvs(workdir: Path) -> list[str]:
    """rate.csv files that exist without one row per image of their dataset."""
    bad = []
    for rate in (workdir / "results" / "compressed").glob("*/*/*/rate.csv"):
        dataset = rate.relative_to(workdir / "results" / "compressed").parts[0]
        with open(rate, newline="") as fh:
            rows = list(csv.DictReader(fh))
        want = expected_rate_rows(workdir, dataset)
        if len(rows) != want or any(None in r.values() or "" in r.values() for r in rows):
            bad.append(f"{rate.relative_to(workdir)}: {len(rows)} rows, expected {want}")
    return bad


def wait_for(predicate, timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


# ---------------------------------------------------------------- SLURM on localhost

SLURM_SETUP = REPO / "scripts" / "slurm_localhost.sh"
SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
# The localhost cluster has no accounting database (squeue follows the jobs;
# MinJobAge=300 >= 3 x 2 s), no accounts, no GPUs and little memory: those
# are the only changes made to profiles/slurm for the test.
SLURM_TEST_SETTINGS = {
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    # Jobs queued at once. Most ci-preset jobs take a few seconds, less than the
    # plugin's status-check interval (~14 s): with 4 the node idled between checks
    # and the run took 13.8 min; a deeper queue keeps both CPUs busy.
    "jobs": 16,
    "latency-wait": 10,
    # A job asking for more CPUs than the node has would pend forever
    # (Reason=PartitionConfig): cap every rule's threads at the node's CPUs.
    "max-threads": os.cpu_count() or 1,
}


def start_localhost_slurm(timeout: int = 300) -> tuple[bool, str]:
    """(True, info) when the one-node cluster is up, else (False, exact reason)."""
    if sys.platform != "linux":
        return False, f"SLURM localhost cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return False, f"SLURM localhost cluster needs root to install/start slurmctld and slurmd (uid {os.geteuid()})"
    try:
        proc = subprocess.run(["bash", str(SLURM_SETUP)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"{SLURM_SETUP.name} did not finish within {timeout} s"
    lines = (proc.stdout + proc.stderr).strip().splitlines() or [""]
    if proc.returncode == 0:
        return True, lines[-1]
    if proc.returncode == 2 and lines[-1].startswith("skip: "):
        return False, lines[-1][len("skip: "):]
    raise AssertionError(f"{SLURM_SETUP.name} failed (exit {proc.returncode}):\n" + "\n".join(lines[-30:]))


def slurm_test_profile(dest: Path, gpu_rules=("train", "enhance", "evaluate")) -> Path:
    """profiles/slurm with the localhost cluster's differences; returns the profile folder."""
    import yaml

    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    profile.update(SLURM_TEST_SETTINGS)
    profile["default-resources"]["mem_mb"] = "1000 * attempt"
    for rule, res in profile.get("set-resources", {}).items():
        res["mem_mb"] = "1000 * attempt"
        res["gpu"] = 0  # the localhost node has no GPU GRES (0 = no --gpus, also over a rule's own gpu=1)
        res.pop("gpu_model", None)
    for rule in ("prepare_dataset", "rate_summary"):
        profile["set-resources"].setdefault(rule, {})["mem_mb"] = "1000 * attempt"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def run_via_slurm(workdir: Path, profile: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """snakemake --profile PROFILE in WORKDIR (the plugin puts SLURM logs relative to the cwd)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["timeout", "-k", "10", str(timeout),
           *snakemake_cmd(workdir, "--profile", str(profile), *args)]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=job_env(), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, _ = proc.communicate()
    if proc.returncode in (124, 137, -9):
        # Timed out: cancel what the killed run left queued (the cluster is ours alone).
        subprocess.run(["scancel", "--user", str(os.getuid())], capture_output=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")
