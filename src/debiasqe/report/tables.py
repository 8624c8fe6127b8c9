"""The paper's tables from our result files, with the paper's values beside ours.

Every writer takes the upstream result files (paths, lists of paths, or the
tidy DataFrames of :mod:`debiasqe.report.results`), writes
``{out_stem}.csv``, ``{out_stem}.md`` and ``{out_stem}.tex`` (booktabs)
atomically, and returns the table as a DataFrame (the CSV's content).

Layout: where the paper has a cell, each of our rows is followed by a
``paper`` row and an ``ours-paper`` row, so reproduced and published values
sit next to each other in every format. The CSV keeps full precision; the
Markdown and LaTeX show three significant figures. A value that could not
be computed is ``n/a`` with a numbered footnote giving the reason (CSV: an
empty cell and the reason in the ``notes`` column). A value that is no
measurement (:mod:`debiasqe.report.marks`: e.g. from a random-init network)
carries its mark's symbol (``†``) and footnote in Markdown and LaTeX, and is
listed in the CSV's ``marks`` column (``column:mark``). An FID from few
patches carries ``§`` and a footnote with its n ("few samples (n = 4)").

Statistics (:mod:`debiasqe.report.marks` ``Marked``): a value carries its n and
interval; the CSV has ``<column>.n``, ``<column>.lo``, ``<column>.hi`` for every
column where a cell has them, the Markdown and LaTeX show ``value ± half-width``
with ``statistics.show_intervals``, and the titles give n (images; FID:
patches). Tables 3 and 5 compare each debiased method with its vanilla method
over the same images (:mod:`debiasqe.report.paired`): Table 3 in a ``Δ vs.
vanilla`` row, Table 5 in its Δ PSNR column; a difference whose interval
excludes 0 is marked ``‖`` on the debiased value.

With several training seeds (``training.seeds``) a value is the mean over a
method's runs, and Tables 3 and 5 give the runs' sample standard deviation
across seeds (``seed_spread`` of :func:`debiasqe.report.results.over_seeds`):
Table 3 as an ``sd over seeds`` row under each metric's ``ours`` row, Table
5 as ``fid_seed_spread`` / ``psnr_seed_spread`` columns. With one seed the
tables are as before.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from ..core import atomic
from .bdrate import bd_rate
from ..core.errors import ConfigError
from . import marks as mk
from . import paper_values as pv
from .labels import level_key, method_label, metric_label, order_methods, order_metrics
from .results import ResultFileError, Source, read_domains, read_metrics, read_rates, read_realism
from .results import select_setting as _select

SOURCES = {"ours": ("ours", "ours", "ours"),
           "seed_spread": ("seed-sd", "sd over seeds", "sd over seeds"),
           "vs_vanilla": ("vs-vanilla", "Δ vs. vanilla", r"$\Delta$ vs.\ vanilla"),
           "paper": ("paper", "paper", "paper"),
           "diff": ("ours-paper", "ours − paper", r"ours$-$paper")}
DASH = "–"


# --------------------------------------------------------------------- formatting

def fmt_sig(x: Any, sig: int = 3, signed: bool = False) -> str:
    """``x`` to ``sig`` significant figures, fixed-point, as the paper prints.

    ``fmt_sig(9.7301) == "9.73"``, ``fmt_sig(10.34) == "10.3"``,
    ``fmt_sig(0.4331) == "0.433"``, ``fmt_sig(9.996) == "10.0"``,
    ``fmt_sig(1234.5) == "1230"``, ``fmt_sig(5.7, signed=True) == "+5.70"``.
    NaN/None -> "–"; tiny values (< 1e-4) use scientific notation.
    """
    if x is None:
        return DASH
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return DASH
    if math.isinf(v):
        return ("+" if signed and v > 0 else "") + ("inf" if v > 0 else "-inf")
    sign = "+" if signed and v > 0 else ""
    if v == 0:
        return "0" if sig <= 1 else "0." + "0" * (sig - 1)
    r = float(f"{v:.{sig}g}")  # round first so 9.996 -> 10.0 keeps 3 s.f.
    mag = math.floor(math.log10(abs(r)))
    if mag < -4:
        return sign + f"{r:.{sig - 1}e}"
    decimals = sig - 1 - mag
    if decimals >= 0:
        return sign + f"{r:.{decimals}f}"
    return sign + str(int(round(r, decimals)))


# --------------------------------------------------------------------- table model

@dataclass
class Col:
    key: str
    label: str
    latex: str | None = None
    kind: str = "num"  # "num" | "int" | "text"
    signed: bool = False


@dataclass
class Cell:
    """A number with a footnote (NaN: shown as n/a)."""

    value: float
    note: str


@dataclass
class Table:
    title: str
    columns: list[Col]
    rows: list[dict] = field(default_factory=list)
    group_keys: tuple[str, ...] = ()  # rule between rows where these change
    notes: list[str] = field(default_factory=list)
    #: Markdown and LaTeX cells show "value ± half-width" (statistics.show_intervals); the CSV always
    #: has the bounds
    show_intervals: bool = False

    def stat_columns(self) -> list[str]:
        """``<column>.n/.lo/.hi`` of the columns where some cell has an n or an interval."""
        out = []
        for c in self.columns:
            cells = [self_row.get(c.key) for self_row in self.rows]
            if any(not math.isnan(mk.n_of(v)) for v in cells):
                out.append(f"{c.key}.n")
            if any(mk.interval_of(v) is not None for v in cells):
                out += [f"{c.key}.lo", f"{c.key}.hi"]
        return out

    def frame(self) -> pd.DataFrame:
        recs = []
        stats = self.stat_columns()
        for r in self.rows:
            rec, notes, marked = {}, {}, {}
            for c in self.columns:
                v = r.get(c.key)
                if mk.marks_of(v):
                    marked[c.key] = mk.marks_of(v)
                iv = mk.interval_of(v) or (math.nan, math.nan)
                for stat, x in (("n", mk.n_of(v)), ("lo", iv[0]), ("hi", iv[1])):
                    if f"{c.key}.{stat}" in stats:
                        rec[f"{c.key}.{stat}"] = x
                v = mk.unmark(v)
                if isinstance(v, Cell):
                    notes.setdefault(v.note, []).append(c.key)
                    v = v.value
                if c.key == "source":
                    v = SOURCES.get(v, (v,))[0]
                rec[c.key] = v
            rec["notes"] = "; ".join(f"{', '.join(keys)}: {note}" for note, keys in notes.items())
            rec["marks"] = mk.encode(marked)
            recs.append(rec)
        df = pd.DataFrame(recs, columns=[c.key for c in self.columns] + stats + ["notes", "marks"])
        for extra in ("notes", "marks"):
            if not df[extra].astype(bool).any():
                df = df.drop(columns=extra)
        return df


def _esc(s: str) -> str:
    out = str(s)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("−", "$-$"),
                 ("Δ", r"$\Delta$"), ("×", r"$\times$"), ("²", r"$^2$"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$")):
        out = out.replace(a, b)
    return out


def _render_cells(table: Table, latex: bool) -> tuple[list[list[str]], list[str], list[int], set[str], set]:
    """Formatted cells, footnote texts, row indices that start a new group, marks used, their details."""
    notes: list[str] = []
    used: set[str] = set()
    details: set[tuple[str, str]] = set()
    body, starts, prev = [], [], None
    for i, r in enumerate(table.rows):
        gk = tuple(r.get(k) for k in table.group_keys)
        if i and gk != prev:
            starts.append(i)
        line = []
        for c in table.columns:
            v = r.get(c.key)
            if c.kind == "int":
                line.append(DASH if v is None or math.isnan(_num(v)) else str(int(_num(v))))
                continue
            if c.kind == "text":
                if c.key == "source":
                    s = SOURCES.get(v, (v, v, v))[2 if latex else 1]
                    line.append(s)
                    continue
                same = i and table.group_keys and c.key in table.group_keys and gk == prev
                s = "" if same else str(v if v is not None else "")
                line.append(_esc(s) if latex else s)
                continue
            marker = ""
            cell_marks = mk.marks_of(v)
            used.update(cell_marks)
            details.update(mk.details_of(v))
            iv = mk.interval_of(v) if table.show_intervals else None
            v = mk.unmark(v)
            if isinstance(v, Cell):
                if v.note not in notes:
                    notes.append(v.note)
                n = notes.index(v.note) + 1
                marker = f"\\textsuperscript{{{n}}}" if latex else f" [{n}]"
                v = v.value
            s = fmt_sig(v, signed=c.signed or r.get("source") == "diff")
            if marker and s == DASH:
                s = "n/a"
            if iv is not None and s not in (DASH, "n/a"):
                s += (r" $\pm$ " if latex else " ± ") + fmt_sig((iv[1] - iv[0]) / 2, sig=2)
            line.append(mk.cell_text((s.replace("−", "-") if latex else s) + marker, cell_marks, latex))
        body.append(line)
        prev = gk
    return body, notes, starts, used, details


def to_markdown(table: Table) -> str:
    body, notes, _, used, details = _render_cells(table, latex=False)
    head = [c.label for c in table.columns]
    align = [":--" if c.kind == "text" else "--:" for c in table.columns]
    lines = [f"**{table.title}**", "", "| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    if notes or table.notes or used:
        lines.append("")
        lines += [f"{n}  " for n in mk.footnotes(used, details=details)]
        lines += [f"[{i}] {n}  " for i, n in enumerate(notes, 1)]
        lines += [f"{n}  " for n in table.notes]
    return "\n".join(lines) + "\n"


def to_latex(table: Table) -> str:
    body, notes, starts, used, details = _render_cells(table, latex=True)
    spec = "".join("l" if c.kind == "text" else "r" for c in table.columns)
    head = " & ".join(c.latex if c.latex is not None else _esc(c.label) for c in table.columns)
    out = ["% generated by debiasqe.report.tables; needs \\usepackage{booktabs}",
           "\\begin{table}[t]", "\\centering", "\\small",
           f"\\caption{{{_esc(table.title)}}}",
           f"\\begin{{tabular}}{{{spec}}}", "\\toprule", head + " \\\\", "\\midrule"]
    for i, row in enumerate(body):
        if i in starts:
            out.append("\\midrule")
        out.append(" & ".join(row) + " \\\\")
    out.append("\\bottomrule")
    out.append("\\end{tabular}")
    if notes or table.notes or used:
        out.append("\\par\\footnotesize")
        out += [f"{mk.get(k).latex} {_esc(mk.note_text(k, details))}\\\\" for k in mk.order(used)]
        out += [f"\\textsuperscript{{{i}}}{_esc(n)}\\\\" for i, n in enumerate(notes, 1)]
        out += [f"{_esc(n)}\\\\" for n in table.notes]
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    table.frame().to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buf.getvalue()


def write_table(table: Table, out_stem: str | os.PathLike) -> pd.DataFrame:
    """Write ``{out_stem}.csv/.md/.tex`` atomically; return the CSV's DataFrame."""
    stem = os.fspath(out_stem)
    for ext, text in ((".csv", to_csv(table)), (".md", to_markdown(table)), (".tex", to_latex(table))):
        atomic.write_text(stem + ext, text)
    return table.frame()


