"""The paper's figures from our result files: domain triangles (Figs. 1, 3, 8, 9),
RD curves (Fig. 7), residual maps (Figs. 4, 10) and the disparity scatter (Fig. 6).

Each ``fig_*`` function reads the upstream files (or tidy DataFrames, see
:mod:`debiasqe.report.results`), draws with the shared style of
:mod:`debiasqe.report.style`, writes ``{out_stem}.png`` and
``{out_stem}.pdf`` atomically and returns the matplotlib Figure.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import numpy as np

from ..evaluate import triangles as bias
from ..core.errors import BadImageError, ConfigError
from . import paper_values as pv
from .labels import CODEC_LABELS, method_label, metric_label, order_methods
from . import marks as mk
from .results import (ResultFileError, Source, read_disparity, read_domains, read_metrics, read_rates,
                      select_setting)
from .style import (BIASED_COLOR, COLUMN_WIDTH, DEBIASED_COLOR, OKABE_ITO, PAGE_WIDTH, PALETTE, method_style,
                    new_figure, save_figure, style)


# --------------------------------------------------------------------- triangle geometry

def triangle_geometry(s_cr: float, s_ce: float, s_re: float) -> bias.Triangle:
    """Place the three domains from their distances (``debiasqe.evaluate.triangles.triangle``):
    C at the origin, R at (S_CR, 0), E above the base."""
    return bias.triangle(float(s_cr), float(s_ce), float(s_re))


def _dist_label(v: float) -> str:
    """A distance in three significant figures (0.00123, 0.0457, 9.73, 123); never rounded to 0."""
    v = float(v)
    if not math.isfinite(v) or v == 0:
        return f"{v:g}"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{digits}f}"


def _outward_normal(p, q, other) -> tuple[float, float]:
    """Unit normal of side p-q pointing away from the third vertex (up when the three are collinear)."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    n = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / n, dx / n
    mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
    side = (other[0] - mx) * nx + (other[1] - my) * ny
    if abs(side) < 1e-9 * max(n, 1e-12):
        return (0.0, 1.0) if ny >= 0 else (-nx, -ny)
    return (nx, ny) if side < 0 else (-nx, -ny)


def _align(nx: float, ny: float) -> dict:
    """Text alignment that keeps a label on the side of its anchor that ``(nx, ny)`` points to."""
    ha = "left" if nx > 0.35 else "right" if nx < -0.35 else "center"
    va = "bottom" if ny > 0.35 else "top" if ny < -0.35 else "center"
    return {"ha": ha, "va": va}


#: rows of text under the base, in points below it: vertex names and S_CR, (S_CR when it
#: does not fit between the vertex names), the verdict
_ROW_PT = (-3.0, -11.0, -20.0)


def _spread_bar(ax, lo: float, hi: float, y: float, colour, gid: str) -> None:
    """A horizontal interval [lo, hi] at height y, with end ticks (drawn from the bounds, not as
    ± around the point: a bootstrap interval of FID need not hold its point estimate)."""
    ax.plot([lo, hi], [y, y], color=colour, lw=2.2, alpha=0.45, solid_capstyle="butt", marker="|", ms=5,
            mew=0.8, gid=gid, zorder=1)


