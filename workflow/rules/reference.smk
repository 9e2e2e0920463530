# Reference templates: the best-seeing frames of the reference nights, coadded per field and band.


rule build_reference:
    input:
        frames=reference_frames,
        catalog=reference_catalog,
    output:
        "results/references/{field}/{band}.fits",
    log:
        "logs/build_reference/{field}/{band}.log",
    # Shared between runs and sites with --cache (see README, "Caching").
    cache: "omit-software"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=lambda wc, input, attempt: (1000 + 400 * len(input.frames)) * attempt,
        runtime=60,
    params:
        products=config["products"],
        settings={
            k: v for k, v in REFERENCE.items() if k in ("max_frames", "max_fwhm_ratio")
        },
        detect_sigma=config["align"]["detect_sigma"],
        code=script_digest("build_reference"),
    script:
        "../scripts/build_reference.py"
