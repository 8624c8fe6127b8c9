"""Methods as the config defines them: what each trains, on which data.

The Snakefile and the CLI both go through these functions, so a method's
full training config (recipe defaults < config ``recipes:`` < shared
``training:`` keys < the method's own keys) is worked out in one place.
"""

from __future__ import annotations

import copy

from .core.errors import ConfigError
from .train.recipes import RECIPES

#: the compressed images themselves, evaluated like any method
IDENTITY = "comp"
#: method keys that shape the DAG, not the trainer
DAG_KEYS = {"init", "evaluate"}


def check_methods(config: dict) -> None:
    """Cross-method checks the schema cannot express."""
    methods = config["methods"]
    if IDENTITY in methods:
        raise ConfigError(f"methods.{IDENTITY}: the name is reserved for the compressed images")
    for name, m in methods.items():
        init = m.get("init")
        if init is not None:
            if init not in methods:
                raise ConfigError(f"methods.{name}.init: {init!r} is not a configured method; "
                                  f"defined: {', '.join(methods)}")
            if methods[init]["generator"] != m["generator"]:
                raise ConfigError(f"methods.{name}.init: {init!r} trains {methods[init]['generator']}, "
                                  f"not {m['generator']}")
            if methods[init].get("init"):
                raise ConfigError(f"methods.{name}.init: {init!r} has an init of its own (one stage only)")
            start = config.get("training", {}).get("generator_init", "paper")
            if methods[init].get("generator_init", start) != m.get("generator_init", start):
                raise ConfigError(f"methods.{name}.generator_init: {m.get('generator_init', start)!r} differs from "
                                  f"that of its init {init!r} ({methods[init].get('generator_init', start)!r})")
        if m.get("conditional_d") and RECIPES[m["recipe"]]["gan"] is None:
            raise ConfigError(f"methods.{name}.conditional_d needs an adversarial recipe "
                              f"(esrgan, realesrgan), not {m['recipe']!r}")


def evaluated_methods(config: dict) -> list[str]:
    """comp first, then every method with ``evaluate`` (config order)."""
    return [IDENTITY] + [n for n, m in config["methods"].items() if m.get("evaluate", True)]


def gan_methods(config: dict) -> list[str]:
    return [n for n, m in config["methods"].items()
            if RECIPES[m["recipe"]]["gan"] is not None and m.get("evaluate", True)]


def train_setting(config: dict, level: int | str) -> str:
    """The training unit that serves ``level``: the level itself, or 'all'."""
    return "all" if config["training"]["train_per"] == "codec" else str(level)


def train_levels(config: dict, codec: str, setting: str) -> list[int]:
    """The codec levels a training unit trains on."""
    levels = config["codecs"][codec]["levels"]
    if setting == "all":
        return list(levels)
    if int(setting) not in levels:
        raise ConfigError(f"{codec} level {setting} is not configured; configured: {levels}")
    return [int(setting)]


def method_spec(config: dict, name: str) -> dict:
    """The trainer config of method ``name`` (see ``debiasqe.train.trainer.resolve_config``)."""
    try:
        method = config["methods"][name]
    except KeyError:
        raise ConfigError(f"method {name!r} is not configured; defined: {', '.join(config['methods'])}") from None
    spec = copy.deepcopy(config["recipes"].get(method["recipe"], {}))
    # on_mismatch, generator_init and gpus at their defaults are left out: the spec (a job param) stays
    # what it was before the keys existed
    defaults = (("on_mismatch", "restart"), ("generator_init", "paper"), ("gpus", 1))
    spec.update({k: v for k, v in config["training"].items() if k != "train_per" and (k, v) not in defaults})
    spec.update({k: copy.deepcopy(v) for k, v in method.items() if k not in DAG_KEYS})
    spec.update(seed=config["seed"], device=config["device"], pretrained=config["pretrained"])
    if config.get("logging", {}).get("tensorboard"):
        spec["tensorboard"] = True
    return spec


def grid_step(config: dict, patch: int) -> int:
    """Step of the training patch grid for a recipe's patch size.

    ``patches: {size, step}`` fixes the overlap ratio (paper: 128 / 64); a
    recipe with larger patches (Real-ESRGAN: 256) keeps the ratio (step 128).
    """
    p = config["patches"]
    return max(1, patch * p["step"] // p["size"])
