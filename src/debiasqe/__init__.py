"""debiasqe: reproducible quality enhancement of compressed images.

The package holds all logic of the Snakemake pipeline; every stage is also a
subcommand of the ``debiasqe`` console script.
"""

__version__ = "0.1.0"
