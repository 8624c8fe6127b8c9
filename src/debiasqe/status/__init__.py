"""``debiasqe status``: where a run stands, read from the files (no Snakemake DAG)."""
