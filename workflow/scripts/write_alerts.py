"""Associate a night's real candidates with objects and write one Avro packet per alert.

Inputs: the night's scored tables, cutouts and differences, and the previous night's alerts
(nights are associated in order). Outputs: results/alerts/<night>/alerts.tsv and packets/.
Settings: alerts.radius_arcsec, alerts.history_days. The object database is
results/alerts/objects.sqlite unless ASTRID_DATABASE_URL names another.
"""

from astrid.alerts.objects import connect, migrate
from astrid.alerts.packets import alert_night, alertable_frames
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params
    db = connect()
    migrate(db)
    frames = alertable_frames(inputs.scored, inputs.cutouts, inputs.differences)
    summaries = alert_night(
        db, frames, outputs.packets, outputs.table, params.radius_arcsec, params.history_days
    )
    db.close()
    log.info(
        "%d alerts (%d emitted for the first time) on %d objects, database %s",
        len(summaries),
        sum(s["first_emitted"] for s in summaries),
        len({s["object_id"] for s in summaries}),
        db.where,
    )
