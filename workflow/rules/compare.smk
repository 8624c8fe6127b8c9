# The compare page of a test set: wipe between raw, compressed and every method
# at every codec level, with each side's PSNR and LPIPS from the evaluation. The
# page references the images by relative path, so it stays in results/; the
# preview contact sheet is the report's entry, whose caption links the page.


rule compare:
    input:
        raw=S("dataset"),
        comp=compressed_pngs,
        rates=lambda wc: [R("rate", dataset=wc.dataset, codec=c, level=lv) for c, lv in codec_levels()],
        enh=lambda wc: [d for m in evaluated_runs() for d in enhanced_dirs(m, wc.dataset)],
        metrics=lambda wc: [R("metrics_dir", method=m, dataset=wc.dataset, codec=c)
                            for m in evaluated_runs() for c in config["codecs"]],
    output:
        page=R("compare_page"),
        preview=report(R("compare_preview"), caption="../report/compare.rst", category="Compare images",
                       subcategory="{dataset}"),
    params:
        codecs=codecs_json(),
        methods=evaluated_runs(),  # with several training seeds, every seed's images
        headline=f"{HEADLINE[0]}:{HEADLINE[1]}",
        code=stage_fingerprint("compare"),
    log:
        log("report", "compare_{dataset}"),
    localrule: True
    conda:
        "../../envs/report.yaml"
    shell:
        "debiasqe compare --dataset {wildcards.dataset} --codecs {params.codecs:q} "
        "--methods {params.methods} --raw {input.raw:q} --headline {params.headline} "
        "--output {output.page:q} --preview {output.preview:q} > {log:q} 2>&1"
