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
            k: v
            for k, v in REFERENCE.items()
            if k in ("max_frames", "max_fwhm_ratio", "clip_sigma")
        },
        detect_sigma=config["align"]["detect_sigma"],
        catalog=lambda wc: planning.catalog_reading(config, wc.band),
        code=script_digest("build_reference"),
    script:
        "../scripts/build_reference.py"


# A supplied template (a survey image cut for the field, resources/templates) in the layout
# of a built reference: variance, mask, PSF, sources, WCS and zero point against the catalog.
rule import_template:
    input:
        unpack(template_image),
        catalog=reference_catalog,
    output:
        "results/templates/{field}/{band}.fits",
    log:
        "logs/import_template/{field}/{band}.log",
    benchmark:
        "benchmarks/rules/import_template/{field}/{band}.tsv"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=lambda wc, input, attempt: (1000 + 60 * input.size_mb) * attempt,
        runtime=20,
    params:
        products=config["products"],
        detect_sigma=config["align"]["detect_sigma"],
        catalog=lambda wc: planning.catalog_reading(config, wc.band),
        code=script_digest("import_template"),
    script:
        "../scripts/import_template.py"


# A field's catalog cut from the site-wide one (reference.catalog) onto its frames.
rule cut_field_catalog:
    input:
        catalog=REFERENCE["catalog"] or [],
        frames=field_reference_frames,
        templates=field_templates,
    output:
        "results/catalogs/{field}.ecsv",
    log:
        "logs/cut_field_catalog/{field}.log",
    benchmark:
        "benchmarks/rules/cut_field_catalog/{field}.tsv"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=lambda wc, input, attempt: (500 + 3 * input.size_mb) * attempt,
        runtime=20,
    params:
        reading=planning.catalog_reading(config),
        margin_arcmin=REFERENCE["catalog_margin_arcmin"],
        code=script_digest("cut_field_catalog"),
    script:
        "../scripts/cut_field_catalog.py"


# A field's catalog fetched once from VizieR when reference.fetch.archive asks for it and the
# site has none of its own; runs where the network is (the head node of a cluster).
rule fetch_field_catalog:
    input:
        frames=field_reference_frames,
        templates=field_templates,
    output:
        "results/catalogs/fetched/{field}.ecsv",
    log:
        "logs/fetch_field_catalog/{field}.log",
    benchmark:
        "benchmarks/rules/fetch_field_catalog/{field}.tsv"
    localrule: True
    conda:
        "../envs/astrid.yaml"
    params:
        fetch=REFERENCE["fetch"],
        margin_arcmin=REFERENCE["catalog_margin_arcmin"],
        code=script_digest("fetch_field_catalog"),
    script:
        "../scripts/fetch_field_catalog.py"
