# Calibration: master bias, dark and flat per night (and detector of a mosaic), then each
# science frame.


rule combine_bias:
    input:
        raw_paths("bias"),
    output:
        "results/masters/{night}{detector_dir}/bias.fits",
    log:
        "logs/combine_bias/{night}{detector_dir}.log",
    # Shared between runs and sites with --cache (see README, "Caching").
    cache: "omit-software"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=grows_on_retry(3000),
        runtime=30,
    params:
        products=config["products"],
        rows=manifest_frames("bias"),
        settings=calibration_params(),
        code=script_digest("combine_bias"),
    script:
        "../scripts/combine_bias.py"


rule combine_dark:
    input:
        raw=raw_paths("dark"),
        bias="results/masters/{night}{detector_dir}/bias.fits",
    output:
        "results/masters/{night}{detector_dir}/dark.fits",
    log:
        "logs/combine_dark/{night}{detector_dir}.log",
    # Shared between runs and sites with --cache (see README, "Caching").
    cache: "omit-software"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=grows_on_retry(3000),
        runtime=30,
    params:
        products=config["products"],
        rows=manifest_frames("dark"),
        settings=calibration_params("hot_pixel_rate"),
        code=script_digest("combine_dark"),
    script:
        "../scripts/combine_dark.py"


rule combine_flat:
    input:
        unpack(night_masters),
        raw=raw_paths("flat"),
    output:
        "results/masters/{night}{detector_dir}/flat_{band}.fits",
    log:
        "logs/combine_flat/{night}{detector_dir}/{band}.log",
    # Shared between runs and sites with --cache (see README, "Caching").
    cache: "omit-software"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=grows_on_retry(3000),
        runtime=30,
    params:
        products=config["products"],
        rows=manifest_frames("flat"),
        settings=calibration_params("flat_low", "flat_high"),
        code=script_digest("combine_flat"),
    script:
        "../scripts/combine_flat.py"


rule calibrate_exposure:
    input:
        unpack(science_masters),
        raw=lambda wc: manifest_row(wc.night, wc.exposure)["path"],
    output:
        "results/calibrated/{night}/{exposure}.fits",
    log:
        "logs/calibrate_exposure/{night}/{exposure}.log",
    benchmark:
        "benchmarks/rules/calibrate_exposure/{night}/{exposure}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    # L.A.Cosmic and the sky statistics share the frame between threads.
    threads: 2
    resources:
        mem_mb=grows_on_retry(2000),
        runtime=FRAME_RUNTIME,
    params:
        products=config["products"],
        row=lambda wc: manifest_row(wc.night, wc.exposure),
        settings={
            "overscan_smoothing_rows": CALIBRATION["overscan_smoothing_rows"],
            "use_dark": CALIBRATION["use_dark"],
            **{
                f"cr_{k}": v
                for k, v in CALIBRATION["cosmic_rays"].items()
                if k != "enabled"
            },
            "cosmic_rays": CALIBRATION["cosmic_rays"]["enabled"],
        },
        # Where a reduced frame keeps what (reduced.*); none for a raw frame, so these
        # settings rerun the imports only.
        reduced=lambda wc: reduced_settings(wc.night, wc.exposure),
        timeout_minutes=config["processing_timeout_minutes"],
        astrometry=config["astrometry"],
        code=script_digest("calibrate_exposure"),
    script:
        "../scripts/calibrate_exposure.py"
