# Real/bogus scores of each frame's candidates, by the champion exported at the start.


rule score_candidates:
    input:
        table="results/candidates/{night}/{exposure}.ecsv",
        cutouts="results/cutouts/{night}/{exposure}.fits",
        model=champion_model,
    output:
        "results/scored/{night}/{exposure}.ecsv",
    log:
        "logs/score_candidates/{night}/{exposure}.log",
    benchmark:
        "benchmarks/rules/score_candidates/{night}/{exposure}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=grows_on_retry(2000),
        runtime=FRAME_RUNTIME,
        gpu=REALBOGUS["gpus"],
    params:
        batch_size=REALBOGUS["batch_size"],
        code=script_digest("score_candidates"),
    script:
        "../scripts/score_candidates.py"
