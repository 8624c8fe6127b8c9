"""Registry of the IQA metrics: what each needs to run, by pyiqa name.

A metric file calls :func:`register_metric` with

- ``files``: a function returning the pretrained files ``pyiqa.create_metric``
  reads with its default options (:class:`debiasqe.weights.record.WeightFile`),
  called only when needed, since it imports pyiqa;
- ``random_init``: the ``create_metric`` keyword arguments that build it
  without any file (tests, smoke runs, ``pretrained: random``), or ``None``
  when it cannot run without its files (statistics files, not networks: its
  value is then "unavailable");
- ``set_level``: a distance between image sets (FID), not a per-image score.

Direction (lower is better) and mode (FR/NR) come from pyiqa itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class MetricSpec:
    name: str
    files: Callable[[], list]
    random_init: dict | None = field(default_factory=dict)
    set_level: bool = False


METRIC_SPECS: dict[str, MetricSpec] = {}


def register_metric(name: str, *, files: Callable[[], list], random_init: dict | None = None,
                    set_level: bool = False) -> MetricSpec:
    if name in METRIC_SPECS:
        raise ValueError(f"metric {name!r} registered twice")
    spec = MetricSpec(name, files, random_init, set_level)
    METRIC_SPECS[name] = spec
    return spec
