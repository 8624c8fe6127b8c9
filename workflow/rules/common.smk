# Input functions and config-derived lists shared by the rules. Every path
# comes from debiasqe.paths (R = results/..., S = resources/...).

import json

import sys

from debiasqe import paths, targets
from debiasqe.weights import fetch as weights_fetch
from debiasqe.core.fingerprint import stage_fingerprint
from debiasqe.methods import (
    IDENTITY,
    evaluated_methods,
    gan_methods,
    grid_step,
    init_run,
    method_spec,
    runs,
    train_levels,
    train_setting,
    training_seeds,
    vanilla_methods,
)
from debiasqe.train.recipes import RECIPES

R = paths.results
S = paths.resources


wildcard_constraints:
    dataset=r"[A-Za-z0-9_\-]+",
    codec=r"[a-z0-9]+",
    level=r"\d+",
    # a method, or with several training seeds a run of one (method@seedS: debiasqe.methods)
    method="|".join([IDENTITY, *runs(config, config["methods"])]),


# (codec, level) of the paper's headline tables and figures (paper: BPG QP 37)
HEADLINE = targets.headline_of(config)
TABLE_EXTS = targets.TABLE_EXTS
FIGURE_EXTS = targets.FIGURE_EXTS
WEIGHTS_DIR = WEIGHTS_STORE  # the pretrained weight store (Snakefile: weights.dir / DEBIASQE_WEIGHTS)


def log(stage, job):
    return R("log", stage=stage, job=job)


def bench(stage, job):
    return R("benchmark", stage=stage, job=job)


def method_pattern(names):
    """Wildcard constraint matching exactly these method names."""
    return "|".join(names) if names else "(?!)"


# The lists below are debiasqe.targets' (which `debiasqe status` reads too), bound to this config.
def datasets_used():
    return targets.datasets_used(config)


def codec_levels():
    """(codec, level) pairs of the config, in config order."""
    return targets.codec_levels(config)


def codecs_json():
    return json.dumps({c: s["levels"] for c, s in config["codecs"].items()})


def codec_options(codec):
    """The codec's config entry minus its levels, as JSON for the CLI."""
    opts = {k: v for k, v in config["codecs"][codec].items() if k != "levels"}
    return json.dumps(opts, sort_keys=True)


def rate_files():
    return [R("rate", dataset=d, codec=c, level=lv) for d in datasets_used() for c, lv in codec_levels()]


def patch_store(dataset, codec=None, level=None):
    return R("patch_store", dataset=dataset, source="raw" if codec is None else f"{codec}/{level}")


def model_path(method, codec, level):
    return R("model", method=method, codec=codec, setting=train_setting(config, level))


def enhance_models(wc):
    """The model of every (codec, level), in codec_levels() order (one per codec with train_per: codec)."""
    return [model_path(wc.method, c, lv) for c, lv in codec_levels()]


def init_model(wc):
    init = init_run(config, wc.method)  # the stage-1 model trained with the same seed
    return [R("model", method=init, codec=wc.codec, setting=wc.setting)] if init else []


def recipe_patch(method):
    spec = method_spec(config, method)
    return spec.get("patch", RECIPES[spec["recipe"]]["patch"])


def weights_manifest(consumer="evaluate"):
    """The manifest of the fetch a job kind waits for: training's (VGG-19) or the whole one."""
    return [S("weights_manifest_train")] if consumer == "train" else [S("weights_manifest")]


def train_files():
    """What training uses: VGG-19 when any configured method does."""
    return [weights_fetch.vgg19_file()] if any(vgg_files(m) for m in config["methods"]) else []


def vgg_files(method):
    """VGG-19 when the method's training uses it (perceptual loss or domain-divergence regularization)."""
    from debiasqe.train.trainer import resolve_config

    cfg = resolve_config(method_spec(config, method))
    return [weights_fetch.vgg19_file()] if cfg["perceptual_weight"] > 0 or cfg["ddr"] else []


def evaluation_files():
    """The metric networks' files, FID's Inception and disparity's VGG-19."""
    return weights_fetch.needed_files(config["metrics"], vgg=True)


# What the store will hold once fetch_weights has run (probes a host only for an absent file).
WEIGHTS_EXPECTED = weights_fetch.Expectation(
    WEIGHTS_DIR, config["pretrained"], weights_fetch.mirror_setting(config["weights"]["mirror"]),
    S("weights_manifest"),
)


_WEIGHT_STATES = {}