def _finite_pair(iv) -> tuple[float, float] | None:
    try:
        lo, hi = float(iv[0]), float(iv[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def draw_triangle(ax, s_cr: float, s_ce: float, s_re: float, title: str = "",
                  paper_deviation: float | None = None,
                  intervals: Mapping[str, Sequence[float]] | None = None,
                  confidence: float = 0.95) -> bias.Triangle | None:
    """Draw one domain triangle on ``ax`` as the paper does: C and R at the base,
    E at the apex, each side labelled with its distance (three significant figures),
    the deviation and a Biased/Debiased label. Sides are Line2D artists with gid
    side_CR/side_CE/side_RE.

    Every label lies outside the triangle, whatever its shape: the vertex names of
    C and R below the base beyond its ends, E's above the apex (E is the only
    vertex above the base), the side lengths beside their sides on the outer side,
    and the verdict in a row of its own under the base. :func:`fig_triangles`
    moves labels apart where they would touch (:func:`_unclutter`).

    ``intervals`` (the domains file's, see read_domains' ``<q>.lo/.hi``): where S_CR has one, R's
    spread along the base (gid ``spread_R``); where the deviation has one, E's horizontal spread
    (gid ``spread_E``: E's x for the deviation's bounds at this S_CR, since eq. 1 is E's offset from
    the base's midpoint over S_CR / 2). E's bar crossing the dotted midline is a deviation within
    its noise, and the verdict says so."""
    try:
        t = triangle_geometry(s_cr, s_ce, s_re)
    except ConfigError:
        # e.g. random-init LPIPS, whose "distances" can be negative
        # one side a line: a single line runs into the neighbouring panels
        ax.text(0.5, 0.5, f"{title}\nno triangle:\nS_CR = {s_cr:.3g}\nS_CE = {s_ce:.3g}\nS_RE = {s_re:.3g}",
                ha="center", va="center", fontsize=6, transform=ax.transAxes, gid="invalid")
        ax.set_axis_off()
        return None
    C, R, E = (0.0, 0.0), (t.s_cr, 0.0), (t.x, t.y)
    (cx, cy), (rx, ry), (ex, ey) = C, R, E
    colour = BIASED_COLOR if t.biased else DEBIASED_COLOR
    ax.plot([cx, rx], [cy, ry], color=OKABE_ITO["black"], lw=1.0, gid="side_CR", solid_capstyle="round")
    ax.plot([cx, ex], [cy, ey], color=colour, lw=1.0, gid="side_CE", solid_capstyle="round")
    ax.plot([rx, ex], [ry, ey], color=colour, lw=1.0, gid="side_RE", solid_capstyle="round")
    # base midpoint and the horizontal deviation of E
    mid = s_cr / 2
    ax.plot([mid, mid], [0, max(ey, s_cr * 0.05)], color=OKABE_ITO["grey"], lw=0.5, ls=":", gid="centroid")
    ax.plot([ex, ex], [0, ey], color=colour, lw=0.5, ls="--", gid="drop")
    ivs = intervals or {}
    r_iv, dev_iv = _finite_pair(ivs.get("S_CR")), _finite_pair(ivs.get("deviation_pct"))
    # bars are clipped to the panel's frame (a deviation interval of a few images can span ±500 %);
    # the verdict prints the deviation's bounds
    def clip(x):
        return min(max(x, -0.3 * s_cr), 1.3 * s_cr)

    if r_iv is not None:
        _spread_bar(ax, clip(r_iv[0]), clip(r_iv[1]), 0.0, OKABE_ITO["black"], "spread_R")
    if dev_iv is not None:
        _spread_bar(ax, clip(mid_x(t.s_cr, dev_iv[0])), clip(mid_x(t.s_cr, dev_iv[1])), ey, colour, "spread_E")
    ax.plot([cx, rx, ex], [cy, ry, ey], ls="none", marker="o", ms=3, color=OKABE_ITO["black"], gid="vertices")
    h = max(ey, 0.25 * s_cr)
    row = dict(textcoords="offset points", fontsize=6)
    ax.annotate("Comp.", C, xytext=(-2, _ROW_PT[0]), ha="right", va="top", gid="vertex_C", **row)
    ax.annotate("Raw", R, xytext=(2, _ROW_PT[0]), ha="left", va="top", gid="vertex_R", **row)
    ax.annotate("Enh.", E, xytext=(0, 4), ha="center", va="bottom", gid="vertex_E", **row)
    ax.annotate(_dist_label(s_cr), (mid, 0), xytext=(0, _ROW_PT[0]), ha="center", va="top", gid="label_CR",
                **row)
    for gid, p, q, other, value in (("label_CE", C, E, R, s_ce), ("label_RE", R, E, C, s_re)):
        nx, ny = _outward_normal(p, q, other)
        label = ax.annotate(_dist_label(value), ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2),
                            xytext=(3 * nx, 3 * ny), gid=gid, **_align(nx, ny), **row)
        label.outward = (nx, ny)  # the direction _unclutter moves it in
    word = "Biased" if t.biased else "Debiased"
    text = f"{word} ({t.deviation_pct:+.2f}%)"
    if dev_iv is not None:
        text += f"\n{confidence:.0%}: [{dev_iv[0]:+.1f}, {dev_iv[1]:+.1f}]%"
        if dev_iv[0] <= 0 <= dev_iv[1]:
            text += ", within noise"
    if t.violates_triangle_inequality:
        text += "\nnot a triangle"
    if paper_deviation is not None and math.isfinite(paper_deviation):
        text += f"\npaper: {paper_deviation:+.2f}%"
    ax.annotate(text, (mid, 0), xytext=(0, _ROW_PT[2]), ha="center", va="top", color=colour, gid="verdict",
                **row)
    if title:
        ax.set_title(title, fontsize=6.5)
    xs = [cx, rx, ex] + [clip(x) for x in (r_iv or ())] + [clip(mid_x(t.s_cr, d)) for d in (dev_iv or ())]
    ax.set_xlim(min(xs) - 0.22 * s_cr, max(xs) + 0.22 * s_cr)
    ax.set_ylim(-0.04 * s_cr, h + 0.16 * s_cr)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return t


def mid_x(s_cr: float, deviation_pct: float) -> float:
    """E's x for a deviation (eq. 1: (S_CE² − S_RE²)/S_CR² = (x_E − S_CR/2) / (S_CR/2))."""
    return s_cr / 2 * (1 + deviation_pct / 100)


def _boxes_overlap(a, b, pad: float = 1.0) -> bool:
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0)


