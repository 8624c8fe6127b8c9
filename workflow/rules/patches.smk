# Training patches: one image store per source (whole images in one memory-
# mapped uint8 array + index); the trainer cuts patches at read time with
# config `patches: {size, step}`, so one store serves every recipe.
#
#   results/patches/{dataset}/raw.npy              <- resources/datasets/{dataset}
#   results/patches/{dataset}/{codec}/{level}.npy  <- results/compressed/{dataset}/{codec}/{level}/png


rule patches:
    input:
        unpack(lambda wc: wp.patch_store_inputs(wc.dataset, wc.source)),
    output:
        npy="results/patches/{dataset}/{source}.npy",
        index="results/patches/{dataset}/{source}.index.json",
    wildcard_constraints:
        source=r"raw|[a-z0-9]+/\d+",
    log:
        "results/logs/patches/{dataset}/{source}.log",
    benchmark:
        "results/benchmarks/patches/{dataset}/{source}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m debiasqe patches --input {input.images} --dataset {input.dataset} --output {output.npy} "
        "--quiet > {log} 2>&1"


# `snakemake train_patches`: the stores of the training split (the train rules request them too).
rule train_patches:
    input:
        wp.patch_stores(config["train_dataset"], codec_levels()),
