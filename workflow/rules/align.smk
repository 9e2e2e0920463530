# Registration of each science frame onto its reference, and resampling onto its grid.


rule align_exposure:
    input:
        calibrated="results/calibrated/{night}/{exposure}.fits",
        reference=lambda wc: reference_path(wc.night, wc.exposure),
    output:
        "results/aligned/{night}/{exposure}.fits",
    log:
        "logs/align_exposure/{night}/{exposure}.log",
    benchmark:
        "benchmarks/rules/align_exposure/{night}/{exposure}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    threads: 2
    resources:
        mem_mb=grows_on_retry(2500),
        runtime=FRAME_RUNTIME,
    params:
        products=config["products"],
        settings=config["align"],
        timeout_minutes=config["processing_timeout_minutes"],
        astrometry=config["astrometry"],
        code=script_digest("align_exposure"),
    script:
        "../scripts/align_exposure.py"
