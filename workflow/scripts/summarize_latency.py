"""The night's exposure-to-alert latency per frame, as a table for the report.

Inputs: the night's alerts.tsv and manifest. Output: results/qa/<night>/latency.tsv.
No settings.
"""

import csv

from astrid.io.fitsio import atomic_output
from astrid.ops.monitor.latency import frame_latencies
from astrid.pipeline.runtime import logged

FIELDS = ["exposure", "exposure_end_utc", "first_alert_utc", "latency_minutes"]

with logged(snakemake.log[0]) as log:
    rows = frame_latencies("results", snakemake.wildcards.night)
    with atomic_output(snakemake.output[0]) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS, delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    timed = [float(r["latency_minutes"]) for r in rows if r["latency_minutes"]]
    log.info(
        "%d frames, %d with alerts%s",
        len(rows),
        len(timed),
        f", latency {min(timed):.1f} to {max(timed):.1f} min" if timed else "",
    )
