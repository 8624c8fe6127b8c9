"""``debiasqe report``: the paper's tables or figures of one test dataset (no torch)."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..core.cliargs import add_command, json_object


def run_report(args) -> None:
    from .build import build_figures, build_tables  # lazy: every command imports this cli module

    spec = args.spec
    common = dict(dataset=args.dataset, methods=spec["methods"], metrics=spec["metrics"], codecs=spec["codecs"],
                  setting=spec["headline"], seeds=spec.get("seeds", ()))
    if args.what == "tables":
        build_tables(args.results, args.output, gan_methods=spec["gan_methods"],
                     bd_fit=spec.get("bd_fit", "pchip"), vanilla=spec.get("vanilla"),
                     statistics=spec.get("statistics"), **common)
    else:
        build_figures(args.results, args.output, residual=spec["residual"],
                      confidence=(spec.get("statistics") or {}).get("confidence", 0.95), **common)


def run_overview(args) -> None:
    from ..status.report import run_status  # lazy: every command imports this cli module
    from ..targets import headline_of, trained_methods
    from ..methods import runs, train_setting
    from .overview import fig_training_curves, write_overview

    config = args.config
    codec, level = headline_of(config)
    setting = train_setting(config, level)
    root = args.directory / paths.RESULTS
    logs = {m: paths.result_path("train_dir", root, method=m, codec=codec, setting=setting) / "train_log.csv"
            for m in runs(config, trained_methods(config))}
    stem = str(args.curves)
    fig_training_curves(logs, stem, title=f"training losses, {codec} {setting}")
    states = run_status(config, args.directory)
    trained = sorted(str(p) for p in (root / "train").glob("*/*/*/provenance.json"))
    write_overview(config, args.output, status_states=states, curves_png=f"{stem}.png", train_records=trained)


def _register_overview(sub) -> None:
    p = add_command(sub, "report-overview",
                    "the report's first page: commit, config, weights state, hardware and training curves",
                    run_overview)
    p.add_argument("--config", required=True, type=json_object, help="the validated config as JSON")
    p.add_argument("--directory", type=Path, default=Path("."), help="the run's folder (results/, resources/)")
    p.add_argument("--curves", required=True, type=Path, help="training curves figure stem (.png and .pdf)")
    p.add_argument("--output", required=True, type=Path, help="the overview HTML page")


def register(sub) -> None:
    p = add_command(sub, "report", "the paper's tables or figures for one test dataset", run_report)
    p.add_argument("what", choices=["tables", "figures"], help="which outputs")
    p.add_argument("--dataset", required=True, help="the test dataset")
    p.add_argument("--spec", required=True, type=json_object,
                   help="JSON: methods, gan_methods, metrics, codecs, headline, residual, vanilla ({debiased: "
                        "vanilla method}), statistics (the config's section; seeds: the training seeds, when "
                        "several)")
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS), help="results root")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    _register_overview(sub)
