"""``debiasqe enhance``: the enhancement stage's command."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import write_text
from ..core.cliargs import add_command, add_quiet


def run_enhance(args) -> None:
    from .stage import enhance_folder, enhance_identity  # lazy: every command imports this cli module

    if args.model is None:
        record = enhance_identity(args.input, args.output)
    else:
        record = enhance_folder(args.model, args.input, args.output, tile=args.tile or None,
                                overlap=args.overlap, approximate=args.approximate_tiles,
                                device=args.device, progress=not args.quiet)
    if args.record:
        write_text(args.record, json.dumps(record, indent=2, default=str) + "\n")


def register(sub) -> None:
    p = add_command(sub, "enhance", "enhance a folder of compressed PNGs with a trained model", run_enhance,
                    gpu=True)
    p.add_argument("--model", type=Path, help="model.pt; omit for the identity method (comp)")
    p.add_argument("--input", required=True, type=Path, help="folder of compressed PNGs")
    p.add_argument("--output", required=True, type=Path, help="folder for the enhanced PNGs (same names)")
    p.add_argument("--tile", type=int, default=512,
                   help="tile side when the whole image does not fit in memory, 0 = always whole image")
    p.add_argument("--overlap", default="auto",
                   help="context pixels around each tile: auto (the generator's receptive field) or a "
                        "number, raised to what the generator needs unless --approximate-tiles")
    p.add_argument("--approximate-tiles", action="store_true",
                   help="tile as asked even where the output then differs from the whole image")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--record", type=Path, help="write the provenance record (JSON) here")
    add_quiet(p)
