"""Associate a night's real candidates with objects and write one Avro packet per alert."""

import csv
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrid.alerts import alert_frame, emit_alerts
from astrid.fitsio import atomic_output
from astrid.objects import connect, migrate
from astrid.runtime import logged

FIELDS = [
    "alert_id", "object_id", "new_object", "first_emitted", "candidate_id", "exposure", "field", "band", "mjd",
    "ra", "dec", "mag", "snr", "rb_score", "n_previous", "n_nondetections", "packet",
]  # fmt: skip

with logged(snakemake.log[0]) as log:
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params
    # A night without a real candidate still has its (empty) packet folder.
    Path(outputs.packets).mkdir(parents=True, exist_ok=True)
    db = connect()
    migrate(db)
    frames = []
    for table_path, cutout_path, difference_path in zip(
        inputs.scored, inputs.cutouts, inputs.differences, strict=True
    ):
        table = Table.read(table_path, format="ascii.ecsv")
        if "rb_score" not in table.colnames or "MJD-OBS" not in table.meta or "QCODE" in table.meta:
            continue  # a frame that was not differenced
        frames.append((float(table.meta["MJD-OBS"]), table, cutout_path, difference_path))
    summaries = []
    for _, table, cutout_path, difference_path in sorted(frames, key=lambda f: f[0]):
        cutouts = np.asarray(fits.getdata(cutout_path, 0), np.float32)
        summaries += alert_frame(
            db, table, cutouts, difference_path, outputs.packets, params.radius_arcsec, params.history_days
        )

    def write_table(rows):
        with atomic_output(outputs.table) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS, delimiter="\t", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    emit_alerts(db, summaries, write_table)
    db.close()
    new = sum(s["first_emitted"] for s in summaries)
    objects = len({s["object_id"] for s in summaries})
    log.info(
        "%d alerts (%d emitted for the first time) on %d objects, database %s",
        len(summaries),
        new,
        objects,
        db.where,
    )
