"""Every ``results/`` and ``resources/`` path of the pipeline, written once.

The rules, the stages and the report all ask this module where a file lives,
and nothing else builds or parses these paths. A template's ``{fields}`` are
Snakemake wildcards as they stand, and :func:`results` / :func:`resources`
fill the fields they are given (others stay wildcards), so one template
serves a rule's ``output:`` and a stage's ``open()`` alike::

    results("rate")                                   # 'results/compressed/{dataset}/{codec}/{level}/rate.csv'
    results("rate", dataset="demo_test", codec="bpg", level=37)
    results("metrics", root=tmp, method="comp", ...)  # another results folder (tests, --results)
    fields_of("rate", "results/compressed/kodak/jpeg/10/rate.csv")  # {'dataset': 'kodak', ...}
"""

from __future__ import annotations

import os
import re
from pathlib import Path

RESULTS = "results"
RESOURCES = "resources"

#: relative to the results folder
RESULT_TEMPLATES = {
    # compress
    "compressed": "compressed/{dataset}/{codec}/{level}",
    "compressed_png": "compressed/{dataset}/{codec}/{level}/png",
    "bitstream": "compressed/{dataset}/{codec}/{level}/bitstream",
    "rate": "compressed/{dataset}/{codec}/{level}/rate.csv",
    "compress_provenance": "compressed/{dataset}/{codec}/{level}/provenance.json",
    "rate_summary": "tables/rate_summary.csv",
    # training patches: source is "raw" or "{codec}/{level}"
    "patch_store": "patches/{dataset}/{source}.npy",
    "patch_index": "patches/{dataset}/{source}.index.json",
    # train: setting is a level, or "all" (training.train_per: codec)
    "train_dir": "train/{method}/{codec}/{setting}",
    "model": "train/{method}/{codec}/{setting}/model.pt",
    "discriminator": "train/{method}/{codec}/{setting}/discriminator.pt",
    # enhance
    "enhanced": "enhanced/{method}/{dataset}/{codec}/{level}",
    # evaluate
    "metrics_dir": "metrics/{method}/{dataset}/{codec}",
    "metrics": "metrics/{method}/{dataset}/{codec}/{level}.csv",
    "domains_dir": "domains/{method}/{dataset}/{codec}",
    "domains": "domains/{method}/{dataset}/{codec}/{level}.json",
    "disparity": "disparity/{method}/{dataset}/{codec}/{level}.csv",
    "realism_dir": "realism/{method}/{dataset}/{codec}",
    "realism": "realism/{method}/{dataset}/{codec}/{level}.json",
    "features": "features/{dataset}",
    "feature_set": "features/{dataset}/{set}.npz",
    # report
    "table": "tables/{dataset}/{stem}.{ext}",
    "tables_dir": "tables/{dataset}",
    "figure": "figures/{dataset}/{stem}.{ext}",
    "figures_dir": "figures/{dataset}",
    "report": "report.html",
    "report_landing": "report/landing.rst",  # the report's first page, with the weights banner
    # compare page (its images are referenced relative to it)
    "compare_page": "compare/{dataset}/index.html",
    "compare_preview": "compare/{dataset}/preview.png",
    "overview": "report/overview.html",
    "training_curves": "figures/training_curves.{ext}",
    # every job's log and Snakemake benchmark: {job} is the rule's wildcards joined by "/"
    "log": "logs/{stage}/{job}.log",
    "benchmark": "benchmarks/{stage}/{job}.tsv",
}

#: relative to the resources folder
RESOURCE_TEMPLATES = {
    "download": "downloads/{archive_file}",
    "downloads": "downloads",
    "extracted": "extracted/{archive}",
    "dataset": "datasets/{dataset}",
    "weights": "weights",
    "weights_manifest": "weights/manifest.json",
    "weights_manifest_train": "weights/manifest-train.json",  # training's files only (VGG-19)
    # the weight state of the jobs of one kind (train, evaluate), rewritten only when it
    # changes: an input of those jobs, so they are remade when it does
    "weights_state": "weights/state/{consumer}.txt",
}

_FIELD = re.compile(r"\{(\w+)\}")


def _fill(template: str, fields: dict) -> str:
    unknown = set(fields) - set(_FIELD.findall(template))
    if unknown:
        raise KeyError(f"{template}: no field(s) {', '.join(sorted(unknown))}")
    return _FIELD.sub(lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), template)


def results(kind: str, root: str | os.PathLike = RESULTS, **fields) -> str:
    """The results path ``kind`` under ``root``, its given fields filled in."""
    return f"{os.fspath(root)}/{_fill(RESULT_TEMPLATES[kind], fields)}"


def resources(kind: str, root: str | os.PathLike = RESOURCES, **fields) -> str:
    """The resources path ``kind`` under ``root``, its given fields filled in."""
    return f"{os.fspath(root)}/{_fill(RESOURCE_TEMPLATES[kind], fields)}"


def result_path(kind: str, root: str | os.PathLike = RESULTS, **fields) -> Path:
    """:func:`results` as a Path (for the stages)."""
    return Path(results(kind, root, **fields))


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", template)
    rx = "".join(f"(?P<{p[1:-1]}>[^/]+)" if _FIELD.fullmatch(p) else re.escape(p) for p in parts)
    return re.compile(rf"(?:^|.*/){rx}$")


def fields_of(kind: str, path: str | os.PathLike) -> dict[str, str]:
    """The fields of a results path of ``kind`` (the inverse of :func:`results`), under any root."""
    template = RESULT_TEMPLATES[kind]
    m = _pattern(template).match(Path(path).as_posix())
    if m is None:
        raise ValueError(f"{path}: not a {kind} path (expected .../{template})")
    return m.groupdict()
