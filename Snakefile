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

from debiasqe.config import validate_config  # noqa: E402
from debiasqe.errors import ConfigError  # noqa: E402
from debiasqe.jobenv import export_for_jobs  # noqa: E402

export_for_jobs(SRC)


configfile: os.path.join(workflow.basedir, "config.yaml")


try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/compress.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/compare.smk"


rule all:
    input:
        all_targets(),
    default_target: True
