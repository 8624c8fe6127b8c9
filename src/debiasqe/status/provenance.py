"""Which outputs came from random-init or unavailable networks, read from the
provenance records the stages write (JSON only: no torch needed).

* enhancement: ``enhanced/.../provenance.json`` carries the model's training
  record (``training.vgg_weights``: the perceptual/L_R feature network);
* evaluation: ``metrics/.../{level}.csv.provenance.json`` (``evaluation.<metric>``:
  status and weight files) and ``domains/.../{level}.json`` (``weights`` of FID/LPIPS).
"""

from __future__ import annotations

import json
from pathlib import Path

#: the states a weight record can be in that a reader must know about
FLAGGED = ("random-init", "unavailable")


def _walk(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, (*path, str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, (*path, i))
    else:
        yield path, obj


def _label(path: tuple, record) -> str:
    """A reader's name for where a flagged value sits in a record."""
    if "vgg_weights" in path:
        return "VGG-19 (training losses)"
    if "disparity" in path and "vgg19" in path:
        return "VGG-19 (Fig. 6 disparity)"
    if "evaluation" in path:
        rest = list(path[path.index("evaluation") + 1:])
        if rest[:1] == ["metrics"]:
            rest = rest[1:]
        if rest:
            return f"metric {rest[0]}"
    if isinstance(record, list) and path and isinstance(path[0], int):
        item = record[path[0]]
        if isinstance(item, dict) and "metric" in item:
            return f"metric {item['metric']}"
    return "/".join(str(p) for p in path)


def flags_of(record) -> dict[str, str]:
    """{what: state} for every random-init or unavailable network a record names."""
    out: dict[str, str] = {}
    for path, value in _walk(record):
        if isinstance(value, str) and value in FLAGGED:
            label = _label(path, record)
            # 'unavailable' wins over 'random-init' for one network (some files missing, metric skipped)
            if out.get(label) != "unavailable":
                out[label] = value
    return out


def records_for(path: str | Path) -> list[Path]:
    """The provenance files that describe output ``path``."""
    p = Path(path)
    if p.name == "provenance.json":
        return [p]
    if p.suffix == ".csv":
        return [p.with_name(p.name + ".provenance.json")]
    if p.suffix == ".json":
        return [p]
    return []


def output_flags(path: str | Path) -> dict[str, str]:
    """Flags of one output, from its provenance record(s); {} when it has none."""
    out: dict[str, str] = {}
    for rec in records_for(path):
        try:
            data = json.loads(rec.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        out.update(flags_of(data))
    return out
