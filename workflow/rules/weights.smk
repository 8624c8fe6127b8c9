# Pretrained weights (VGG-19, the metric networks, Inception): brought into the
# store once, on the machine that runs Snakemake (a local rule), never on compute
# nodes, under every `pretrained` policy. A checkpoint: the jobs that use weights
# read their weight state from the store once it has run (weights_input).

import time

# `pretrained: required` with a file that neither the store, the user's caches, the
# mirror nor its own (probed) host can provide: stop now, before any job, with one line.
if config["pretrained"] == "required":
    _unobtainable = weights_fetch.unobtainable(
        evaluation_files(), WEIGHTS_DIR, weights_fetch.mirror_setting(config["weights"]["mirror"])
    )
    if _unobtainable:
        raise WorkflowError(weights_fetch.missing_line(_unobtainable, WEIGHTS_DIR))


def _fetch_trigger():
    """Reruns fetch_weights when the store changes, and (auto) retries while files are missing."""
    state = weights_fetch.state_of(evaluation_files(), WEIGHTS_DIR, config["pretrained"])
    retry = f"@{time.time():.0f}" if state.startswith("partial-") and config["pretrained"] == "auto" else ""
    return state + retry


checkpoint fetch_weights:
    output:
        S("weights_manifest"),
    params:
        metrics=config["metrics"],
        policy=config["pretrained"],
        mirror=lambda wc: weights_fetch.mirror_setting(config["weights"]["mirror"]) or "",
        store=WEIGHTS_DIR,
        state=lambda wc: _fetch_trigger(),
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


# A job's weight state as a file (its name is the state): see weights_input.
rule weights_state:
    output:
        S("weights_state"),
    localrule: True
    run:
        with open(output[0], "w") as fh:
            print(f"{wildcards.consumer}: weights {wildcards.state} in {WEIGHTS_DIR}", file=fh)
