"""Registry of the IQA metrics: what each needs to run, by pyiqa name.

A metric file calls :func:`register_metric` with

- ``files``: a function returning the pretrained files ``pyiqa.create_metric``
  reads with its default options (:class:`debiasqe.weights.record.WeightFile`),
  called only when needed, since it imports pyiqa;
- ``random_init``: the ``create_metric`` keyword arguments that build it
  without any file (tests, smoke runs, ``pretrained: random``), or ``None``
  when it cannot run without its files (statistics files, not networks: its
  value is then "unavailable");
- ``random_fixup``: applied to the random-init model after it is built, where
  random weights break a constraint the trained ones keep (LPIPS's linear
  heads are non-negative, so distances are);
- ``set_level``: a distance between image sets (FID), not a per-image score;
- ``channels_last``: the evaluator hands it image batches in channels-last
  (NHWC) memory. oneDNN's CPU convolutions run faster on that layout,
  chiefly with several threads (``benchmarks/README.md``), and the scores
  differ from contiguous NCHW input only by float rounding. Set for the
  metrics whose networks are convolutional on the input image; not where the
  network reshapes the image into tokens first (MUSIQ), is a ViT (AHIQ,
  measured slower), or there is no network (PSNR, NIQE, PI).

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
    channels_last: bool = False
    random_fixup: Callable | None = None


METRIC_SPECS: dict[str, MetricSpec] = {}


def register_metric(name: str, *, files: Callable[[], list], random_init: dict | None = None,
                    set_level: bool = False, channels_last: bool = False,
                    random_fixup: Callable | None = None) -> MetricSpec:
    if name in METRIC_SPECS:
        raise ValueError(f"metric {name!r} registered twice")
    spec = MetricSpec(name, files, random_init, set_level, channels_last, random_fixup)
    METRIC_SPECS[name] = spec
    return spec
