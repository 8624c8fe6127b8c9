# Helpers shared by the rules: names and paths derived from the config.

import json
import os

from debiasqe.methods import (
    IDENTITY,
    evaluated_methods,
    gan_methods,
    grid_step,
    method_spec,
    train_levels,
    train_setting,
)
from debiasqe.recipes import RECIPES
from debiasqe.report.build import headline
from debiasqe.report.build import TABLE_STEMS


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    codec=r"[a-z0-9]+",
    level=r"\d+",


# (codec, level) of the paper's headline tables and figures (paper: BPG QP 37)
HEADLINE = headline(config["codecs"], config["report"]["headline"])


def datasets_used():
    return [config["train_dataset"], *config["test_datasets"]]


def codec_levels():
    """(codec, level) pairs of the config, in config order."""
    return [(c, lv) for c, spec in config["codecs"].items() for lv in spec["levels"]]


def codec_options(codec):
    """The codec's config entry minus its levels, as JSON for the CLI."""
    opts = {k: v for k, v in config["codecs"][codec].items() if k != "levels"}
    return json.dumps(opts, sort_keys=True)


def rate_files():
    return [
        f"results/compressed/{d}/{c}/{lv}/rate.csv"
        for d in datasets_used()
        for c, lv in codec_levels()
    ]


def evaluation_dirs(dataset):
    """The evaluation outputs (one folder per method and codec, a file per level) of a test set."""
    dirs = []
    for c in config["codecs"]:
        for m in evaluated_methods(config):
            dirs += [f"results/{kind}/{m}/{dataset}/{c}" for kind in ("metrics", "domains")]
        dirs += [f"results/realism/{m}/{dataset}/{c}" for m in gan_methods(config)]
    dirs += [f"results/disparity/{m}/{dataset}/{HEADLINE[0]}/{HEADLINE[1]}.csv" for m in evaluated_methods(config)]
    return dirs


def all_targets():
    files = ["results/tables/rate_summary.csv"]
    for d in config["test_datasets"]:
        files += report_files(d)
    return files


def _patch_store(dataset, codec=None, level=None):
    if codec is None:
        return f"results/patches/{dataset}/raw.npy"
    return f"results/patches/{dataset}/{codec}/{level}.npy"


def model_path(method, codec, level):
    return f"results/train/{method}/{codec}/{train_setting(config, level)}/model.pt"


def _init_model(wc):
    init = config["methods"][wc.method].get("init")
    return [f"results/train/{init}/{wc.codec}/{wc.setting}/model.pt"] if init else []


def _recipe_patch(method):
    spec = method_spec(config, method)
    return spec.get("patch", RECIPES[spec["recipe"]]["patch"])


def _weights_manifest():
    # With `pretrained: required` every weight file must be fetched first.
    return ["resources/weights/manifest.json"] if config["pretrained"] == "required" else []


def _comp_eval(wc):
    """Every method waits for comp's job, which caches the raw and compressed Inception sets."""
    return [] if wc.method == IDENTITY else [f"results/domains/{IDENTITY}/{wc.dataset}/{c}" for c in config["codecs"]]


TABLE_EXTS = ("csv", "md", "tex")


FIGURE_EXTS = ("png", "pdf")


def report_spec():
    return json.dumps(
        {
            "methods": evaluated_methods(config),
            "gan_methods": gan_methods(config),
            "metrics": config["metrics"],
            "codecs": {c: {"levels": s["levels"]} for c, s in config["codecs"].items()},
            "headline": config["report"]["headline"],
            "residual": config["report"]["residual"],
            "bd_fit": config["report"]["bd_fit"],
        },
        sort_keys=True,
    )


def table_stems():
    stems = [s for s in TABLE_STEMS if gan_methods(config) or not s.startswith(("table1", "table2", "table5"))]
    return stems + [f"table4_bdbr_{c}" for c in config["codecs"]]


def figure_stems():
    stems = [f"triangles_{m}" for m in ("fid", "lpips") if m in config["metrics"]]
    return stems + [f"rd_curves_{c}" for c in config["codecs"]] + ["disparity", "residuals"]


def _caption(stem):
    """Caption file of an output stem; per-codec stems share one (rd_curves_bpg -> fig_rd_curves)."""
    mapping = {"triangles": "fig_triangles", "rd": "fig_rd_curves", "disparity": "fig_disparity",
               "residuals": "fig_residuals", "table4": "table4_bdbr"}
    return f"../report/{mapping.get(stem.split('_')[0], stem)}.rst"


def report_files(dataset):
    return [f"results/tables/{dataset}/{s}.{e}" for s in table_stems() for e in TABLE_EXTS] + [
        f"results/figures/{dataset}/{s}.{e}" for s in figure_stems() for e in FIGURE_EXTS
    ]
