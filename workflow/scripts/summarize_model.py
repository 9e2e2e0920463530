"""The real/bogus model's history: registered versions, the champion, each day's decision.

Inputs: the retraining decision (and the model registry). Outputs: results/qa/model.tsv and
model.png. Settings: realbogus.model_name, experiment, min_f1_score.
"""

from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.realbogus.registry import history, redacted, tracking_uri
from astrid.report.model import model_history_table, plot_model

with logged(snakemake.log[0]) as log:
    params = snakemake.params
    uri = tracking_uri()
    found = history(uri, params.model_name, params.experiment)
    log.info(
        "%s: %d versions, %d drift checks in %s",
        params.model_name,
        len(found["versions"]),
        len(found["decisions"]),
        redacted(uri),
    )
    table = model_history_table(found)
    with atomic_output(snakemake.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f", date_format="%Y-%m-%dT%H:%M:%SZ")
    plot_model(found, params.min_f1_score, snakemake.output.plot)
