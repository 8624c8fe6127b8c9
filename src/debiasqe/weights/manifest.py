"""``fetch_weights``: bring every pretrained file a run needs into the store, once, and list them.

Compute nodes of clusters often have no internet: the ``fetch_weights``
rule runs on the machine that runs Snakemake (a local rule), upstream of
every job that uses weights, under every ``pretrained`` policy; see
:mod:`debiasqe.weights.fetch` for what it does per file. The manifest
(``resources/weights/manifest.json``) records each file's state (found,
linked, downloaded, missing), source, size and sha256.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from . import fetch as wf

log = logging.getLogger(__name__)


def fetch_weights(metrics: Sequence[str], weights_dir: str | Path, manifest_path: str | Path, *,
                  vgg: bool = True, policy: str = "auto", mirror: str | None = None,
                  downloader=None, progress: bool = True) -> list[dict]:
    """Fetch under ``policy`` into ``weights_dir`` and write the manifest (also when files are missing,
    except under ``required``, which raises WeightsUnavailableError with one line)."""
    store = Path(weights_dir).absolute()
    os.environ["DEBIASQE_WEIGHTS"] = str(store)
    rows = wf.fetch(metrics, store, policy, mirror=mirror, vgg=vgg, downloader=downloader, progress=progress)
    wf.write_manifest(rows, manifest_path, store=store, policy=policy, mirror=mirror)
    for r in rows:
        log.info("%-10s %s%s", r["state"], r["relpath"], f" (from {r['source']})" if r["source"] else "")
    missing = [r["relpath"] for r in rows if r["state"] == wf.MISSING]
    if missing and policy == "auto":
        log.warning("%s: the networks that need them run RANDOM-INIT (not measurements)",
                    wf.missing_line(missing, store))
    return rows