# --------------------------------------------------------------------- helpers

def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _cellval(v) -> float:
    v = mk.unmark(v)
    return _num(v.value) if isinstance(v, Cell) else _num(v)


def _triplet(ours: dict, paper: dict | None, keys: Sequence[str]) -> list[dict]:
    """ours row, then paper and ours-paper rows where the paper has values."""
    rows = [{**ours, "source": "ours"}]
    if paper is not None and any(not math.isnan(_num(paper.get(k))) for k in keys):
        prow = {k: v for k, v in ours.items() if k not in keys}
        rows.append({**prow, "source": "paper", **{k: _num(paper.get(k)) for k in keys}})
        rows.append({**prow, "source": "diff",
                     **{k: mk.carry(_cellval(ours.get(k)) - _num(paper.get(k)), ours.get(k)) for k in keys}})
    return rows


def _marks_by(df: pd.DataFrame, *keys: str) -> dict[tuple, tuple[str, ...]]:
    """Union of the ``marks`` (read_metrics) of the rows sharing ``keys`` (e.g. method, metric)."""
    out: dict[tuple, set] = {}
    if "marks" not in df.columns:
        return {}
    for rec in df[[*keys, "marks"]].itertuples(index=False):
        out.setdefault(tuple(rec[:-1]), set()).update(rec[-1] or ())
    return {k: mk.order(v) for k, v in out.items()}


