"""The commands that need no network stay free of torch and pyiqa.

``debiasqe --help`` and the data (prepare, download, extract), compress,
report, compare and status commands must start without loading torch or
pyiqa (seconds of import, and absent from their conda envs). Each check runs
in a fresh interpreter: it imports every debiasqe module the command can
reach (its stage's ``cli`` module and everything that imports, lazily or not,
as :func:`debiasqe.core.fingerprint.closure` reads it from the source) and
the third-party packages those commands import inside functions, then looks
at ``sys.modules``.

The trainer's torch ``Dataset`` over the image stores lives in
``train/patch_dataset.py``, so ``debiasqe patches`` is light too. The control
test below shows the check sees torch when it is there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from debiasqe.core.fingerprint import closure
from conftest import REPO

HEAVY = ("torch", "pyiqa")
#: what the light commands import inside functions (demo images, extra codecs, BD-rate, plots, tables)
LAZY_THIRD_PARTY = ("skimage.data", "imagecodecs", "pillow_heif", "bjontegaard", "matplotlib.pyplot", "pandas")
#: a module that needs torch (the control)
TORCH_MODULE = "debiasqe.train.patch_dataset"

PROBE = """
import contextlib, importlib, json, sys
mods, third = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for m in mods:
    importlib.import_module(m)
for m in third:
    with contextlib.suppress(ImportError):
        importlib.import_module(m)
from debiasqe.cli import build_parser
build_parser()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
""".replace("{heavy}", repr(set(HEAVY)))


def _env() -> dict:
    """This checkout's package first (an installed debiasqe may be another checkout's)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def _loaded_heavy(modules: list[str], third: tuple[str, ...] = ()) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(modules), json.dumps(list(third))],
                          capture_output=True, text=True, cwd=REPO, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return sorted({m.split(".")[0] for m in json.loads(proc.stdout.strip().splitlines()[-1])})


@pytest.mark.parametrize("stage", ["data", "compress", "report", "compare", "status"])
def test_light_stages_never_import_torch_or_pyiqa(stage):
    modules = closure(f"debiasqe.{stage}.cli")
    assert len(modules) > 3, modules  # the closure was read: the cli module, its package and what it imports
    assert _loaded_heavy(modules, LAZY_THIRD_PARTY) == []


def test_the_probe_sees_torch_where_it_is_imported():
    """Control: the module that needs torch does load it (so an empty answer above means something)."""
    assert _loaded_heavy([TORCH_MODULE]) == ["torch"]


@pytest.mark.parametrize("argv", [["--help"], ["prepare", "--help"], ["patches", "--help"], ["compress", "--help"],
                                  ["report", "--help"],
                                  ["rate-summary", "--help"], ["status", "--help"]])
def test_help_of_light_commands_loads_neither(argv):
    code = ("import atexit, json, sys\n"
            f"atexit.register(lambda: print(json.dumps(sorted(m for m in {set(HEAVY)!r} if m in sys.modules))))\n"
            "from debiasqe.cli import main\n"
            f"main({argv!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300, env=_env())
    assert "usage: debiasqe" in proc.stdout, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
