"""The report's first pages: training curves and the run overview.

* :func:`fig_training_curves`: every loss term vs step, one panel per term,
  one line per method (the report's method styles: vanilla dashed, debiased
  solid), read from the ``train_log.csv`` of each method at the headline
  codec and training setting.
* :func:`write_overview`: a self-contained HTML page with the commit, the
  config, the weights state (which outputs came from random-init or
  unavailable networks, from their provenance records) and the hardware
  (this host, and the devices the training and enhancement jobs recorded).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import platform
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Mapping

import yaml
from matplotlib.ticker import MaxNLocator

from ..core.atomic import write_text
from ..core.provenance import git_commit
from .labels import method_label
from .style import COLUMN_WIDTH, PAGE_WIDTH, method_style, new_figure, save_figure

#: the loss terms in the order the panels show them
TERM_ORDER = ("l_pix", "l_percep", "l_g_gan", "l_ddr", "l_g_total", "l_d_real", "l_d_fake")


def read_train_log(path: str | os.PathLike) -> dict[str, list[float]]:
    """Columns of a ``train_log.csv`` as float lists (empty cells skipped per column)."""
    cols: dict[str, list[float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for k, v in row.items():
                if v not in (None, ""):
                    cols.setdefault(k, []).append(float(v))
    return cols


def fig_training_curves(logs: Mapping[str, str | os.PathLike], out_stem, title: str = "") -> list[str]:
    """Loss terms vs step for each method (``logs``: method -> train_log.csv); PNG + PDF."""
    data = {m: read_train_log(p) for m, p in logs.items() if Path(p).is_file()}
    terms = [t for t in TERM_ORDER if any(t in d for d in data.values())]
    if not terms:
        terms = ["l_pix"]
    ncol = min(3, len(terms))
    nrow = (len(terms) + ncol - 1) // ncol
    fig = new_figure(width=PAGE_WIDTH if ncol > 1 else COLUMN_WIDTH, height=2.0 * nrow + 0.6)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax, term in zip(axes.flat, terms):
        for m, d in data.items():
            if term in d and "step" in d:
                st = {k: v for k, v in method_style(m).items() if k != "marker"}
                n = min(len(d["step"]), len(d[term]))
                ax.plot(d["step"][:n], d[term][:n], label=method_label(m), **st)
        ax.set_title(term, fontsize=8)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(terms):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in list(axes.flat)[1:len(terms)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=6)
    if not data:
        axes.flat[0].text(0.5, 0.5, "no train_log.csv", ha="center", va="center", transform=axes.flat[0].transAxes)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, out_stem)


# ---------------------------------------------------------------- overview


def host_hardware() -> dict:
    """This host: OS, CPU, cores, memory and GPUs (nvidia-smi, when there is one)."""
    info = {"host_os": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cpu_cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        if names:
            info["cpu"] = names[0]
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
        info["memory"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=True).stdout
            info["gpus"] = [ln.strip() for ln in out.splitlines() if ln.strip()] or ["none"]
        except (OSError, subprocess.SubprocessError):
            info["gpus"] = ["nvidia-smi failed"]
    else:
        info["gpus"] = ["none (no nvidia-smi)"]
    return info


def job_devices(train_records: list[str | os.PathLike]) -> dict[str, Counter]:
    """Devices, torch versions and precision the training jobs recorded (their provenance.json)."""
    seen: dict[str, Counter] = {"training device": Counter(), "torch": Counter(), "training amp": Counter()}
    for p in train_records:
        try:
            tr = json.loads(Path(p).read_text("utf-8"))
        except (OSError, ValueError):
            continue
        for key, field in (("training device", "device"), ("torch", "torch"), ("training amp", "amp")):
            if tr.get(field):
                seen[key][str(tr[field])] += 1
    return seen


def _table(rows: list[tuple]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{body}</table>"


def write_overview(config: dict, out_path: str | os.PathLike, *, status_states: list, curves_png: str | None,
                   train_records: list[str]) -> None:
    """The run overview page (see the module docstring)."""
    commit = git_commit()
    others = [s for s in status_states if (s.stage, s.job) != ("report", "overview")]  # not this page
    done = sum(s.state == "done" for s in others)
    flagged = Counter()
    for s in status_states:
        for net, state in s.flags.items():
            flagged[(net, state)] += 1
    if config["pretrained"] == "required":
        weights = "pretrained: required (every network loads its published weights; the run stops otherwise)"
    else:
        weights = f"pretrained: {config['pretrained']}"
    weight_rows = [(net, state, n) for (net, state), n in sorted(flagged.items())]
    devices = job_devices(train_records)
    hw = host_hardware()
    hw_rows = [(k, ", ".join(v) if isinstance(v, list) else v) for k, v in hw.items()]
    hw_rows += [(k, ", ".join(f"{v} ({n} trained models)" for v, n in c.items()) or "-") for k, c in devices.items()]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>debiasqe run overview</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}td{padding:2px 8px;"
        "border-bottom:1px solid #ddd}pre{background:#f6f6f6;padding:8px;font-size:80%;max-height:30em;"
        "overflow:auto}.warn{color:#a40}</style></head><body>",
        "<h1>debiasqe: run overview</h1>",
        _table([("commit", commit), ("jobs done", f"{done} of {len(others)} (this page aside)"),
                ("train / test data", f"{config['train_dataset']} / {', '.join(config['test_datasets'])}"),
                ("codecs", "; ".join(f"{c} {s['levels']}" for c, s in config["codecs"].items())),
                ("methods", ", ".join(config["methods"])), ("metrics", ", ".join(config["metrics"])),
                ("device / seed", f"{config['device']} / {config['seed']}")]),
        "<h2>Weights</h2>", f"<p>{html.escape(weights)}</p>",
    ]
    if weight_rows:
        parts += ["<p class='warn'>Outputs computed with random-init or unavailable networks "
                  "(their numbers are not the paper's protocol):</p>",
                  _table([("network", "state", "jobs"), *weight_rows])]
    else:
        parts.append("<p>No output records a random-init or unavailable network.</p>")
    parts += ["<h2>Hardware</h2>", _table(hw_rows)]
    if curves_png and Path(curves_png).is_file():
        data = base64.b64encode(Path(curves_png).read_bytes()).decode("ascii")
        parts += ["<h2>Training curves</h2>", f"<img style='max-width:100%' src='data:image/png;base64,{data}'>"]
    parts += ["<h2>Config</h2>", f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>",
              "</body></html>"]
    write_text(out_path, "\n".join(parts))
