# Objects and alert packets of each night, then their delivery to people.


rule write_alerts:
    input:
        scored=lambda wc: night_files("scored", wc.night, "ecsv"),
        cutouts=lambda wc: night_files("cutouts", wc.night, "fits"),
        differences=lambda wc: night_files("difference", wc.night, "fits"),
        # Nights are associated in order, so objects are named by their first detection.
        previous=previous_night_alerts,
    output:
        table=report(
            "results/alerts/{night}/alerts.tsv",
            caption="../report/alerts.rst",
            category="5. Alerts",
            subcategory="{night}",
            labels={"night": "{night}", "table": "alerts"},
        ),
        packets=directory("results/alerts/{night}/packets"),
    log:
        "logs/write_alerts/{night}.log",
    benchmark:
        "benchmarks/rules/write_alerts/{night}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    params:
        radius_arcsec=config["alerts"]["radius_arcsec"],
        history_days=config["alerts"]["history_days"],
        code=script_digest("write_alerts"),
    script:
        "../scripts/write_alerts.py"


rule deliver_alerts:
    input:
        "results/alerts/{night}/alerts.tsv",
    output:
        "results/alerts/{night}/delivery.tsv",
    log:
        "logs/deliver_alerts/{night}.log",
    benchmark:
        "benchmarks/rules/deliver_alerts/{night}.tsv"
    # On the alert path: before the training samples, drift checks and summaries.
    priority: ALERT_PATH
    conda:
        "../envs/astrid.yaml"
    params:
        webhook=config["alerts"]["webhook"],
        email=config["alerts"]["email"],
        retry=config["alerts"]["retry"],
        # Alerts left undelivered by an earlier run make this job run again.
        undelivered=undelivered_alerts(),
        code=script_digest("deliver_alerts"),
    script:
        "../scripts/deliver_alerts.py"