def _unclutter(fig, axes, rounds: int = 3) -> None:
    """Make the labels of each triangle panel disjoint: S_CR moves one row down where it
    touches a vertex name (a short base), S_CE and S_RE step outwards along their normals
    while they touch another label, the verdict goes under the lowest label, and finally the
    title goes over the highest (:func:`_lift_title`)."""
    for _ in range(rounds):
        fig.canvas.draw()  # lays the figure out: the positions below are the final ones
        renderer = fig.canvas.get_renderer()
        moved = False
        for ax in axes:
            texts = {t.get_gid(): t for t in ax.texts if t.get_gid()}
            if "label_CR" not in texts:
                continue
            others = [g for g in texts if g != "verdict"]

            def touches(g):
                box = texts[g].get_window_extent(renderer)
                return any(_boxes_overlap(box, texts[o].get_window_extent(renderer)) for o in others if o != g)

            if texts["label_CR"].xyann[1] == _ROW_PT[0] and touches("label_CR"):
                texts["label_CR"].xyann = (0, _ROW_PT[1])
                moved = True
            for g in ("label_CE", "label_RE"):
                steps = 0
                while touches(g) and steps < 20:
                    nx, ny = texts[g].outward
                    x, y = texts[g].xyann
                    texts[g].xyann = (x + 3 * nx, y + 3 * ny)
                    steps += 1
                    moved = True
            base_y = ax.transData.transform((0, 0))[1]
            lowest = min(texts[g].get_window_extent(renderer).y0 for g in others)
            below = min(_ROW_PT[2], (lowest - base_y) * 72 / fig.dpi - 3)
            if abs(texts["verdict"].xyann[1] - below) > 0.5:
                texts["verdict"].xyann = (0, below)
                moved = True
        if not moved:
            break
    fig.canvas.draw()  # the labels are where they stay: lift each title over its panel's labels
    for ax in axes:
        _lift_title(ax, fig.canvas.get_renderer(), fig.dpi)


