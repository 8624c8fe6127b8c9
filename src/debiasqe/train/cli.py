"""``debiasqe train``: the training stage's command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.cliargs import add_command, add_quiet, json_object


def gpu_lock_fds() -> list[int]:
    from ..core import gpu_slots

    return [c.fd for c in gpu_slots._held if c.fd >= 0]


def run_train(args) -> None:
    gpus = int(args.spec.get("gpus", 1))
    if gpus > 1 and "LOCAL_RANK" not in os.environ:
        # training.gpus: N data-parallel processes; each runs this command again under torchrun
        from .distributed import torchrun_argv

        for fd in gpu_lock_fds():
            os.set_inheritable(fd, True)  # the claimed devices stay locked while torchrun runs
        argv = torchrun_argv(gpus, sys.argv[1:])
        sys.stdout.flush()
        os.execv(argv[0], argv)
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
