"""Methods as the config defines them: what each trains, on which data, with which seeds.

The Snakefile and the CLI both go through these functions, so a method's
full training config (recipe defaults < config ``recipes:`` < shared
``training:`` keys < the method's own keys) is worked out in one place.

A *run* is a method trained with one seed of ``training.seeds``. With one
seed a run is named as its method, so the ``results/`` layout and every
job's parameters are those from before seeds existed. With several, the runs
of a method are ``{method}@seed{S}`` and take the method's place in every
path (``results/train/esrgan@seed1/bpg/37/model.pt``,
``results/metrics/esrgan@seed1/div2k_valid/bpg/37.csv``): every stage after
training treats a run as it treats a method, and the report averages a
method's runs (:func:`debiasqe.report.results.over_seeds`).
"""

from __future__ import annotations

import copy

from .core.errors import ConfigError
from .train.recipes import RECIPES

#: the compressed images themselves, evaluated like any method
IDENTITY = "comp"
#: method keys that shape the DAG, not the trainer
DAG_KEYS = {"init", "evaluate"}
#: shared training keys that shape the DAG, not the trainer (kept out of the job's spec)
TRAINING_DAG_KEYS = {"train_per", "seeds"}
#: between a method and its seed in a run's name (method names may not hold "@")
SEED_MARK = "@seed"


def check_methods(config: dict) -> None:
    """Cross-method checks the schema cannot express."""
    methods = config["methods"]
    if IDENTITY in methods:
        raise ConfigError(f"methods.{IDENTITY}: the name is reserved for the compressed images")
    for name, m in methods.items():
        if "@" in name:
            raise ConfigError(f"methods.{name}: '@' is reserved for the runs of several training seeds "
                              f"(method{SEED_MARK}S)")
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


#: the method keys that make a method debiased (paper §4: conditional D, domain-divergence regularization)
DEBIAS_KEYS = ("conditional_d", "ddr")


def vanilla_methods(config: dict) -> dict[str, str]:
    """{debiased method: its vanilla method} over the evaluated methods: a method with
    ``conditional_d`` or ``ddr`` and the one method defined as it is without them (Table 3's pairs,
    Table 5's ablations); a debiased method without exactly one such method is left out."""
    def bare(m):
        return {k: v for k, v in m.items() if k not in (*DEBIAS_KEYS, "evaluate")}

    evaluated = [n for n in evaluated_methods(config) if n != IDENTITY]
    out = {}
    for name in evaluated:
        m = config["methods"][name]
        if not any(m.get(k) for k in DEBIAS_KEYS):
            continue
        same = [v for v in evaluated if not any(config["methods"][v].get(k) for k in DEBIAS_KEYS)
                and bare(config["methods"][v]) == bare(m)]
        if len(same) == 1:
            out[name] = same[0]
    return out


def gan_methods(config: dict) -> list[str]:
    return [n for n, m in config["methods"].items()
            if RECIPES[m["recipe"]]["gan"] is not None and m.get("evaluate", True)]


# ------------------------------------------------------------------ runs (one per training seed)


def training_seeds(config: dict) -> list[int]:
    """``training.seeds``; by default the global ``seed`` alone, which trained every model before
    the key existed (so a config that sets ``seed: 5`` keeps its models)."""
    return list(config["training"].get("seeds") or [config["seed"]])


def run_name(method: str, seed: int) -> str:
    return f"{method}{SEED_MARK}{seed}"


def split_run(name: str) -> tuple[str, int | None]:
    """(method, seed) of a run's name; seed None for a method's own name (one training seed)."""
    method, mark, seed = name.rpartition(SEED_MARK)
    return (method, int(seed)) if mark and seed.isdigit() else (name, None)


def expand_runs(methods, seeds) -> list[str]:
    """The runs of ``methods``, method by method: the names themselves with one seed, else
    ``method@seed{S}`` per seed (comp, trained by nobody, stays comp)."""
    if len(seeds) <= 1:
        return list(methods)
    return [r for m in methods for r in ([m] if m == IDENTITY else [run_name(m, s) for s in seeds])]


def runs(config: dict, methods) -> list[str]:
    """:func:`expand_runs` with the config's training seeds."""
    return expand_runs(methods, training_seeds(config))


def init_run(config: dict, run: str) -> str | None:
    """The stage-1 run a run starts from: its method's ``init`` trained with the same seed."""
    method, seed = split_run(run)
    init = config["methods"][method].get("init")
    if init is None or seed is None:
        return init
    return run_name(init, seed)


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
    """The trainer config of method or run ``name`` (see ``debiasqe.train.trainer.resolve_config``);
    its seed is the run's (a method's own name: the first training seed)."""
    name, seed = split_run(name)
    try:
        method = config["methods"][name]
    except KeyError:
        raise ConfigError(f"method {name!r} is not configured; defined: {', '.join(config['methods'])}") from None
    spec = copy.deepcopy(config["recipes"].get(method["recipe"], {}))
    # on_mismatch, generator_init(_scale) and gpus at their defaults are left out: the spec (a job
    # param) stays what it was before the keys existed
    defaults = (("on_mismatch", "restart"), ("generator_init", "paper"), ("generator_init_scale", 0.0), ("gpus", 1))
    spec.update({k: v for k, v in config["training"].items()
                 if k not in TRAINING_DAG_KEYS and (k, v) not in defaults})
    spec.update({k: copy.deepcopy(v) for k, v in method.items() if k not in DAG_KEYS})
    spec.update(seed=training_seeds(config)[0] if seed is None else seed, device=config["device"],
                pretrained=config["pretrained"])
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
