# debiasqe: reproduce "Enhancing Quality of Compressed Images by Mitigating
# Enhancement Bias Towards Compression Domain" (CVPR 2024) as one DAG.
#
#   snakemake --cores all                                    # embedded demo (config.yaml)
#   snakemake --cores all --configfile presets/paper.yaml --sdm conda
#
# Rules are thin: each runs one `debiasqe <stage>` command; the logic lives in
# src/debiasqe/, every path in src/debiasqe/paths.py, and the config (validated
# against the package's schema, defaults filled) is the one source of truth
# for codecs, methods and metrics.

import os
import shlex
import sys

from snakemake.utils import min_version, validate

min_version("8.0")

# Snakemake itself imports the package from this checkout (the rules' input
# functions and the config check), installed or not.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)

from debiasqe.config import validate_config  # noqa: E402
from debiasqe.core.errors import ConfigError  # noqa: E402

# How jobs find the package, written into every job's command by the shell
# prefix (no edit of this process's environment): PYTHONPATH names this
# checkout's src/, which reaches conda environments (--sdm conda) and cluster
# nodes alike, and `debiasqe` is a shell function running the package on the
# job's interpreter: the conda environment's python under --sdm conda, else
# the one that runs Snakemake, so jobs need no activated venv.
_uses_conda = "CONDA" in str(workflow.deployment_settings.deployment_method).upper()
_python = "python" if _uses_conda else shlex.quote(sys.executable)
configfile: os.path.join(workflow.basedir, "config.yaml")




try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
validate(config, "workflow/schemas/config.schema.yaml")

from debiasqe.weights.fetch import store_dir  # noqa: E402

# Every job reads pretrained files from one store (weights.dir; DEBIASQE_WEIGHTS overrides it).
WEIGHTS_STORE = str(store_dir(config["weights"]["dir"]))
# (braces doubled: Snakemake formats the prefix like a shell command)
shell.prefix(
    "set -euo pipefail; "
    f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
    f"export DEBIASQE_WEIGHTS={shlex.quote(WEIGHTS_STORE)}; "
    f'debiasqe() {{{{ {_python} -m debiasqe "$@"; }}}}; '
)


# in pipeline order
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/compress.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/compare.smk"


# the HTML report's landing page (snakemake --report results/report.html); in a report run,
# with a banner on top when numbers in it come from random-init networks (debiasqe.report.marks)
_LANDING = os.path.join(workflow.basedir, "workflow/report/workflow.rst")
if any(a == "--report" or a.startswith("--report=") for a in sys.argv):
    from debiasqe.report import marks as _marks  # noqa: E402

    _LANDING = _marks.landing_page(
        _LANDING,
        os.path.abspath(R("report_landing")),
        _marks.banner_lines(
            config["pretrained"],
            [(f.metric, f.relpath) for f in evaluation_files() if not WEIGHTS_EXPECTED.present(f)],
        ),
    )


report: _LANDING


rule all:
    input:
        all_targets(),
    default_target: True


# Missing pretrained files: said at the start of the run and again in its last lines.
onstart:
    weights_console("start")


onsuccess:
    weights_console("end")


onerror:
    weights_console("end")
