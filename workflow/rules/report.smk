# The paper's tables and figures per test dataset (the HTML report: `snakemake --report results/report.html`).


rule tables:
    input:
        lambda wc: evaluation_dirs(wc.dataset),
    output:
        [
            report(R("table", stem=s, ext=e), caption=caption(s), category="Tables",
                   subcategory="{dataset}")
            for s in table_stems()
            for e in TABLE_EXTS
        ],
    params:
        spec=report_spec(),
        folder=lambda wc, output: os.path.dirname(output[0]),
        code=stage_fingerprint("report"),
    log:
        log("report", "tables_{dataset}"),
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "debiasqe report tables --dataset {wildcards.dataset} --spec {params.spec:q} "
        "--output {params.folder:q} > {log:q} 2>&1"


rule figures:
    input:
        lambda wc: evaluation_dirs(wc.dataset),
    output:
        [
            report(R("figure", stem=s, ext=e), caption=caption(s), category="Figures",
                   subcategory="{dataset}")
            for s in figure_stems()
            for e in FIGURE_EXTS
        ],
    params:
        spec=report_spec(),
        folder=lambda wc, output: os.path.dirname(output[0]),
        code=stage_fingerprint("report"),
    log:
        log("report", "figures_{dataset}"),
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "debiasqe report figures --dataset {wildcards.dataset} --spec {params.spec:q} "
        "--output {params.folder:q} > {log:q} 2>&1"
