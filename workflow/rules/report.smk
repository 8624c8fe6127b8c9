# The paper's tables and figures per test dataset, and the run overview that opens the HTML report
# (`snakemake --report results/report.html`; its landing page is workflow/report/workflow.rst).


rule tables:
    input:
        lambda wc: evaluation_dirs(wc.dataset),
    output:
        # one format per table in the HTML report (CSV: a sortable table); .md and .tex stay on disk
        [
            report(R("table", stem=s, ext=e), caption=caption(s), category="3. Tables",
                   subcategory="{dataset}") if e == "csv" else R("table", stem=s, ext=e)
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
        # one format per figure in the HTML report (PNG); the PDFs stay on disk
        [
            report(R("figure", stem=s, ext=e), caption=caption(s), category="4. Figures",
                   subcategory="{dataset}") if e == "png" else R("figure", stem=s, ext=e)
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


rule overview:
    input:
        [f for d in config["test_datasets"] for f in report_files(d)],
        R("rate_summary"),
    output:
        overview=report(R("overview"), caption="../report/overview.rst", category="1. Overview"),
        curves=report(R("training_curves", ext="png"), caption="../report/training_curves.rst",
                      category="2. Training curves"),
        curves_pdf=R("training_curves", ext="pdf"),
    params:
        config=json.dumps(config, sort_keys=True),
        stem=lambda wc, output: output.curves[: -len(".png")],
        code=stage_fingerprint("report"),
    log:
        log("report", "overview"),
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "debiasqe report-overview --config {params.config:q} --curves {params.stem:q} "
        "--output {output.overview:q} > {log:q} 2>&1"
