"""``debiasqe fetch-weights``: the weights stage's command."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..core.cliargs import add_command


def run_fetch_weights(args) -> None:
    from .manifest import fetch_weights

    fetch_weights(args.metrics, args.weights, args.output, vgg=args.vgg, download=not args.manifest_only)


def register(sub) -> None:
    p = add_command(sub, "fetch-weights", "download every pretrained file the metrics and losses need",
                    run_fetch_weights)
    p.add_argument("--metrics", required=True, nargs="+", help="pyiqa metric ids")
    p.add_argument("--weights", type=Path, default=Path(paths.resources("weights")), help="the weights folder")
    p.add_argument("--output", required=True, type=Path, help="manifest (JSON)")
    p.add_argument("--vgg", action="store_true", help="also VGG-19 (perceptual loss, regularization)")
    p.add_argument("--manifest-only", action="store_true", help="list what is present, download nothing")
