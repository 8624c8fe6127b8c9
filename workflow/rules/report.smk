# Tables, figures and the HTML report.


rule rate_summary:
    input:
        rate_files(),
    output:
        "results/tables/rate_summary.csv",
    log:
        "results/logs/report/rate_summary.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m debiasqe rate-summary {input} --output {output} > {log} 2>&1"