def _seed_count(df: pd.DataFrame) -> int:
    """The most training seeds any value averages (1: one seed, the tables as before)."""
    return int(df["seeds"].max()) if "seeds" in df.columns and len(df) and df["seeds"].notna().any() else 1


def _seed_note(n_seeds: int) -> str:
    return (f"Trained methods: mean over {n_seeds} training seeds (runs method@seedS); sd over seeds = "
            "sample standard deviation (n − 1) of the runs' values, the spread from training alone.")


def _spread_cell(method: str, sd, runs, n_seeds: int):
    """A trained method's seed spread, with a footnote where fewer than ``n_seeds`` runs gave a
    value (comp is trained by nobody: no spread, no footnote)."""
    runs = 0 if math.isnan(_num(runs)) else int(_num(runs))
    if method == "comp" or runs >= n_seeds:
        return _num(sd)
    return Cell(_num(sd), f"{runs} of {n_seeds} seeds gave a value")


def _details_by(df: pd.DataFrame, *keys: str) -> dict[tuple, tuple]:
    """The mark details (the n of few-samples) of the rows sharing ``keys``, from read_metrics' n."""
    out: dict[tuple, set] = {}
    if "marks" not in df.columns or "n" not in df.columns:
        return {}
    for rec in df[[*keys, "marks", "n"]].itertuples(index=False):
        out.setdefault(tuple(rec[:-2]), set()).update(mk.sample_details(rec[-2] or (), rec[-1]))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _stats_by(df: pd.DataFrame, *keys: str) -> dict[tuple, tuple[float, float, float]]:
    """(n, lo, hi) of read_metrics' rows by ``keys`` (NaN where absent)."""
    if "n" not in df.columns:
        return {}
    cols = [c if c in df.columns else None for c in ("n", "lo", "hi")]
    out = {}
    for _, r in df.iterrows():
        out[tuple(r[k] for k in keys)] = tuple(_num(r[c]) if c else math.nan for c in cols)
    return out


def _value_cell(value, marks=(), details=(), stats=(math.nan, math.nan, math.nan)):
    """A value with its marks, its n and its interval (see :func:`debiasqe.report.marks.with_marks`)."""
    n, lo, hi = stats
    return mk.with_marks(_num(value), marks, details, n, (lo, hi))


def _count_span(values) -> str:
    """The sample sizes in ``values`` as "100" or "80–100" where they differ; "" without any."""
    v = sorted({int(x) for x in pd.to_numeric(values, errors="coerce").dropna()})
    return "" if not v else str(v[0]) if len(v) == 1 else f"{v[0]}–{v[-1]}"


