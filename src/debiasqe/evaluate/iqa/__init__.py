"""The IQA metrics, one file each, registered by name (pyiqa's ids).

Every module of this package is imported here, so a new metric file is all
a new metric needs (plus its name in the config schema's enum).
"""

import importlib
import pkgutil

from .registry import METRIC_SPECS, MetricSpec, register_metric

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METRIC_SPECS", "MetricSpec", "register_metric"]
