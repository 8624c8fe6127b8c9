"""One matplotlib style for every figure: legible at a paper's column width.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas
(no pyplot, no display, no global backend switch) inside :func:`style`,
and saved as PNG and PDF atomically by :func:`save_figure`.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from typing import Iterator

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..core import atomic
from ..methods import split_run

COLUMN_WIDTH = 3.3  # inches, one column of a two-column paper
PAGE_WIDTH = 6.9  # inches, both columns
DPI = 300

# Okabe & Ito (2008), colour-blind-safe
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
PALETTE = [OKABE_ITO[k] for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple",
                                  "sky_blue", "yellow", "black")]
BIASED_COLOR = OKABE_ITO["vermillion"]
DEBIASED_COLOR = OKABE_ITO["bluish_green"]

RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6,
    "ytick.labelsize": 6, "legend.fontsize": 6, "legend.frameon": False,
    "axes.linewidth": 0.6, "lines.linewidth": 1.0, "lines.markersize": 3.5,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5,
    "ytick.major.size": 2.5, "axes.spines.top": False, "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "savefig.dpi": DPI, "figure.dpi": 100,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
    "image.interpolation": "nearest", "axes.grid": False,
}

_FIDELITY = ["arcnn", "dcad", "dncnn", "cbdnet", "rdn", "rbqe", "mprnet"]
_FID_COLORS = ["sky_blue", "bluish_green", "blue", "reddish_purple", "grey", "yellow", "sky_blue"]
_FID_MARKERS = ["v", "^", "<", ">", "D", "p", "h"]
_VARIANT = {"": ("--", "o", 1.0), "_cd": (":", "^", 1.0), "_ddr": ("-.", "v", 1.0), "_debias": ("-", "s", 1.6)}


def method_style(method: str) -> dict:
    """Line/marker style of a method: comp black dotted; fidelity methods thin,
    coloured and marked; ESRGAN family orange, Real-ESRGAN family vermillion
    (vanilla dashed, (1) dotted, (2) dash-dot, ours solid and thick). A method's runs
    (method@seedS) share its style."""
    method = split_run(method)[0]
    if method == "comp":
        return {"color": OKABE_ITO["black"], "linestyle": ":", "marker": "o", "linewidth": 1.0}
    if method in _FIDELITY:
        i = _FIDELITY.index(method)
        return {"color": OKABE_ITO[_FID_COLORS[i]], "linestyle": "-", "marker": _FID_MARKERS[i],
                "linewidth": 0.8}
    for fam, colour in (("realesrgan", "vermillion"), ("esrgan", "orange")):
        if method.startswith(fam):
            ls, mk, lw = _VARIANT.get(method[len(fam):], ("-", "x", 1.0))
            return {"color": OKABE_ITO[colour], "linestyle": ls, "marker": mk, "linewidth": lw}
    i = zlib.crc32(method.encode()) % len(PALETTE)  # stable across runs (hash() is salted)
    return {"color": PALETTE[i], "linestyle": "-", "marker": "x", "linewidth": 1.0}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the shared rcParams for building and saving one figure."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float = COLUMN_WIDTH, height: float = 2.4) -> Figure:
    """A Figure of the given size (inches) on the Agg canvas, constrained layout."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_stem: str | os.PathLike, dpi: int = DPI) -> list[str]:
    """Save ``{out_stem}.png`` (``dpi``) and ``{out_stem}.pdf`` atomically; return the paths."""
    stem = os.fspath(out_stem)
    paths = []
    with style():
        for ext in ("png", "pdf"):
            dest = f"{stem}.{ext}"
            with atomic.atomic_path(dest) as tmp:
                fig.savefig(tmp, format=ext, dpi=dpi, metadata={"Software": "debiasqe"} if ext == "png" else None)
            paths.append(dest)
    return paths
