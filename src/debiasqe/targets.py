"""The outputs a config asks for, job by job, worked out from the config alone.

``workflow/rules/common.smk`` builds its input functions from these lists,
and ``debiasqe status`` walks the same jobs without building Snakemake's DAG,
so the two cannot disagree. Every path comes from :mod:`debiasqe.paths`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import paths
from .data import datasets as dsreg
from .data import remote
from .methods import IDENTITY, evaluated_methods, gan_methods, runs, train_setting
from .report.build import TABLE_STEMS, headline

TABLE_EXTS = ("csv", "md", "tex")
FIGURE_EXTS = ("png", "pdf")


def datasets_used(config: dict) -> list[str]:
    return [config["train_dataset"], *config["test_datasets"]]


def codec_levels(config: dict) -> list[tuple[str, int]]:
    """(codec, level) pairs of the config, in config order."""
    return [(c, lv) for c, spec in config["codecs"].items() for lv in spec["levels"]]


def headline_of(config: dict) -> tuple[str, int]:
    """(codec, level) of the paper's headline tables and figures (paper: BPG QP 37)."""
    return headline(config["codecs"], config["report"]["headline"])


def trained_methods(config: dict) -> list[str]:
    """Every method that is trained: the evaluated ones and the stage-1 models they start from."""
    used = [m for m in evaluated_methods(config) if m != IDENTITY]
    inits = [config["methods"][m].get("init") for m in used]
    return [m for m in config["methods"] if m in used or m in inits]


def train_units(config: dict) -> list[tuple[str, str, str]]:
    """(run, codec, setting) of every training job (a run: the method, or method@seedS with
    several training seeds)."""
    units = []
    for m in runs(config, trained_methods(config)):
        for c, spec in config["codecs"].items():
            for s in dict.fromkeys(train_setting(config, lv) for lv in spec["levels"]):
                units.append((m, c, s))
    return units


def table_stems(config: dict) -> list[str]:
    gans = gan_methods(config)
    stems = [s for s in TABLE_STEMS if gans or not s.startswith(("table1", "table2", "table5"))]
    return stems + [f"table4_bdbr_{c}" for c in config["codecs"]]


def figure_stems(config: dict) -> list[str]:
    stems = [f"triangles_{m}" for m in ("fid", "lpips") if m in config["metrics"]]
    return stems + [f"rd_curves_{c}" for c in config["codecs"]] + ["disparity", "residuals"]


def feature_sets(config: dict, method: str, dataset: str, root=paths.RESULTS) -> list[str]:
    """The FID feature caches an evaluation job writes (none without FID)."""
    if "fid" not in config["metrics"]:
        return []
    return [paths.results("feature_set", root, dataset=dataset, set=f"enh-{method}-{c}-{lv}")
            for c, lv in codec_levels(config)]


def comp_features(config: dict, dataset: str, root=paths.RESULTS) -> list[str]:
    """The raw and compressed Inception sets, cached by comp's job and read by every other method's."""
    if "fid" not in config["metrics"]:
        return []
    return [paths.results("feature_set", root, dataset=dataset, set="raw")] + [
        paths.results("feature_set", root, dataset=dataset, set=f"comp-{c}-{lv}") for c, lv in codec_levels(config)]


# ------------------------------------------------------------------ jobs


@dataclass
class Job:
    """One job of the pipeline: its rule's stage, its log/benchmark name and its outputs."""

    stage: str        # the log folder: results/logs/{stage}/{job}.log
    job: str
    outputs: list[str] = field(default_factory=list)
    benchmark: bool = True  # whether the rule writes a Snakemake benchmark TSV

    def log(self, root=paths.RESULTS) -> str:
        return paths.results("log", root, stage=self.stage, job=self.job)

    def benchmark_file(self, root=paths.RESULTS) -> str | None:
        return paths.results("benchmark", root, stage=self.stage, job=self.job) if self.benchmark else None


def jobs(config: dict, results=paths.RESULTS, resources=paths.RESOURCES) -> list[Job]:
    """Every job ``snakemake`` runs for ``config`` (downloads/extraction aside), in pipeline order,
    with the files it leaves (per-level files inside the folders a rule declares)."""
    out = _data_jobs(config, results, resources) + _training_jobs(config, results, resources)
    for d in config["test_datasets"]:
        out += _test_set_jobs(config, d, results)
    out.append(Job("report", "overview", [paths.results("overview", results),
                                          *(paths.results("training_curves", results, ext=e) for e in FIGURE_EXTS)],
                   benchmark=False))
    return out


