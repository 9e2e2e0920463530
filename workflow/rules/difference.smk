# Proper image subtraction (ZOGY) of each aligned frame and its reference.


rule subtract_reference:
    input:
        aligned="results/aligned/{night}/{exposure}.fits",
        reference=lambda wc: reference_path(wc.night, wc.exposure),
    output:
        "results/difference/{night}/{exposure}.fits",
    log:
        "logs/subtract_reference/{night}/{exposure}.log",
    benchmark:
        "benchmarks/rules/subtract_reference/{night}/{exposure}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    threads: 2
    resources:
        mem_mb=grows_on_retry(3000),
        runtime=FRAME_RUNTIME,
    params:
        products=config["products"],
        flux_error=config["difference"]["flux_error"],
        renormalise=config["difference"]["renormalise"],
        psf_spread_limit=config["difference"]["psf_spread_limit"],
        timeout_minutes=config["processing_timeout_minutes"],
        code=script_digest("subtract_reference"),
    script:
        "../scripts/subtract_reference.py"
