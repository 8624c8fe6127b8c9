"""What each data job reads: the data rules' input functions and options.

Snakemake's data rules (``workflow/rules/data.smk``, ``patches.smk``) call
these with the config's ``datasets:`` mapping, so the rules stay one-liners.
The paths themselves (downloads, extracted archives, prepared splits, patch
stores) are :mod:`debiasqe.paths`' templates.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping

from ..paths import resources, results
from . import datasets as dsreg
from . import remote


def archive_file_pattern() -> str:
    """Wildcard constraint: the registry's archive file names."""
    return "|".join(re.escape(a.filename) for a in remote.ARCHIVES.values())


def archive_name_pattern() -> str:
    """Wildcard constraint: the registry's archive names."""
    return "|".join(re.escape(a) for a in remote.ARCHIVES)


def download_options(filename: str, datasets: Mapping) -> str:
    """Configured options of ``debiasqe download`` for the archive stored as ``filename``."""
    return dsreg.archive_job(dsreg.archive_for_file(filename), datasets).cli_options("download")


def extract_options(archive: str, datasets: Mapping) -> str:
    """Configured options of ``debiasqe extract`` for ``archive``."""
    return dsreg.archive_job(archive, datasets).cli_options("extract")


def extract_input(archive: str, datasets: Mapping) -> str:
    """The archive the extract job reads: the user's (``archive:``) or the downloaded one."""
    job = dsreg.archive_job(archive, datasets)
    return str(job.local_archive) if job.local_archive is not None else resources("download", archive_file=job.filename)


def prepare_inputs(dataset: str, datasets: Mapping) -> list[str]:
    """A real split read from an archive needs it extracted; ``root:`` and other datasets need nothing."""
    if dataset in remote.SPLITS:
        src = dsreg.remote_source(dataset, datasets.get(dataset) or {})
        if src.mode != "root":
            return [resources("extracted", archive=src.archive)]
    return []


def prepare_spec_json(dataset: str, datasets: Mapping) -> str:
    """The dataset's entry for ``debiasqe prepare --spec`` (root = the extracted folder when extracted)."""
    spec = datasets.get(dataset) or {}
    extracted = prepare_inputs(dataset, datasets)
    return json.dumps(dsreg.prepare_spec(dataset, spec, extracted[0] if extracted else None), sort_keys=True)


def patch_store_inputs(dataset: str, source: str) -> dict[str, str]:
    """Inputs of the store ``source`` ("raw" or "{codec}/{level}") of ``dataset``."""
    prepared = resources("dataset", dataset=dataset)
    if source == "raw":
        images = prepared
    else:
        codec, level = source.split("/")
        images = results("compressed_png", dataset=dataset, codec=codec, level=level)
    return {"images": images, "dataset": prepared}


def patch_stores(dataset: str, codec_levels: Iterable[tuple[str, int]]) -> list[str]:
    """Every store the trainer reads for ``dataset``: raw plus each (codec, level)."""
    return [results("patch_store", dataset=dataset, source=source)
            for source in ["raw", *(f"{c}/{lv}" for c, lv in codec_levels)]]
