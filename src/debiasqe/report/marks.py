"""Marked values: a number with the marks that qualify it and their footnotes.

One mechanism for everything that must not pass for a plain measurement:
a number from a random-init network (this module's first use), a metric
that is unavailable, and, for the statistics work, few samples or an
interval. A mark has a key (stored in CSV files), a symbol (shown beside
the number in Markdown, HTML and figures), its LaTeX form and a footnote.

* :data:`MARKS` / :func:`register`: the known marks (keys are stable: they
  are written into the metrics CSV's ``marks`` column).
* :func:`encode` / :func:`decode`: the ``marks`` column of a metrics CSV,
  ``metric:key|key;metric:key`` (one string per row).
* :class:`Marked`: a value with its marks (and per-mark details, e.g. the n of
  ``few-samples``); :func:`cell_text` renders one for text or LaTeX;
  :func:`footnotes` lists the footnotes of the marks used, with their details.
* :func:`metric_marks`: the marks of each metric of one evaluation, from its
  provenance record (which weights produced it).
* :func:`count_marked_outputs`: how many metrics CSVs of a results folder
  carry a given mark (the run's last console lines).
"""

from __future__ import annotations

import csv
import math
import os
from html import escape
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core.atomic import write_text


@dataclass(frozen=True)
class Mark:
    key: str
    symbol: str
    latex: str
    note: str  # may hold "{detail}": where the details of the marked values go, e.g. " (n = 4)"
    #: a difference of marked values keeps the mark (:func:`carry`): true of what qualifies the
    #: measurement (random-init, few samples), not of a finding about the value itself
    carried: bool = True


MARKS: dict[str, Mark] = {}


def register(mark: Mark) -> Mark:
    if mark.key in MARKS and MARKS[mark.key] != mark:
        raise ValueError(f"mark {mark.key!r} already registered differently")
    MARKS[mark.key] = mark
    return mark


RANDOM_INIT = register(Mark("random-init", "\u2020", r"$^\dagger$", "random-init network: not a measurement"))
UNAVAILABLE = register(Mark("unavailable", "\u2021", r"$^\ddagger$",
                            "unavailable: the network's files are missing and it has no random-init form"))
# FID from fewer patches than evaluation.fid_min_samples (default 2048, the feature dimension):
# its covariance is rank-deficient and the estimate biased upwards by O(1/n) (Chong & Forsyth 2020).
FEW_SAMPLES = register(Mark("few-samples", "\u00a7", r"\textsuperscript{\S}",
                            "few samples{detail}: FID from fewer patches than evaluation.fid_min_samples, "
                            "biased upwards and noisy"))

# A debiased method whose mean differs from its vanilla method's beyond the noise of the test images:
# the paired bootstrap interval of the difference over the same images excludes 0 (report.paired).
DIFFERS = register(Mark("differs", "\u2016", r"$^{\|}$",
                        "differs from the vanilla method{detail}: the paired bootstrap interval of the mean "
                        "difference over the same images excludes 0", carried=False))


def get(key: str) -> Mark:
    try:
        return MARKS[key]
    except KeyError:
        raise ValueError(f"unknown mark {key!r}; known: {', '.join(sorted(MARKS))}") from None


def order(keys: Iterable[str]) -> tuple[str, ...]:
    """Unique keys in registration order (so a cell's symbols always read the same)."""
    keys = set(keys)
    for k in keys:
        get(k)
    return tuple(k for k in MARKS if k in keys)


@dataclass(frozen=True)
class Marked:
    """A value with its marks (keys of :data:`MARKS`) and statistics: the sample size ``n`` and
    ``interval`` (lo, hi), shown as ± half-width and written as ``<column>.n/.lo/.hi`` in tables."""

    value: Any
    marks: tuple[str, ...] = field(default=())
    #: (mark key, detail) pairs, e.g. (("few-samples", "n = 4"),): shown in the mark's footnote
    details: tuple[tuple[str, str], ...] = field(default=())
    n: float = math.nan
    interval: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "marks", order(self.marks))
        object.__setattr__(self, "details", tuple(sorted(set(self.details))))

    def __float__(self) -> float:
        return float(self.value)


def unmark(v: Any) -> Any:
    return v.value if isinstance(v, Marked) else v


