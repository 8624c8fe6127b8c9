# Evaluation: one job per (method, dataset) over every codec and level, so the
# metric networks are built once per job. Per codec it writes one file per
# level into metrics/ and domains/, the Fig. 6 disparity at the headline
# setting, and (with FID) the Inception features of its enhanced sets. The
# `comp` job also caches the raw and compressed sets, which every other
# method's job reads; realism scores the GAN methods' discriminators.


rule evaluate:
    input:
        raw=S("dataset"),
        comp=compressed_pngs,
        enh=lambda wc: enhanced_dirs(wc.method, wc.dataset),
        comp_features=lambda wc: comp_features(wc.dataset),
        weights=weights_input(evaluate_weights),
    output:
        [directory(d) for d in evaluation_outputs("{method}", "{dataset}")],
        feature_sets("{method}", "{dataset}"),
        disparity=R("disparity", codec=HEADLINE[0], level=HEADLINE[1]),
    wildcard_constraints:
        method=method_pattern([m for m in evaluated_runs() if m != IDENTITY]),
    params:
        method="{method}",
        codecs=codecs_json(),
        metrics=config["metrics"],
        ev=config["evaluation"],
        stats=config["statistics"],
        pretrained=config["pretrained"],
        device=config["device"],
        seed=config["seed"],
        headline=f"{HEADLINE[0]}:{HEADLINE[1]}",
        fid_store="--fid-store-features" if config["evaluation"]["fid_store_features"] else "",
        weights=WEIGHTS_DIR,
        code=stage_fingerprint("evaluate"),
    log:
        log("evaluate", "{method}/{dataset}"),
    benchmark:
        bench("evaluate", "{method}/{dataset}")
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 12000 * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "debiasqe evaluate --method {params.method} --dataset {wildcards.dataset} "
        "--codecs {params.codecs:q} --raw {input.raw:q} --weights {params.weights:q} "
        "--metrics {params.metrics} --pretrained {params.pretrained} --device {params.device} "
        "--seed {params.seed} --batch {params.ev[batch]} --fid-patch {params.ev[fid_patch]} "
        "--fid {params.ev[fid]} --fid-min-samples {params.ev[fid_min_samples]} "
        "--fid-interval-max-patches {params.ev[fid_interval_max_patches]} "
        "--fid-interval-replicates {params.ev[fid_interval_replicates]} "
        "{params.fid_store} "
        "--bootstrap-replicates {params.stats[bootstrap_replicates]} "
        "--confidence {params.stats[confidence]} --statistics-seed {params.stats[seed]} "
        "--disparity-at {params.headline} "
        "--disparity-patch {params.ev[disparity_patch]} --disparity-patches {params.ev[disparity_patches]} "
        "--quiet > {log:q} 2>&1"


# comp's job is the same command; it also writes the shared raw and compressed feature sets.
use rule evaluate as evaluate_comp with:
    input:
        raw=S("dataset"),
        comp=compressed_pngs,
        enh=lambda wc: enhanced_dirs(IDENTITY, wc.dataset),
        weights=weights_input(evaluate_weights),
    output:
        [directory(d) for d in evaluation_outputs(IDENTITY, "{dataset}")],
        feature_sets(IDENTITY, "{dataset}"),
        comp_features("{dataset}"),
        disparity=R("disparity", method=IDENTITY, codec=HEADLINE[0], level=HEADLINE[1]),
    params:
        method=IDENTITY,
    log:
        log("evaluate", f"{IDENTITY}/{{dataset}}"),
    benchmark:
        bench("evaluate", f"{IDENTITY}/{{dataset}}")


# Realism scores (Tables 1-2) of the GAN methods' final discriminators: one file per codec level.
rule realism:
    input:
        raw=S("dataset"),
        comp=compressed_pngs,
        enh=lambda wc: enhanced_dirs(wc.method, wc.dataset),
        discriminators=lambda wc: [
            R("discriminator", method=wc.method, codec=c, setting=train_setting(config, lv)) for c, lv in codec_levels()
        ],
    output:
        [directory(R("realism_dir", codec=c)) for c in config["codecs"]],
    wildcard_constraints:
        method=method_pattern(gan_runs()),
    params:
        codecs=codecs_json(),
        patch=config["evaluation"]["realism_patch"],
        device=config["device"],
        settings=json.dumps({c: {str(lv): train_setting(config, lv) for lv in s["levels"]}
                             for c, s in config["codecs"].items()}),
        code=stage_fingerprint("evaluate"),
    log:
        log("realism", "{method}/{dataset}"),
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "debiasqe realism --method {wildcards.method} --dataset {wildcards.dataset} "
        "--codecs {params.codecs:q} --settings {params.settings:q} "
        "--raw {input.raw:q} --patch {params.patch} --device {params.device} > {log:q} 2>&1"
