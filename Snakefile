# debiasqe: reproduce "Enhancing Quality of Compressed Images by Mitigating
# Enhancement Bias Towards Compression Domain" (CVPR 2024) as one DAG.
#
#   snakemake --cores all                                    # embedded demo (config.yaml)
#   snakemake --cores all --configfile presets/paper.yaml --sdm conda
#
# Rules are thin: each runs one `python -m debiasqe <stage>`; the logic lives
# in src/debiasqe/, and the config (validated against the package's schema,
# defaults filled) is the one source of truth for codecs, methods and metrics.

import os
import sys

from snakemake.utils import min_version, validate

min_version("8.0")

SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
# Jobs (local, conda or cluster) import the package from this checkout, and
# without --sdm conda they run on the interpreter that runs Snakemake.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
os.environ["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", "")))

from debiasqe.config import validate_config  # noqa: E402
from debiasqe.errors import ConfigError  # noqa: E402


configfile: os.path.join(workflow.basedir, "config.yaml")


try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/compress.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
