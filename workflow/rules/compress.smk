# Compression: one job per (dataset, codec, level), and the rate summary.


rule compress:
    input:
        S("dataset"),
    output:
        rate=R("rate"),
        provenance=R("compress_provenance"),
        png=directory(R("compressed_png")),
        bitstream=directory(R("bitstream")),
    params:
        options=lambda wc: codec_options(wc.codec),
        folder=lambda wc, output: os.path.dirname(output.rate),
        code=stage_fingerprint("compress"),
    log:
        log("compress", "{dataset}/{codec}/{level}"),
    benchmark:
        bench("compress", "{dataset}/{codec}/{level}")
    threads: config["threads"]["compress"]
    resources:
        mem_mb=4000,
    conda:
        "../../envs/compress.yaml"
    shell:
        "debiasqe compress --codec {wildcards.codec} --level {wildcards.level} --input {input:q} "
        "--output {params.folder:q} --threads {threads} --codec-options {params.options:q} --quiet > {log:q} 2>&1"


rule rate_summary:
    input:
        rate_files(),
    output:
        report(R("rate_summary"), caption="../report/rate_summary.rst", category="5. Compression"),
    params:
        code=stage_fingerprint("compress"),
    log:
        log("report", "rate_summary"),
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "debiasqe rate-summary {input:q} --output {output:q} > {log:q} 2>&1"
