# Datasets: fetch and extract the real splits' archives (DIV2K, Flickr2K), then
# normalise each split to RGB PNGs + manifest.json.
#
# Where a real split comes from (config `datasets.<split>`, docs/datasets.md):
#   root:    an extracted copy          -> prepare only (no download, no extract)
#   archive: an archive on disk         -> extract (verified) -> prepare
#   neither: the mirrors (or registry)  -> download -> extract -> prepare
# Downloading is a local rule: on a cluster it runs where snakemake runs, so
# compute nodes never need the network.

from debiasqe.data import datasets as dsreg  # noqa: E402
from debiasqe.data import workflow_paths as wp  # noqa: E402

try:
    dsreg.archive_jobs(config["datasets"])  # shared archive settings agree
except ConfigError as exc:
    raise WorkflowError(f"config error: {exc}") from None


localrules:
    download_archive,


rule download_archive:
    output:
        "resources/downloads/{archive_file}",
    wildcard_constraints:
        archive_file=wp.archive_file_pattern(),
    params:
        archive=lambda wc: dsreg.archive_for_file(wc.archive_file),
        options=lambda wc: wp.download_options(wc.archive_file, config["datasets"]),
    log:
        "results/logs/download/{archive_file}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m debiasqe download --archive {params.archive} --output {output} {params.options} > {log} 2>&1"


rule extract_archive:
    input:
        lambda wc: wp.extract_input(wc.archive, config["datasets"]),
    output:
        directory("resources/extracted/{archive}"),
    wildcard_constraints:
        archive=wp.archive_name_pattern(),
    params:
        options=lambda wc: wp.extract_options(wc.archive, config["datasets"]),
    log:
        "results/logs/extract/{archive}.log",
    benchmark:
        "results/benchmarks/extract/{archive}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m debiasqe extract --archive {wildcards.archive} --input {input:q} --output {output:q} "
        "{params.options} > {log} 2>&1"


rule prepare_dataset:
    input:
        lambda wc: wp.prepare_inputs(wc.dataset, config["datasets"]),
    output:
        directory("resources/datasets/{dataset}"),
    params:
        spec=lambda wc: wp.prepare_spec_json(wc.dataset, config["datasets"]),
    log:
        "results/logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m debiasqe prepare --dataset {wildcards.dataset} --spec {params.spec:q} --output {output} > {log} 2>&1"