def weights_input(files_of):
    """Input function of a job that uses weights: the manifest of the fetch it waits for and
    its kind's weight-state file (nothing for a job that uses no pretrained file).

    A fetch rule reruns only when the state it leaves changes, so jobs rerun with it only then,
    and training's jobs only for training's file (fetch_weights_train). The state file holds the
    state (pretrained-<digest> / partial-<digest> / random-init) and is rewritten here, when the
    workflow is read for a run (not a dry run), only when it changed; it also reruns the jobs when
    only modification times are compared. See debiasqe.weights.fetch.
    """

    def inputs(wc):
        files = files_of(wc)
        if not files:
            return []
        consumer = files_of.__name__.removesuffix("_weights")
        path = S("weights_state", consumer=consumer)
        if consumer not in _WEIGHT_STATES:
            _WEIGHT_STATES[consumer] = WEIGHTS_EXPECTED.state(files)
            if not workflow.dryrun:  # a dry run writes nothing (the fetch rule's params show the change)
                weights_fetch.write_state(path, _WEIGHT_STATES[consumer])
        return weights_manifest(consumer) + ([path] if os.path.exists(path) else [])

    return inputs


def train_weights(wc):
    return vgg_files(wc.method)


def evaluate_weights(wc):
    return evaluation_files()


def weights_console(when):
    """The start/end lines about missing pretrained files (onstart/onsuccess/onerror)."""
    for line in weights_fetch.console_lines(
        when, config["pretrained"], WEIGHTS_DIR, S("weights_manifest"), evaluation_files(), paths.RESULTS
    ):
        print(line, file=sys.stderr)


def compressed_pngs(wc):
    """The decoded images of every configured (codec, level) of the job's dataset."""
    return [R("compressed_png", dataset=wc.dataset, codec=c, level=lv) for c, lv in codec_levels()]


def enhanced_dirs(method, dataset):
    """A method's enhanced images at every configured (codec, level)."""
    return [R("enhanced", method=method, dataset=dataset, codec=c, level=lv) for c, lv in codec_levels()]


def feature_sets(method, dataset):
    """The FID feature caches an evaluation job writes (none without FID)."""
    return targets.feature_sets(config, method, dataset)


def comp_features(dataset):
    """The raw and compressed Inception sets, cached by comp's job and read by every other method's."""
    return targets.comp_features(config, dataset)


def evaluation_outputs(method, dataset):
    """Per codec, the evaluation job's metrics/ and domains/ folders (a file per level)."""
    return [R(kind, method=method, dataset=dataset, codec=c) for kind in ("metrics_dir", "domains_dir")
            for c in config["codecs"]]


def evaluated_runs():
    """Every evaluated method's runs (the methods themselves with one training seed)."""
    return runs(config, evaluated_methods(config))


def gan_runs():
    return runs(config, gan_methods(config))


def evaluation_dirs(dataset):
    """The evaluation outputs of a test set: every run's metrics, domains, realism and disparity."""
    dirs = []
    for m in evaluated_runs():
        dirs += evaluation_outputs(m, dataset)
        dirs.append(R("disparity", method=m, dataset=dataset, codec=HEADLINE[0], level=HEADLINE[1]))
    dirs += [R("realism_dir", method=m, dataset=dataset, codec=c) for m in gan_runs()
             for c in config["codecs"]]
    return dirs


def report_spec():
    spec = {
        "methods": evaluated_methods(config),
        "gan_methods": gan_methods(config),
        "metrics": config["metrics"],
        "codecs": {c: {"levels": s["levels"]} for c, s in config["codecs"].items()},
        "headline": config["report"]["headline"],
        "residual": config["report"]["residual"],
        "bd_fit": config["report"]["bd_fit"],
        "vanilla": vanilla_methods(config),
        "statistics": config["statistics"],
    }
    if len(training_seeds(config)) > 1:  # (one seed: the spec, a job param, stays as it was)
        spec["seeds"] = training_seeds(config)
    return json.dumps(spec, sort_keys=True)


def table_stems():
    return targets.table_stems(config)


def figure_stems():
    return targets.figure_stems(config)


def caption(stem):
    """Caption file of an output stem; per-codec stems share one (rd_curves_bpg -> fig_rd_curves)."""
    mapping = {"triangles": "fig_triangles", "rd": "fig_rd_curves", "disparity": "fig_disparity",
               "residuals": "fig_residuals", "table4": "table4_bdbr"}
    return f"../report/{mapping.get(stem.split('_')[0], stem)}.rst"


def report_files(dataset):
    return [R("table", dataset=dataset, stem=s, ext=e) for s in table_stems() for e in TABLE_EXTS] + [
        R("figure", dataset=dataset, stem=s, ext=e) for s in figure_stems() for e in FIGURE_EXTS
    ]


def compare_files(dataset):
    """The compare page and its preview (rule compare)."""
    return [R("compare_page", dataset=dataset), R("compare_preview", dataset=dataset)]


def all_targets():
    files = [R("rate_summary"), R("overview")]
    for d in config["test_datasets"]:
        files += report_files(d) + compare_files(d)
    return files