def _n_text(df: pd.DataFrame, metric_names: Sequence[str]) -> str:
    """The sample sizes of a table's values for its title: images of the per-image metrics, patches
    of FID ("n = 100 images; FID: n = 800 patches"), empty where read_metrics gives no n."""
    if "n" not in df.columns:
        return ""
    sub = df[df["metric"].isin(metric_names)]
    images, patches = _count_span(sub[sub.metric != "fid"]["n"]), _count_span(sub[sub.metric == "fid"]["n"])
    parts = ([f"n = {images} images"] if images else []) + ([f"FID: n = {patches} patches"] if patches else [])
    return "; ".join(parts)


def _interval_note(statistics: Mapping | None) -> str:
    st = statistics or {}
    what = (f"{st.get('confidence', 0.95):.0%} percentile bootstrap interval over images (FID: patches resampled "
            "with their image)")
    if st.get("show_intervals"):
        return f"± half-width of the {what}; the CSV holds the bounds (<column>.lo, .hi) and n (<column>.n)."
    return (f"The CSV holds each value's n and {what} as <column>.n, .lo, .hi "
            "(statistics.show_intervals: true shows ± half-widths here).")


def _paired_cells(metrics: Source, vanilla: Mapping[str, str] | None, statistics: Mapping | None,
                  sel: dict) -> dict[tuple[str, str], object]:
    """{(method, metric): Δ vs vanilla} at the selected setting: the mean paired difference with its
    interval and n, marked :data:`~debiasqe.report.marks.DIFFERS` where the interval excludes 0."""
    if not vanilla or isinstance(metrics, pd.DataFrame):  # a tidy frame has no per-image values
        return {}
    from .paired import paired_differences  # per-image reading only where there are pairs

    pd_ = paired_differences(metrics, vanilla, statistics, **sel)
    return {(r.method, r.metric): differs(mk.with_marks(r.diff, (), (), r.n, (r.lo, r.hi)), r.marked,
                                          r.n, (statistics or {}).get("confidence", 0.95))
            for r in pd_.itertuples()}


def _few_images_note(paired: dict, statistics: Mapping | None) -> list[str]:
    """Why no difference is marked where the comparisons rest on fewer than paired_min_images images."""
    least = (statistics or {}).get("paired_min_images", 10)
    ns = sorted({int(mk.n_of(c)) for c in paired.values() if mk.n_of(c) < least})
    if not ns:
        return []
    return [f"{mk.DIFFERS.symbol} not given from n = {', '.join(map(str, ns))} images "
            f"(< statistics.paired_min_images = {least}): a bootstrap over so few images cannot tell a "
            "difference from noise."]


def differs(cell, marked: bool, n, confidence: float):
    """``cell`` with the differs mark where the paired comparison says so (interval excludes 0, enough
    images: :func:`debiasqe.report.paired.paired_differences`' ``marked``)."""
    if not marked:
        return cell
    return mk.add_marks(cell, [mk.DIFFERS.key], [(mk.DIFFERS.key, f"{confidence:.0%}, n = {int(n)} images")])


def _check_directions(metrics: Sequence[str], directions: Mapping[str, bool], what: str) -> None:
    missing = [m for m in metrics if m not in directions]
    if missing:
        raise ConfigError(f"{what}: no direction (lower_better) for metric(s) {', '.join(missing)}")


def _arrow(metric: str, directions: Mapping[str, bool]) -> str:
    return ("↓ " if directions[metric] else "↑ ") + metric_label(metric)


# --------------------------------------------------------------------- Tables 1 and 2

def _patch_count_text(df: pd.DataFrame) -> str:
    """" n = 24 patches per image set" (a range where rows differ); empty where files lack the count."""
    span = _count_span(df["n"]) if "n" in df.columns else ""
    return f" n = {span} patches per image set." if span else ""


_REALISM_COLS = ["raw", "enhanced", "enh_minus_raw", "compressed", "comp_minus_raw"]
_SCORE_LABEL = {"relativistic": "RaGAN", "sigmoid": "σ"}


def _realism_table(realism: Source, out_stem, conditional: bool, methods, title: str, paper_df) -> pd.DataFrame:
    df = read_realism(realism)
    df = df[df["conditional"].astype(bool) == conditional]
    if methods is not None:
        df = df[df["method"].isin(methods)]
    cols = [Col("method", "Method", kind="text"), Col("dataset", "Dataset", kind="text"),
            Col("codec", "Codec", kind="text"), Col("level", "Level", kind="text"),
            Col("score", "Score", kind="text"), Col("source", "", kind="text"),
            Col("raw", "Raw"), Col("enhanced", "Enh."), Col("enh_minus_raw", "Enh. − raw", signed=True),
            Col("compressed", "Comp."), Col("comp_minus_raw", "Comp. − raw", signed=True)]
    t = Table(title, cols, group_keys=("method", "dataset", "codec", "level"))
    order = {m: i for i, m in enumerate(order_methods(df["method"]))}
    df = df.assign(_o=df["method"].map(order), _l=df["level"].map(level_key)).sort_values(
        ["_o", "dataset", "codec", "_l"])
    for _, r in df.iterrows():
        ours = {"method": method_label(r.method), "dataset": r.dataset, "codec": r.codec, "level": r.level,
                "score": _SCORE_LABEL.get(r.get("score"), r.get("score", "σ")), "raw": r.raw, "enhanced": r.enhanced, "enh_minus_raw": r.enhanced - r.raw,
                "compressed": r.compressed, "comp_minus_raw": r.compressed - r.raw}
        paper = None
        pds = pv.paper_dataset(r.dataset)
        if pds and pv.matches_setting(r.codec, r.level):
            hit = paper_df[(paper_df.method == r.method) & (paper_df.dataset == pds)]
            paper = None if hit.empty else hit.iloc[0].to_dict()
        t.rows += _triplet(ours, paper, _REALISM_COLS)
    t.notes.append("Realism: mean discriminator output over non-overlapping patches of the training patch size "
                   "(128×128 in the paper); higher = judged more real." + _patch_count_text(df))
    t.notes.append("Score RaGAN (relativistic discriminator, ESRGAN recipe): raw and compressed patches "
                   "σ(C(x) − mean C(enhanced)), enhanced patches σ(C(x) − mean C(raw)), as the discriminator "
                   "was trained; raw + enhanced ≈ 1. Score σ (per-pixel BCE discriminator, Real-ESRGAN "
                   "recipe): σ(C(x)) averaged over pixels.")
    if _seed_count(df) > 1:
        t.notes.append(f"Scores: the mean over {_seed_count(df)} training seeds (each seed's discriminator).")
    return write_table(t, out_stem)


