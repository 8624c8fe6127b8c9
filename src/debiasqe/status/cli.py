"""``debiasqe status``: what exists, what is missing, what failed, how long it took."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..core.cliargs import add_command

#: the checkout's default config (the Snakefile's `configfile:`), when the package runs from a checkout
CHECKOUT = Path(__file__).resolve().parents[3]


def default_config() -> Path | None:
    base = CHECKOUT / "config.yaml"
    return base if base.is_file() and (CHECKOUT / "Snakefile").is_file() else None


def run_status_command(args) -> None:
    from ..config import load_config  # lazy: every command imports this cli module
    from .report import as_json, as_text, run_status

    files = [p for p in [default_config(), *args.configfile] if p is not None]
    config = load_config(*files)  # merged left to right, as `snakemake --configfile` does
    states = run_status(config, args.directory)
    names = [str(f) for f in files]
    if args.json:
        json.dump(as_json(states, names, args.directory), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(as_text(states, names, args.directory))
    sys.stdout.flush()
    if not all(s.state == "done" for s in states):
        raise SystemExit(1)


def register(sub) -> None:
    p = add_command(sub, "status",
                    "what the config asks for: per stage what exists, is missing, failed, how long it took, "
                    "and which outputs came from random-init or unavailable networks (exit 0 only when complete)",
                    run_status_command)
    p.add_argument("--configfile", nargs="+", type=Path, default=[],
                   help="config file(s) merged over the checkout's config.yaml, as snakemake --configfile")
    p.add_argument("--directory", type=Path, default=Path("."),
                   help="the run's working directory (holds results/ and resources/), as snakemake --directory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
