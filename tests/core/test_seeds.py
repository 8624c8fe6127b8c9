"""training.seeds: the key, the runs it makes (method@seedS) and the jobs they add."""

from __future__ import annotations

import pytest

from debiasqe import paths
from debiasqe.config import load_config, validate_config
from debiasqe.core.errors import ConfigError
from debiasqe.methods import expand_runs, init_run, method_spec, runs, split_run, training_seeds
from debiasqe.targets import jobs, train_units
from conftest import REPO

CI = REPO / "presets" / "ci.yaml"


def ci(tmp_path, **training) -> dict:
    extra = tmp_path / "seeds.yaml"
    extra.write_text(f"training: {training}\n".replace("'", ""))
    return load_config(REPO / "config.yaml", CI, extra)


@pytest.mark.parametrize("seeds,expected", [
    ("[]", r"training.seeds: \[\] should be non-empty"),
    ("[0, 0]", r"training.seeds: \[0, 0\] has non-unique elements"),
    ("[-1]", r"training.seeds\[0\]: -1 .*allowed: integers >= 0"),
    ("[1.5]", r"training.seeds\[0\]: 1.5 .*expected integer"),
    ("3", r"training.seeds: 3 .*expected array"),
])
def test_bad_seeds_give_one_line_naming_the_key(seeds, expected):
    import yaml

    with pytest.raises(ConfigError, match=expected) as exc:
        validate_config({"training": {"seeds": yaml.safe_load(seeds)}})
    assert "\n" not in str(exc.value)


def test_a_method_name_cannot_hold_the_seed_mark():
    with pytest.raises(ConfigError, match=r"methods.my@net: '@' is reserved"):
        validate_config({"methods": {"my@net": {"generator": "dncnn", "recipe": "fidelity"}}})


def test_default_is_the_global_seed_and_the_spec_stays_as_it_was():
    config = validate_config({})
    assert "seeds" not in config["training"]  # no default filled: every job param stays as it was
    assert training_seeds(config) == [0]
    assert runs(config, ["comp", "esrgan"]) == ["comp", "esrgan"]
    spec = method_spec(config, "esrgan")
    assert spec["seed"] == 0 and "seeds" not in spec
    five = validate_config({"seed": 5})  # a config that set `seed` keeps training with it
    assert training_seeds(five) == [5] and method_spec(five, "esrgan")["seed"] == 5
    one = validate_config({"training": {"seeds": [3]}})  # one seed: no seed level, that seed trains
    assert runs(one, ["esrgan"]) == ["esrgan"] and method_spec(one, "esrgan")["seed"] == 3
    assert "seeds" not in method_spec(one, "esrgan")


def test_runs_of_several_seeds():
    config = validate_config({"training": {"seeds": [0, 7]}})
    assert expand_runs(["comp", "esrgan"], [0, 7]) == ["comp", "esrgan@seed0", "esrgan@seed7"]
    assert runs(config, ["esrgan"]) == ["esrgan@seed0", "esrgan@seed7"]
    assert split_run("esrgan_debias@seed7") == ("esrgan_debias", 7) and split_run("esrgan") == ("esrgan", None)
    spec = method_spec(config, "esrgan@seed7")
    assert spec["seed"] == 7 and spec == {**method_spec(config, "esrgan@seed0"), "seed": 7}
    # a GAN run starts from the stage-1 run of its own seed
    assert init_run(config, "esrgan@seed7") == "rrdbnet_psnr@seed7"
    assert init_run(config, "esrgan") == "rrdbnet_psnr" and init_run(config, "dncnn@seed0") is None


def test_two_seeds_train_every_method_twice_with_distinct_outputs(tmp_path):
    one, two = ci(tmp_path), ci(tmp_path, seeds=[0, 1])
    assert len(train_units(two)) == 2 * len(train_units(one)) == 2 * 16
    by_stage = {}
    for j in jobs(two):
        by_stage.setdefault(j.stage, []).append(j)
    train = {j.job: j.outputs for j in by_stage["train"]}
    assert train["dncnn@seed0/bpg/all"] == [paths.results("model", method="dncnn@seed0", codec="bpg", setting="all")]
    assert train["esrgan@seed1/jpeg/all"] == [
        "results/train/esrgan@seed1/jpeg/all/model.pt", "results/train/esrgan@seed1/jpeg/all/discriminator.pt"]
    outputs = [o for j in jobs(two) for o in j.outputs]
    assert len(outputs) == len(set(outputs))
    # every later stage per seed; comp and the report once
    count = {st: len(js) for st, js in by_stage.items()}
    count1 = {}
    for j in jobs(one):
        count1[j.stage] = count1.get(j.stage, 0) + 1
    assert count["enhance"] == 1 + 2 * (count1["enhance"] - 1) == 15
    assert count["evaluate"] == 15 and count["realism"] == 2 * count1["realism"] == 12
    assert count["report"] == count1["report"] and count["compress"] == count1["compress"]
    assert "results/metrics/esrgan@seed1/demo_test/bpg/37.csv" in outputs
    assert "results/features/demo_test/enh-esrgan@seed1-bpg-37.npz" in outputs
