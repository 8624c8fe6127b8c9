"""``debiasqe evaluate | realism``: the evaluation stage's commands."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..core.cliargs import add_command, add_quiet, json_object
from ..weights.store import POLICIES


def run_evaluate(args) -> None:
    from .stage import evaluate_method  # lazy: every command imports this cli module

    codec, _, level = (args.disparity_at or "").partition(":")
    evaluate_method(args.method, args.dataset, args.codecs, args.results, args.raw,
                    disparity_at=(codec, int(level)) if level else None, metrics=args.metrics,
                    weights_dir=args.weights, policy=args.pretrained, device=args.device, batch=args.batch,
                    fid_patch=args.fid_patch, fid_protocol=args.fid, disparity_patch=args.disparity_patch,
                    disparity_patches=args.disparity_patches, seed=args.seed, progress=not args.quiet,
                    fid_options={"min_samples": args.fid_min_samples,
                                 "interval_max_patches": args.fid_interval_max_patches,
                                 "interval_replicates": args.fid_interval_replicates,
                                 "store_features": args.fid_store_features},
                    statistics={"bootstrap_replicates": args.bootstrap_replicates,
                                "confidence": args.confidence, "seed": args.statistics_seed})


def run_realism(args) -> None:
    from .realism import realism_for_method  # lazy: every command imports this cli module

    realism_for_method(args.method, args.dataset, args.codecs, args.settings, args.results, args.raw,
                       patch=args.patch, device=args.device)


def register(sub) -> None:
    p = add_command(sub, "evaluate", "metrics, domain triangles and disparity of one method, every codec level",
                    run_evaluate, gpu=True)
    p.add_argument("--method", required=True, help="the method whose enhanced images are scored (comp = none)")
    p.add_argument("--dataset", required=True, help="the test dataset")
    p.add_argument("--codecs", required=True, type=json_object, help='JSON: codec -> levels, e.g. {"bpg": [37]}')
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS),
                   help="results root: reads compressed/ and enhanced/, writes metrics/, domains/, disparity/")
    p.add_argument("--raw", required=True, type=Path, help="prepared raw images")
    p.add_argument("--metrics", required=True, nargs="+", help="pyiqa metric ids")
    p.add_argument("--weights", type=Path, default=Path(paths.resources("weights")), help="pretrained weights folder")
    p.add_argument("--pretrained", default="auto", choices=POLICIES, help="what to do without a weight file")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--batch", type=int, default=4, help="images per metric forward")
    p.add_argument("--fid-patch", type=int, default=256, help="FID patch side (px)")
    p.add_argument("--fid", default="patches", choices=["patches", "whole"],
                   help="FID protocol: HiFiC patches of --fid-patch px, or pyiqa's whole images")
    p.add_argument("--fid-min-samples", type=int, default=2048,
                   help="FID from fewer patches per set is marked few-samples")
    p.add_argument("--fid-interval-max-patches", type=int, default=512,
                   help="largest set (patches) whose features are kept and whose FID gets an interval")
    p.add_argument("--fid-interval-replicates", type=int, default=200,
                   help="bootstrap replicates of the FID interval (0: none)")
    p.add_argument("--fid-store-features", action="store_true",
                   help="keep every set's per-patch features (FID intervals for any set size)")
    p.add_argument("--bootstrap-replicates", type=int, default=1000,
                   help="bootstrap replicates of the per-image metrics' intervals (0: none)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence of every interval (FID's too)")
    p.add_argument("--statistics-seed", type=int, default=0, help="seed of every bootstrap (FID's too)")
    p.add_argument("--disparity-at", help="CODEC:LEVEL where the Fig. 6 disparity is measured")
    p.add_argument("--disparity-patch", type=int, default=128, help="disparity patch side (px)")
    p.add_argument("--disparity-patches", type=int, default=64, help="disparity patches in all")
    p.add_argument("--seed", type=int, default=0, help="seed of the random patch positions")
    add_quiet(p)

    p = add_command(sub, "realism", "discriminator realism scores of raw, enhanced, compressed patches",
                    run_realism, gpu=True)
    p.add_argument("--method", required=True, help="a GAN method")
    p.add_argument("--dataset", required=True, help="the test dataset")
    p.add_argument("--codecs", required=True, type=json_object, help="JSON: codec -> levels")
    p.add_argument("--settings", required=True, type=json_object,
                   help='JSON: codec -> {level: training setting ("37" or "all")}')
    p.add_argument("--results", type=Path, default=Path(paths.RESULTS), help="results root")
    p.add_argument("--raw", required=True, type=Path, help="prepared raw images")
    p.add_argument("--patch", type=int, default=128, help="patch side for the UNet discriminator (px)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
