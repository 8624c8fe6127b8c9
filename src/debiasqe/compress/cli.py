"""``debiasqe compress | rate-summary``: the compression stage's commands (no torch)."""

from __future__ import annotations

from pathlib import Path

from ..core.cliargs import add_command, add_quiet, json_object
from ..core.errors import DebiasqeError
from ..paths import fields_of
from .codecs import CODECS


def run_compress(args) -> None:
    from ..core.imageio import list_images  # lazy: every command imports this cli module
    from .stage import compress_folder

    images = list_images(args.input)
    if not images:
        raise DebiasqeError(f"{args.input}: no images to compress")
    compress_folder(images, args.codec, args.level, args.output, threads=args.threads,
                    options=args.codec_options or {}, progress=not args.quiet)


def run_rate_summary(args) -> None:
    from .rates import write_rate_summary  # lazy: every command imports this cli module

    files = {}
    for path in args.rate_files:
        try:
            at = fields_of("rate", path)
        except ValueError as exc:
            raise DebiasqeError(str(exc)) from None
        files[(at["dataset"], at["codec"], int(at["level"]))] = Path(path)
    write_rate_summary(files, args.output)


def register(sub) -> None:
    p = add_command(sub, "compress", "compress a folder of images at one codec level", run_compress)
    p.add_argument("--codec", required=True, choices=sorted(CODECS), help="the codec")
    p.add_argument("--level", required=True, type=int, help="QF for jpeg, QP for bpg, ...")
    p.add_argument("--input", required=True, type=Path, help="folder of images")
    p.add_argument("--output", required=True, type=Path, help="writes bitstream/, png/, rate.csv")
    p.add_argument("--threads", type=int, default=1, help="worker processes")
    p.add_argument("--codec-options", type=json_object, help='codec config as JSON, e.g. {"backend": "libheif"}')
    add_quiet(p)

    p = add_command(sub, "rate-summary", "mean bpp and PSNR per codec and level", run_rate_summary)
    p.add_argument("rate_files", nargs="+", help=".../compressed/{dataset}/{codec}/{level}/rate.csv files")
    p.add_argument("--output", required=True, type=Path, help="the summary CSV")