def marks_of(v: Any) -> tuple[str, ...]:
    return v.marks if isinstance(v, Marked) else ()


def details_of(v: Any) -> tuple[tuple[str, str], ...]:
    return v.details if isinstance(v, Marked) else ()


def n_of(v: Any) -> float:
    return v.n if isinstance(v, Marked) else math.nan


def interval_of(v: Any) -> tuple[float, float] | None:
    return v.interval if isinstance(v, Marked) else None


def _interval(lo: Any, hi: Any) -> tuple[float, float] | None:
    """(lo, hi) as floats, None unless both are finite."""
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def with_marks(value: Any, marks: Iterable[str], details: Iterable[tuple[str, str]] = (),
               n: Any = math.nan, interval: tuple[Any, Any] | None = None) -> Any:
    """``Marked(value, marks, details, n, interval)``, or ``value`` itself without marks and
    statistics (NaN keeps its marks too). ``interval``: (lo, hi); dropped unless both are finite."""
    marks = order(marks)
    iv = _interval(*interval) if interval is not None else None
    try:
        n = float(n)
    except (TypeError, ValueError):
        n = math.nan
    if not marks and iv is None and math.isnan(n):
        return value
    return Marked(unmark(value), marks, tuple(d for d in details if d[0] in marks), n, iv)


def add_marks(value: Any, marks: Iterable[str], details: Iterable[tuple[str, str]] = ()) -> Any:
    """``value`` (marked or not) with further marks, keeping its own marks and statistics."""
    return with_marks(value, {*marks_of(value), *marks}, [*details_of(value), *details], n_of(value),
                      interval_of(value))


def carry(value: Any, *sources: Any) -> Any:
    """``value`` with the carried marks and details of every source (a difference of marked values);
    the sources' statistics do not describe ``value`` and stay behind."""
    keys = {k for s in sources for k in marks_of(s) if get(k).carried}
    return with_marks(value, keys, [d for s in sources for d in details_of(s)])


def sample_details(marks: Iterable[str], n: Any) -> tuple[tuple[str, str], ...]:
    """The detail of a ``few-samples`` mark: its sample size (nothing without the mark or an n)."""
    try:
        n = float(n)
    except (TypeError, ValueError):
        return ()
    if FEW_SAMPLES.key not in tuple(marks) or not math.isfinite(n):
        return ()
    return ((FEW_SAMPLES.key, f"n = {int(n)}"),)


def symbols(marks: Iterable[str], latex: bool = False) -> str:
    return "".join(get(k).latex if latex else get(k).symbol for k in order(marks))


def cell_text(text: str, marks: Iterable[str], latex: bool = False) -> str:
    """An already formatted number followed by its marks' symbols."""
    return text + symbols(marks, latex)


def _n_key(detail: str):
    """Details in numeric order ("n = 4" before "n = 16")."""
    num = detail.rpartition(" ")[2]
    return (0, float(num), detail) if num.replace(".", "", 1).isdigit() else (1, 0.0, detail)


def footnotes(marks_used: Iterable[str], latex: bool = False,
              details: Iterable[tuple[str, str]] = ()) -> list[str]:
    """One line per mark used: symbol and note, with the details of its values, e.g.
    "§ few samples (n = 4, 8): ..." (LaTeX-escaped by the caller if needed)."""
    details = tuple(details)
    return [f"{get(k).latex if latex else get(k).symbol} {note_text(k, details)}" for k in order(marks_used)]


def note_text(key: str, details: Iterable[tuple[str, str]] = ()) -> str:
    """A mark's note with the details of its values in place of ``{detail}``."""
    ds = sorted({d for k, d in details if k == key}, key=_n_key)
    return get(key).note.replace("{detail}", f" ({', '.join(ds)})" if ds else "")


def panel_title(title: str, marks_used: Iterable[str]) -> str:
    """A figure panel's title with the symbols of the marks of the values it shows."""
    return title + symbols(marks_used)


def figure_note(fig, marks_used: Iterable[str], details: Iterable[tuple[str, str]] = ()) -> None:
    """The footnotes of the marks a figure shows, as its top lines (nothing without marks)."""
    lines = footnotes(marks_used, details=details)
    if lines:
        fig.suptitle("\n".join(lines), fontsize=6.5, color="#b00020")  # one line each: long notes fit