def _lift_title(ax, renderer, dpi: float) -> None:
    """Raise the panel title over its labels: a flat triangle (E on the base) makes a low panel,
    and the labels above it reached into the title."""
    import matplotlib as mpl

    labels = [t for t in ax.texts if t.get_gid() and t.get_gid() != "verdict"]
    if not ax.get_title() or not labels:
        return
    gap = ax.title.get_window_extent(renderer).y0 - max(t.get_window_extent(renderer).y1 for t in labels)
    if gap < 1.0:
        pad = mpl.rcParams["axes.titlepad"] + (1.0 - gap) * 72 / dpi
        ax.set_title(ax.get_title(), fontsize=ax.title.get_fontsize(), pad=pad)


def fig_triangles(domains: Source, out_stem, metric: str | None = None,
                  methods: Sequence[str] | None = None, dataset: str | None = None,
                  codec: str | None = None, level=None, ncols: int | None = None,
                  show_paper: bool = True, confidence: float = 0.95):
    """Domain triangles, one panel per (metric, dataset, method): Fig. 8 (``metric="fid"``),
    Fig. 9 (``"lpips"``), Fig. 3 (``methods=["esrgan", "realesrgan"]``, both metrics and
    datasets), Fig. 1 (``metric="fid", methods=["realesrgan", "realesrgan_debias"]``).
    One codec and level per figure. The paper's deviation is printed under ours where
    the paper has that triangle. Each panel gives its n (FID: patches per set; LPIPS: images) and,
    where the domains file has intervals, the spread of R and E (:func:`draw_triangle`)."""
    df = read_domains(domains)
    if metric is not None:
        df = df[df["metric"] == metric]
    if methods is not None:
        df = df[df["method"].isin(methods)]
    df, sel = select_setting(df, "triangles", codec=codec, level=level)
    if dataset is not None:
        df = df[df["dataset"].astype(str) == str(dataset)]
    if df.empty:
        raise ResultFileError(f"triangles: no domain results for dataset={dataset}, metric={metric}")
    order = {m: i for i, m in enumerate(order_methods(df["method"]))}
    df = df.assign(_o=df["method"].map(order)).sort_values(["metric", "dataset", "_o"])
    many_metrics = df["metric"].nunique() > 1
    many_sets = df["dataset"].nunique() > 1
    paper = pv.domains()
    n = len(df)
    ncols = ncols or min(n, 5)
    nrows = math.ceil(n / ncols)
    width = COLUMN_WIDTH if ncols <= 2 else PAGE_WIDTH
    with style():
        fig = new_figure(width, nrows * (width / ncols) * 1.05 + 0.15)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        used, details = set(), set()
        for ax, (_, r) in zip(axes, df.iterrows()):
            title = method_label(r.method)
            if many_metrics or many_sets:
                title = f"{metric_label(r.metric)}, {r.dataset}\n{title}"
            panel_marks = tuple(r.get("marks") or ())  # random-init network, FID from few patches
            used.update(panel_marks)
            details.update(mk.sample_details(panel_marks, r.get("n")))
            title = mk.panel_title(title, panel_marks)
            if math.isfinite(_float(r.get("n"))):
                title += f"\nn = {int(r.get('n'))} {'patches' if r.metric == 'fid' else 'images'}"
            pdev = None
            pds = pv.paper_dataset(r.dataset)
            if show_paper and pds and pv.matches_setting(sel["codec"], sel["level"]):
                hit = paper[(paper.metric == r.metric) & (paper.dataset == pds) & (paper.method == r.method)]
                pdev = None if hit.empty else float(hit.iloc[0].deviation_pct)
            draw_triangle(ax, r.S_CR, r.S_CE, r.S_RE, title, pdev,
                          {q: (r.get(f"{q}.lo"), r.get(f"{q}.hi")) for q in ("S_CR", "deviation_pct")}, confidence)
        for ax in axes[n:]:
            ax.set_axis_off()
        _unclutter(fig, axes[:n])
        mk.figure_note(fig, used, details)
        save_figure(fig, out_stem)
    return fig


