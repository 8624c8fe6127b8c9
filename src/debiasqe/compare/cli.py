"""``debiasqe compare``: the compare page of a test set (no torch)."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..core.cliargs import add_command, json_object


def _split(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",")] if text else None


def run_compare(args) -> None:
    from .page import build_page, parse_crop  # lazy: every command imports this cli module

    codec, _, level = (args.headline or "").partition(":")
    summary = build_page(args.dataset, args.codecs, args.methods, args.results, args.raw, args.output,
                         preview=args.preview, metrics=args.metrics, headline=(codec, int(level)) if level else None,
                         self_contained=args.self_contained, images=_split(args.images),
                         settings=_split(args.settings), crop=parse_crop(args.crop))
    print(f"{summary['page']}: {summary['bytes'] / 1e6:.2f} MB, {summary['images']} image(s) x "
          f"{summary['settings']} level(s) x {summary['sources']} sources")


def register(sub) -> None:
    p = add_command(sub, "compare", "the compare page: wipe between raw, compressed and every method",
                    run_compare)
    p.add_argument("--dataset", required=True, help="the test dataset")
    p.add_argument("--codecs", required=True, type=json_object, help='JSON: codec -> levels, e.g. {"bpg": [37]}')
    p.add_argument("--methods", required=True, nargs="+", help="evaluated methods (comp is always shown)")
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS),
                   help="results root (compressed/, enhanced/, metrics/)")
    p.add_argument("--raw", required=True, type=Path, help="prepared raw images")
    p.add_argument("--output", type=Path, help="page to write (default: results/compare/{dataset}/index.html)")
    p.add_argument("--preview", type=Path, help="also write a PNG contact sheet (the report's entry)")
    p.add_argument("--metrics", nargs="+", default=["psnr", "lpips"], help="metric columns shown")
    p.add_argument("--headline", help="CODEC:LEVEL shown first")
    p.add_argument("--self-contained", action="store_true", help="embed the images (base64 PNG) for sharing")
    p.add_argument("--images", help="comma-separated image names (default: all)")
    p.add_argument("--settings", help="comma-separated CODEC:LEVEL (default: all)")
    p.add_argument("--crop", help="with --self-contained: SIZE (centred square) or X,Y,W,H")