def table1_realism(realism: Source, out_stem, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 1: realism of raw, enhanced and compressed images by the baselines'
    (unconditional) discriminators, with enhanced/compressed minus raw."""
    return _realism_table(realism, out_stem, False, methods,
                          "Table 1: discriminator realism scores (unconditional discriminators)", pv.table1())


def table2_realism_conditional(realism: Source, out_stem, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 2: the same scores from our conditional discriminator D(I|I_C)."""
    return _realism_table(realism, out_stem, True, methods,
                          "Table 2: realism scores by the conditional discriminator of our method", pv.table2())


# --------------------------------------------------------------------- Table 3

def table3_quality(metrics: Source, out_stem, directions: Mapping[str, bool],
                   methods: Sequence[str] | None = None, metric_names: Sequence[str] | None = None,
                   dataset: str | None = None, codec: str | None = None, level=None,
                   vanilla: Mapping[str, str] | None = None, statistics: Mapping | None = None) -> pd.DataFrame:
    """Table 3: every metric (rows, ↑/↓) for comp and every method (columns) at one
    (dataset, codec, level); paper and ours-paper rows at BPG QP 37 on DIV2K.

    Values carry their n and interval; with ``vanilla`` ({debiased: vanilla method}) a
    ``Δ vs. vanilla`` row under each per-image metric gives the debiased methods' mean paired
    difference (:mod:`debiasqe.report.paired`), and a debiased value whose difference excludes 0
    is marked ``‖``. ``statistics``: the config's section (confidence, replicates, seed,
    show_intervals)."""
    df, sel = _select(read_metrics(metrics), "table3", dataset=dataset, codec=codec, level=level)
    methods = list(methods) if methods is not None else order_methods(df["method"])
    metric_names = list(metric_names) if metric_names is not None else order_metrics(df["metric"])
    _check_directions(metric_names, directions, "table3")
    grid = df.pivot_table(index="metric", columns="method", values="value", aggfunc="first", dropna=False)
    marked, details = _marks_by(df, "method", "metric"), _details_by(df, "method", "metric")
    stats = _stats_by(df, "method", "metric")
    paired = _paired_cells(metrics, {m: v for m, v in (vanilla or {}).items() if m in methods and v in methods},
                           statistics, sel)
    n_seeds = _seed_count(df)
    spread = {(r.method, r.metric): (r.seed_spread, r.seeds) for r in df.itertuples()} if n_seeds > 1 else {}
    paper = pv.table3() if (pv.paper_dataset(sel["dataset"]) == "DIV2K"
                            and pv.matches_setting(sel["codec"], sel["level"])) else None
    cols = [Col("metric", "Metric", kind="text"), Col("source", "", kind="text")]
    cols += [Col(m, method_label(m)) for m in methods]
    title = f"Table 3: quality on {sel['dataset']}, {sel['codec']} level {sel['level']}"
    if n_seeds > 1:
        title += f", mean over {n_seeds} training seeds"
    if _n_text(df, metric_names):
        title += f" ({_n_text(df, metric_names)})"
    t = Table(title, cols, group_keys=("metric",), show_intervals=bool((statistics or {}).get("show_intervals")))
    for metric in metric_names:
        vals = {m: (grid.at[metric, m] if metric in grid.index and m in grid.columns else math.nan)
                for m in methods}
        ours = {"metric": _arrow(metric, directions)}
        if all(math.isnan(_num(v)) for v in vals.values()):
            ours.update({m: Cell(math.nan, f"{metric} unavailable (all values NaN)") for m in methods})
        else:
            for m, v in vals.items():
                key = (m, metric)
                ours[m] = Cell(math.nan, f"no {m} result for this setting") if (
                    m not in grid.columns or metric not in grid.index) else _value_cell(
                        v, marked.get(key, ()), details.get(key, ()), stats.get(key, (math.nan,) * 3))
                if key in paired:
                    ours[m] = differs(ours[m], mk.DIFFERS.key in mk.marks_of(paired[key]), mk.n_of(paired[key]),
                                      (statistics or {}).get("confidence", 0.95))
        prow = None
        if paper is not None and metric in paper.index:
            prow = {m: paper.at[metric, m] if m in paper.columns else math.nan for m in methods}
        rows = _triplet(ours, prow, methods)
        if any((m, metric) in paired for m in methods):
            rows.insert(1, {"metric": ours["metric"], "source": "vs_vanilla",
                            **{m: paired.get((m, metric), math.nan) for m in methods}})
        if spread:
            rows.insert(1, {"metric": ours["metric"], "source": "seed_spread",
                            **{m: _spread_cell(m, *spread.get((m, metric), (math.nan, 0)), n_seeds) for m in methods}})
        t.rows += rows
    t.notes.append("↑ higher is better, ↓ lower is better; three significant figures.")
    if paired:
        t.notes.append("Δ vs. vanilla: a debiased method's mean minus its vanilla method's over the same images "
                       "(" + ", ".join(f"{method_label(m)} − {method_label(v)}" for m, v in vanilla.items()
                                       if m in methods and v in methods) + "), with its paired bootstrap interval.")
        t.notes += _few_images_note(paired, statistics)
    if any(mk.interval_of(r.get(m)) is not None for r in t.rows for m in methods):
        t.notes.append(_interval_note(statistics))
    if n_seeds > 1:
        t.notes.append(_seed_note(n_seeds))
    return write_table(t, out_stem)


# --------------------------------------------------------------------- Table 4

def bdrate_frame(metrics: Source, rates: Source, directions: Mapping[str, bool], codec: str,
                 dataset: str | None = None, methods: Sequence[str] | None = None,
                 metric_names: Sequence[str] | None = None, interp: str = "pchip") -> pd.DataFrame:
    """BD-BR (%) of every method against ``comp``: columns method, metric, value, reason, note, marks
    (the union of both curves' marks: a BD-BR from a random-init metric is no measurement either),
    details (the marks' details, e.g. the n of few-samples)."""
    q, sel = _select(read_metrics(metrics), "table4", dataset=dataset, codec=codec)
    r, _ = _select(read_rates(rates), "table4 rates", dataset=sel["dataset"], codec=sel["codec"])
    bpp = {str(k): v for k, v in zip(r["level"], r["bpp"])}
    if "comp" not in set(q["method"]):
        raise ResultFileError(f"table4: no metrics for the anchor 'comp' ({sel['dataset']}, {sel['codec']})")
    methods = [m for m in (methods if methods is not None else order_methods(q["method"])) if m != "comp"]
    metric_names = list(metric_names) if metric_names is not None else order_metrics(q["metric"])
    _check_directions(metric_names, directions, "table4")

    marked, details = _marks_by(q, "method", "metric"), _details_by(q, "method", "metric")

    def curve(method, metric):
        s = q[(q.method == method) & (q.metric == metric)]
        s = s[s["level"].astype(str).isin(bpp)]
        return [bpp[str(lv)] for lv in s["level"]], list(s["value"])

    out = []
    for metric in metric_names:
        ra, qa = curve("comp", metric)
        for m in methods:
            rt, qt = curve(m, metric)
            res = bd_rate(ra, qa, rt, qt, lower_better=bool(directions[metric]), method=interp)
            out.append({"method": m, "metric": metric, "value": res.value, "reason": res.reason,
                        "note": res.note,
                        "marks": mk.order({*marked.get(("comp", metric), ()), *marked.get((m, metric), ())}),
                        "details": tuple(sorted({*details.get(("comp", metric), ()),
                                                 *details.get((m, metric), ())}))})
    return pd.DataFrame(out, columns=["method", "metric", "value", "reason", "note", "marks", "details"])


def table4_bdbr(metrics: Source, rates: Source, out_stem, directions: Mapping[str, bool], codec: str,
                dataset: str | None = None, methods: Sequence[str] | None = None,
                metric_names: Sequence[str] | None = None, interp: str = "pchip") -> pd.DataFrame:
    """Table 4 (``table4_bdbr_{codec}``): BD-BR (%) of every method vs ``comp`` for every
    metric over all levels of ``codec``; NaN cells carry their reason as a footnote."""
    qdf = read_metrics(metrics)
    bd = bdrate_frame(qdf, rates, directions, codec, dataset, methods, metric_names, interp)
    q, sel = _select(qdf, "table4", dataset=dataset, codec=codec)
    methods = list(dict.fromkeys(bd["method"]))
    paper = pv.table4() if (pv.paper_dataset(sel["dataset"]) == "DIV2K"
                            and pv.matches_setting(sel["codec"])) else None
    cols = [Col("metric", "Metric", kind="text"), Col("source", "", kind="text")]
    cols += [Col(m, method_label(m), signed=True) for m in methods]
    n_text = _n_text(q, list(dict.fromkeys(bd["metric"])))
    t = Table(f"Table 4: BD-BR (%) vs. compressed, {sel['codec']} on {sel['dataset']} ({interp})"
              + (f" ({n_text} per level)" if n_text else ""), cols, group_keys=("metric",))
    for metric in dict.fromkeys(bd["metric"]):
        sub = bd[bd.metric == metric].set_index("method")
        ours = {"metric": metric_label(metric)}
        for m in methods:
            row = sub.loc[m]
            if isinstance(row.reason, str) and row.reason:
                ours[m] = Cell(math.nan, row.reason)
            elif isinstance(row.note, str) and row.note:
                ours[m] = Cell(row.value, row.note)
            else:
                ours[m] = row.value
            ours[m] = mk.with_marks(ours[m], row.marks, row.details)
        prow = None
        if paper is not None and metric in paper.index:
            prow = {m: paper.at[metric, m] if m in paper.columns else math.nan for m in methods}
        t.rows += _triplet(ours, prow, methods)
    t.notes.append("Negative: fewer bits than the compressed images for the same quality. "
                   "Lower-is-better metrics are negated before interpolation.")
    if _seed_count(q) > 1:
        t.notes.append(f"Quality at each level: the mean over {_seed_count(q)} training seeds.")
    return write_table(t, out_stem)


# --------------------------------------------------------------------- Table 5

def _delta(a, b):
    """a - b, marked with both operands' marks."""
    return mk.carry(_num(a) - _num(b), a, b)


def table5_ablation(metrics: Source, out_stem, baselines: Mapping[str, Mapping[str, str]] | None = None,
                    dataset: str | None = None, codec: str | None = None, level=None,
                    statistics: Mapping | None = None) -> pd.DataFrame:
    """Table 5: FID / PSNR of vanilla, (1) conditional D, (2) regularization, full, with
    deltas to vanilla, per GAN baseline. ``baselines``: {baseline: {cd, ddr, full: method}}.

    FID and PSNR carry their n and interval; Δ PSNR is the mean paired difference over the same
    images with its paired bootstrap interval, marked ``‖`` where that excludes 0 (Δ FID, set-level,
    has no paired interval)."""
    df, sel = _select(read_metrics(metrics), "table5", dataset=dataset, codec=codec, level=level)
    if baselines is None:
        baselines = pv.load_raw()["table5"]["baselines"]
    marked, details = _marks_by(df, "method", "metric"), _details_by(df, "method", "metric")
    stats = _stats_by(df, "method", "metric")
    val = {(m, k): _value_cell(v, marked.get((m, k), ()), details.get((m, k), ()), stats.get((m, k), (math.nan,) * 3))
           for m, k, v in zip(df["method"], df["metric"], df["value"])}
    paired = _paired_cells(metrics, {m: base for base, variants in baselines.items() for m in variants.values()},
                           statistics, sel)
    n_seeds = _seed_count(df)
    spread = {(r.method, r.metric): (r.seed_spread, r.seeds) for r in df.itertuples()} if n_seeds > 1 else {}
    paper = pv.table5() if (pv.paper_dataset(sel["dataset"]) == "DIV2K"
                            and pv.matches_setting(sel["codec"], sel["level"])) else None
    variant_label = {"vanilla": "Vanilla", "cd": "With (1) cond. D", "ddr": "With (2) reg.", "full": "Ours (full)"}
    cols = [Col("baseline", "Baseline", kind="text"), Col("variant", "Variant", kind="text"),
            Col("source", "", kind="text"), Col("fid", "FID"), Col("psnr", "PSNR (dB)"),
            Col("d_fid", "Δ FID", signed=True), Col("d_psnr", "Δ PSNR", signed=True)]
    keys = ["fid", "psnr", "d_fid", "d_psnr"]
    title = f"Table 5: ablation on {sel['dataset']}, {sel['codec']} level {sel['level']}"
    if spread:
        cols += [Col("fid_seed_spread", "FID sd (seeds)"), Col("psnr_seed_spread", "PSNR sd (seeds)")]
        keys += ["fid_seed_spread", "psnr_seed_spread"]
        title += f", mean over {n_seeds} training seeds"
    if _n_text(df, ["fid", "psnr"]):
        title += f" ({_n_text(df, ['fid', 'psnr'])})"
    t = Table(title, cols, group_keys=("baseline", "variant"), show_intervals=bool((statistics or {}).get("show_intervals")))
    present = set(df["method"])
    for base, variants in baselines.items():
        names = {"vanilla": base, **variants}
        if not present & set(names.values()):
            continue
        v0 = {k: val.get((base, k), math.nan) for k in ("fid", "psnr")}
        for variant in ("vanilla", "cd", "ddr", "full"):
            m = names.get(variant)
            if m is None:
                continue
            if m not in present:
                ours = {k: Cell(math.nan, f"{m} not run") for k in ("fid", "psnr", "d_fid", "d_psnr")}
            else:
                f, p = val.get((m, "fid"), math.nan), val.get((m, "psnr"), math.nan)
                d_psnr = math.nan if variant == "vanilla" else _delta(p, v0["psnr"])
                if (m, "psnr") in paired:  # the paired interval and the differs mark of the Δ
                    pc = paired[(m, "psnr")]
                    d_psnr = mk.with_marks(mk.unmark(d_psnr), {*mk.marks_of(d_psnr), *mk.marks_of(pc)},
                                           [*mk.details_of(d_psnr), *mk.details_of(pc)], mk.n_of(pc),
                                           mk.interval_of(pc))
                    p = differs(p, mk.DIFFERS.key in mk.marks_of(pc), mk.n_of(pc),
                                (statistics or {}).get("confidence", 0.95))
                ours = {"fid": f, "psnr": p,
                        "d_fid": math.nan if variant == "vanilla" else _delta(f, v0["fid"]), "d_psnr": d_psnr}
                if spread:
                    ours.update({f"{k}_seed_spread": _spread_cell(m, *spread.get((m, k), (math.nan, 0)), n_seeds)
                                 for k in ("fid", "psnr")})
            ours = {"baseline": method_label(base), "variant": variant_label[variant], **ours}
            prow = None
            if paper is not None:
                hit = paper[(paper.baseline == base) & (paper.variant == variant)]
                prow = None if hit.empty else hit.iloc[0].to_dict()
            t.rows += _triplet(ours, prow, keys)
    t.notes.append("(1) conditional discriminator only; (2) domain-divergence regularization only; "
                   "Δ to the vanilla baseline.")
    if paired:
        t.notes.append("Δ PSNR: the mean paired difference over the same images; its interval is the paired "
                       "bootstrap's.")
        t.notes += _few_images_note(paired, statistics)
    if any(mk.interval_of(r.get(k)) is not None for r in t.rows for k in keys):
        t.notes.append(_interval_note(statistics))
    if spread:
        t.notes.append(_seed_note(n_seeds))
    return write_table(t, out_stem)


# --------------------------------------------------------------------- domains, rates

def table_domains(domains: Source, out_stem, methods: Sequence[str] | None = None,
                  statistics: Mapping | None = None) -> pd.DataFrame:
    """Numbers behind the triangle figures (Figs. 3, 8, 9): S_CR, S_CE, S_RE and the
    deviation (eq. 1) per metric / dataset / setting / method, with the paper's; FID's
    with their n (patches per set) and intervals."""
    df = read_domains(domains)
    if methods is not None:
        df = df[df["method"].isin(methods)]
    paper = pv.domains()
    cols = [Col("metric", "Metric", kind="text"), Col("dataset", "Dataset", kind="text"),
            Col("codec", "Codec", kind="text"), Col("level", "Level", kind="text"),
            Col("method", "Method", kind="text"), Col("source", "", kind="text"),
            Col("S_CR", "S(C,R)", "$S_{C,R}$"), Col("S_CE", "S(C,E)", "$S_{C,E}$"),
            Col("S_RE", "S(R,E)", "$S_{R,E}$"), Col("deviation_pct", "Deviation (%)", "Deviation (\\%)",
                                                    signed=True)]
    t = Table("Domain distances and enhancement-bias deviation (eq. 1)", cols,
              group_keys=("metric", "dataset", "codec", "level", "method"),
              show_intervals=bool((statistics or {}).get("show_intervals")))
    order = {m: i for i, m in enumerate(order_methods(df["method"]))}
    df = df.assign(_o=df["method"].map(order), _l=df["level"].map(level_key)).sort_values(
        ["metric", "dataset", "codec", "_l", "_o"])
    keys = ["S_CR", "S_CE", "S_RE", "deviation_pct"]
    for _, r in df.iterrows():
        dev = r.deviation_pct
        if math.isnan(_num(dev)) and r.S_CR > 0:
            dev = (r.S_CE**2 - r.S_RE**2) / r.S_CR**2 * 100
        rm = tuple(r.get("marks") or ())  # the triangle's network ran random-init, few patches
        rd = mk.sample_details(rm, r.get("n"))
        ours = {"metric": metric_label(r.metric), "dataset": r.dataset, "codec": r.codec, "level": r.level,
                "method": method_label(r.method),
                **{k: mk.with_marks(v, rm, rd, r.get("n"), (r.get(f"{k}.lo"), r.get(f"{k}.hi")))
                   for k, v in (("S_CR", r.S_CR), ("S_CE", r.S_CE), ("S_RE", r.S_RE), ("deviation_pct", dev))}}
        prow = None
        pds = pv.paper_dataset(r.dataset)
        if pds and pv.matches_setting(r.codec, r.level):
            hit = paper[(paper.metric == r.metric) & (paper.dataset == pds) & (paper.method == r.method)]
            prow = None if hit.empty else hit.iloc[0].to_dict()
        t.rows += _triplet(ours, prow, keys)
    t.notes.append("Deviation = (S_CE² − S_RE²) / S_CR² × 100 %; negative: enhancement domain "
                   "closer to the compression domain (biased).")
    for metric, unit in (("fid", "patches per set"), ("lpips", "images")):
        ns = df[df["metric"] == metric]["n"].dropna() if "n" in df.columns else []
        if len(ns):
            t.notes.append(f"{metric_label(metric)}: n = " + ", ".join(sorted({str(int(x)) for x in ns}, key=int))
                           + f" {unit} (CSV: <column>.n).")
    if any(mk.interval_of(r.get(k)) is not None for r in t.rows for k in keys):
        t.notes.append(_interval_note(statistics) + " A deviation whose interval holds 0 is within the noise.")
    if _seed_count(df) > 1:
        t.notes.append(f"Distances and deviation: the mean over {_seed_count(df)} training seeds.")
    return write_table(t, out_stem)