# --------------------------------------------------------------------- RD curves

def fig_rd_curves(metrics: Source, rates: Source, out_stem, metric_names: Sequence[str] = ("fid", "lpips"),
                  codecs: Sequence[str] | None = None, dataset: str | None = None,
                  methods: Sequence[str] | None = None):
    """Fig. 7: quality (mean over the set) against bpp for comp and every method,
    one panel per (metric, codec); each point with its interval as an error bar (read_metrics'
    lo/hi, where it has one) and each panel with its n (images; FID: patches)."""
    q = read_metrics(metrics)
    r = read_rates(rates)
    q, sel = select_setting(q, "rd curves", dataset=dataset)
    r = r[r["dataset"].astype(str) == sel["dataset"]]
    codecs = list(codecs) if codecs is not None else sorted(set(q["codec"]))
    methods = list(methods) if methods is not None else order_methods(q["method"])
    panels = [(m, c) for m in metric_names for c in codecs]
    if not panels:
        raise ConfigError("rd curves: no metric/codec to plot")
    ncols = min(len(panels), 4)
    nrows = math.ceil(len(panels) / ncols)
    width = COLUMN_WIDTH if ncols <= 2 else PAGE_WIDTH
    with style():
        fig = new_figure(width, nrows * 1.55 + 0.45)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        handles, used, details = {}, set(), set()
        for ax, (metric, codec) in zip(axes, panels):
            bpp = {str(lv): b for lv, b in zip(r[r.codec == codec]["level"], r[r.codec == codec]["bpp"])}
            panel_marks, panel_n = set(), set()
            for m in methods:
                s = q[(q.method == m) & (q.codec == codec) & (q.metric == metric)]
                lo = s["lo"] if "lo" in s.columns else [math.nan] * len(s)
                hi = s["hi"] if "hi" in s.columns else [math.nan] * len(s)
                pts = sorted((bpp[str(lv)], v, a, b) for lv, v, a, b in zip(s["level"], s["value"], lo, hi)
                             if str(lv) in bpp and np.isfinite(v))
                if not pts:
                    continue
                if "n" in s.columns:
                    panel_n.update(int(x) for x in s["n"] if math.isfinite(_float(x)))
                if "marks" in s.columns:
                    panel_marks.update(k for ks in s["marks"] for k in (ks or ()))
                    if "n" in s.columns:
                        details.update(d for ks, n in zip(s["marks"], s["n"]) for d in mk.sample_details(ks or (), n))
                x, y, a, b = (np.asarray(v, float) for v in zip(*pts))
                (h,) = ax.plot(x, y, label=method_label(m), ms=2.5, **method_style(m))
                handles.setdefault(m, h)
                ok = np.isfinite(a) & np.isfinite(b)
                if ok.any():  # from the bounds: a bootstrap interval of FID need not hold its point
                    # methods share the levels' bpp: each method's bars step aside a little to stay apart
                    dodge = (methods.index(m) - (len(methods) - 1) / 2) * 0.006 * (max(bpp.values()) - min(bpp.values()))
                    ax.vlines(x[ok] + dodge, a[ok], b[ok], color=h.get_color(), lw=0.8, alpha=0.7,
                              gid=f"interval_{m}")
            used |= panel_marks
            title = mk.panel_title(f"{metric_label(metric)} vs. bpp ({CODEC_LABELS.get(codec, codec)})", panel_marks)
            if panel_n:
                ns = sorted(panel_n)
                title += (f"\nn = {ns[0]}" if len(ns) == 1 else f"\nn = {ns[0]}–{ns[-1]}") + (
                    " patches" if metric == "fid" else " images")
            ax.set_title(title)
            if not ax.get_lines():
                # e.g. NIQE offline: a note, not an empty axis
                ax.text(0.5, 0.5, f"no {metric_label(metric)} values\n(the metric was unavailable\nin this run)",
                        ha="center", va="center", fontsize=6, transform=ax.transAxes, gid="no_values")
                ax.set_xticks([]); ax.set_yticks([])
                continue
            ax.set_xlabel("bpp")
            ax.set_ylabel(metric_label(metric))
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        if handles:
            fig.legend([handles[m] for m in methods if m in handles],
                       [method_label(m) for m in methods if m in handles],
                       loc="outside lower center", ncols=min(len(handles), 6 if width > 4 else 3))
        mk.figure_note(fig, used, details)
        save_figure(fig, out_stem)
    return fig


