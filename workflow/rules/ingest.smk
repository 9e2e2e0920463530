# Ingest: classify and validate every raw frame of a night; the manifest drives the DAG.


checkpoint ingest_night:
    input:
        raw=raw_night_dir,
    output:
        manifest="results/manifest/{night}.tsv",
        quarantine="results/quarantine/{night}.tsv",
        waiting="results/waiting/{night}.tsv",
    log:
        "logs/ingest_night/{night}.log",
    benchmark:
        "benchmarks/rules/ingest_night/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        ingest=config["ingest"],
        listing=raw_night_listing,
        reduced=lambda wc: is_reduced(wc.night),
        science_hdu=config["reduced"]["science_hdu"],
        min_frames=CALIBRATION["min_frames"],
        use_dark=CALIBRATION["use_dark"],
        code=script_digest("ingest_night"),
    script:
        "../scripts/ingest_night.py"
