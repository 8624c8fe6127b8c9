# The compare page of a test set (results/compare/{dataset}/index.html): wipe between raw,
# compressed and every method at every codec level, with each side's PSNR and LPIPS from the
# evaluation. The page references the images by relative path, so it stays in results/; the
# preview contact sheet is the report's entry, whose caption links the page.


rule compare:
    input:
        raw="resources/datasets/{dataset}",
        comp=lambda wc: [f"results/compressed/{wc.dataset}/{c}/{lv}/png" for c, lv in codec_levels()],
        rates=lambda wc: [f"results/compressed/{wc.dataset}/{c}/{lv}/rate.csv" for c, lv in codec_levels()],
        enh=lambda wc: [f"results/enhanced/{m}/{wc.dataset}/{c}/{lv}" for m in evaluated_methods(config)
                        for c, lv in codec_levels()],
        metrics=lambda wc: [f"results/metrics/{m}/{wc.dataset}/{c}" for m in evaluated_methods(config)
                            for c in config["codecs"]],
    output:
        page=f"results/{COMPARE_PATHS['page']}",
        preview=report(f"results/{COMPARE_PATHS['preview']}", caption="../report/compare.rst",
                       category="Compare images", subcategory="{dataset}"),
    params:
        codecs=json.dumps({c: s["levels"] for c, s in config["codecs"].items()}),
        methods=evaluated_methods(config),
        headline=f"{HEADLINE[0]}:{HEADLINE[1]}",
    log:
        "results/logs/report/compare_{dataset}.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "python -m debiasqe compare --dataset {wildcards.dataset} --codecs {params.codecs:q} "
        "--methods {params.methods} --results results --raw {input.raw} --headline {params.headline} "
        "--output {output.page} --preview {output.preview} > {log} 2>&1"
