# Reference templates: the best-seeing frames of the reference nights, coadded per field and band.


rule build_reference:
    input:
        frames=reference_frames,
        catalog=reference_catalog,
    output:
        "results/references/{field}/{band}.fits",
    log:
        "logs/build_reference/{field}/{band}.log",
    benchmark:
        "benchmarks/rules/build_reference/{field}/{band}.tsv"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=lambda wc, input: 1000 + 400 * len(input.frames),
    params:
        settings={
            k: v for k, v in REFERENCE.items() if k in ("max_frames", "max_fwhm_ratio")
        },
        detect_sigma=config["align"]["detect_sigma"],
        code=library_digest("reference", "align", "astrometry", "sources", "psf"),
    script:
        "../scripts/build_reference.py"
