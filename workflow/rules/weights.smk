# Pretrained weights (VGG-19, the metric networks, Inception): brought into the
# store once, on the machine that runs Snakemake (a local rule), never on compute
# nodes, under every `pretrained` policy, upstream of every job that uses weights.
# Two steps, so that a file only evaluation needs remakes no trained model:
# fetch_weights_train (VGG-19, for training) then fetch_weights (every file).
# Each reruns when the state it will leave changes (a file arrives or is placed), and
# jobs also take their weight state as a file (weights_input in common.smk).

# `pretrained: required` with a file that neither the store, the user's caches, the
# mirror nor its own (probed) host can provide: stop now, before any job, with one line.
if config["pretrained"] == "required":
    _unobtainable = weights_fetch.unobtainable(
        evaluation_files(), WEIGHTS_DIR, WEIGHTS_EXPECTED.mirror, WEIGHTS_EXPECTED.prober
    )
    if _unobtainable:
        raise WorkflowError(weights_fetch.missing_line(_unobtainable, WEIGHTS_DIR))


rule fetch_weights_train:
    output:
        S("weights_manifest_train"),
    params:
        vgg="--vgg" if train_files() else "",
        policy=config["pretrained"],
        mirror=lambda wc: WEIGHTS_EXPECTED.mirror or "",
        store=WEIGHTS_DIR,
        # reruns (and so do training's jobs) only when VGG-19's expected state changes
        state=lambda wc: WEIGHTS_EXPECTED.state(train_files()),
        code=stage_fingerprint("weights"),
    log:
        log("weights", "fetch_weights_train"),
    localrule: True
    priority: 1000
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "debiasqe fetch-weights {params.vgg} --weights {params.store:q} --pretrained {params.policy} "
        "--mirror={params.mirror:q} --output {output:q} --quiet > {log:q} 2>&1"


rule fetch_weights:
    input:
        S("weights_manifest_train"),
    output:
        S("weights_manifest"),
    params:
        metrics=config["metrics"],
        policy=config["pretrained"],
        mirror=lambda wc: WEIGHTS_EXPECTED.mirror or "",
        store=WEIGHTS_DIR,
        state=lambda wc: WEIGHTS_EXPECTED.state(evaluation_files()),
        code=stage_fingerprint("weights"),
    log:
        log("weights", "fetch_weights"),
    localrule: True
    priority: 1000
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "debiasqe fetch-weights --metrics {params.metrics} --vgg --weights {params.store:q} "
        "--pretrained {params.policy} --mirror={params.mirror:q} --output {output:q} --quiet > {log:q} 2>&1"
