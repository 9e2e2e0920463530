"""The night's alerts on the sky and the light curves of their objects.

Inputs: the night's alerts.tsv (and the object database). Output:
results/qa/<night>/alerts.png. Settings: alerts.history_days.
"""

import pandas as pd

from astrid.alerts.objects import connect, history
from astrid.pipeline.runtime import logged
from astrid.report.alerts import plot_alerts

with logged(snakemake.log[0]):
    alerts = pd.read_csv(snakemake.input[0], sep="\t")
    db = connect()
    curves = {}
    for object_id in alerts["object_id"].unique() if len(alerts) else []:
        last = float(alerts[alerts["object_id"] == object_id]["mjd"].max()) + 1e-6
        detections, missing = history(db, object_id, last, days=snakemake.params.history_days)
        curves[object_id] = (
            [(d["mjd"], d["band"], d["mag"]) for d in detections if d["mag"] is not None],
            [(m[1], m[2], m[5]) for m in missing if m[5] is not None],
        )
    db.close()
    plot_alerts(alerts, curves, snakemake.output[0], snakemake.wildcards.night)
