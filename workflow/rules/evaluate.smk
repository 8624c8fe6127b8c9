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


# One job per (method, dataset) evaluates every codec and level, so the metric
# networks are built once per job; per codec it writes one file per level
# into each output folder: metrics/{method}/{dataset}/{codec}/{level}.csv,
# domains/.../{level}.json; the Fig. 6 disparity at the headline setting.
rule evaluate:
    input:
        raw="resources/datasets/{dataset}",
        comp=lambda wc: [f"results/compressed/{wc.dataset}/{c}/{lv}/png" for c, lv in codec_levels()],
        enh=lambda wc: [f"results/enhanced/{wc.method}/{wc.dataset}/{c}/{lv}" for c, lv in codec_levels()],
        comp_eval=_comp_eval,
        weights=_weights_manifest(),
    output:
        [directory(f"results/{kind}/{{method}}/{{dataset}}/{c}") for kind in ("metrics", "domains") for c in config["codecs"]],
        disparity=f"results/disparity/{{method}}/{{dataset}}/{HEADLINE[0]}/{HEADLINE[1]}.csv",
    params:
        codecs=json.dumps({c: s["levels"] for c, s in config["codecs"].items()}),
        metrics=config["metrics"],
        ev=config["evaluation"],
        pretrained=config["pretrained"],
        device=config["device"],
        seed=config["seed"],
        headline=f"{HEADLINE[0]}:{HEADLINE[1]}",
    log:
        "results/logs/evaluate/{method}/{dataset}.log",
    benchmark:
        "results/benchmarks/evaluate/{method}/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 12000 * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m debiasqe evaluate --method {wildcards.method} --dataset {wildcards.dataset} "
        "--codecs {params.codecs:q} --results results --raw {input.raw} "
        "--metrics {params.metrics} --pretrained {params.pretrained} --device {params.device} "
        "--seed {params.seed} --batch {params.ev[batch]} --fid-patch {params.ev[fid_patch]} "
        "--fid {params.ev[fid]} "
        "--disparity-at {params.headline} "
        "--disparity-patch {params.ev[disparity_patch]} --disparity-patches {params.ev[disparity_patches]} "
        "--quiet > {log} 2>&1"


# Realism scores (Tables 1-2) of the GAN methods' discriminators: one file per codec level.
rule realism:
    input:
        raw="resources/datasets/{dataset}",
        comp=lambda wc: [f"results/compressed/{wc.dataset}/{c}/{lv}/png" for c, lv in codec_levels()],
        enh=lambda wc: [f"results/enhanced/{wc.method}/{wc.dataset}/{c}/{lv}" for c, lv in codec_levels()],
        models=lambda wc: [model_path(wc.method, c, lv) for c, lv in codec_levels()],
    output:
        [directory(f"results/realism/{{method}}/{{dataset}}/{c}") for c in config["codecs"]],
    params:
        codecs=json.dumps({c: s["levels"] for c, s in config["codecs"].items()}),
        patch=config["evaluation"]["realism_patch"],
        device=config["device"],
        settings=lambda wc: json.dumps({c: {str(lv): train_setting(config, lv) for lv in s["levels"]}
                                        for c, s in config["codecs"].items()}),
    log:
        "results/logs/realism/{method}/{dataset}.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m debiasqe realism --method {wildcards.method} --dataset {wildcards.dataset} "
        "--codecs {params.codecs:q} --settings {params.settings:q} --results results --raw {input.raw} "
        "--patch {params.patch} --device {params.device} > {log} 2>&1"
