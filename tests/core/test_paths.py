"""One module owns every results/ and resources/ path: templates, filling, parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from debiasqe import paths


def test_unfilled_fields_stay_snakemake_wildcards():
    assert paths.results("rate") == "results/compressed/{dataset}/{codec}/{level}/rate.csv"
    assert paths.results("rate", codec="bpg") == "results/compressed/{dataset}/bpg/{level}/rate.csv"


def test_filled_paths_under_any_root():
    assert paths.results("metrics", root="/x/r", method="comp", dataset="kodak", codec="jpeg", level=10) == \
        "/x/r/metrics/comp/kodak/jpeg/10.csv"
    assert paths.resources("weights_manifest") == "resources/weights/manifest.json"
    assert paths.result_path("enhanced", method="m", dataset="d", codec="c", level=1) == \
        Path("results/enhanced/m/d/c/1")


def test_an_unknown_field_is_an_error_not_a_silent_path():
    with pytest.raises(KeyError, match="no field"):
        paths.results("rate", method="x")


@pytest.mark.parametrize("kind", ["metrics", "domains", "realism", "disparity", "rate"])
def test_fields_of_inverts_results(kind, tmp_path):
    fields = {"method": "esrgan_debias", "dataset": "div2k_valid", "codec": "bpg", "level": "37"}
    if kind == "rate":
        fields.pop("method")
    assert paths.fields_of(kind, paths.results(kind, root=tmp_path, **fields)) == fields


def test_fields_of_names_the_expected_layout():
    with pytest.raises(ValueError, match=r"not a rate path \(expected .*/\{level\}/rate.csv\)"):
        paths.fields_of("rate", "somewhere/rate.csv")
