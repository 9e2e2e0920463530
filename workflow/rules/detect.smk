# Candidates on each difference: positions, PSF fluxes, features, cutout triplets.


rule detect_candidates:
    input:
        difference="results/difference/{night}/{exposure}.fits",
        aligned="results/aligned/{night}/{exposure}.fits",
        reference=lambda wc: reference_path(wc.night, wc.exposure),
    output:
        table="results/candidates/{night}/{exposure}.ecsv",
        cutouts="results/cutouts/{night}/{exposure}.fits",
    log:
        "logs/detect_candidates/{night}/{exposure}.log",
    benchmark:
        "benchmarks/rules/detect_candidates/{night}/{exposure}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=grows_on_retry(2000),
        runtime=FRAME_RUNTIME,
    params:
        settings=config["detect"],
        code=script_digest("detect_candidates"),
    script:
        "../scripts/detect_candidates.py"
