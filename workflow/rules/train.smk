# Training (method × codec × setting) and enhancement (method × dataset × codec × level).
# A setting is a codec level, or "all" with training.train_per: codec.


rule train:
    input:
        raw=_patch_store(config["train_dataset"]),
        comp=lambda wc: [
            _patch_store(config["train_dataset"], wc.codec, lv)
            for lv in train_levels(config, wc.codec, wc.setting)
        ],
        init=_init_model,
    output:
        "results/train/{method}/{codec}/{setting}/model.pt",
    wildcard_constraints:
        setting=r"\d+|all",
    params:
        spec=lambda wc: json.dumps(method_spec(config, wc.method), sort_keys=True),
        step=lambda wc: grid_step(config, _recipe_patch(wc.method)),
        init=lambda wc, input: f"--init {input.init[0]}" if input.init else "",
    log:
        "results/logs/train/{method}/{codec}/{setting}.log",
    benchmark:
        "results/benchmarks/train/{method}/{codec}/{setting}.tsv"
    threads: config["threads"]["train"]
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 24 * 60 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m debiasqe train --spec {params.spec:q} --raw {input.raw} --comp {input.comp} "
        "--step {params.step} {params.init} --output $(dirname {output}) --quiet > {log} 2>&1"


rule enhance:
    input:
        png="results/compressed/{dataset}/{codec}/{level}/png",
        model=lambda wc: model_path(wc.method, wc.codec, wc.level),
    output:
        directory("results/enhanced/{method}/{dataset}/{codec}/{level}"),
    wildcard_constraints:
        method=rf"(?!{IDENTITY}/)[A-Za-z0-9_]+",
    params:
        tile=config["enhance"]["tile"],
        overlap=config["enhance"]["overlap"],
        approximate="--approximate-tiles " if config["enhance"]["approximate"] else "",
        device=config["device"],
    log:
        "results/logs/enhance/{method}/{dataset}/{codec}/{level}.log",
    benchmark:
        "results/benchmarks/enhance/{method}/{dataset}/{codec}/{level}.tsv"
    threads: config["threads"]["enhance"]
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m debiasqe enhance --model {input.model} --input {input.png} --output {output} "
        "--tile {params.tile} --overlap {params.overlap} {params.approximate}--device {params.device} "
        "--record {output}/provenance.json --quiet > {log} 2>&1"


rule enhance_identity:
    input:
        "results/compressed/{dataset}/{codec}/{level}/png",
    output:
        directory(f"results/enhanced/{IDENTITY}/{{dataset}}/{{codec}}/{{level}}"),
    log:
        f"results/logs/enhance/{IDENTITY}/{{dataset}}/{{codec}}/{{level}}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m debiasqe enhance --input {input} --output {output} > {log} 2>&1"
