"""The pipeline config: one schema, defaults filled, one-line errors.

Snakemake (``Snakefile``) and the package both call :func:`validate_config`
on the same schema file (``schema/config.schema.yaml``, linked from
``workflow/schemas/``), so every fact (codec levels, methods, metrics)
has one source: the config plus the schema's defaults.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .core.errors import ConfigError
from .data.datasets import dataset_source
from .methods import check_methods

SCHEMA_PATH = Path(__file__).with_name("schema") / "config.schema.yaml"


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _with_defaults(validator_cls):
    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _allowed(err: jsonschema.ValidationError) -> str:
    s = err.schema if isinstance(err.schema, dict) else {}
    v = err.validator
    if v == "enum":
        return "allowed: " + ", ".join(map(str, s["enum"]))
    if v in ("minimum", "maximum"):
        lo, hi = s.get("minimum"), s.get("maximum")
        kind = "integers" if s.get("type") == "integer" else "numbers"
        if lo is not None and hi is not None:
            return f"allowed: {kind} {lo}-{hi}"
        return f"allowed: {kind} >= {lo}" if lo is not None else f"allowed: {kind} <= {hi}"
    if v == "pattern":
        return f"allowed: {s.get('x-allowed', 'text matching ' + s['pattern'])}"
    if v == "type":
        return f"expected {s['type']}"
    if v == "additionalProperties":
        props = sorted(s.get("properties", {}))
        return "allowed keys: " + ", ".join(props) if props else ""
    return ""


def _message(err: jsonschema.ValidationError) -> str:
    path = list(err.absolute_path)
    if err.validator == "propertyNames":
        # the offending name is the instance of the sub-error
        sub = err.context[0] if err.context else err
        return (f"config key {_key(path + [sub.instance])}: {sub.instance!r} is not allowed; "
                f"{_allowed(sub)}")
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"config key {_key(path + [extra[0]])} is not a known key; {_allowed(err)}"
    if err.validator == "pattern":
        return f"config key {_key(path)}: {err.instance!r} is not allowed; {_allowed(err)}"
    allowed = _allowed(err)
    msg = f"config key {_key(path)}: {err.message}"
    return f"{msg} ({allowed})" if allowed else msg


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults in place and check the config; raise ConfigError on the first problem."""
    # `codecs: {jpeg: null}` drops a codec that a config merged underneath (config.yaml) lists
    if isinstance(config.get("codecs"), dict):
        config["codecs"] = {k: v for k, v in config["codecs"].items() if v is not None}
    validator = _Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.path)))
    if errors:
        raise ConfigError(_message(jsonschema.exceptions.best_match(errors)))
    _check_references(config)
    return config


def _check_references(config: dict) -> None:
    """Cross-key checks a JSON schema cannot express."""
    check_methods(config)
    used = [config["train_dataset"], *config["test_datasets"]]
    for name in used:
        spec = config["datasets"].get(name)
        if spec is None:
            raise ConfigError(
                f"dataset {name!r} is used but not defined under 'datasets:'; "
                f"defined: {', '.join(config['datasets']) or 'none'}"
            )
        dataset_source(name, spec)


def load_config(*paths: str | Path) -> dict:
    """Merge YAML files left to right (as ``snakemake --configfile`` does) and validate."""
    merged: dict = {}
    for p in paths:
        try:
            data = yaml.safe_load(Path(p).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML ({exc})") from None
        merged = deep_update(merged, data)
    return validate_config(merged)


def deep_update(base: dict, new: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in new.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out
