"""Every table and figure of one test dataset, from the result files.

Called by the ``tables`` and ``figures`` rules (``debiasqe report``). The
headline setting (the paper's: BPG at QP 37) selects the level of Tables
1-3 and 5, the triangles, the disparity plot and the residual maps; Table 4
and the RD curves use every level of every codec. With several training
seeds (``seeds``), a method's numbers are the mean over its runs
(``method@seedS``), with their spread across seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..core.errors import ConfigError
from ..methods import expand_runs
from ..paths import result_path, resources

TABLE_STEMS = ("table1_realism", "table2_realism_conditional", "table3_quality", "table5_ablation", "domains")


def headline(codecs: dict, setting: dict) -> tuple[str, int]:
    """(codec, level) of the headline tables: the configured one, else the middle level."""
    codec = setting.get("codec") or next(iter(codecs))
    if codec not in codecs:
        raise ConfigError(f"report.headline.codec: {codec!r} is not a configured codec; "
                          f"configured: {', '.join(codecs)}")
    levels = codecs[codec]["levels"]
    level = setting.get("level")
    if level is None:
        level = sorted(levels)[len(levels) // 2]
    if level not in levels:
        raise ConfigError(f"report.headline.level: {level} is not a configured {codec} level ({levels})")
    return codec, int(level)


def _files(root: Path, kind: str, methods: Sequence[str], dataset: str, codecs: dict,
           seeds: Sequence[int] = ()) -> list[Path]:
    """The result files of ``kind`` of every run of ``methods`` (with several ``seeds``, each seed's)."""
    return [result_path(kind, root, method=m, dataset=dataset, codec=c, level=lv)
            for m in expand_runs(methods, seeds) for c, spec in codecs.items() for lv in spec["levels"]]


def _rate_files(root: Path, dataset: str, codecs: dict) -> list[Path]:
    return [result_path("rate", root, dataset=dataset, codec=c, level=lv) for c, spec in codecs.items()
            for lv in spec["levels"]]


def build_tables(results: str | Path, out_dir: str | Path, *, dataset: str, methods: Sequence[str],
                 gan_methods: Sequence[str], metrics: Sequence[str], codecs: dict, setting: dict,
                 bd_fit: str = "pchip", seeds: Sequence[int] = (), vanilla: dict | None = None,
                 statistics: dict | None = None) -> None:
    """``vanilla``: {debiased method: vanilla method} (:func:`debiasqe.methods.vanilla_methods`),
    the pairs of Table 3's paired comparisons; ``statistics``: the config's ``statistics:``."""
    # lazy: targets.py (so the Snakefile and `debiasqe status`) imports this module for TABLE_STEMS;
    # the evaluation registry and pandas/bjontegaard load only when tables are built
    from ..evaluate.metrics import metric_info
    from . import tables

    results, out_dir = Path(results), Path(out_dir)
    directions = {m: metric_info(m).lower_better for m in metrics}
    codec, level = headline(codecs, setting)
    metric_files = _files(results, "metrics", methods, dataset, codecs, seeds)
    rate_files = _rate_files(results, dataset, codecs)
    if gan_methods:
        realism = _files(results, "realism", gan_methods, dataset, {codec: {"levels": [level]}}, seeds)
        tables.table1_realism(realism, out_dir / "table1_realism")
        tables.table2_realism_conditional(realism, out_dir / "table2_realism_conditional")
        tables.table5_ablation(metric_files, out_dir / "table5_ablation", codec=codec, level=level,
                               statistics=statistics)
    tables.table3_quality(metric_files, out_dir / "table3_quality", directions, methods=list(methods),
                          metric_names=list(metrics), codec=codec, level=level, vanilla=vanilla,
                          statistics=statistics)
    for c in codecs:
        tables.table4_bdbr(metric_files, rate_files, out_dir / f"table4_bdbr_{c}", directions, codec=c,
                           methods=list(methods), metric_names=list(metrics), interp=bd_fit)
    domain_files = _files(results, "domains", [m for m in methods if m != "comp"], dataset, codecs, seeds)
    tables.table_domains(domain_files, out_dir / "domains", statistics=statistics)


def build_figures(results: str | Path, out_dir: str | Path, *, dataset: str, methods: Sequence[str],
                  metrics: Sequence[str], codecs: dict, setting: dict, residual: dict,
                  seeds: Sequence[int] = (), confidence: float = 0.95) -> None:
    from . import figures  # lazy: matplotlib loads only when figures are built (see build_tables)

    results, out_dir = Path(results), Path(out_dir)
    codec, level = headline(codecs, setting)
    enhanced = [m for m in methods if m != "comp"]
    domain_files = _files(results, "domains", enhanced, dataset, {codec: {"levels": [level]}}, seeds)
    for metric in ("fid", "lpips"):
        if metric in metrics:
            figures.fig_triangles(domain_files, out_dir / f"triangles_{metric}", metric=metric, codec=codec,
                                  level=level, confidence=confidence)
    metric_files = _files(results, "metrics", methods, dataset, codecs, seeds)
    rate_files = _rate_files(results, dataset, codecs)
    for c in codecs:
        figures.fig_rd_curves(metric_files, rate_files, out_dir / f"rd_curves_{c}", metric_names=list(metrics),
                              codecs=[c], methods=list(methods))
    figures.fig_disparity(_files(results, "disparity", enhanced, dataset, {codec: {"levels": [level]}}, seeds),
                          out_dir / "disparity", codec=codec, level=level)
    image = residual.get("image")
    raw_dir = Path(resources("dataset", dataset=dataset))
    if image is None:
        image = sorted(p.stem for p in raw_dir.glob("*.png"))[0]
    # one image per method: with several seeds, its first seed's (labelled so)
    shown = [expand_runs([m], seeds)[0] for m in (residual.get("methods") or enhanced) if m in enhanced]
    at = dict(dataset=dataset, codec=codec, level=level)
    figures.fig_residuals(raw_dir / f"{image}.png", result_path("compressed_png", results, **at) / f"{image}.png",
                          {m: result_path("enhanced", results, method=m, **at) / f"{image}.png" for m in shown},
                          out_dir / "residuals", box=residual.get("box"))
