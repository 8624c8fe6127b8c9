"""``debiasqe fetch-weights``: the weights stage's command."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..core.cliargs import add_command, add_quiet
from .store import POLICIES


def run_fetch_weights(args) -> None:
    from .fetch import mirror_setting
    from .manifest import fetch_weights

    fetch_weights(args.metrics, args.weights, args.output, vgg=args.vgg, policy=args.pretrained,
                  mirror=mirror_setting(args.mirror), progress=not args.quiet)


def register(sub) -> None:
    p = add_command(sub, "fetch-weights", "bring every pretrained file the metrics and losses need into the store",
                    run_fetch_weights)
    p.add_argument("--metrics", nargs="*", default=[], help="pyiqa metric ids (none: only --vgg)")
    p.add_argument("--weights", type=Path, default=Path(paths.resources("weights")), help="the weight store")
    p.add_argument("--output", required=True, type=Path, help="manifest (JSON)")
    p.add_argument("--vgg", action="store_true", help="also VGG-19 (perceptual loss, regularization, disparity)")
    p.add_argument("--pretrained", default="auto", choices=POLICIES,
                   help="required: fail when a file cannot be had; auto: download what is reachable; "
                        "random: download nothing")
    p.add_argument("--mirror", default=None,
                   help="base URL or folder with the store's layout (default: $DEBIASQE_WEIGHTS_MIRROR)")
    add_quiet(p)
