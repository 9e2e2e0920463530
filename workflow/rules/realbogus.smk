# The real/bogus model: labelled samples per frame, the versioned training set, training
# with the promotion gate, and the export of the champion that scoring reads.


rule make_training_samples:
    input:
        aligned="results/aligned/{night}/{exposure}.fits",
        reference=lambda wc: reference_path(wc.night, wc.exposure),
        truth=demo_truth,
    output:
        "results/training/samples/{night}/{exposure}.fits",
    log:
        "logs/make_training_samples/{night}/{exposure}.log",
    benchmark:
        "benchmarks/rules/make_training_samples/{night}/{exposure}.tsv"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=grows_on_retry(3000),
        runtime=FRAME_RUNTIME,
    params:
        injection=REALBOGUS["injection"],
        samples=REALBOGUS["samples"],
        detect=config["detect"],
        flux_error=config["difference"]["flux_error"],
        renormalise=config["difference"]["renormalise"],
        seed=REALBOGUS["seed"],
        timeout_minutes=config["processing_timeout_minutes"],
        code=script_digest("make_training_samples"),
    script:
        "../scripts/make_training_samples.py"


rule build_training_set:
    input:
        lambda wc: training_samples(TRAINING_NIGHTS),
    output:
        "results/training/dataset.json",
    log:
        "logs/build_training_set.log",
    benchmark:
        "benchmarks/rules/build_training_set.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        validation_split=REALBOGUS["validation_split"],
        test_split=REALBOGUS["test_split"],
        seed=REALBOGUS["seed"],
        archive="results/training/datasets",
        code=script_digest("build_training_set"),
    script:
        "../scripts/build_training_set.py"


checkpoint train_realbogus:
    input:
        dataset=dataset_manifest,
        starter=starter_model,
    output:
        "results/models/realbogus/training.json",
    log:
        "logs/train_realbogus.log",
    benchmark:
        "benchmarks/rules/train_realbogus.tsv"
    conda:
        "../envs/astrid.yaml"
    threads: 2
    resources:
        mem_mb=grows_on_retry(6000),
        runtime=240,
        gpu=REALBOGUS["gpus"],
    params:
        lifecycle=lifecycle_settings(),
        training=training_settings(),
        from_starter=REALBOGUS["training"]["from_starter"],
        code=script_digest("train_realbogus"),
    script:
        "../scripts/train_realbogus.py"


rule export_realbogus_model:
    output:
        model="results/models/realbogus/v{version}-{run}.pt",
        info="results/models/realbogus/v{version}-{run}.json",
    log:
        "logs/export_realbogus_model/v{version}-{run}.log",
    benchmark:
        "benchmarks/rules/export_realbogus_model/v{version}-{run}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        model_name=REALBOGUS["model_name"],
        code=script_digest("export_realbogus_model"),
    script:
        "../scripts/export_realbogus_model.py"
