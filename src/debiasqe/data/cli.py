"""``debiasqe prepare | download | extract | patches``: the data stage's commands.

Heavy modules are imported inside the run functions, so ``debiasqe --help``
and the data commands never load torch.
"""

from __future__ import annotations

from pathlib import Path

from ..core.cliargs import add_command, add_quiet, json_list, json_object


def run_prepare(args) -> None:
    from .datasets import prepare_dataset  # lazy: every command imports this cli module

    prepare_dataset(args.dataset, args.spec or {}, args.output, threads=args.threads)


def _mirrors(args):
    from .remote import mirrors_from_config  # lazy: every command imports this cli module

    return None if args.mirrors is None else mirrors_from_config(args.mirrors, key="--mirrors")


def run_download(args) -> None:
    from .remote import acquire_archive  # lazy: every command imports this cli module

    acquire_archive(args.archive, args.output.parent, mirrors=_mirrors(args), dest=args.output,
                    progress=not args.quiet)


def run_extract(args) -> None:
    from .remote import extract_archive_for_splits, max_bytes_from_gb  # lazy: every command imports this cli module

    extract_archive_for_splits(args.archive, args.input, args.output, mirrors=_mirrors(args),
                               max_bytes=max_bytes_from_gb(args.max_unpacked_gb), progress=not args.quiet)


def run_patches(args) -> None:
    from .patches import store_folder  # lazy: every command imports this cli module

    store_folder(args.input, args.output, dataset=args.dataset, progress=not args.quiet)


def register(sub) -> None:
    p = add_command(sub, "prepare", "normalise a dataset split to RGB PNGs + manifest.json", run_prepare)
    p.add_argument("--dataset", required=True, help="dataset name (e.g. demo_test)")
    p.add_argument("--spec", type=json_object, help="the dataset's config entry as JSON")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.add_argument("--threads", type=int, default=1, help="images prepared at once")

    p = add_command(sub, "download", "fetch a dataset archive (DIV2K, Flickr2K), resuming and verified",
                    run_download)
    p.add_argument("--archive", required=True, help="DIV2K_train_HR, DIV2K_valid_HR or Flickr2K")
    p.add_argument("--output", required=True, type=Path, help="the archive file to write")
    p.add_argument("--mirrors", type=json_list,
                   help='JSON list of urls or {"url", "sha256", "md5", "size", "format"}; default: the registry\'s')
    add_quiet(p)

    p = add_command(sub, "extract", "verify a dataset archive and extract its splits' images safely", run_extract)
    p.add_argument("--archive", required=True, help="DIV2K_train_HR, DIV2K_valid_HR or Flickr2K")
    p.add_argument("--input", required=True, type=Path, help="the archive file (downloaded or your own)")
    p.add_argument("--output", required=True, type=Path, help="folder to create (must not exist)")
    p.add_argument("--mirrors", type=json_list, help="as for download: the sizes/checksums to verify against")
    p.add_argument("--max-unpacked-gb", type=float, default=64, help="ceiling on the extracted size (GiB)")
    add_quiet(p)

    p = add_command(sub, "patches", "store a folder's images whole in one memory-mapped array "
                                    "(training patches are cut from it at read time)", run_patches)
    p.add_argument("--input", required=True, type=Path, help="a prepared dataset or a codec level's png/ folder")
    p.add_argument("--dataset", type=Path, help="the prepared dataset that gives the image order (default: --input)")
    p.add_argument("--output", required=True, type=Path, help="X.npy; the index goes to X.index.json")
    add_quiet(p)
