# Training: one job per (run, codec, setting). A run is a method, or with several
# training.seeds one seed of it (method@seedS). A setting is a codec level,
# or "all" with training.train_per: codec. GAN methods also write their final
# discriminator (realism scores read it); checkpoint.pt stays undeclared, since
# Snakemake deletes declared outputs before a rerun and resuming needs it.


rule train:
    input:
        raw=patch_store(config["train_dataset"]),
        comp=lambda wc: [
            patch_store(config["train_dataset"], wc.codec, lv) for lv in train_levels(config, wc.codec, wc.setting)
        ],
        init=init_model,
        weights=weights_input(train_weights),
    output:
        model=R("model"),
    wildcard_constraints:
        method=method_pattern(runs(config, [m for m in config["methods"] if m not in gan_methods(config)])),
        setting=r"\d+|all",
    params:
        spec=lambda wc: json.dumps(method_spec(config, wc.method), sort_keys=True),
        step=lambda wc: grid_step(config, recipe_patch(wc.method)),
        init=lambda wc, input: f"--init {input.init[0]}" if input.init else "",
        folder=lambda wc, output: os.path.dirname(output.model),
        code=stage_fingerprint("train"),
    log:
        log("train", "{method}/{codec}/{setting}"),
    benchmark:
        bench("train", "{method}/{codec}/{setting}")
    threads: config["threads"]["train"]
    resources:
        # training.gpus: N GPUs for one job (data-parallel under torchrun); the profiles turn it into
        # --gpus=N (SLURM) or a share of the workstation's `resources: gpu`
        gpu=config["training"].get("gpus", 1),
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 24 * 60 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "debiasqe train --spec {params.spec:q} --raw {input.raw:q} --comp {input.comp:q} "
        "--step {params.step} {params.init} --output {params.folder:q} --quiet > {log:q} 2>&1"


use rule train as train_gan with:
    output:
        model=R("model"),
        discriminator=R("discriminator"),
    wildcard_constraints:
        method=method_pattern(gan_runs()),
        setting=r"\d+|all",
