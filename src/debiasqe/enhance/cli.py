"""``debiasqe enhance``: the enhancement stage's command."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import write_text
from ..core.cliargs import add_command, add_quiet
from ..core.errors import ConfigError


def _pairs(args) -> list[tuple]:
    """(model or None, input, output, record or None) per folder: --input, --output and --record
    pair by position; one --model serves every folder, or one model per folder."""
    n = len(args.input)
    if len(args.output) != n:
        raise ConfigError(f"enhance: {n} --input folder(s) but {len(args.output)} --output folder(s)")
    if args.record and len(args.record) != n:
        raise ConfigError(f"enhance: {n} --input folder(s) but {len(args.record)} --record file(s)")
    models = args.model or [None]
    if len(models) not in (1, n):
        raise ConfigError(f"enhance: {len(models)} --model files for {n} --input folders (give one, or one each)")
    models = models * n if len(models) == 1 else models
    return list(zip(models, args.input, args.output, args.record or [None] * n))


def run_enhance(args) -> None:
    from .stage import enhance_folder, enhance_identity  # lazy: every command imports this cli module

    for model, src, dest, record_path in _pairs(args):
        if model is None:
            record = enhance_identity(src, dest)
        else:
            record = enhance_folder(model, src, dest, tile=args.tile or None,
                                    overlap=args.overlap, approximate=args.approximate_tiles,
                                    device=args.device, progress=not args.quiet)
        if record_path:
            write_text(record_path, json.dumps(record, indent=2, default=str) + "\n")


def register(sub) -> None:
    p = add_command(sub, "enhance", "enhance folders of compressed PNGs with trained models", run_enhance,
                    gpu=True)
    p.add_argument("--model", type=Path, nargs="+",
                   help="model.pt (one for every folder, or one per --input folder); omit for the identity "
                        "method (comp)")
    p.add_argument("--input", required=True, type=Path, nargs="+", help="folder(s) of compressed PNGs")
    p.add_argument("--output", required=True, type=Path, nargs="+",
                   help="folder(s) for the enhanced PNGs (same names), one per --input")
    p.add_argument("--tile", type=int, default=512,
                   help="tile side when the whole image does not fit in memory, 0 = always whole image")
    p.add_argument("--overlap", default="auto",
                   help="context pixels around each tile: auto (the generator's receptive field) or a "
                        "number, raised to what the generator needs unless --approximate-tiles")
    p.add_argument("--approximate-tiles", action="store_true",
                   help="tile as asked even where the output then differs from the whole image")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--record", type=Path, nargs="+", help="write each folder's provenance record (JSON) here, "
                                                           "one per --input")
    add_quiet(p)
