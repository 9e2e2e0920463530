# The daily check of the champion: drift of each night against its training set, and the
# decision to retrain (which runs the same gate as the first training).


rule check_drift:
    input:
        samples=lambda wc: training_samples([wc.night]),
        scored=lambda wc: expand(
            "results/scored/{night}/{exposure}.ecsv",
            night=wc.night,
            exposure=differenced_exposures(wc.night),
        ),
        model=champion_model,
    output:
        "results/drift/{night}.json",
    log:
        "logs/check_drift/{night}.log",
    benchmark:
        "benchmarks/rules/check_drift/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        code=script_digest("check_drift"),
    script:
        "../scripts/check_drift.py"


rule decide_retraining:
    input:
        drift=lambda wc: [
            f"results/drift/{night}.json"
            for night in DIFFERENCE_NIGHTS
            if differenced_exposures(night)
        ],
        samples=lambda wc: training_samples(
            sorted(set(DIFFERENCE_NIGHTS) | set(TRAINING_NIGHTS))
        ),
        model=champion_model,
        starter=starter_model,
    output:
        "results/models/realbogus/retraining.json",
    log:
        "logs/decide_retraining.log",
    benchmark:
        "benchmarks/rules/decide_retraining.tsv"
    conda:
        "../envs/astrid.yaml"
    threads: 2
    resources:
        mem_mb=grows_on_retry(6000),
        runtime=240,
        gpu=REALBOGUS["gpus"],
    params:
        drift=REALBOGUS["drift"],
        lifecycle=lifecycle_settings(),
        training=training_settings(),
        from_starter=REALBOGUS["training"]["from_starter"],
        validation_split=REALBOGUS["validation_split"],
        test_split=REALBOGUS["test_split"],
        seed=REALBOGUS["seed"],
        archive="results/training/datasets",
        code=script_digest("decide_retraining"),
    script:
        "../scripts/decide_retraining.py"
