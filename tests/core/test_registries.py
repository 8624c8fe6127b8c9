"""The config schema admits exactly what the code's registries hold."""

from __future__ import annotations

import re

import pytest
import yaml

from debiasqe.archs.registry import DISCRIMINATORS, GENERATORS
from debiasqe.compress.codecs import CODECS
from debiasqe.core.device import DEVICE_PATTERN
from debiasqe.train.recipes import RECIPES
from debiasqe.weights.metric_weights import METRICS
from debiasqe.weights.store import POLICIES
from conftest import REPO

SCHEMA = yaml.safe_load((REPO / "src/debiasqe/schema/config.schema.yaml").read_text())
PROPS = SCHEMA["properties"]
METHOD = PROPS["methods"]["additionalProperties"]["properties"]


def test_schema_enums_equal_the_registries():
    assert set(METHOD["generator"]["enum"]) == set(GENERATORS)
    assert set(METHOD["recipe"]["enum"]) == set(RECIPES)
    assert set(PROPS["recipes"]["propertyNames"]["enum"]) == set(RECIPES)
    assert set(PROPS["codecs"]["propertyNames"]["enum"]) == set(CODECS)
    assert set(PROPS["metrics"]["items"]["enum"]) == set(METRICS)
    assert set(PROPS["pretrained"]["enum"]) == set(POLICIES)


def test_every_recipe_names_a_registered_discriminator():
    used = {r["discriminator"] for r in RECIPES.values()} - {None}
    assert used and used <= set(DISCRIMINATORS)


def test_device_pattern_is_the_codes():
    assert PROPS["device"]["pattern"] == DEVICE_PATTERN


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_names_the_code_accepts_pass_the_schema(name):
    assert re.match(PROPS["device"]["pattern"], name)


@pytest.mark.parametrize("name", ["tpu", "cuda:", "cuda:x", "CPU", "mps", " cpu"])
def test_other_device_names_fail_schema_and_code_alike(name):
    from debiasqe.core.device import resolve_device
    from debiasqe.core.errors import ConfigError

    assert not re.match(PROPS["device"]["pattern"], name)
    with pytest.raises(ConfigError, match="allowed: auto, cpu, cuda, cuda:N"):
        resolve_device(name)
