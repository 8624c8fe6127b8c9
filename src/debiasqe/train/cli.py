"""``debiasqe train``: the training stage's command."""

from __future__ import annotations

from pathlib import Path

from ..core.cliargs import add_command, add_quiet, json_object


def run_train(args) -> None:
    from .stage import run_training

    run_training(args.spec, args.raw, args.comp, args.output, step=args.step, init_from=args.init,
                 progress=not args.quiet)


def register(sub) -> None:
    p = add_command(sub, "train", "train one method on (raw, compressed) patch stores", run_train, gpu=True)
    p.add_argument("--spec", required=True, type=json_object, help="the method's training config as JSON")
    p.add_argument("--raw", required=True, type=Path, help="raw image store (.npy)")
    p.add_argument("--comp", required=True, nargs="+", type=Path, help="compressed image store(s), one per level")
    p.add_argument("--step", required=True, type=int, help="patch grid step")
    p.add_argument("--init", type=Path, help="stage-1 model.pt that initialises the generator")
    p.add_argument("--output", required=True, type=Path, help="folder for checkpoint.pt, train_log.csv, model.pt")
    add_quiet(p)
