# Compression: one job per (dataset, codec, level).


rule compress:
    input:
        "resources/datasets/{dataset}",
    output:
        rate="results/compressed/{dataset}/{codec}/{level}/rate.csv",
        provenance="results/compressed/{dataset}/{codec}/{level}/provenance.json",
        png=directory("results/compressed/{dataset}/{codec}/{level}/png"),
        bitstream=directory("results/compressed/{dataset}/{codec}/{level}/bitstream"),
    params:
        options=lambda wc: codec_options(wc.codec),
    log:
        "results/logs/compress/{dataset}/{codec}/{level}.log",
    benchmark:
        "results/benchmarks/compress/{dataset}/{codec}/{level}.tsv"
    threads: config["threads"]["compress"]
    resources:
        mem_mb=4000,
    conda:
        "../../envs/compress.yaml"
    shell:
        "python -m debiasqe compress --codec {wildcards.codec} --level {wildcards.level} --input {input} "
        "--output $(dirname {output.rate}) "
        "--threads {threads} --codec-options {params.options:q} --quiet > {log} 2>&1"
