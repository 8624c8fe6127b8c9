# Evaluation: metrics + domain triangles + disparity per (method, dataset, codec),
# realism scores of the GAN methods' discriminators, and the offline weights.


rule fetch_weights:
    output:
        "resources/weights/manifest.json",
    params:
        metrics=config["metrics"],
    log:
        "results/logs/fetch_weights.log",
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m debiasqe fetch-weights --metrics {params.metrics} --vgg --weights resources/weights "
        "--output {output} > {log} 2>&1"


# One job per (method, dataset, codec) evaluates all its levels: metric networks
# are built once per job. Output lists depend on the codec's levels, so the
# rules are made per codec.
for _codec, _spec in config["codecs"].items():

    rule:
        name:
            f"evaluate_{_codec}"
        input:
            raw="resources/datasets/{dataset}",
            comp=[f"results/compressed/{{dataset}}/{_codec}/{lv}/png" for lv in _spec["levels"]],
            enh=[f"results/enhanced/{{method}}/{{dataset}}/{_codec}/{lv}" for lv in _spec["levels"]],
            comp_eval=lambda wc, c=_codec: _comp_eval(wc, c),
            weights=_weights_manifest(),
        output:
            metrics=[f"results/metrics/{{method}}/{{dataset}}/{_codec}/{lv}.csv" for lv in _spec["levels"]],
            domains=[f"results/domains/{{method}}/{{dataset}}/{_codec}/{lv}.json" for lv in _spec["levels"]],
            disparity=[f"results/disparity/{{method}}/{{dataset}}/{_codec}/{lv}.csv" for lv in _spec["levels"]],
        params:
            codec=_codec,
            levels=_spec["levels"],
            metrics=config["metrics"],
            ev=config["evaluation"],
            pretrained=config["pretrained"],
            device=config["device"],
            seed=config["seed"],
        log:
            f"results/logs/evaluate/{{method}}/{{dataset}}/{_codec}.log",
        benchmark:
            f"results/benchmarks/evaluate/{{method}}/{{dataset}}/{_codec}.tsv"
        threads: 2
        resources:
            gpu=lambda wc: 0 if config["device"] == "cpu" else 1,
            mem_mb=lambda wc, attempt: 12000 * attempt,
            runtime=lambda wc, attempt: 120 * attempt,
        conda:
            "../../envs/evaluate.yaml"
        shell:
            "python -m debiasqe evaluate --method {wildcards.method} --dataset {wildcards.dataset} "
            "--codec {params.codec} --levels {params.levels} --raw {input.raw} "
            "--comp results/compressed/{wildcards.dataset}/{params.codec} "
            "--enh results/enhanced/{wildcards.method}/{wildcards.dataset}/{params.codec} "
            "--out-metrics results/metrics/{wildcards.method}/{wildcards.dataset}/{params.codec} "
            "--out-domains results/domains/{wildcards.method}/{wildcards.dataset}/{params.codec} "
            "--out-disparity results/disparity/{wildcards.method}/{wildcards.dataset}/{params.codec} "
            "--metrics {params.metrics} --features results/features/{wildcards.dataset} "
            "--pretrained {params.pretrained} --device {params.device} --seed {params.seed} "
            "--batch {params.ev[batch]} --fid-patch {params.ev[fid_patch]} "
            "--disparity-patch {params.ev[disparity_patch]} --disparity-patches {params.ev[disparity_patches]} "
            "--quiet > {log} 2>&1"

    rule:
        name:
            f"realism_{_codec}"
        input:
            raw="resources/datasets/{dataset}",
            comp=[f"results/compressed/{{dataset}}/{_codec}/{lv}/png" for lv in _spec["levels"]],
            enh=[f"results/enhanced/{{method}}/{{dataset}}/{_codec}/{lv}" for lv in _spec["levels"]],
            model=lambda wc, c=_codec: [f"results/train/{wc.method}/{c}/{train_setting(config, lv)}/model.pt"
                                        for lv in config["codecs"][c]["levels"]],
        output:
            [f"results/realism/{{method}}/{{dataset}}/{_codec}/{lv}.json" for lv in _spec["levels"]],
        params:
            codec=_codec,
            levels=_spec["levels"],
            patch=config["evaluation"]["realism_patch"],
            device=config["device"],
            train_dirs=lambda wc, c=_codec: " ".join(
                f"results/train/{wc.method}/{c}/{train_setting(config, lv)}" for lv in config["codecs"][c]["levels"]),
        log:
            f"results/logs/realism/{{method}}/{{dataset}}/{_codec}.log",
        threads: 1
        resources:
            gpu=lambda wc: 0 if config["device"] == "cpu" else 1,
            mem_mb=lambda wc, attempt: 8000 * attempt,
        conda:
            "../../envs/train.yaml"
        shell:
            "python -m debiasqe realism --train-dirs {params.train_dirs} --levels {params.levels} "
            "--raw {input.raw} --comp results/compressed/{wildcards.dataset}/{params.codec} "
            "--enh results/enhanced/{wildcards.method}/{wildcards.dataset}/{params.codec} "
            "--output results/realism/{wildcards.method}/{wildcards.dataset}/{params.codec} "
            "--patch {params.patch} --device {params.device} > {log} 2>&1"
