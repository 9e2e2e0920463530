# The night's QA products, flagged for `snakemake --report`.


rule plot_masters:
    input:
        unpack(night_masters),
        flats=lambda wc: [
            planning.flat_path(wc.night, band, wildcard_detector(wc))
            for band in master_bands(wc.night, wildcard_detector(wc))
        ],
    output:
        report(
            "results/qa/{night}{detector_dir}/masters.png",
            caption="../report/masters.rst",
            category="2. Calibration",
            subcategory="{night}",
            labels={"night": "{night}", "figure": "master frames{detector_dir}"},
        ),
    log:
        "logs/plot_masters/{night}{detector_dir}.log",
    benchmark:
        "benchmarks/rules/plot_masters/{night}{detector_dir}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        code=script_digest("plot_masters"),
    script:
        "../scripts/plot_masters.py"


rule summarize_calibration:
    input:
        lambda wc: [
            planning.calibrated_path(wc.night, e)
            for e in scheduled_exposures(wc.night)
        ],
    output:
        table="results/qa/{night}/calibration.tsv",
        plot=report(
            "results/qa/{night}/calibration.png",
            caption="../report/calibration.rst",
            category="2. Calibration",
            subcategory="{night}",
            labels={"night": "{night}", "figure": "sky level and noise per frame"},
        ),
    log:
        "logs/summarize_calibration/{night}.log",
    benchmark:
        "benchmarks/rules/summarize_calibration/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        code=script_digest("summarize_calibration"),
    script:
        "../scripts/summarize_calibration.py"


rule summarize_night:
    input:
        manifest="results/manifest/{night}.tsv",
        quarantine="results/quarantine/{night}.tsv",
        waiting="results/waiting/{night}.tsv",
        calibration="results/qa/{night}/calibration.tsv",
        # Frames that stopped after calibration (NO_REFERENCE, NO_MATCH ...), with reasons.
        differences=lambda wc: (
            []
            if wc.night in REFERENCE_NIGHTS
            else [f"results/qa/{wc.night}/difference.tsv"]
        ),
    output:
        report(
            "results/qa/{night}/summary.html",
            caption="../report/summary.rst",
            category="1. Night summary",
            subcategory="{night}",
            labels={"night": "{night}", "table": "frames and quarantine"},
        ),
    log:
        "logs/summarize_night/{night}.log",
    benchmark:
        "benchmarks/rules/summarize_night/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        max_observations=config["max_observations"],
        code=script_digest("summarize_night"),
    script:
        "../scripts/summarize_night.py"


rule summarize_differences:
    input:
        tables=lambda wc: expand(
            "results/candidates/{night}/{exposure}.ecsv",
            night=wc.night,
            exposure=differenced_exposures(wc.night),
        ),
        cutouts=lambda wc: expand(
            "results/cutouts/{night}/{exposure}.fits",
            night=wc.night,
            exposure=differenced_exposures(wc.night),
        ),
    output:
        table="results/qa/{night}/difference.tsv",
        plot=report(
            "results/qa/{night}/difference.png",
            caption="../report/difference.rst",
            category="3. Difference imaging",
            subcategory="{night}",
            labels={
                "night": "{night}",
                "figure": "noise, depth, candidates per frame",
            },
        ),
        gallery=report(
            "results/qa/{night}/candidates.png",
            caption="../report/candidates.rst",
            category="3. Difference imaging",
            subcategory="{night}",
            labels={"night": "{night}", "figure": "top candidates"},
        ),
    log:
        "logs/summarize_differences/{night}.log",
    benchmark:
        "benchmarks/rules/summarize_differences/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        code=script_digest("summarize_differences"),
    script:
        "../scripts/summarize_differences.py"


rule summarize_scores:
    input:
        scored=lambda wc: expand(
            "results/scored/{night}/{exposure}.ecsv",
            night=wc.night,
            exposure=differenced_exposures(wc.night),
        ),
        drift="results/drift/{night}.json",
    output:
        report(
            "results/qa/{night}/realbogus.png",
            caption="../report/realbogus.rst",
            category="4. Real/bogus",
            subcategory="{night}",
            labels={"night": "{night}", "figure": "scores and drift"},
        ),
    log:
        "logs/summarize_scores/{night}.log",
    benchmark:
        "benchmarks/rules/summarize_scores/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        code=script_digest("summarize_scores"),
    script:
        "../scripts/summarize_scores.py"


rule summarize_model:
    input:
        "results/models/realbogus/retraining.json",
    output:
        table="results/qa/model.tsv",
        plot=report(
            "results/qa/model.png",
            caption="../report/model.rst",
            category="4. Real/bogus",
            subcategory="model",
            labels={"figure": "versions, champion and retraining decisions"},
        ),
    log:
        "logs/summarize_model.log",
    benchmark:
        "benchmarks/rules/summarize_model.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        model_name=REALBOGUS["model_name"],
        experiment=REALBOGUS["experiment"],
        min_f1_score=REALBOGUS["min_f1_score"],
        code=script_digest("summarize_model"),
    script:
        "../scripts/summarize_model.py"


rule plot_alerts:
    input:
        "results/alerts/{night}/alerts.tsv",
    output:
        report(
            "results/qa/{night}/alerts.png",
            caption="../report/alerts_plot.rst",
            category="5. Alerts",
            subcategory="{night}",
            labels={"night": "{night}", "figure": "sky map and light curves"},
        ),
    log:
        "logs/plot_alerts/{night}.log",
    benchmark:
        "benchmarks/rules/plot_alerts/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        history_days=config["alerts"]["history_days"],
        code=script_digest("plot_alerts"),
    script:
        "../scripts/plot_alerts.py"


rule summarize_latency:
    input:
        alerts="results/alerts/{night}/alerts.tsv",
        manifest="results/manifest/{night}.tsv",
    output:
        table=report(
            "results/qa/{night}/latency.tsv",
            caption="../report/latency.rst",
            category="1. Night summary",
            subcategory="{night}",
            labels={"night": "{night}", "table": "exposure-to-alert latency"},
        ),
        figure=report(
            "results/qa/{night}/latency.png",
            caption="../report/latency_plot.rst",
            category="1. Night summary",
            subcategory="{night}",
            labels={"night": "{night}", "figure": "exposure-to-alert latency"},
        ),
    log:
        "logs/summarize_latency/{night}.log",
    benchmark:
        "benchmarks/rules/summarize_latency/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        code=script_digest("summarize_latency"),
    script:
        "../scripts/summarize_latency.py"


rule summarize_operations:
    input:
        night_products,
    output:
        table="results/qa/operations.tsv",
        plot=report(
            "results/qa/operations.png",
            caption="../report/operations.rst",
            category="6. Operations",
            labels={"figure": "runtime per rule, health"},
        ),
    log:
        "logs/summarize_operations.log",
    benchmark:
        "benchmarks/rules/summarize_operations.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        benchmarks="benchmarks/rules",
        health="results/monitoring/health.jsonl",
        code=script_digest("summarize_operations"),
    script:
        "../scripts/summarize_operations.py"
