# Enhancement: one job per (method, dataset, codec, level). The method `comp`
# is the compressed image itself, so every later stage treats it like a method.


rule enhance:
    input:
        png=R("compressed_png"),
        model=lambda wc: model_path(wc.method, wc.codec, wc.level),
    output:
        directory(R("enhanced")),
    wildcard_constraints:
        method=method_pattern([m for m in config["methods"] if m != IDENTITY]),
    params:
        tile=config["enhance"]["tile"],
        overlap=config["enhance"]["overlap"],
        approximate="--approximate-tiles " if config["enhance"]["approximate"] else "",
        device=config["device"],
        code=stage_fingerprint("enhance"),
    log:
        log("enhance", "{method}/{dataset}/{codec}/{level}"),
    benchmark:
        bench("enhance", "{method}/{dataset}/{codec}/{level}")
    threads: config["threads"]["enhance"]
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/train.yaml"
    shell:
        "debiasqe enhance --model {input.model:q} --input {input.png:q} --output {output:q} "
        "--tile {params.tile} --overlap {params.overlap} {params.approximate}--device {params.device} "
        "--record {output:q}/provenance.json --quiet > {log:q} 2>&1"


rule enhance_identity:
    input:
        R("compressed_png"),
    output:
        directory(R("enhanced", method=IDENTITY)),
    params:
        code=stage_fingerprint("enhance"),
    log:
        log("enhance", f"{IDENTITY}/{{dataset}}/{{codec}}/{{level}}"),
    conda:
        "../../envs/train.yaml"
    shell:
        "debiasqe enhance --input {input:q} --output {output:q} > {log:q} 2>&1"
