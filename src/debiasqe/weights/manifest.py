"""Fetch every pretrained file a run needs, once, and list them in a manifest.

Compute nodes of clusters often have no internet: the ``fetch_weights``
rule runs on the login node (a Snakemake ``localrules`` entry) and puts the
files of the configured metrics (pyiqa, torchvision, timm, CLIP) and of
VGG-19 (perceptual loss, domain-divergence regularization) under
``resources/weights/``, where every job looks for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from ..core.atomic import write_text
from ..core.provenance import base_record, sha256_file


def fetch_weights(metrics: Sequence[str], weights_dir: str | Path, manifest_path: str | Path, *,
                  vgg: bool = True, download: bool = True) -> list[dict]:
    from . import metric_weights as mw
    from . import store as weights

    weights_dir = Path(weights_dir)
    os.environ["DEBIASQE_WEIGHTS"] = str(weights_dir.absolute())
    if download:
        from ..data.download import download as downloader

        with mw.weights_env(weights_dir, offline=False):
            mw.fetch_all(metrics, weights_dir, downloader)
            if vgg:
                weights.fetch("vgg19")
    with mw.weights_env(weights_dir, offline=True):
        rows = mw.manifest(weights_dir, metrics)
        if vgg:
            spec = weights.get_spec("vgg19")
            path = weights.find(spec)
            rows.append({"name": spec.filename, "metric": "vgg19 (losses)", "kind": "torchvision",
                         "path": str(path or weights.expected_path(spec)),
                         "size": path.stat().st_size if path else None,
                         "sha256": sha256_file(path) if path else "missing"})
    write_text(manifest_path, json.dumps(base_record(weights_dir=str(weights_dir), files=rows), indent=2) + "\n")
    return rows
