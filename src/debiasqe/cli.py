"""``debiasqe <stage>``: the pipeline's stages as subcommands.

Argument parsing only; each subcommand calls one function of the package.
User errors (:class:`DebiasqeError`) print one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import DebiasqeError

#: stages that may run on a GPU
GPU_STAGES = {"train", "enhance", "evaluate", "realism"}


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def cmd_prepare(args) -> None:
    from .data.datasets import prepare_dataset

    spec = args.spec or {}
    prepare_dataset(args.dataset, spec, args.output)


# ---- datasets: download, extract, image stores for training patches (issue "Real datasets")


def _json_list(text: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError("expected a JSON list")
    return value


def _mirrors(args):
    from .data.remote import mirrors_from_config

    return None if args.mirrors is None else mirrors_from_config(args.mirrors, key="--mirrors")


def cmd_download(args) -> None:
    from .data.remote import acquire_archive

    acquire_archive(args.archive, args.output.parent, mirrors=_mirrors(args), dest=args.output,
                    progress=not args.quiet)


def cmd_extract(args) -> None:
    from .data.remote import extract_archive_for_splits, max_bytes_from_gb

    extract_archive_for_splits(args.archive, args.input, args.output, mirrors=_mirrors(args),
                               max_bytes=max_bytes_from_gb(args.max_unpacked_gb), progress=not args.quiet)


def cmd_patches(args) -> None:
    from .data.patches import store_folder

    store_folder(args.input, args.output, dataset=args.dataset, progress=not args.quiet)


def _add_data_parsers(sub) -> None:
    p = sub.add_parser("download", help="fetch a dataset archive (DIV2K, Flickr2K), resuming and verified")
    p.add_argument("--archive", required=True, help="DIV2K_train_HR, DIV2K_valid_HR or Flickr2K")
    p.add_argument("--output", required=True, type=Path, help="the archive file to write")
    p.add_argument("--mirrors", type=_json_list,
                   help='JSON list of urls or {"url", "sha256", "md5", "size", "format"}; default: the registry\'s')
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("extract", help="verify a dataset archive and extract its splits' images safely")
    p.add_argument("--archive", required=True, help="DIV2K_train_HR, DIV2K_valid_HR or Flickr2K")
    p.add_argument("--input", required=True, type=Path, help="the archive file (downloaded or your own)")
    p.add_argument("--output", required=True, type=Path, help="folder to create (must not exist)")
    p.add_argument("--mirrors", type=_json_list, help="as for download: the sizes/checksums to verify against")
    p.add_argument("--max-unpacked-gb", type=float, default=64, help="ceiling on the extracted size (GiB)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("patches", help="store a folder's images whole in one memory-mapped array "
                                       "(training patches are cut from it at read time)")
    p.add_argument("--input", required=True, type=Path, help="a prepared dataset or a codec level's png/ folder")
    p.add_argument("--dataset", type=Path, help="the prepared dataset that gives the image order (default: --input)")
    p.add_argument("--output", required=True, type=Path, help="X.npy; the index goes to X.index.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_patches)


# ---- end datasets block


def cmd_compress(args) -> None:
    from .compress import compress_folder
    from .data.images import list_images

    images = list_images(args.input)
    if not images:
        raise DebiasqeError(f"{args.input}: no images to compress")
    compress_folder(images, args.codec, args.level, args.output, threads=args.threads,
                    options=args.codec_options or {}, progress=not args.quiet)


def cmd_rate_summary(args) -> None:
    from .rates import write_rate_summary

    files = {}
    for path in args.rate_files:
        p = Path(path)  # results/compressed/{dataset}/{codec}/{level}/rate.csv
        level_dir = p.parent
        files[(level_dir.parent.parent.name, level_dir.parent.name, int(level_dir.name))] = p
    write_rate_summary(files, args.output)


def cmd_train(args) -> None:
    from .train_job import run_training

    run_training(args.spec, args.raw, args.comp, args.output, step=args.step, init_from=args.init,
                 progress=not args.quiet)


def cmd_enhance(args) -> None:
    import json as _json

    from .atomic import write_text
    from .enhance import enhance_folder, enhance_identity

    if args.model is None:
        record = enhance_identity(args.input, args.output)
    else:
        record = enhance_folder(args.model, args.input, args.output, tile=args.tile or None,
                                overlap=args.overlap, approximate=args.approximate_tiles,
                                device=args.device, progress=not args.quiet)
    if args.record:
        write_text(args.record, _json.dumps(record, indent=2, default=str) + "\n")


def cmd_evaluate(args) -> None:
    from .evaluate_job import evaluate_method

    codec, _, level = (args.disparity_at or "").partition(":")
    evaluate_method(args.method, args.dataset, args.codecs, args.results, args.raw,
                    disparity_at=(codec, int(level)) if level else None, metrics=args.metrics,
                    weights_dir=args.weights, policy=args.pretrained, device=args.device, batch=args.batch,
                    fid_patch=args.fid_patch, disparity_patch=args.disparity_patch,
                    disparity_patches=args.disparity_patches, seed=args.seed, progress=not args.quiet)


def cmd_realism(args) -> None:
    from .realism import realism_for_method

    realism_for_method(args.method, args.dataset, args.codecs, args.settings, args.results, args.raw,
                       patch=args.patch, device=args.device)


def cmd_fetch_weights(args) -> None:
    from .weight_manifest import fetch_weights

    fetch_weights(args.metrics, args.weights, args.output, vgg=args.vgg, download=not args.manifest_only)


def cmd_report(args) -> None:
    from .report.build import build_figures, build_tables

    spec = args.spec
    common = dict(dataset=args.dataset, methods=spec["methods"], metrics=spec["metrics"], codecs=spec["codecs"],
                  setting=spec["headline"])
    if args.what == "tables":
        build_tables(args.results, args.output, gan_methods=spec["gan_methods"], **common)
    else:
        build_figures(args.results, args.output, residual=spec["residual"], **common)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="debiasqe", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="normalise a dataset split to RGB PNGs + manifest.json")
    p.add_argument("--dataset", required=True, help="dataset name (e.g. demo_test)")
    p.add_argument("--spec", type=_json, help="the dataset's config entry as JSON")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.set_defaults(func=cmd_prepare)

    _add_data_parsers(sub)

    p = sub.add_parser("compress", help="compress a folder of images at one codec level")
    p.add_argument("--codec", required=True, help="jpeg, bpg, webp, avif, jpegxl, jpeg2000")
    p.add_argument("--level", required=True, type=int, help="QF for jpeg, QP for bpg, ...")
    p.add_argument("--input", required=True, type=Path, help="folder of images")
    p.add_argument("--output", required=True, type=Path, help="writes bitstream/, png/, rate.csv")
    p.add_argument("--threads", type=int, default=1, help="worker processes")
    p.add_argument("--codec-options", type=_json, help='codec config as JSON, e.g. {"backend": "libheif"}')
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("train", help="train one method on (raw, compressed) patch stores")
    p.add_argument("--spec", required=True, type=_json, help="the method's training config as JSON")
    p.add_argument("--raw", required=True, type=Path, help="raw image store (.npy)")
    p.add_argument("--comp", required=True, nargs="+", type=Path, help="compressed image store(s), one per level")
    p.add_argument("--step", required=True, type=int, help="patch grid step")
    p.add_argument("--init", type=Path, help="stage-1 model.pt that initialises the generator")
    p.add_argument("--output", required=True, type=Path, help="folder for checkpoint.pt, train_log.csv, model.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("enhance", help="enhance a folder of compressed PNGs with a trained model")
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_enhance)

    p = sub.add_parser("evaluate", help="metrics, domain triangles and disparity of one method, every codec level")
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--codecs", required=True, type=_json, help='JSON: codec -> levels, e.g. {"bpg": [37]}')
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results root: reads compressed/ and enhanced/, writes metrics/, domains/, disparity/")
    p.add_argument("--raw", required=True, type=Path, help="prepared raw images")
    p.add_argument("--metrics", required=True, nargs="+", help="pyiqa metric ids")
    p.add_argument("--weights", type=Path, default=Path("resources/weights"))
    p.add_argument("--pretrained", default="auto", choices=["required", "auto", "random"])
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--fid-patch", type=int, default=256)
    p.add_argument("--disparity-at", help="CODEC:LEVEL where the Fig. 6 disparity is measured")
    p.add_argument("--disparity-patch", type=int, default=128)
    p.add_argument("--disparity-patches", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("realism", help="discriminator realism scores of raw, enhanced, compressed patches")
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--codecs", required=True, type=_json, help="JSON: codec -> levels")
    p.add_argument("--settings", required=True, type=_json,
                   help='JSON: codec -> {level: training setting ("37" or "all")}')
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--raw", required=True, type=Path)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_realism)

    p = sub.add_parser("fetch-weights", help="download every pretrained file the metrics and losses need")
    p.add_argument("--metrics", required=True, nargs="+")
    p.add_argument("--weights", type=Path, default=Path("resources/weights"))
    p.add_argument("--output", required=True, type=Path, help="manifest (JSON)")
    p.add_argument("--vgg", action="store_true", help="also VGG-19 (perceptual loss, regularization)")
    p.add_argument("--manifest-only", action="store_true", help="list what is present, download nothing")
    p.set_defaults(func=cmd_fetch_weights)

    p = sub.add_parser("report", help="the paper's tables or figures for one test dataset")
    p.add_argument("what", choices=["tables", "figures"])
    p.add_argument("--dataset", required=True)
    p.add_argument("--spec", required=True, type=_json,
                   help="JSON: methods, gan_methods, metrics, codecs, headline, residual")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("rate-summary", help="mean bpp and PSNR per codec and level")
    p.add_argument("rate_files", nargs="+", help=".../{dataset}/{codec}/{level}/rate.csv files")
    p.add_argument("--output", required=True, type=Path)
    p.set_defaults(func=cmd_rate_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in GPU_STAGES:
            from .gpu_slots import claim_gpu

            claim_gpu()  # before CUDA starts: one device per job on multi-GPU workstations
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
