# Training patches: one image store per source (whole images in one memory-
# mapped uint8 array + index); the trainer cuts patches at read time with
# config `patches: {size, step}`, so one store serves every recipe.
# A source is "raw" (the prepared dataset) or "{codec}/{level}" (its decoded images).


rule patches:
    input:
        unpack(lambda wc: wp.patch_store_inputs(wc.dataset, wc.source)),
    output:
        npy=R("patch_store"),
        index=R("patch_index"),
    wildcard_constraints:
        source=r"raw|[a-z0-9]+/\d+",
    params:
        code=stage_fingerprint("data"),
    log:
        log("patches", "{dataset}/{source}"),
    benchmark:
        bench("patches", "{dataset}/{source}")
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        "../../envs/data.yaml"
    shell:
        "debiasqe patches --input {input.images:q} --dataset {input.dataset:q} --output {output.npy:q} "
        "--quiet > {log:q} 2>&1"


# `snakemake train_patches`: the stores of the training split (the train rules request them too).
rule train_patches:
    input:
        wp.patch_stores(config["train_dataset"], codec_levels()),