# --- the metrics CSV's ``marks`` column --------------------------------------------------------------

def encode(per_metric: Mapping[str, Iterable[str]]) -> str:
    """``{"lpips": ["random-init"], "psnr": []}`` -> ``"lpips:random-init"``."""
    parts = []
    for metric in sorted(per_metric):
        keys = order(per_metric[metric])
        if keys:
            parts.append(f"{metric}:{'|'.join(keys)}")
    return ";".join(parts)


def decode(text: Any) -> dict[str, tuple[str, ...]]:
    """Inverse of :func:`encode` (empty / NaN -> ``{}``)."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return {}
    out = {}
    for part in str(text).split(";"):
        metric, _, keys = part.partition(":")
        if not keys:
            raise ValueError(f"marks {text!r}: {part!r} is not metric:key")
        out[metric.strip()] = order(k.strip() for k in keys.split("|"))
    return out


def few_samples(n, least) -> bool:
    """The rule of the ``few-samples`` mark: a set-level value from fewer than ``least`` samples."""
    return n is not None and least is not None and n < least


def metric_marks(evaluation: Mapping | None) -> dict[str, tuple[str, ...]]:
    """Marks per metric from an evaluation's provenance (``metrics.<m>.status``, ``fid.weights``,
    ``fid.n`` below ``fid.min_samples``)."""
    out: dict[str, tuple[str, ...]] = {}
    if not evaluation:
        return out
    for name, rec in (evaluation.get("metrics") or {}).items():
        status = (rec or {}).get("status")
        if status in (RANDOM_INIT.key, UNAVAILABLE.key):
            out[name] = (status,)
    fid = evaluation.get("fid")
    if isinstance(fid, Mapping):
        keys = [RANDOM_INIT.key] if fid.get("weights") == RANDOM_INIT.key else []
        if few_samples(fid.get("n"), fid.get("min_samples")):
            keys.append(FEW_SAMPLES.key)
        if keys:
            out["fid"] = order(keys)
    return out


def count_marked_outputs(results_root: str | os.PathLike, key: str = RANDOM_INIT.key) -> int:
    """Metrics CSVs under ``results_root/metrics`` whose ``marks`` column carries ``key``."""
    n = 0
    for p in Path(results_root, "metrics").rglob("*.csv"):
        try:
            with open(p, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError:
            continue
        if any(key in keys for r in rows for keys in decode(r.get("marks")).values()):
            n += 1
    return n


# --- the report's banner ----------------------------------------------------------------------------

def banner_lines(policy: str, missing: Iterable[tuple[str, str]] = ()) -> list[str]:
    """What the top of report.html says when numbers in it are no measurements (else nothing).

    ``missing``: (network, file) of the pretrained files the run goes without.
    """
    if policy == "random":
        return [f"pretrained: random: every learned network (VGG-19 losses, metric networks, FID's Inception) "
                f"ran random-init; their numbers ({RANDOM_INIT.symbol}) are not measurements."]
    missing = list(missing)
    if not missing:
        return []
    nets = ", ".join(dict.fromkeys(net for net, _ in missing))
    return [f"Not measurements: the numbers of {nets} come from random-init networks (or are unavailable), "
            f"marked {RANDOM_INIT.symbol} / {UNAVAILABLE.symbol} in every table and figure.",
            f"Missing pretrained files: {', '.join(f for _, f in missing)}. Fetch them "
            "(snakemake -f fetch_weights; README, 'Pretrained weights') and rerun snakemake: "
            "exactly the affected outputs are remade."]


def landing_page(template: str | os.PathLike, dest: str | os.PathLike, lines: list[str]) -> str:
    """``template`` (the report's landing rst) with ``lines`` as a banner above it, written to ``dest``
    (only when changed); returns the path to use as the report text."""
    text = Path(template).read_text()
    if lines:
        body = "<br>".join(escape(ln) for ln in lines)
        text = (".. raw:: html\n\n   <div style=\"border:2px solid #b00020;background:#fde7ea;color:#600;"
                f"padding:8px;margin-bottom:12px;font-weight:bold\">{body}</div>\n\n" + text)
    p = Path(dest).absolute()
    if not p.is_file() or p.read_text() != text:
        write_text(p, text)
    return str(p)
