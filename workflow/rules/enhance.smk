# Enhancement: one job per (method, dataset) over every codec and level, as
# evaluation does (starting Python and torch costs more than enhancing a small
# test set); the outputs stay one folder per (codec, level). The method `comp`
# is the compressed image itself, so every later stage treats it like a method.


rule enhance:
    input:
        png=compressed_pngs,
        model=enhance_models,
    output:
        [directory(d) for d in enhanced_dirs("{method}", "{dataset}")],
    wildcard_constraints:
        method=method_pattern(runs(config, config["methods"])),
    params:
        out=lambda wc, output: " ".join(shlex.quote(str(o)) for o in output),
        record=lambda wc, output: " ".join(shlex.quote(f"{o}/provenance.json") for o in output),
        tile=config["enhance"]["tile"],
        overlap=config["enhance"]["overlap"],
        approximate="--approximate-tiles " if config["enhance"]["approximate"] else "",
        device=config["device"],
        code=stage_fingerprint("enhance"),
    log:
        log("enhance", "{method}/{dataset}"),
    benchmark:
        bench("enhance", "{method}/{dataset}")
    threads: config["threads"]["enhance"]
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "debiasqe enhance --model {input.model:q} --input {input.png:q} --output {params.out} "
        "--tile {params.tile} --overlap {params.overlap} {params.approximate}--device {params.device} "
        "--record {params.record} --quiet > {log:q} 2>&1"


rule enhance_identity:
    input:
        compressed_pngs,
    output:
        [directory(d) for d in enhanced_dirs(IDENTITY, "{dataset}")],
    params:
        out=lambda wc, output: " ".join(shlex.quote(str(o)) for o in output),
        code=stage_fingerprint("enhance"),
    log:
        log("enhance", f"{IDENTITY}/{{dataset}}"),
    conda:
        "../../envs/train.yaml"
    shell:
        "debiasqe enhance --input {input:q} --output {params.out} > {log:q} 2>&1"