def _data_jobs(config: dict, results, resources) -> list[Job]:
    """download, extract, prepare, compress and the rate summary."""
    R = lambda kind, **f: paths.results(kind, results, **f)  # noqa: E731
    out: list[Job] = []
    archives = []
    for d in dict.fromkeys(datasets_used(config)):
        if d in remote.SPLITS:
            src = dsreg.remote_source(d, config["datasets"].get(d) or {})
            if src.mode != "root" and src.archive not in archives:
                archives.append(src.archive)
    for a in archives:
        job = dsreg.archive_job(a, config["datasets"])
        if job.local_archive is None:
            out.append(Job("download", job.filename, [paths.resources("download", resources, archive_file=job.filename)],
                           benchmark=False))
    for a in archives:
        out.append(Job("extract", a, [paths.resources("extracted", resources, archive=a)]))
    for d in dict.fromkeys(datasets_used(config)):
        folder = paths.resources("dataset", resources, dataset=d)
        out.append(Job("prepare", d, [f"{folder}/manifest.json"]))
    for d in dict.fromkeys(datasets_used(config)):
        for c, lv in codec_levels(config):
            at = dict(dataset=d, codec=c, level=lv)
            out.append(Job("compress", f"{d}/{c}/{lv}", [R("rate", **at), R("compress_provenance", **at)]))
    out.append(Job("report", "rate_summary", [R("rate_summary")], benchmark=False))
    return out


def _training_jobs(config: dict, results, resources) -> list[Job]:
    """The patch stores, the weights (when required) and the trained models."""
    R = lambda kind, **f: paths.results(kind, results, **f)  # noqa: E731
    out: list[Job] = []
    d = config["train_dataset"]
    for source in ["raw", *(f"{c}/{lv}" for c, lv in codec_levels(config))]:
        out.append(Job("patches", f"{d}/{source}", [R("patch_store", dataset=d, source=source),
                                                    R("patch_index", dataset=d, source=source)]))
    # the weight fetch runs under every policy (local rules, no benchmark)
    out.append(Job("weights", "fetch_weights_train", [paths.resources("weights_manifest_train", resources)],
                   benchmark=False))
    out.append(Job("weights", "fetch_weights", [paths.resources("weights_manifest", resources)], benchmark=False))
    gans = set(runs(config, gan_methods(config)))
    for m, c, s in train_units(config):
        files = [R("model", method=m, codec=c, setting=s)]
        if m in gans:
            files.append(R("discriminator", method=m, codec=c, setting=s))
        out.append(Job("train", f"{m}/{c}/{s}", files))
    return out


def _test_set_jobs(config: dict, d: str, results) -> list[Job]:
    """Enhancement, evaluation, realism, tables, figures and the compare page of test set ``d``."""
    R = lambda kind, **f: paths.results(kind, results, **f)  # noqa: E731
    out: list[Job] = []
    evaluated = runs(config, evaluated_methods(config))
    hl = headline_of(config)
    for m in evaluated:  # one job per (method, dataset) over every codec level
        files = []
        for c, lv in codec_levels(config):
            folder = R("enhanced", method=m, dataset=d, codec=c, level=lv)
            files.append(folder if m == IDENTITY else f"{folder}/provenance.json")
        out.append(Job("enhance", f"{m}/{d}", files, benchmark=m != IDENTITY))
    for m in evaluated:
        files = []
        for c, lv in codec_levels(config):
            at = dict(method=m, dataset=d, codec=c, level=lv)
            files += [R("metrics", **at), R("domains", **at)]
        files.append(R("disparity", method=m, dataset=d, codec=hl[0], level=hl[1]))
        files += feature_sets(config, m, d, results)
        if m == IDENTITY:
            files += comp_features(config, d, results)
        out.append(Job("evaluate", f"{m}/{d}", files))
    for m in runs(config, gan_methods(config)):
        files = [R("realism", method=m, dataset=d, codec=c, level=lv) for c, lv in codec_levels(config)]
        out.append(Job("realism", f"{m}/{d}", files, benchmark=False))
    out.append(Job("report", f"tables_{d}", [R("table", dataset=d, stem=s, ext=e)
                                             for s in table_stems(config) for e in TABLE_EXTS], benchmark=False))
    out.append(Job("report", f"figures_{d}", [R("figure", dataset=d, stem=s, ext=e)
                                              for s in figure_stems(config) for e in FIGURE_EXTS], benchmark=False))
    out.append(Job("report", f"compare_{d}", [R("compare_page", dataset=d), R("compare_preview", dataset=d)],
                   benchmark=False))
    return out
