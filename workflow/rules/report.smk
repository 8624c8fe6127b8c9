# Tables, figures and the HTML report (`snakemake --report results/report.html`).


rule rate_summary:
    input:
        rate_files(),
    output:
        report("results/tables/rate_summary.csv", caption="../report/rate_summary.rst", category="Compression"),
    log:
        "results/logs/report/rate_summary.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m debiasqe rate-summary {input} --output {output} > {log} 2>&1"


rule tables:
    input:
        lambda wc: evaluation_dirs(wc.dataset),
    output:
        [
            report(f"results/tables/{{dataset}}/{s}.{e}", caption=_caption(s), category="Tables",
                   subcategory="{dataset}")
            for s in table_stems()
            for e in TABLE_EXTS
        ],
    params:
        spec=report_spec(),
    log:
        "results/logs/report/tables_{dataset}.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m debiasqe report tables --dataset {wildcards.dataset} --spec {params.spec:q} "
        "--output results/tables/{wildcards.dataset} > {log} 2>&1"


rule figures:
    input:
        lambda wc: evaluation_dirs(wc.dataset),
    output:
        [
            report(f"results/figures/{{dataset}}/{s}.{e}", caption=_caption(s), category="Figures",
                   subcategory="{dataset}")
            for s in figure_stems()
            for e in FIGURE_EXTS
        ],
    params:
        spec=report_spec(),
    log:
        "results/logs/report/figures_{dataset}.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m debiasqe report figures --dataset {wildcards.dataset} --spec {params.spec:q} "
        "--output results/figures/{wildcards.dataset} > {log} 2>&1"
