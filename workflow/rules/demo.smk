# The built-in demo: a seeded field catalog per field and two simulated raw nights.


# The demo's catalogs go where a site's do (reference.catalog_dir, resources/catalogs by
# default): the demo and a real site take one code path.
rule simulate_field_catalog:
    output:
        f"{DEMO_CATALOGS}/{{field}}.ecsv",
    log:
        "logs/simulate_field_catalog/{field}.log",
    benchmark:
        "benchmarks/rules/simulate_field_catalog/{field}.tsv"
    conda:
        "../envs/astrid.yaml"
    params:
        field=demo_field,
        size=DEMO["size"],
        camera=DEMO["camera"],
        seed=DEMO["seed"],
        code=script_digest("simulate_field_catalog"),
    script:
        "../scripts/simulate_field_catalog.py"


rule simulate_night:
    input:
        catalogs=expand(
            f"{DEMO_CATALOGS}/{{field}}.ecsv",
            field=[f["name"] for f in DEMO["fields"]],
        ),
    output:
        raw=directory("results/demo/raw/{night}"),
        truth="results/demo/truth/{night}.fits",
    log:
        "logs/simulate_night/{night}.log",
    benchmark:
        "benchmarks/rules/simulate_night/{night}.tsv"
    conda:
        "../envs/astrid.yaml"
    resources:
        mem_mb=lambda wc, attempt: (
            200
            + DEMO["size"] ** 2 * (200 if DEMO["camera"] == "mosaic" else 100) // 2**20
        )
        * attempt,
        runtime=30,
    params:
        plan=demo_plan,
        size=DEMO["size"],
        camera=DEMO["camera"],
        seed=DEMO["seed"],
        code=script_digest("simulate_night"),
    script:
        "../scripts/simulate_night.py"
