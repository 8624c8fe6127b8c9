# Datasets: normalise each split to RGB PNGs + manifest.json.


rule prepare_dataset:
    output:
        directory("resources/datasets/{dataset}"),
    params:
        spec=lambda wc: json.dumps(config["datasets"][wc.dataset], sort_keys=True),
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
