"""Associate a night's real candidates with objects and write one Avro packet per alert.

Inputs: the night's scored tables, cutouts and differences, and the previous night's alerts
(nights are associated in order). Outputs: results/alerts/<night>/alerts.tsv and packets/;
results/alerts/<night>/frames/ keeps each frame's alerts, so that a run redoes only the
frames that arrived or changed since the last (astrid.alerts.night). Settings:
alerts.radius_arcsec, alerts.history_days. The object database is
results/alerts/objects.sqlite unless ASTRID_DATABASE_URL names another.
"""

import json
from pathlib import Path

from astrid.alerts.night import FrameFiles, Ledger, alert_night
from astrid.alerts.objects import connect, identity, migrate
from astrid.io.provenance import file_digest
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params
    db = connect()
    migrate(db)
    context = json.dumps(
        {
            "code": params.code,
            "radius_arcsec": params.radius_arcsec,
            "history_days": params.history_days,
            "database": identity(db),
            "previous": [file_digest(path, 64) for path in inputs.previous],
        }
    )
    frames = [
        FrameFiles(Path(s), Path(c), Path(d))
        for s, c, d in zip(inputs.scored, inputs.cutouts, inputs.differences, strict=True)
    ]
    ledger = Ledger(Path(outputs.table).parent / "frames", context)
    summaries, redone = alert_night(
        db, frames, outputs.packets, outputs.table, ledger, params.radius_arcsec, params.history_days
    )
    db.close()
    log.info(
        "%d alerts (%d emitted for the first time) on %d objects, database %s; %d of %d frames alerted anew",
        len(summaries),
        sum(s["first_emitted"] for s in summaries),
        len({s["object_id"] for s in summaries}),
        db.where,
        redone,
        len(frames),
    )
