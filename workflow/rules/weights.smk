# Pretrained weights (VGG-19, the metric networks, Inception): fetched once, on
# the machine that runs Snakemake (a local rule), never on compute nodes.


rule fetch_weights:
    output:
        S("weights_manifest"),
    params:
        metrics=config["metrics"],
        folder=lambda wc, output: os.path.dirname(output[0]),
        code=stage_fingerprint("weights"),
    log:
        log("weights", "fetch_weights"),
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "debiasqe fetch-weights --metrics {params.metrics} --vgg --weights {params.folder:q} "
        "--output {output:q} > {log:q} 2>&1"