# --------------------------------------------------------------------- residual maps

def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _read_rgb(path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise BadImageError(f"{path}: image not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise BadImageError(f"{path}: cannot read image ({exc})") from None


def fig_residuals(raw, compressed, enhanced: Mapping[str, os.PathLike | str], out_stem,
                  box: Sequence[int] | None = None, vmax: float | None = None):
    """Figs. 4 / 10: for each method a row with the enhanced crop, |I_E − I_C| and
    |I_E − I_R| (channel mean, one shared colour scale); a first row shows the
    compressed and raw crops. ``box`` = (x, y, width, height) in pixels."""
    imgs = {"raw": _read_rgb(raw), "comp": _read_rgb(compressed)}
    enh = {m: _read_rgb(p) for m, p in enhanced.items()}
    shape = imgs["raw"].shape
    for name, a in [("compressed", imgs["comp"]), *enh.items()]:
        if a.shape != shape:
            src = compressed if name == "compressed" else enhanced[name]
            raise BadImageError(f"{src}: size {a.shape[1]}x{a.shape[0]} differs from raw {shape[1]}x{shape[0]}")
    if box is not None:
        x, y, w, h = (int(v) for v in box)
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > shape[1] or y + h > shape[0]:
            raise ConfigError(f"residuals: crop {tuple(box)} outside the {shape[1]}x{shape[0]} image {raw}")
        cut = (slice(y, y + h), slice(x, x + w))
    else:
        cut = (slice(None), slice(None))
    imgs = {k: v[cut] for k, v in imgs.items()}
    enh = {m: v[cut] for m, v in enh.items()}
    res = {m: (np.abs(e - imgs["comp"]).mean(-1), np.abs(e - imgs["raw"]).mean(-1)) for m, e in enh.items()}
    if vmax is None:
        allv = np.concatenate([np.ravel(a) for pair in res.values() for a in pair]) if res else np.zeros(1)
        vmax = float(np.percentile(allv, 99.5)) or 1.0
    nrows = 1 + len(enh)
    ch, cw = imgs["raw"].shape[:2]
    width = COLUMN_WIDTH
    with style():
        fig = new_figure(width, nrows * (width / 3) * ch / cw + 0.35)
        axes = fig.subplots(nrows, 3, squeeze=False)
        axes[0, 0].imshow(imgs["comp"]); axes[0, 0].set_title("Compressed")
        axes[0, 1].imshow(imgs["raw"]); axes[0, 1].set_title("Raw")
        im = None
        for i, (m, e) in enumerate(enh.items(), start=1):
            axes[i, 0].imshow(np.clip(e, 0, 1))
            axes[i, 0].set_title(method_label(m))
            im = axes[i, 1].imshow(res[m][0], cmap="magma", vmin=0, vmax=vmax)
            axes[i, 2].imshow(res[m][1], cmap="magma", vmin=0, vmax=vmax)
            if i == 1:
                axes[i, 1].set_title("|Enh. − Comp.|")
                axes[i, 2].set_title("|Enh. − Raw|")
        for ax in axes.ravel():
            ax.set_xticks([]); ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
        axes[0, 2].set_axis_off()
        if im is not None:
            cb = fig.colorbar(im, ax=list(axes[1:, 2]), location="right", fraction=0.1, shrink=0.8)
            cb.set_label("|residual| (RGB mean, 0-1)", fontsize=6)
            cb.ax.tick_params(labelsize=5)
        save_figure(fig, out_stem)
    return fig


# --------------------------------------------------------------------- disparity scatter

def fig_disparity(disparity: Source, out_stem, methods: Sequence[str] | None = None,
                  dataset: str | None = None, codec: str | None = None, level=None,
                  max_points: int = 2000, seed: int = 0):
    """Fig. 6: per patch, raw-vs-comp MAE (x) against enh-vs-comp MAE (y), pixel-wise
    and feature-wise panels, one series per method with its least-squares line and
    the y = x diagonal (points below it: enhancement stays closer to the compressed
    image than the raw image is)."""
    df = read_disparity(disparity)
    if methods is not None:
        df = df[df["method"].isin(methods)]
    df, sel = select_setting(df, "disparity", dataset=dataset, codec=codec, level=level)
    methods = order_methods(df["method"]) if methods is None else [m for m in methods if m in set(df["method"])]
    rng = np.random.default_rng(seed)
    with style():
        fig = new_figure(PAGE_WIDTH / 1.4, 2.3)
        axes = fig.subplots(1, 2)
        used = set()
        for ax, (xs, ys, title) in zip(axes, (("pix_rc", "pix_ec", "Pixel-wise MAE"),
                                               ("feat_rc", "feat_ec", "Feature-wise MAE"))):
            # a random-init VGG-19's features: the panel is marked like every other figure's
            panel_marks = _disparity_marks(df[df["method"].isin(methods)], (xs, ys))
            used |= panel_marks
            lim = 0.0
            for i, m in enumerate(methods):
                s = df[df.method == m][[xs, ys]].dropna()
                if len(s) > max_points:
                    s = s.iloc[rng.choice(len(s), max_points, replace=False)]
                st = method_style(m)
                if len(methods) <= len(PALETTE):  # few series: one distinct colour each
                    st = {**st, "color": PALETTE[i]}
                x, y = s[xs].to_numpy(float), s[ys].to_numpy(float)
                if x.size == 0:
                    continue
                ax.scatter(x, y, s=3, alpha=0.45, color=st["color"], marker=st["marker"], linewidths=0,
                           rasterized=True)
                lim = max(lim, x.max(), y.max())
                if x.size >= 2 and np.ptp(x) > 0:
                    k, b = np.polyfit(x, y, 1)
                    xx = np.array([0.0, x.max()])
                    ax.plot(xx, k * xx + b, color=st["color"], ls=st["linestyle"], lw=1.2, gid=f"fit_{m}",
                            marker=st["marker"], markevery=[1], label=f"{method_label(m)} (slope {k:.2f})")
            ax.plot([0, lim], [0, lim], color=OKABE_ITO["grey"], lw=0.6, ls=":", gid="diagonal")
            ax.set_xlim(0, lim * 1.02 or 1)
            ax.set_ylim(0, lim * 1.02 or 1)
            ax.set_title(mk.panel_title(title, panel_marks))
            ax.set_xlabel("Raw vs. Comp.")
            ax.set_ylabel("Enh. vs. Comp.")
        axes[0].legend(loc="upper left")
        axes[1].legend(loc="upper left")
        mk.figure_note(fig, used)
        save_figure(fig, out_stem)
    return fig


def _disparity_marks(df, columns) -> set:
    """The marks of ``columns`` over the rows shown (read_disparity's per-row ``marks``)."""
    if "marks" not in df.columns:
        return set()
    return {k for per_row in df["marks"] for c in columns for k in (per_row or {}).get(c, ())}
