"""``debiasqe <stage>``: the pipeline's stages as subcommands.

Each stage package owns its commands (``<stage>/cli.py``: arguments and run
function); this module only assembles them. User errors
(:class:`DebiasqeError`) and OS errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .compare import cli as compare_cli
from .compress import cli as compress_cli
from .core.cliargs import HelpFormatter
from .core.errors import DebiasqeError
from .core.gpu_slots import claim_gpu
from .data import cli as data_cli
from .enhance import cli as enhance_cli
from .evaluate import cli as evaluate_cli
from .report import cli as report_cli
from .status import cli as status_cli
from .train import cli as train_cli
from .weights import cli as weights_cli

#: in pipeline order, as `debiasqe --help` lists them
STAGES = (data_cli, compress_cli, train_cli, enhance_cli, evaluate_cli, weights_cli, report_cli, compare_cli,
          status_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="debiasqe", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        stage.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.gpu:
            # before CUDA starts: one device per job on multi-GPU workstations (training.gpus for train)
            claim_gpu(count=int(args.spec.get("gpus", 1)) if args.command == "train" else 1)
        args.func(args)
    except DebiasqeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # full disk, permissions, ...: one line naming the file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
