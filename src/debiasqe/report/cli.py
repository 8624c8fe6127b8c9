"""``debiasqe report``: the paper's tables or figures of one test dataset (no torch)."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..core.cliargs import add_command, json_object


def run_report(args) -> None:
    from .build import build_figures, build_tables

    spec = args.spec
    common = dict(dataset=args.dataset, methods=spec["methods"], metrics=spec["metrics"], codecs=spec["codecs"],
                  setting=spec["headline"])
    if args.what == "tables":
        build_tables(args.results, args.output, gan_methods=spec["gan_methods"],
                     bd_fit=spec.get("bd_fit", "pchip"), **common)
    else:
        build_figures(args.results, args.output, residual=spec["residual"], **common)


def register(sub) -> None:
    p = add_command(sub, "report", "the paper's tables or figures for one test dataset", run_report)
    p.add_argument("what", choices=["tables", "figures"], help="which outputs")
    p.add_argument("--dataset", required=True, help="the test dataset")
    p.add_argument("--spec", required=True, type=json_object,
                   help="JSON: methods, gan_methods, metrics, codecs, headline, residual")
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS), help="results root")
    p.add_argument("--output", required=True, type=Path, help="output folder")
