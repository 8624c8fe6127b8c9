"""Same config, same seed, CPU: byte-identical outputs from two clean runs.

The second clean run is shared (conftest.second_clean_run): it is the SLURM
run of tests/test_slurm.py when a localhost SLURM can start, else one more
local run, so presets/ci.yaml is not run more often than needed.
"""

from __future__ import annotations

import pytest

from pipeline_runs import VOLATILE_KEY, compare_outputs, output_files, tables

pytestmark = pytest.mark.slow


def test_two_clean_runs_give_identical_outputs(ci_reference, second_clean_run):
    how, other = second_clean_run
    assert tables(ci_reference), "the reference run produced no CSV tables"
    assert set(output_files(ci_reference)) == set(output_files(other))
    problems = compare_outputs(ci_reference, other)
    assert problems == [], f"reference vs {how} run:\n" + "\n".join(problems)


def test_tables_are_compared_byte_for_byte(ci_reference, second_clean_run):
    """CSV tables without volatile columns are compared as raw bytes, not parsed."""
    _, other = second_clean_run
    for rel in tables(ci_reference):
        header = (ci_reference / rel).read_text().split("\n", 1)[0].split(",")
        if any(VOLATILE_KEY.search(c) for c in header):
            continue  # has timing columns: compared without them by the test above
        assert (ci_reference / rel).read_bytes() == (other / rel).read_bytes(), rel
