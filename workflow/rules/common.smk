# Helpers shared by the rules: names and paths derived from the config.

import json


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    codec=r"[a-z0-9]+",
    level=r"\d+",



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


def enhanced_dirs():
    from debiasqe.methods import evaluated_methods

    return [
        f"results/enhanced/{m}/{d}/{c}/{lv}"
        for m in evaluated_methods(config)
        for d in config["test_datasets"]
        for c, lv in codec_levels()
    ]


def all_targets():
    return ["results/tables/rate_summary.csv", *enhanced_dirs()]
